import { describe, expect, it } from 'vitest';
import {
  configuredServices,
  dalstonDiffers,
  describeDalston,
  describeServiceChanges,
  migratedMessage,
  migrationVerdict,
  planServiceChanges,
  restoreCommandFor,
  unhealthyServices,
  unknownMigrationMessage,
  withDalstonVersion,
} from '../../../converge/dalston-change-plan.ts';
import { type HostConfigInput, hostConfigSchema } from '../../../shared/config/schema.ts';
import { container } from '../agent/fakes.ts';

const host = (dalston: HostConfigInput['dalston'], services: string[] = []) =>
  hostConfigSchema.parse({ dalston, compose: { services } });

describe('planServiceChanges', () => {
  const from = {
    postgres: { image: 'pg:15', environment: { A: '1', B: '2' } },
    gateway: { image: 'gw:1.0.0' },
    orchestrator: { image: 'orch:1.0.0', command: ['run'] },
    'stt-old': { image: 'stt:1.0.0' },
  };
  const to = {
    // Same config, other key order: not a change.
    postgres: { environment: { B: '2', A: '1' }, image: 'pg:15' },
    gateway: { image: 'gw:1.1.0' },
    orchestrator: { image: 'orch:1.0.0', command: ['run', '--new-flag'] },
    'stt-old': { image: 'stt:1.0.0' },
    'stt-new': { image: 'stt-new:1.1.0' },
  };

  it('sorts services into changed (image, command), added, removed and unchanged', () => {
    const c = planServiceChanges(
      ['postgres', 'gateway', 'orchestrator', 'stt-old'],
      ['postgres', 'gateway', 'orchestrator', 'stt-new'],
      from,
      to,
    );
    expect(c).toEqual({
      changed: ['gateway', 'orchestrator'],
      added: ['stt-new'],
      removed: ['stt-old'],
      unchanged: ['postgres'],
    });
    expect(describeServiceChanges(c)).toBe('changed gateway, orchestrator; added stt-new; removed stt-old');
  });

  it('sees nothing to do when only the key order differs', () => {
    const c = planServiceChanges(['postgres'], ['postgres'], from, to);
    expect(c).toEqual({ changed: [], added: [], removed: [], unchanged: ['postgres'] });
    expect(describeServiceChanges(c)).toBe('no service changed');
  });

  it('takes every resolved service when host.json lists none', () => {
    expect(configuredServices([], to)).toEqual(['gateway', 'orchestrator', 'postgres', 'stt-new', 'stt-old']);
    expect(configuredServices(['b', 'a'], to)).toEqual(['a', 'b']);
  });
});

describe('migrationVerdict', () => {
  const read = (revision: string | null) => ({ ok: true as const, revision });

  it('is unchanged when the revision did not move, or there was no database', () => {
    expect(migrationVerdict(read('0002'), read('0002'))).toEqual({ kind: 'unchanged' });
    expect(migrationVerdict(read(null), read(null))).toEqual({ kind: 'unchanged' });
    expect(migrationVerdict(null, { ok: false, reason: 'x' })).toEqual({ kind: 'unchanged' });
  });

  it('is migrated when the revision moved, including from no table at all', () => {
    expect(migrationVerdict(read('0002'), read('0003'))).toEqual({
      kind: 'migrated',
      from: '0002',
      to: '0003',
    });
    expect(migrationVerdict(read(null), read('0001'))).toEqual({ kind: 'migrated', from: null, to: '0001' });
  });

  it('is unknown when either read failed: the old code must not be assumed safe', () => {
    expect(migrationVerdict(read('0002'), { ok: false, reason: 'no running postgres container' })).toEqual({
      kind: 'unknown',
      reason: 'no running postgres container',
    });
    expect(migrationVerdict({ ok: false, reason: 'psql exited 2' }, read('0002'))).toEqual({
      kind: 'unknown',
      reason: 'before the change: psql exited 2',
    });
  });
});

describe('messages', () => {
  it('names the restore command as commands/restore.ts takes it', () => {
    expect(restoreCommandFor('backups/postgres/2026-12-02T07-00-00Z.dump')).toBe(
      'dalston-host restore backups/postgres/2026-12-02T07-00-00Z.dump --yes',
    );
  });

  it('says plainly that a migrated database cannot go back, and how to restore', () => {
    const m = migratedMessage(
      'dalston v1.3.0 (image 1.3.0)',
      { kind: 'migrated', from: '0002', to: '0003' },
      'not healthy within 600 s: gateway running/unhealthy',
      'dalston-host restore backups/postgres/k.dump --yes',
    );
    expect(m).toBe(
      'dalston v1.3.0 (image 1.3.0) migrated the database from 0002 to 0003 and then failed (not healthy within 600 s: gateway running/unhealthy); the old version cannot run on it. Restore the pre-upgrade backup: dalston-host restore backups/postgres/k.dump --yes, or fix forward with a new ref. The host stays on dalston v1.3.0 (image 1.3.0).',
    );
  });

  it('says when there is no backup to restore, and names a missing revision', () => {
    const m = migratedMessage('dalston v2', { kind: 'migrated', from: null, to: '0001' }, 'x', null);
    expect(m).toContain('from (none) to 0001');
    expect(m).toContain(
      'No pre-upgrade backup was taken (no backups configured): fix forward with a new ref.',
    );
  });

  it('explains an unknown migration state without claiming either way', () => {
    const m = unknownMigrationMessage(
      'dalston v2',
      { kind: 'unknown', reason: 'no running postgres container' },
      'boom',
      'R',
    );
    expect(m).toBe(
      'dalston v2 failed (boom) and whether it migrated the database cannot be told (no running postgres container), so it was not rolled back onto a schema the old version may not know. If it did, restore the pre-upgrade backup: R; or fix forward with a new ref. The host stays on dalston v2.',
    );
  });

  it('labels a version by ref and image tag', () => {
    expect(describeDalston(host({ ref: 'v1.2.3', imageTag: '1.2.3' }))).toBe('dalston v1.2.3 (image 1.2.3)');
    expect(describeDalston(host({ ref: 'abc1234' }))).toBe('dalston abc1234');
    expect(describeDalston(host({}))).toBe('dalston (no ref)');
  });
});

describe('dalstonDiffers', () => {
  it('sees a new ref, image tag or service list, and nothing else', () => {
    const base = host({ ref: 'v1', imageTag: '1' }, ['a']);
    expect(dalstonDiffers(base, host({ ref: 'v1', imageTag: '1' }, ['a']))).toBe(false);
    expect(dalstonDiffers(base, host({ ref: 'v2', imageTag: '1' }, ['a']))).toBe(true);
    expect(dalstonDiffers(base, host({ ref: 'v1', imageTag: '2' }, ['a']))).toBe(true);
    expect(dalstonDiffers(base, host({ ref: 'v1', imageTag: '1' }, ['a', 'b']))).toBe(true);
    // The health bound is how the change is made, not what runs.
    expect(dalstonDiffers(base, host({ ref: 'v1', imageTag: '1', upgradeHealthySeconds: 5 }, ['a']))).toBe(
      false,
    );
  });
});

describe('withDalstonVersion', () => {
  const values = { DALSTON_IMAGE_TAG: '1.1.0', DALSTON_REF: 'v1.1.0' };

  it('replaces the version in place and keeps every other line', () => {
    const text =
      'DALSTON_S3_BUCKET=b\nDALSTON_IMAGE_TAG=1.0.0\n# a comment\nDALSTON_REF=v1.0.0\nDALSTON_VPC_IP=10.0.0.5\n';
    expect(withDalstonVersion(text, values)).toBe(
      'DALSTON_S3_BUCKET=b\nDALSTON_IMAGE_TAG=1.1.0\n# a comment\nDALSTON_REF=v1.1.0\nDALSTON_VPC_IP=10.0.0.5\n',
    );
  });

  it('appends what is missing, drops duplicates that would override it, handles `export`', () => {
    expect(withDalstonVersion('A=1', values)).toBe('A=1\nDALSTON_IMAGE_TAG=1.1.0\nDALSTON_REF=v1.1.0\n');
    expect(withDalstonVersion('export DALSTON_IMAGE_TAG=0.9\nDALSTON_IMAGE_TAG=1.0.0\n', values)).toBe(
      'DALSTON_IMAGE_TAG=1.1.0\nDALSTON_REF=v1.1.0\n',
    );
    expect(withDalstonVersion('', values)).toBe('DALSTON_IMAGE_TAG=1.1.0\nDALSTON_REF=v1.1.0\n');
  });

  it('removes a variable whose new value is unset, and does not touch look-alikes', () => {
    expect(
      withDalstonVersion('DALSTON_IMAGE_TAG=1.0.0\nDALSTON_IMAGE_TAGS=x\n', { DALSTON_IMAGE_TAG: undefined }),
    ).toBe('DALSTON_IMAGE_TAGS=x\n');
  });
});

describe('unhealthyServices', () => {
  it('passes healthy containers and running ones without a healthcheck', () => {
    const list = [container({ service: 'a' }), container({ service: 'b', health: 'none' })];
    expect(unhealthyServices(list, ['a', 'b'])).toEqual([]);
  });

  it('names missing, starting, unhealthy and stopped services; one bad replica is enough', () => {
    const list = [
      container({ service: 'a', health: 'starting' }),
      container({ service: 'b', health: 'unhealthy' }),
      container({ service: 'c', state: 'exited', health: 'none' }),
      container({ service: 'd', id: 'd1' }),
      container({ service: 'd', id: 'd2', state: 'restarting', health: 'none' }),
    ];
    expect(unhealthyServices(list, ['a', 'b', 'c', 'd', 'e'])).toEqual([
      'a running/starting',
      'b running/unhealthy',
      'c exited/none',
      'd restarting/none',
      'e missing',
    ]);
  });
});

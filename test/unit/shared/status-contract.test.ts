import { describe, expect, it } from 'vitest';
import { statusLine } from '../../../agent/report/status-line.ts';
import { resolveDeployment } from '../../../cli/deployment.ts';
import { buildStatusReport } from '../../../cli/status-report.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { Shell } from '../../../shared/shell.ts';
import { HEARTBEAT_SECONDS, snapshotFreshness } from '../../../shared/status/heartbeat.ts';
import { DEFAULT_STATUS_PREFIX, statusKey } from '../../../shared/status/s3-key.ts';
import { serviceIsUp } from '../../../shared/status/service-up.ts';
import { parseSnapshot } from '../../../shared/status/snapshot.ts';
import { service, snapshot } from '../agent/report/fixtures.ts';

describe('the status contract (shared/status): one definition for the agent and every reader', () => {
  it('serviceIsUp: running + healthy or no healthcheck; anything else is down', () => {
    expect(serviceIsUp({ state: 'running', health: 'healthy' })).toBe(true);
    expect(serviceIsUp({ state: 'running', health: 'none' })).toBe(true);
    expect(serviceIsUp({ state: 'running', health: 'unhealthy' })).toBe(false);
    expect(serviceIsUp({ state: 'running', health: 'starting' })).toBe(false);
    expect(serviceIsUp({ state: 'missing', health: 'none' })).toBe(false);
    // The case the two former copies disagreed on: the event fast path marks a crashed
    // container exited while its last health verdict is still healthy.
    expect(serviceIsUp({ state: 'exited', health: 'healthy' })).toBe(false);
  });

  it('an exited-but-healthy container is down for the agent status line and for dalston-aws alike', () => {
    const snap = snapshot({
      state: 'degraded',
      services: [service('postgres'), service('gateway', { state: 'exited', health: 'healthy' })],
    });
    expect(statusLine(snap)).toMatch(/^degraded 1\/2 · gateway exited/);
    const report = buildStatusReport({
      nowMs: Date.parse(snap.generatedAt),
      region: 'eu-west-2',
      instance: {
        id: snap.instance,
        state: 'running',
        type: 't3.xlarge',
        launchTime: null,
        volumeIds: [],
        name: null,
        stateTransitionReason: null,
        stateReasonCode: null,
      },
      volumes: [],
      location: 's3://b/k',
      snapshot: { kind: 'ok', snapshot: snap, key: 'k' },
      bootstrap: { kind: 'missing', key: 'b' },
      bootstrapLocation: 's3://b/b',
    });
    expect(report.stack).toMatchObject({ servicesUp: 1, servicesTotal: 2 });
  });

  it('parseSnapshot accepts what the agent writes, tolerates added fields, names the wrong key', () => {
    const snap = snapshot();
    expect(parseSnapshot(JSON.stringify(snap))).toEqual({ kind: 'ok', snapshot: snap });
    const newer = { ...snap, somethingNew: { a: 1 } };
    expect(parseSnapshot(newer).kind).toBe('ok');
    const { host: _h, ...noHost } = snap;
    expect(parseSnapshot(noHost)).toEqual({
      kind: 'malformed',
      reason: expect.stringMatching(/^wrong shape at host:/),
    });
    const bad = { ...snap, services: [{ ...snap.services[0], health: 'great' }] };
    expect(parseSnapshot(bad)).toMatchObject({
      kind: 'malformed',
      reason: expect.stringMatching(/services\.0\.health/),
    });
    expect(parseSnapshot('{not json')).toMatchObject({
      kind: 'malformed',
      reason: expect.stringMatching(/^not JSON/),
    });
  });

  it('staleness: two of the snapshot’s own heartbeat intervals', () => {
    const generatedAt = '2026-01-01T00:00:00.000Z';
    const t0 = Date.parse(generatedAt);
    const s = { generatedAt, heartbeatSeconds: HEARTBEAT_SECONDS };
    expect(snapshotFreshness(s, t0 + 2 * HEARTBEAT_SECONDS * 1000)).toEqual({
      stale: false,
      ageSeconds: 600,
      staleAfterSeconds: 600,
    });
    expect(snapshotFreshness(s, t0 + 2 * HEARTBEAT_SECONDS * 1000 + 1000).stale).toBe(true);
    // A clock behind the agent's is not a negative age.
    expect(snapshotFreshness(s, t0 - 5000)).toMatchObject({ stale: false, ageSeconds: 0 });
  });

  it('the S3 key and its prefix default are the same for the agent config and the CLI', async () => {
    expect(statusKey(DEFAULT_STATUS_PREFIX, 'i-0abc12345')).toBe('status/i-0abc12345/latest.json');
    expect(parseConfig({}).s3.statusPrefix).toBe(DEFAULT_STATUS_PREFIX);
    const noShell: Shell = {
      run: async () => {
        throw new Error('terraform must not be asked');
      },
    };
    const d = await resolveDeployment(
      { instanceId: 'i-0abc12345', region: 'eu-west-2', bucket: 'my-bucket' },
      {},
      noShell,
      ['instanceId', 'region', 'bucket'],
    );
    expect(d.statusPrefix).toBe(DEFAULT_STATUS_PREFIX);
  });
});

import { describe, expect, it } from 'vitest';
import { headMatches, isCommitRef, refDirName } from '../../../bootstrap/steps/dalston.ts';
import { DATA_DIRS, planDir } from '../../../bootstrap/steps/dirs.ts';
import { decideMount, mountStep } from '../../../bootstrap/steps/mount.ts';
import {
  dataDirDropIns,
  mountUnitName,
  planSystemctl,
  unitPathWord,
} from '../../../bootstrap/steps/units.ts';
import { DATA_SUBDIRS } from '../../../shared/config/data-paths.ts';
import type { HostError } from '../../../shared/errors.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';
import { fakeContext, fakeHost, ok, when } from './fakes.ts';

describe('mount decisions', () => {
  const vol = { device: '/dev/nvme1n1', uuid: 'u1' };
  it('nothing mounted → mount; same device or same UUID → nothing', () => {
    expect(decideMount(vol, '/data', undefined, '/dev/nvme1n1')).toEqual({ action: 'mount' });
    const same = { source: '/dev/nvme1n1', realSource: '/dev/nvme1n1', uuid: 'u1' };
    expect(decideMount(vol, '/data', same, '/dev/nvme1n1')).toEqual({ action: 'none' });
    const byLink = { source: '/dev/disk/by-uuid/u1', realSource: '/dev/nvme9n1', uuid: 'u1' };
    expect(decideMount(vol, '/data', byLink, '/dev/nvme1n1')).toEqual({ action: 'none' });
  });
  it('another device at dataDir → refuse naming both', () => {
    const other = { source: '/dev/loop7', realSource: '/dev/loop7', uuid: 'u2' };
    expect(decideMount(vol, '/data', other, '/dev/nvme1n1')).toEqual({
      action: 'refuse',
      message:
        '/data already has /dev/loop7 (UUID u2) mounted, not the data volume /dev/nvme1n1 (UUID u1): unmount it first',
    });
    const tmpfs = { source: 'tmpfs', realSource: undefined, uuid: undefined };
    expect(decideMount(vol, '/data', tmpfs, '/dev/nvme1n1').action).toBe('refuse');
  });
  it('mount step refuses with exit 65 when another device is mounted', async () => {
    const ctx = fakeContext(
      { dataDir: '/data', volume: { device: '/dev/nvme1n1' } },
      {
        host: fakeHost({ blockDevices: new Set(['/dev/nvme1n1']) }),
        mounts: fakeMounts([{ mountPoint: '/data', source: '/dev/loop7', majorMinor: '7:7' }]),
      },
    );
    ctx.state.volume = {
      device: '/dev/nvme1n1',
      how: 'x',
      fsType: 'ext4',
      uuid: 'u1',
      label: undefined,
      formatted: false,
    };
    ctx.shell.on(when('blkid -p -s UUID -o value /dev/loop7', ok('u2\n')));
    const err = await mountStep.run(ctx).catch((e: unknown) => e);
    expect((err as HostError).exitCode).toBe(65);
    expect(ctx.shell.lines().some((l) => l.startsWith('mount '))).toBe(false);
  });
  it('dry run plans the mount and runs no mount', async () => {
    const ctx = fakeContext({ dataDir: '/data', volume: { device: '/dev/nvme1n1' } }, { dryRun: true });
    ctx.state.volume = {
      device: '/dev/nvme1n1',
      how: 'x',
      fsType: 'ext4',
      uuid: undefined,
      label: undefined,
      formatted: true,
    };
    const out = await mountStep.run(ctx);
    expect(out).toMatchObject({
      result: 'planned',
      changes: ['create /data and mount /dev/nvme1n1 (ext4) on it'],
    });
    expect(ctx.shell.lines()).toEqual([]);
  });
});

describe('data directories', () => {
  const pg = DATA_DIRS.find((d) => d.name === 'postgres')!;
  it('documents the owners Dalston images need', () => {
    expect(DATA_DIRS.map((d) => [d.name, d.uid, d.gid])).toEqual([
      ['postgres', 70, 70],
      ['redis', 999, 1000],
      ['models', 0, 0],
      ['dalston', 0, 0],
      ['backups', 0, 0],
    ]);
    // One owner per directory the data volume holds (shared/config/data-paths.ts names them).
    expect(DATA_DIRS.map((d) => d.name)).toEqual([...DATA_SUBDIRS]);
  });
  it('creates missing, fixes empty, never touches a populated dir', () => {
    const base = { exists: true, isDir: true, empty: true, uid: 0, gid: 0, mode: 0o755 };
    expect(planDir(pg, { ...base, exists: false })).toBe('create');
    expect(planDir(pg, base)).toBe('fix-owner');
    expect(planDir(pg, { ...base, empty: false })).toBe('keep-populated');
    expect(planDir(pg, { ...base, uid: 70, gid: 70, mode: 0o700, empty: false })).toBe('keep');
  });
});

describe('dalston ref handling', () => {
  it('sanitises refs into directory names', () => {
    expect(refDirName('v1.2.3')).toBe('v1.2.3');
    expect(refDirName('release/2026-05')).toBe('release_2026-05');
    expect(refDirName('..')).toBe('_');
    expect(refDirName('.hidden')).toBe('_hidden');
    expect(refDirName('a b;$(x)')).toBe('a_b___x_');
  });
  it('verifies HEAD against a commit prefix or the resolved ref', () => {
    const sha = '7d12e67a54e25517697b50a03b4eb32599ce901e';
    expect(isCommitRef(sha)).toBe(true);
    expect(isCommitRef('v1.0')).toBe(false);
    expect(headMatches(sha, sha, undefined)).toBe(true);
    expect(headMatches('7d12e67', sha, undefined)).toBe(true);
    expect(headMatches('7d12e68', sha, undefined)).toBe(false);
    expect(headMatches('v1.0', sha, sha)).toBe(true);
    expect(headMatches('v1.0', sha, 'other')).toBe(false);
  });
});

describe('units systemctl plan', () => {
  const units = ['dalston-bootstrap.service', 'dalston.service'];
  it('running systemd: reload when a unit changed, enable when needed, and never start anything', () => {
    expect(planSystemctl(['dalston.service'], true, '/', { enabled: true })).toEqual([
      ['daemon-reload'],
      ['enable', ...units],
    ]);
    expect(planSystemctl(['dalston-bootstrap.service'], true, '/', { enabled: true })).toEqual([
      ['daemon-reload'],
      ['enable', ...units],
    ]);
    expect(planSystemctl([], true, '/', { enabled: false })).toEqual([['enable', ...units]]);
    expect(planSystemctl([], true, '/', { enabled: true })).toEqual([]);
  });
  it("drop-ins tie the units to this host's dataDir (the shipped units name no path)", () => {
    const [stack, boot] = dataDirDropIns('/srv/dalston-data');
    expect(stack).toMatchObject({ unit: 'dalston.service', path: 'dalston.service.d/data-dir.conf' });
    expect(stack!.text).toMatch(/\n\[Unit\]\nRequiresMountsFor=\/srv\/dalston-data\n$/);
    expect(boot).toMatchObject({
      unit: 'dalston-bootstrap.service',
      path: 'dalston-bootstrap.service.d/data-dir.conf',
    });
    expect(boot!.text).toMatch(/\n\[Unit\]\nAfter=srv-dalston\\x2ddata\.mount\n$/);
    expect(dataDirDropIns('/data').map((d) => d.text.split('\n').at(-2))).toEqual([
      'RequiresMountsFor=/data',
      'After=data.mount',
    ]);
    expect(mountUnitName('/data')).toBe('data.mount');
    expect(mountUnitName('/')).toBe('-.mount');
    expect(mountUnitName('/var/lib/my data/')).toBe('var-lib-my\\x20data.mount');
    // One word of a path list: a space would split it, % would be a specifier.
    expect(unitPathWord('/var/lib/my data')).toBe('/var/lib/my\\ data');
    expect(unitPathWord('/srv/100%')).toBe('/srv/100%%');
  });
  it('no systemd: offline enable under --root when needed', () => {
    expect(planSystemctl(['dalston.service'], false, '/srv/img', { enabled: true })).toEqual([
      ['--root=/srv/img', 'enable', ...units],
    ]);
    expect(planSystemctl([], false, '/srv/img', { enabled: false })).toEqual([
      ['--root=/srv/img', 'enable', ...units],
    ]);
    expect(planSystemctl([], false, '/srv/img', { enabled: true })).toEqual([]);
  });
});

describe('units step (fake systemctl, --root temp dir)', () => {
  it('installs changed units, reloads and enables (no start); records what changed; then changes nothing', async () => {
    const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { unitsStep } = await import('../../../bootstrap/steps/units.ts');
    const root = await mkdtemp(join(tmpdir(), 'dh-units-'));
    try {
      const src = join(root, 'src');
      await (await import('node:fs/promises')).mkdir(src);
      await writeFile(join(src, 'dalston.service'), '[Service]\nExecStart=/bin/true\n');
      await writeFile(join(src, 'dalston-bootstrap.service'), '[Service]\nType=oneshot\n');
      const step = unitsStep((n) => join(src, n));
      const ctx = fakeContext({}, { root, host: fakeHost({ systemdRunning: () => true }) });
      ctx.shell.on(when('systemctl is-enabled', { exitCode: 1 }));
      const out = await step.run(ctx);
      expect(out.result).toBe('done');
      expect(ctx.shell.lines()).toEqual([
        'systemctl is-enabled --quiet dalston-bootstrap.service dalston.service',
        'systemctl daemon-reload',
        'systemctl enable dalston-bootstrap.service dalston.service',
      ]);
      expect(ctx.state.unitsChanged).toEqual(['dalston-bootstrap.service', 'dalston.service']);
      expect(await readFile(join(root, 'etc/systemd/system/dalston.service'), 'utf8')).toContain('/bin/true');
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston.service.d/data-dir.conf'), 'utf8'),
      ).toContain('RequiresMountsFor=/data\n');
      expect(out.detail).toMatch(
        /^installed dalston-bootstrap\.service, dalston\.service, dalston\.service\.d\/data-dir\.conf, dalston-bootstrap\.service\.d\/data-dir\.conf;/,
      );

      const again = fakeContext({}, { root, host: fakeHost({ systemdRunning: () => true }) });
      const out2 = await step.run(again);
      expect(out2).toEqual({ result: 'unchanged', detail: 'units up to date, enabled' });
      expect(again.shell.lines()).toEqual([
        'systemctl is-enabled --quiet dalston-bootstrap.service dalston.service',
      ]);
      expect(again.state.unitsChanged).toEqual([]);

      // Another dataDir changes only the drop-ins: reload; both units count as changed (the stack step restarts).
      const moved = fakeContext(
        { dataDir: '/srv/data' },
        { root, host: fakeHost({ systemdRunning: () => true }) },
      );
      const out3 = await step.run(moved);
      expect(out3.detail).toMatch(
        /^installed dalston\.service\.d\/data-dir\.conf, dalston-bootstrap\.service\.d\/data-dir\.conf;/,
      );
      expect(moved.shell.lines().slice(1)).toEqual([
        'systemctl daemon-reload',
        'systemctl enable dalston-bootstrap.service dalston.service',
      ]);
      expect(moved.state.unitsChanged).toEqual(['dalston-bootstrap.service', 'dalston.service']);
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston.service.d/data-dir.conf'), 'utf8'),
      ).toContain('RequiresMountsFor=/srv/data\n');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('os step', () => {
  it('an unsupported OS is fine for non-package steps and an error for package steps', async () => {
    const { mkdtemp, mkdir, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { osStep } = await import('../../../bootstrap/steps/os.ts');
    const root = await mkdtemp(join(tmpdir(), 'dh-os-'));
    try {
      await mkdir(join(root, 'etc'));
      await writeFile(
        join(root, 'etc/os-release'),
        'ID=fedora\nVERSION_ID=41\nPRETTY_NAME="Fedora Linux 41"\n',
      );
      const skipped = await osStep(['os', 'disk', 'mount']).run(fakeContext({}, { root }));
      expect(skipped).toEqual({
        result: 'skipped',
        detail:
          'Fedora Linux 41 (ID=fedora, VERSION_ID=41) is not a supported OS, but no package step is selected',
      });
      const err = await osStep(['os', 'packages'])
        .run(fakeContext({}, { root }))
        .catch((e: unknown) => e);
      expect((err as Error).message).toBe(
        'unsupported OS: Fedora Linux 41 (ID=fedora, VERSION_ID=41); supported: Amazon Linux 2023, Ubuntu 22.04/24.04, Debian 12',
      );
      await writeFile(
        join(root, 'etc/os-release'),
        'ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\n',
      );
      expect(await osStep(['os', 'packages']).run(fakeContext({}, { root }))).toEqual({
        result: 'unchanged',
        detail: 'Ubuntu 24.04.1 LTS (supported)',
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

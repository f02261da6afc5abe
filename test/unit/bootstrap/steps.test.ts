import { describe, expect, it } from 'vitest';
import { headMatches, isCommitRef, refDirName } from '../../../bootstrap/steps/dalston.ts';
import { DATA_DIRS, planDir } from '../../../bootstrap/steps/dirs.ts';
import { decideMount, mountCommand, mountStep } from '../../../bootstrap/steps/mount.ts';
import {
  backupScheduleDropIn,
  dataDirDropIns,
  mountUnitName,
  pathsOutsideSandbox,
  planBackupTimer,
  planSystemctl,
  unitPathWord,
  writablePathsDropIns,
} from '../../../bootstrap/steps/units.ts';
import { DATA_SUBDIRS } from '../../../shared/config/data-paths.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { HostError } from '../../../shared/errors.ts';
import type { MountProbe } from '../../../shared/mount/data-mount.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';
import { fakeContext, fakeHost, ok, when } from './fakes.ts';

describe('mount decisions', () => {
  const vol = { device: '/dev/nvme1n1', majorMinor: '259:3', uuid: 'u1' };
  const nothing = { mounted: undefined, entries: [] };
  const at = (source: string, majorMinor: string | null, uuid?: string) => ({
    mounted: { source, majorMinor, uuid },
    entries: [],
  });
  it('nothing mounted and nothing there → mount; the same device, under any name → nothing', () => {
    expect(decideMount(vol, '/data', nothing)).toEqual({ action: 'mount' });
    expect(decideMount(vol, '/data', at('/dev/nvme1n1', '259:3', 'u1'))).toEqual({ action: 'none' });
    // systemd mounted it from fstab by a link: the device number is what counts.
    expect(decideMount(vol, '/data', at('/dev/disk/by-uuid/u1', '259:3', 'u1'))).toEqual({ action: 'none' });
  });
  it('another device at dataDir → refuse naming both, even with the same UUID (a snapshot copy)', () => {
    expect(decideMount(vol, '/data', at('/dev/loop7', '7:7', 'u2'))).toEqual({
      action: 'refuse',
      message:
        '/data already has /dev/loop7 (7:7) (UUID u2) mounted, not the data volume /dev/nvme1n1 (259:3) (UUID u1): unmount it first',
    });
    const copy = decideMount(vol, '/data', at('/dev/nvme2n1', '259:5', 'u1'));
    expect(copy.action).toBe('refuse');
    expect(copy.action === 'refuse' && copy.message).toContain('same filesystem UUID on another device');
    expect(decideMount(vol, '/data', at('tmpfs', '0:52')).action).toBe('refuse');
  });
  it('nothing mounted but dataDir holds entries on the root disk → refuse, listing a few', () => {
    const d = decideMount(vol, '/data', {
      mounted: undefined,
      entries: ['a', 'b', 'c', 'd', 'e', 'postgres'],
    });
    expect(d.action).toBe('refuse');
    expect(d.action === 'refuse' && d.message).toContain(
      '/data is not mounted but already holds 6 entries on the root disk (a, b, c, d, e, …)',
    );
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
      majorMinor: '259:10',
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
  it('under systemd, mounts through a transient unit: in PID 1 mount namespace, not the sandbox', () => {
    // dalston-bootstrap.service has a mount namespace of its own (PrivateTmp=): a plain mount there
    // vanished with the run, and the stack never started after a volume swap (the rehearsal's).
    const v = { device: '/dev/nvme1n1', fsType: 'ext4' };
    expect(mountCommand(v, '/data', true)).toEqual([
      'systemd-run',
      [
        '--wait',
        '--pipe',
        '--collect',
        '--quiet',
        '--description=dalston-host: mount the data volume at /data',
        'mount',
        '-t',
        'ext4',
        '/dev/nvme1n1',
        '/data',
      ],
    ]);
    expect(mountCommand(v, '/data', false)).toEqual(['mount', ['-t', 'ext4', '/dev/nvme1n1', '/data']]);
  });
  it('the step itself, under systemd, mounts through systemd-run (a plain mount is never run)', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = await mkdtemp(join(tmpdir(), 'dh-mount-'));
    try {
      // The volume appears at dataDir only once something mounted it in PID 1's namespace.
      let probe = fakeMounts([]);
      const mounts: MountProbe = {
        realpath: (p) => probe.realpath(p),
        deviceOf: (p) => probe.deviceOf(p),
        mountInfo: () => probe.mountInfo(),
      };
      const ctx = fakeContext(
        { dataDir, volume: { device: '/dev/nvme1n1' } },
        { host: fakeHost({ systemdRunning: () => true }), mounts },
      );
      ctx.state.volume = {
        device: '/dev/nvme1n1',
        majorMinor: '259:10',
        how: 'x',
        fsType: 'ext4',
        uuid: 'u1',
        label: undefined,
        formatted: false,
      };
      ctx.shell.on(when('blkid -p -s UUID -o value /dev/nvme1n1', ok('u1\n')));
      ctx.shell.on((call) => {
        if (call.cmd !== 'systemd-run') return undefined;
        probe = fakeMounts([{ mountPoint: dataDir, source: '/dev/nvme1n1', majorMinor: '259:10' }]);
        return ok('');
      });
      expect(await mountStep.run(ctx)).toMatchObject({ result: 'done' });
      const mountLines = ctx.shell.lines().filter((l) => / mount -t ext4 |^mount /.test(l));
      expect(mountLines).toEqual([
        `systemd-run --wait --pipe --collect --quiet --description=dalston-host: mount the data volume at ${dataDir} mount -t ext4 /dev/nvme1n1 ${dataDir}`,
      ]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
  it('dry run plans the mount and runs no mount', async () => {
    const ctx = fakeContext({ dataDir: '/data', volume: { device: '/dev/nvme1n1' } }, { dryRun: true });
    ctx.state.volume = {
      device: '/dev/nvme1n1',
      majorMinor: '259:10',
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
      ['secrets', 0, 0],
      ['tailscale', 0, 0],
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
  const units = [
    'dalston-bootstrap.service',
    'dalston.service',
    'dalston-backup.service',
    'dalston-backup.timer',
  ];
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
    // docker.service's drop-in: a reload orders its next start; never a docker restart (it would stop the stack).
    expect(planSystemctl(['docker.service'], true, '/', { enabled: true })).toEqual([['daemon-reload']]);
    expect(planSystemctl(['docker.service'], false, '/srv/img', { enabled: true })).toEqual([]);
  });
  it("drop-ins tie the units to this host's dataDir (the shipped units name no path)", () => {
    const [stack, boot, docker] = dataDirDropIns('/srv/dalston-data');
    expect(stack).toMatchObject({ unit: 'dalston.service', path: 'dalston.service.d/data-dir.conf' });
    expect(stack!.text).toMatch(/\n\[Unit\]\nRequiresMountsFor=\/srv\/dalston-data\n$/);
    expect(boot).toMatchObject({
      unit: 'dalston-bootstrap.service',
      path: 'dalston-bootstrap.service.d/data-dir.conf',
    });
    expect(boot!.text).toMatch(/\n\[Unit\]\nAfter=srv-dalston\\x2ddata\.mount\n$/);
    // dockerd waits until the mount has been tried, but does not need it (no Requires=/BindsTo=).
    expect(docker).toMatchObject({
      unit: 'docker.service',
      path: 'docker.service.d/dalston-data-mount.conf',
    });
    expect(docker!.text).toMatch(
      /\n\[Unit\]\nWants=srv-dalston\\x2ddata\.mount\nAfter=srv-dalston\\x2ddata\.mount\n$/,
    );
    expect(docker!.text).not.toMatch(/^(Requires|BindsTo|RequiresMountsFor)=/m);
    expect(dataDirDropIns('/data').map((d) => d.text.split('\n').at(-2))).toEqual([
      'RequiresMountsFor=/data',
      'After=data.mount',
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
  it('arms the backup timer now, and restarts it only when it changed', () => {
    expect(planBackupTimer([], true, false)).toEqual([['start', 'dalston-backup.timer']]);
    expect(planBackupTimer(['dalston-backup.timer'], true, false)).toEqual([
      ['start', 'dalston-backup.timer'],
    ]);
    expect(planBackupTimer(['dalston-backup.timer'], true, true)).toEqual([
      ['restart', 'dalston-backup.timer'],
    ]);
    expect(planBackupTimer(['dalston.service'], true, true)).toEqual([]);
    // Offline, enabling (timers.target.wants) is what arms it at the next boot.
    expect(planBackupTimer(['dalston-backup.timer'], false, false)).toEqual([]);
  });
  it("the timer's schedule comes from host.json through a drop-in that replaces the shipped time", () => {
    const d = backupScheduleDropIn({
      schedule: 'Mon *-*-* 02:30:00 Europe/London',
      randomizedDelaySeconds: 60,
    });
    expect(d).toMatchObject({ unit: 'dalston-backup.timer', path: 'dalston-backup.timer.d/schedule.conf' });
    expect(d.text).toMatch(
      /\n\[Timer\]\nOnCalendar=\nOnCalendar=Mon \*-\*-\* 02:30:00 Europe\/London\nRandomizedDelaySec=60\n$/,
    );
  });
});

describe('sandbox paths', () => {
  const cfg = (raw: Record<string, unknown>) => parseConfig(raw);
  it('state at its default paths needs no drop-in: both are absent (removed if a host had them)', () => {
    expect(pathsOutsideSandbox(cfg({}))).toEqual({ 'dalston.service': [], 'dalston-backup.service': [] });
    expect(writablePathsDropIns(cfg({})).map((d) => [d.path, d.text])).toEqual([
      ['dalston.service.d/writable-paths.conf', null],
      ['dalston-backup.service.d/writable-paths.conf', null],
    ]);
    // Anything under /var/lib/dalston or /run/dalston is inside StateDirectory=/RuntimeDirectory=.
    expect(
      pathsOutsideSandbox(
        cfg({ agent: { stateDir: '/var/lib/dalston/agent/' }, backup: { runDir: '/run/dalston/x' } }),
      ),
    ).toEqual({ 'dalston.service': [], 'dalston-backup.service': [] });
  });
  it('a moved path is named once per unit that writes it; a sibling with the same prefix is outside', () => {
    const moved = cfg({
      agent: { stateDir: '/var/lib/dalston-agent' },
      backup: { stateFile: '/srv/state/backup.json', runDir: '/srv/state' },
    });
    expect(pathsOutsideSandbox(moved)).toEqual({
      'dalston.service': ['/var/lib/dalston-agent', '/srv/state'],
      'dalston-backup.service': ['/srv/state'],
    });
    const [stack, backup] = writablePathsDropIns(moved);
    expect(stack?.text).toMatch(/\n\[Service\]\nReadWritePaths=\/var\/lib\/dalston-agent \/srv\/state\n$/);
    expect(backup?.text).toMatch(/\n\[Service\]\nReadWritePaths=\/srv\/state\n$/);
  });
});

describe('units step (fake systemctl, --root temp dir)', () => {
  const UNITS = 'dalston-bootstrap.service dalston.service dalston-backup.service dalston-backup.timer';
  it('installs changed units, reloads and enables (no start); records what changed; then changes nothing', async () => {
    const { mkdtemp, readFile, rm, stat, writeFile } = await import('node:fs/promises');
    const { existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { unitsStep } = await import('../../../bootstrap/steps/units.ts');
    const root = await mkdtemp(join(tmpdir(), 'dh-units-'));
    try {
      const src = join(root, 'src');
      await (await import('node:fs/promises')).mkdir(src);
      await writeFile(join(src, 'dalston.service'), '[Service]\nExecStart=/bin/true\n');
      await writeFile(join(src, 'dalston-bootstrap.service'), '[Service]\nType=oneshot\n');
      await writeFile(join(src, 'dalston-backup.service'), '[Service]\nType=oneshot\n');
      await writeFile(join(src, 'dalston-backup.timer'), '[Timer]\nOnCalendar=daily\n');
      await writeFile(join(src, 'dalston-sync.service'), '[Service]\nType=oneshot\n');
      const step = unitsStep((n) => join(src, n));
      const ctx = fakeContext({}, { root, host: fakeHost({ systemdRunning: () => true }) });
      ctx.shell.on(when('systemctl is-enabled', { exitCode: 1 }));
      ctx.shell.on(when('systemctl is-active', { exitCode: 3 }));
      const out = await step.run(ctx);
      expect(out.result).toBe('done');
      expect(ctx.shell.lines()).toEqual([
        `systemctl is-enabled --quiet ${UNITS}`,
        'systemctl is-active --quiet dalston-backup.timer',
        'systemctl daemon-reload',
        `systemctl enable ${UNITS}`,
        'systemctl start dalston-backup.timer',
      ]);
      expect(ctx.state.unitsChanged).toEqual([
        'dalston-bootstrap.service',
        'dalston.service',
        'dalston-backup.service',
        'dalston-backup.timer',
        'dalston-sync.service',
        'docker.service',
      ]);
      expect(await readFile(join(root, 'etc/systemd/system/dalston.service'), 'utf8')).toContain('/bin/true');
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston.service.d/data-dir.conf'), 'utf8'),
      ).toContain('RequiresMountsFor=/data\n');
      expect(out.detail).toMatch(
        /^installed dalston-bootstrap\.service, dalston\.service, dalston-backup\.service, dalston-backup\.timer, dalston-sync\.service, dalston\.service\.d\/data-dir\.conf, dalston-bootstrap\.service\.d\/data-dir\.conf, docker\.service\.d\/dalston-data-mount\.conf, dalston-backup\.timer\.d\/schedule\.conf;/,
      );
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston-backup.timer.d/schedule.conf'), 'utf8'),
      ).toContain('\nOnCalendar=*-*-* 04:15:00 UTC\n');

      const again = fakeContext({}, { root, host: fakeHost({ systemdRunning: () => true }) });
      const out2 = await step.run(again);
      expect(out2).toEqual({ result: 'unchanged', detail: 'units up to date, enabled' });
      expect(again.shell.lines()).toEqual([
        `systemctl is-enabled --quiet ${UNITS}`,
        'systemctl is-active --quiet dalston-backup.timer',
      ]);
      expect(again.state.unitsChanged).toEqual([]);

      // Another dataDir changes only the drop-ins: reload; both units count as changed (the stack step restarts).
      const moved = fakeContext(
        { dataDir: '/srv/data' },
        { root, host: fakeHost({ systemdRunning: () => true }) },
      );
      const out3 = await step.run(moved);
      expect(out3.detail).toMatch(
        /^installed dalston\.service\.d\/data-dir\.conf, dalston-bootstrap\.service\.d\/data-dir\.conf, docker\.service\.d\/dalston-data-mount\.conf;/,
      );
      expect(moved.shell.lines().slice(2)).toEqual(['systemctl daemon-reload', `systemctl enable ${UNITS}`]);
      expect(moved.state.unitsChanged).toEqual([
        'dalston.service',
        'dalston-bootstrap.service',
        'docker.service',
      ]);
      // Another backup time changes only the timer's drop-in: reload and re-arm the timer, the stack untouched.
      const rescheduled = fakeContext(
        { dataDir: '/srv/data', backup: { schedule: '*-*-* 01:00:00 UTC' } },
        { root, host: fakeHost({ systemdRunning: () => true }) },
      );
      const out4 = await step.run(rescheduled);
      expect(out4.detail).toMatch(/^installed dalston-backup\.timer\.d\/schedule\.conf;/);
      expect(rescheduled.shell.lines().slice(2)).toEqual([
        'systemctl daemon-reload',
        `systemctl enable ${UNITS}`,
        'systemctl restart dalston-backup.timer',
      ]);
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston.service.d/data-dir.conf'), 'utf8'),
      ).toContain('RequiresMountsFor=/srv/data\n');

      // A moved agent.stateDir: a ReadWritePaths= drop-in and the directory (the sandbox binds it at start).
      const movedState = {
        dataDir: '/srv/data',
        backup: { schedule: '*-*-* 01:00:00 UTC' },
        agent: { stateDir: '/srv/agent' },
      };
      const state = fakeContext(movedState, { root, host: fakeHost({ systemdRunning: () => true }) });
      const out5 = await step.run(state);
      expect(out5.detail).toMatch(
        /^installed dalston\.service\.d\/writable-paths\.conf; systemctl daemon-reload;/,
      );
      expect(state.state.unitsChanged).toEqual(['dalston.service']);
      expect(
        await readFile(join(root, 'etc/systemd/system/dalston.service.d/writable-paths.conf'), 'utf8'),
      ).toContain('\nReadWritePaths=/srv/agent\n');
      expect((await stat(join(root, 'srv/agent'))).isDirectory()).toBe(true);
      // Back at its default: the drop-in is removed, not left behind.
      const home = fakeContext(
        { ...movedState, agent: {} },
        { root, host: fakeHost({ systemdRunning: () => true }) },
      );
      const out6 = await step.run(home);
      expect(out6.detail).toMatch(
        /^removed dalston\.service\.d\/writable-paths\.conf; systemctl daemon-reload;/,
      );
      expect(home.state.unitsChanged).toEqual(['dalston.service']);
      expect(existsSync(join(root, 'etc/systemd/system/dalston.service.d/writable-paths.conf'))).toBe(false);
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

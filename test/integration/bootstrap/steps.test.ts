import { existsSync } from 'node:fs';
import {
  appendFile,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirDropIns } from '../../../bootstrap/steps/units.ts';
import { assetPath } from '../../../shared/assets.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { ZxShell } from '../../../shared/shell.ts';
import { requireCommand } from '../../harness/require.ts';
import { makeRoot, mountedAt, runBootstrap, sh, unmountAll } from './bootstrap-process.ts';

const shell = new ZxShell();
let work: string;

beforeAll(async () => {
  requireCommand('git', 'apt-get install -y git');
  requireCommand('systemd-analyze', 'apt-get install -y systemd');
  requireCommand('systemctl', 'apt-get install -y systemd');
  work = await mkdtemp(join(process.env.DALSTON_TEST_TMP ?? tmpdir(), 'bootstrap-steps-'));
});
afterAll(async () => {
  await unmountAll(work);
  await rm(work, { recursive: true, force: true });
});

/** `systemd-analyze verify` exits 0 on some problems: the output must be clean too. */
async function verifyUnit(dir: string, name: string): Promise<{ exitCode: number; problems: string[] }> {
  const r = await shell.run('systemd-analyze', ['verify', join(dir, name)], {
    env: { SYSTEMD_LOG_COLOR: '0' },
  });
  const problems = (r.stdout + r.stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    // A machine without node at /usr/bin/node (the product's path) cannot judge ExecStart's binary.
    .filter((l) => existsSync('/usr/bin/node') || !/\/usr\/bin\/node/.test(l));
  return { exitCode: r.exitCode, problems };
}

describe('dalston-bootstrap.service', () => {
  it('passes systemd-analyze verify with no output, with the drop-in for the default dataDir', async () => {
    const dir = join(work, 'units');
    await mkdir(dir, { recursive: true });
    for (const u of ['dalston-bootstrap.service', 'dalston.service'])
      await copyFile(assetPath(`systemd/${u}`), join(dir, u));
    // verify reads drop-ins next to the unit file, as systemd reads them from /etc/systemd/system.
    for (const d of dataDirDropIns(parseConfig({}).dataDir)) {
      await mkdir(join(dir, `${d.unit}.d`), { recursive: true });
      await writeFile(join(dir, d.path), d.text);
    }
    expect(await verifyUnit(dir, 'dalston-bootstrap.service')).toEqual({ exitCode: 0, problems: [] });

    const text = await readFile(join(dir, 'dalston-bootstrap.service'), 'utf8');
    expect(text).toMatch(/^Type=oneshot$/m);
    expect(text).toMatch(/^RemainAfterExit=yes$/m);
    expect(text).toMatch(/^Before=dalston\.service$/m);
    expect(text).toMatch(/^After=local-fs\.target network-online\.target$/m);
    expect(await readFile(join(dir, 'dalston-bootstrap.service.d/data-dir.conf'), 'utf8')).toMatch(
      /^After=data\.mount$/m,
    );
    // A mistake in the drop-in is caught too.
    await writeFile(join(dir, 'dalston-bootstrap.service.d/data-dir.conf'), '[Unit]\nAftr=data.mount\n');
    expect((await verifyUnit(dir, 'dalston-bootstrap.service')).problems.join('\n')).toMatch(/Aftr/);
    // A full run (until one has succeeded) may build images for hours; bounded all the same.
    expect(text).toMatch(/^TimeoutStartSec=5h$/m);
    const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
    expect(exec).toBe(
      '/usr/bin/node /opt/dalston-host/current/dalston-host.mjs bootstrap --config /etc/dalston/host.json --boot',
    );
    // Ordering only, so a failed run (say, Tailscale) never keeps the stack from starting.
    expect(text).not.toMatch(/^(Requires|BindsTo|RequiredBy)=/m);

    // The check itself can fail: a misspelt Type= is reported even though the exit code may be 0.
    await writeFile(join(dir, 'broken.service'), text.replace('Type=oneshot', 'Type=oneshoot'));
    expect((await verifyUnit(dir, 'broken.service')).problems.join('\n')).toMatch(/Type|oneshoot/);
  });
});

describe('dirs, dalston and units steps', () => {
  let remote: string;
  let tagCommit: string;
  let secondCommit: string;
  let s: Awaited<ReturnType<typeof makeRoot>>;

  beforeAll(async () => {
    remote = join(work, 'dalston.git');
    const src = join(work, 'src');
    await sh('git', ['init', '-q', '--bare', remote]);
    await sh('git', ['init', '-q', src]);
    const g = (args: string[]) =>
      sh('git', ['-C', src, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args]);
    await writeFile(join(src, 'docker-compose.yml'), 'services: {}\n');
    await g(['add', '.']);
    await g(['commit', '-qm', 'one']);
    await g(['tag', 'v1.0.0']);
    tagCommit = (await g(['rev-parse', 'HEAD'])).trim();
    await appendFile(join(src, 'docker-compose.yml'), '# two\n');
    await g(['commit', '-qam', 'two']);
    secondCommit = (await g(['rev-parse', 'HEAD'])).trim();
    await g(['push', '-q', remote, 'HEAD:refs/heads/main', '--tags']);

    s = await makeRoot((dataDir) => ({ dataDir, dalston: { repo: remote, ref: 'v1.0.0' } }));
    await mkdir(s.dataDir);
  });

  it('refuses to create directories when dataDir is not a mount point (never onto the root disk)', async () => {
    const run = await runBootstrap(['--root', s.root, '--steps', 'dirs']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `${s.dataDir} is not a mount point: refusing to create data directories on the root disk`,
    );
    expect(existsSync(join(s.dataDir, 'postgres'))).toBe(false);
  });

  it('checks out the pinned tag, then a pinned commit, swapping current atomically', async () => {
    // A tmpfs stands in for the data volume here: these steps only need dataDir to be a mount.
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'dalston-test', s.dataDir]);
    expect(await mountedAt(s.dataDir)).toBe('dalston-test');

    const first = await runBootstrap(['--root', s.root, '--steps', 'dirs,dalston']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.steps.dalston?.result).toBe('done');
    const v1 = join(s.dataDir, 'dalston', 'v1.0.0');
    expect((await sh('git', ['-C', v1, 'rev-parse', 'HEAD'])).trim()).toBe(tagCommit);
    expect(await readlink(join(s.dataDir, 'dalston', 'current'))).toBe('v1.0.0');

    const again = await runBootstrap(['--root', s.root, '--steps', 'dirs,dalston']);
    expect(again.code).toBe(0);
    expect(again.steps.dalston?.result).toBe('unchanged');
    expect(again.steps.dirs?.result).toBe('unchanged');

    await writeFile(
      join(s.root, 'etc/dalston/host.json'),
      JSON.stringify({ dataDir: s.dataDir, dalston: { repo: remote, ref: secondCommit } }),
    );
    const pinned = await runBootstrap(['--root', s.root, '--steps', 'dalston']);
    expect(pinned.code).toBe(0);
    expect(
      (await sh('git', ['-C', join(s.dataDir, 'dalston', secondCommit), 'rev-parse', 'HEAD'])).trim(),
    ).toBe(secondCommit);
    expect(await readlink(join(s.dataDir, 'dalston', 'current'))).toBe(secondCommit);
    expect((await lstat(join(s.dataDir, 'dalston', 'current'))).isSymbolicLink()).toBe(true);
  });

  it('refuses to touch a checkout with local changes', async () => {
    await writeFile(
      join(s.root, 'etc/dalston/host.json'),
      JSON.stringify({ dataDir: s.dataDir, dalston: { repo: remote, ref: 'v1.0.0' } }),
    );
    const file = join(s.dataDir, 'dalston', 'v1.0.0', 'docker-compose.yml');
    await appendFile(file, '# local edit\n');
    const run = await runBootstrap(['--root', s.root, '--steps', 'dalston']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('has local changes');
    expect(run.stderr).toContain('docker-compose.yml');
    expect(await readFile(file, 'utf8')).toContain('# local edit');
    // current still points at the previous checkout
    expect(await readlink(join(s.dataDir, 'dalston', 'current'))).toBe(secondCommit);
  });

  it('dalston.ref missing → 78 naming it', async () => {
    await writeFile(join(s.root, 'etc/dalston/host.json'), JSON.stringify({ dataDir: s.dataDir }));
    const run = await runBootstrap(['--root', s.root, '--steps', 'dalston']);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('dalston.ref is required');
  });

  it('installs and enables both units offline under --root; a re-run changes nothing', async () => {
    const units = join(s.root, 'etc/systemd/system');
    const first = await runBootstrap(['--root', s.root, '--steps', 'units,stack']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    // Installing never starts anything; without systemd the stack step says why it did not either.
    expect(first.steps.stack).toMatchObject({
      result: 'skipped',
      detail: 'dalston.service not started: systemd is not running (PID 1)',
    });
    expect(first.steps.units).toMatchObject({
      result: 'done',
      detail: expect.stringContaining('installed dalston-bootstrap.service, dalston.service'),
    });
    expect(first.steps.units?.detail).toContain(`systemctl --root=${s.root} enable`);
    expect(first.steps.units?.detail).toContain(
      'dalston.service.d/data-dir.conf, dalston-bootstrap.service.d/data-dir.conf',
    );
    // The units as shipped; drop-ins tie both to this host's dataDir (here a temp dir).
    for (const u of ['dalston-bootstrap.service', 'dalston.service']) {
      expect(await readFile(join(units, u), 'utf8')).toBe(await readFile(assetPath(`systemd/${u}`), 'utf8'));
    }
    expect(await readFile(join(units, 'dalston.service.d/data-dir.conf'), 'utf8')).toContain(
      `\nRequiresMountsFor=${s.dataDir}\n`,
    );
    for (const d of dataDirDropIns(s.dataDir)) {
      expect(await readFile(join(units, d.path), 'utf8')).toBe(d.text);
    }
    // Installed as systemd will load them: clean for systemd-analyze verify, drop-ins included.
    expect(await verifyUnit(units, 'dalston-bootstrap.service')).toEqual({ exitCode: 0, problems: [] });
    for (const u of ['dalston-bootstrap.service', 'dalston.service']) {
      expect(await readlink(join(units, 'multi-user.target.wants', u))).toBe(`/etc/systemd/system/${u}`);
    }
    // The backup timer is enabled too (it arms at the next boot); its service is started by it alone.
    expect(await readlink(join(units, 'timers.target.wants', 'dalston-backup.timer'))).toBe(
      '/etc/systemd/system/dalston-backup.timer',
    );
    expect(await readFile(join(units, 'dalston-backup.timer.d/schedule.conf'), 'utf8')).toContain(
      '\nOnCalendar=*-*-* 04:15:00 UTC\n',
    );
    const second = await runBootstrap(['--root', s.root, '--steps', 'units']);
    expect(second.steps.units?.result).toBe('unchanged');
    await appendFile(join(units, 'dalston.service'), '# hand edit\n');
    const third = await runBootstrap(['--root', s.root, '--steps', 'units']);
    expect(third.steps.units).toMatchObject({
      result: 'done',
      detail: `installed dalston.service; systemctl --root=${s.root} enable dalston-bootstrap.service dalston.service dalston-backup.service dalston-backup.timer`,
    });
  });
});

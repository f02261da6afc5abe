/**
 * Benchmark: the bootstrap's wall time on real block devices.
 * - first run on a blank 50 GiB sparse loop file (targets ≤ 10 s): disk (mkfs),
 *   mount, fstab, dirs, dalston (local bare repo as the remote), units (offline, --root);
 *   package and tailscale steps excluded (they need the network);
 * - re-run on the bootstrapped host, every step satisfied (target ≤ 2 s), 5 times.
 * Each run is a separate `node` process, as at boot, running an esbuild bundle
 * of the bootstrap built like the release's dalston-host.mjs (no TypeScript
 * loader at run time). Two numbers per run: the process wall time and the time
 * inside the steps from bootstrap.json.
 * Writes bench/results/bootstrap.json. Needs root, losetup, mkfs.ext4, git.
 * Run: npm run bench:bootstrap
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZxShell } from '../shared/shell.ts';
import { buildRelease } from './release-bundle.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const STEPS = 'os,disk,mount,fstab,dirs,dalston,units';
const shell = new ZxShell();

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await shell.run(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** The release bundle and its subcommand, set once built. */
let program: string[] = [];

async function timedRun(
  root: string,
): Promise<{ wallMs: number; stepsMs: number; results: Record<string, string> }> {
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [...program, '--root', root, '--steps', STEPS], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  const wallMs = performance.now() - t0;
  if (code !== 0) throw new Error(`bootstrap exited ${code}`);
  const report = JSON.parse(await readFile(join(root, 'var/lib/dalston/bootstrap.json'), 'utf8')) as {
    steps: { name: string; result: string; durationMs: number }[];
  };
  return {
    wallMs: Math.round(wallMs),
    stepsMs: report.steps.reduce((a, s) => a + s.durationMs, 0),
    results: Object.fromEntries(report.steps.map((s) => [s.name, s.result])),
  };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the bootstrap benchmark needs root (loop devices, mount)');
  const dir = await mkdtemp(join(os.tmpdir(), 'dalston-bootstrap-bench-'));
  const root = join(dir, 'root');
  const dataDir = join(dir, 'data');
  const image = join(dir, 'ebs.img');
  let device: string | undefined;
  try {
    const fh = await open(image, 'wx');
    await fh.truncate(50 * 1024 ** 3);
    await fh.close();
    device = (await sh('losetup', ['--find', '--show', image])).trim();

    // A local bare repository stands in for GitHub.
    const remote = join(dir, 'dalston.git');
    const src = join(dir, 'src');
    await sh('git', ['init', '-q', '--bare', remote]);
    await sh('git', ['init', '-q', src]);
    await writeFile(join(src, 'docker-compose.yml'), 'services: {}\n');
    const g = (args: string[]) =>
      sh('git', ['-C', src, '-c', 'user.name=b', '-c', 'user.email=b@example.invalid', ...args]);
    await g(['add', '.']);
    await g(['commit', '-qm', 'bench']);
    await g(['tag', 'v1.0.0']);
    await g(['push', '-q', remote, 'HEAD:refs/heads/main', '--tags']);

    await mkdir(join(root, 'etc/dalston'), { recursive: true });
    await writeFile(join(root, 'etc/fstab'), '# static file system information\n');
    await writeFile(
      join(root, 'etc/os-release'),
      await readFile('/etc/os-release', 'utf8').catch(() => 'ID=debian\nVERSION_ID="12"\n'),
    );
    await writeFile(
      join(root, 'etc/dalston/host.json'),
      JSON.stringify({
        dataDir,
        volume: { device, waitSeconds: 10 },
        dalston: { repo: remote, ref: 'v1.0.0' },
      }),
    );

    program = [buildRelease(), 'bootstrap'];
    const first = await timedRun(root);
    const reruns = [];
    for (let i = 0; i < 5; i++) reruns.push(await timedRun(root));
    const satisfied = reruns.every((r) =>
      Object.entries(r.results).every(([n, res]) => res === 'unchanged' || n.endsWith(':start')),
    );
    const walls = reruns.map((r) => r.wallMs).sort((a, b) => a - b);
    const result = {
      name: 'bootstrap',
      targets: { firstRunBlank50GiBMs: 10_000, rerunSatisfiedMs: 2_000 },
      steps: STEPS,
      firstRun: { ...first, withinTarget: first.wallMs <= 10_000 },
      rerun: {
        runs: reruns.length,
        allStepsSatisfied: satisfied,
        wallMs: { median: walls[Math.floor(walls.length / 2)], max: walls[walls.length - 1] },
        stepsMs: { median: reruns.map((r) => r.stepsMs).sort((a, b) => a - b)[2] },
        withinTarget: (walls[walls.length - 1] ?? Infinity) <= 2_000,
      },
      note: 'wall time of a bundled node process (start-up included); stepsMs is the time inside the steps',
      loadAverage1m: os.loadavg()[0],
      node: process.version,
      cpus: os.cpus().length,
      at: new Date().toISOString(),
    };
    const out = fileURLToPath(new URL('./results/bootstrap.json', import.meta.url));
    await mkdir(join(out, '..'), { recursive: true });
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await shell.run('umount', [dataDir]);
    if (device) await shell.run('losetup', ['--detach', device]);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

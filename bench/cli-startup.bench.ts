/**
 * Start-up time of the installed `dalston-aws` (the bundle dist/dalston-aws.mjs and its chunks, as
 * `npm install -g .` links it) for commands that answer without AWS: `--version` and `status --help`;
 * beside them Node's own floor (`node -e 0`), a command that loads the AWS SDK and fails at once
 * for want of credentials (`status` with a deployment in the environment and an empty HOME), and
 * the tsx launcher bin/dalston-aws.mjs for comparison. The cases run interleaved, round after round,
 * so a burst of other work on the machine hits them alike. `npm run bench:cli-startup` builds first
 * and writes bench/results/cli-startup.json. Target: median ≤ 300 ms for the bundle's two commands.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, round } from './machine-info.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 21;
const LAUNCHER_RUNS = 5;
const TARGET_MS = 300;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const home = mkdtempSync(join(tmpdir(), 'dh-cli-startup-'));
/** A deployment but no credentials: `status` loads the SDK, walks its provider chain and exits 78. */
const noCredentials = {
  PATH: process.env.PATH,
  HOME: home,
  DALSTON_INSTANCE_ID: 'i-0123456789abcdef0',
  DALSTON_BUCKET: 'dalston-bench-startup',
  AWS_REGION: 'eu-west-2',
  AWS_EC2_METADATA_DISABLED: 'true',
};

interface Case {
  program: string;
  command: string;
  args: string[];
  exitCode: number;
  runs: number;
  env?: NodeJS.ProcessEnv;
}

function time(c: Case): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, c.args, { cwd: root, stdio: 'pipe', env: c.env ?? process.env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== c.exitCode) throw new Error(`node ${c.args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
const bundle = 'dist/dalston-aws.mjs';
const launcher = 'bin/dalston-aws.mjs';
const cases: Case[] = [
  { program: 'node', command: 'floor', args: ['-e', '0'], exitCode: 0, runs: RUNS },
  { program: 'bundle', command: 'version', args: [bundle, '--version'], exitCode: 0, runs: RUNS },
  { program: 'bundle', command: 'statusHelp', args: [bundle, 'status', '--help'], exitCode: 0, runs: RUNS },
  {
    program: 'bundle',
    command: 'statusNoCredentials',
    args: [bundle, 'status'],
    exitCode: 78,
    runs: RUNS,
    env: noCredentials,
  },
  {
    program: 'tsxLauncher',
    command: 'version',
    args: [launcher, '--version'],
    exitCode: 0,
    runs: LAUNCHER_RUNS,
  },
  {
    program: 'tsxLauncher',
    command: 'statusHelp',
    args: [launcher, 'status', '--help'],
    exitCode: 0,
    runs: LAUNCHER_RUNS,
  },
];
const times = cases.map(() => [] as number[]);
for (const c of cases) time(c); // warm the file cache
for (let pass = 0; pass < RUNS; pass++) {
  cases.forEach((c, i) => {
    if (pass < c.runs) times[i]!.push(time(c));
  });
}
rmSync(home, { recursive: true, force: true });

const results: Record<
  string,
  Record<string, { medianMs: number; minMs: number; maxMs: number; runs: number }>
> = {};
cases.forEach((c, i) => {
  const t = times[i]!;
  results[c.program] ??= {};
  results[c.program]![c.command] = {
    medianMs: round(median(t)),
    minMs: round(Math.min(...t)),
    maxMs: round(Math.max(...t)),
    runs: t.length,
  };
});
const worst = Math.max(results.bundle!.version!.medianMs, results.bundle!.statusHelp!.medianMs);
const out = {
  bench: 'cli-startup',
  at: new Date().toISOString(),
  machine: machineInfo(),
  runsPerCommand: RUNS,
  targetMs: TARGET_MS,
  nodeFloorMedianMs: results.node!.floor!.medianMs,
  // Node reads and parses the extra CA file at every start (~40 ms on this machine): part of the floor.
  nodeExtraCaCerts: Boolean(process.env.NODE_EXTRA_CA_CERTS),
  bundleWorstMedianMs: worst,
  meetsTarget: worst <= TARGET_MS,
  results,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/cli-startup.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);

/**
 * Start-up time of the installed `dalston-aws` (the bundle dist/dalston-aws.mjs, as `npm install -g .`
 * links it) for commands that answer without AWS: `--version` and `status --help`, next to the tsx
 * launcher bin/dalston-aws.mjs for comparison. `npm run bench:cli-startup` builds first and writes
 * bench/results/cli-startup.json. Target: median ≤ 300 ms for the bundle.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { machineInfo, round } from './machine-info.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 15;
const TARGET_MS = 300;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function time(file: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [file, ...args], { cwd: root, stdio: 'pipe' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
const programs = { bundle: 'dist/dalston-aws.mjs', tsxLauncher: 'bin/dalston-aws.mjs' };
const commands = { version: ['--version'], statusHelp: ['status', '--help'] };
const results: Record<string, Record<string, { medianMs: number; minMs: number; maxMs: number }>> = {};
for (const [name, file] of Object.entries(programs)) {
  results[name] = {};
  for (const [cmd, args] of Object.entries(commands)) {
    time(file, args); // warm the file cache
    const runs = Array.from({ length: name === 'bundle' ? RUNS : 5 }, () => time(file, args));
    results[name][cmd] = {
      medianMs: round(median(runs)),
      minMs: round(Math.min(...runs)),
      maxMs: round(Math.max(...runs)),
    };
  }
}
const worst = Math.max(...Object.values(results.bundle!).map((r) => r.medianMs));
const out = {
  bench: 'cli-startup',
  at: new Date().toISOString(),
  machine: machineInfo(),
  runsPerCommand: RUNS,
  targetMs: TARGET_MS,
  bundleWorstMedianMs: worst,
  meetsTarget: worst <= TARGET_MS,
  results,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/cli-startup.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);

/**
 * `npm run bench:backup`: `dalston-host backup` and `restore` (the release
 * bundle, with dalston-backup.service's environment) against a real Postgres
 * (the harness's Debian image) and s3rver, at two database sizes (~100 MB and
 * ~1 GB of md5 text, which zlib halves at best). At each size, side by side in
 * one run: a plain `docker exec <pg> pg_dump -Fc > file` (the floor: same
 * dump, same compression, nothing uploaded), the backup (dump streamed to S3
 * by multipart upload), and the restore (verify, safety backup, pg_restore).
 * The peak RSS of the backup and restore processes comes from GNU time's
 * maximum resident set size; flat between the sizes means memory does not
 * follow the dump. Results: bench/results/backup.json.
 *   bench:backup [-- --small-mb 100 --large-mb 1024]
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import setup from '../test/harness/global-setup.ts';
import { ENV } from '../test/harness/paths.ts';
import { type BackupStack, startBackupStack } from '../test/integration/backup/backup-stack.ts';
import { loadAverage, machineInfo, round } from './machine-info.ts';
import { buildRelease, unitEnvironment } from './release-bundle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const MB = 1024 * 1024;
const load = loadAverage;

/** One row: 4 md5 digests as text (128 characters). */
const TABLE = 'bench_rows';
const CHUNK_ROWS = 500_000;

interface Timed {
  seconds: number;
  loadAverageBefore: number[];
}

interface HostRun extends Timed {
  exitCode: number | null;
  peakRssMB: number;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

/** `dalston-host <args>` from the release bundle under GNU time, as dalston-backup.service runs it. */
async function runHost(stack: BackupStack, bundle: string, dir: string, args: string[]): Promise<HostRun> {
  const timeFile = join(dir, 'time.out');
  const env = {
    ...process.env,
    ...stack.env,
    // The unit's NODE_OPTIONS (heap limit) and NODE_ENV: memory is measured as it ships.
    ...unitEnvironment('dalston-backup.service'),
  };
  const loadAverageBefore = load();
  const t0 = performance.now();
  const child = spawn(
    '/usr/bin/time',
    ['-f', '%M', '-o', timeFile, process.execPath, bundle, ...args, '--config', stack.configFile],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exitCode = await new Promise<number | null>((r) => child.on('close', r));
  const seconds = (performance.now() - t0) / 1000;
  // GNU time's last line is the maximum resident set size in KiB (earlier lines: "Command exited…").
  const kib = Number((await readFile(timeFile, 'utf8')).trim().split('\n').at(-1));
  const lines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { exitCode, seconds, peakRssMB: round(kib / 1024), lines, stderr, loadAverageBefore };
}

/** Seconds between the first log lines whose msg starts with `from` and `to`. */
function phase(lines: HostRun['lines'], from: string, to: string): number | null {
  const at = (p: string) => {
    const l = lines.find((x) => typeof x.msg === 'string' && x.msg.startsWith(p));
    return l ? Date.parse(String(l.time)) : Number.NaN;
  };
  const s = (at(to) - at(from)) / 1000;
  return Number.isFinite(s) ? round(s) : null;
}

/** The plain dump: `docker exec <pg> pg_dump -Fc` into a file, timed. */
async function plainDump(containerId: string, file: string): Promise<Timed & { bytes: number }> {
  const loadAverageBefore = load();
  const t0 = performance.now();
  const child = spawn(
    'docker',
    ['exec', containerId, 'pg_dump', '-U', 'dalston', '-d', 'dalston', '--no-password', '--format=custom'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = createWriteStream(file);
  child.stdout.pipe(out);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  await new Promise<void>((r) => out.close(() => r()));
  if (code !== 0) throw new Error(`pg_dump exited ${code}: ${stderr.trim()}`);
  return { seconds: (performance.now() - t0) / 1000, bytes: (await stat(file)).size, loadAverageBefore };
}

async function postgresContainer(stack: BackupStack): Promise<string> {
  const r = await stack.compose(['ps', '-q', 'postgres']);
  const id = r.stdout.trim();
  if (r.exitCode !== 0 || !id) throw new Error(`no postgres container: ${r.stderr.trim()}`);
  return id;
}

const databaseBytes = async (stack: BackupStack) =>
  Number(await stack.psql("SELECT pg_database_size('dalston')"));

/** Adds rows until the database is at least `targetMB`; returns the row count. */
async function growTo(stack: BackupStack, targetMB: number, rows: number): Promise<number> {
  let n = rows;
  while ((await databaseBytes(stack)) < targetMB * MB) {
    const step = Math.min(
      CHUNK_ROWS,
      Math.max(50_000, Math.ceil(((targetMB * MB - (await databaseBytes(stack))) / 170) * 1.02)),
    );
    await stack.psql(
      `INSERT INTO ${TABLE} SELECT i, md5(i::text) || md5('a' || i) || md5('b' || i) || md5('c' || i) FROM generate_series(${n + 1}, ${n + step}) AS s(i)`,
    );
    n += step;
    log(`  ${n} rows, ${round((await databaseBytes(stack)) / MB)} MB`);
  }
  await stack.psql('CHECKPOINT');
  return n;
}

async function measureAt(
  stack: BackupStack,
  bundle: string,
  dir: string,
  rows: number,
): Promise<Record<string, unknown>> {
  const dbBytes = await databaseBytes(stack);
  log(`measuring at ${round(dbBytes / MB)} MB (${rows} rows)`);
  const pg = await postgresContainer(stack);
  const file = join(dir, 'plain.dump');
  const plain = await plainDump(pg, file);
  await rm(file, { force: true });
  log(`  plain pg_dump -Fc: ${round(plain.seconds)} s, ${round(plain.bytes / MB)} MB`);

  const backup = await runHost(stack, bundle, dir, ['backup']);
  if (backup.exitCode !== 0) throw new Error(`backup exited ${backup.exitCode}: ${backup.stderr.trim()}`);
  const done = backup.lines.find((l) => typeof l.sha256 === 'string' && typeof l.sizeBytes === 'number');
  log(
    `  dalston-host backup: ${round(backup.seconds)} s (${round(backup.seconds / plain.seconds, 2)}×), peak RSS ${backup.peakRssMB} MB`,
  );

  await stack.psql(`DROP TABLE ${TABLE}`);
  const restore = await runHost(stack, bundle, dir, ['restore', '--latest', '--yes']);
  if (restore.exitCode !== 0) throw new Error(`restore exited ${restore.exitCode}: ${restore.stderr.trim()}`);
  const back = Number(await stack.psql(`SELECT count(*) FROM ${TABLE}`));
  if (back !== rows) throw new Error(`restore brought back ${back} rows, not ${rows}`);
  log(
    `  dalston-host restore: ${round(restore.seconds)} s, peak RSS ${restore.peakRssMB} MB; ${back} rows back`,
  );

  return {
    databaseMB: round(dbBytes / MB),
    rows,
    plainPgDump: {
      seconds: round(plain.seconds, 2),
      dumpMB: round(plain.bytes / MB),
      loadAverageBefore: plain.loadAverageBefore,
    },
    backup: {
      seconds: round(backup.seconds, 2),
      ratioToPlainPgDump: round(backup.seconds / plain.seconds, 3),
      // Dump streamed and uploaded; the rest is the completion metadata (a copy of the object onto itself).
      dumpAndUploadSeconds: typeof done?.durationSeconds === 'number' ? round(done.durationSeconds, 2) : null,
      dumpMB: typeof done?.sizeBytes === 'number' ? round(done.sizeBytes / MB) : null,
      peakRssMB: backup.peakRssMB,
      loadAverageBefore: backup.loadAverageBefore,
    },
    restore: {
      seconds: round(restore.seconds, 2),
      verifySeconds: phase(restore.lines, 'backup s3://', 'verified'),
      safetyBackupSeconds: phase(restore.lines, 'taking a safety backup', 'backed up'),
      pgRestoreSeconds: phase(restore.lines, 'restoring into database', 'starting '),
      peakRssMB: restore.peakRssMB,
      rowsBack: back,
      loadAverageBefore: restore.loadAverageBefore,
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      'small-mb': { type: 'string', default: '100' },
      'large-mb': { type: 'string', default: '1024' },
    },
  });
  const sizes = [Number(values['small-mb']), Number(values['large-mb'])];
  if (sizes.some((s) => !Number.isFinite(s) || s <= 0) || sizes[0]! >= sizes[1]!)
    throw new Error(`--small-mb and --large-mb must be positive, small < large; got ${sizes.join(', ')}`);
  const started = Date.now();
  const teardown = await setup({ provide() {} } as never);
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    machine: machineInfo(),
  };
  let stack: BackupStack | undefined;
  const dir = await mkdtemp(join(process.env[ENV.tmp] ?? os.tmpdir(), 'backup-bench-'));
  try {
    const bundle = buildRelease();
    stack = await startBackupStack('bench-backup', {
      // The product's defaults (host.json's part size), not the tests' small parts.
      backup: { partSizeMiB: 16, restoreHealthySeconds: 900 },
    });
    // Straight to s3rver: the stack's cuttable proxy (for outage tests) would add a hop the product does not have.
    const ep = await stack.s3.client.config.endpoint!();
    const cfg = JSON.parse(await readFile(stack.configFile, 'utf8'));
    cfg.s3.endpoint = `http://${ep.hostname}:${ep.port}`;
    await writeFile(stack.configFile, JSON.stringify(cfg, null, 2));
    await stack.psql(
      [
        'CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)',
        "INSERT INTO alembic_version VALUES ('0002_add_task_ready_at')",
        `CREATE TABLE ${TABLE} (i int NOT NULL, v text NOT NULL)`,
      ].join('; '),
    );
    results.postgresVersion = await stack.psql("SELECT current_setting('server_version')");
    const bySize: Record<string, unknown>[] = [];
    let rows = 0;
    for (const mb of sizes) {
      const t0 = performance.now();
      log(`generating ~${mb} MB`);
      rows = await growTo(stack, mb, rows);
      log(`  generated in ${round((performance.now() - t0) / 1000)} s`);
      bySize.push(await measureAt(stack, bundle, dir, rows));
    }
    results.sizes = bySize;
    const [small, large] = bySize as Array<{
      backup: { ratioToPlainPgDump: number; peakRssMB: number };
      restore: { peakRssMB: number };
      databaseMB: number;
    }>;
    results.summary = {
      backupRatioToPlainPgDumpAtLargest: large!.backup.ratioToPlainPgDump,
      targetRatio: 1.2,
      backupPeakRssMB: [small!.backup.peakRssMB, large!.backup.peakRssMB],
      restorePeakRssMB: [small!.restore.peakRssMB, large!.restore.peakRssMB],
      databaseMB: [small!.databaseMB, large!.databaseMB],
    };
    results.loadAverageAtEnd = load();
    results.totalSeconds = round((Date.now() - started) / 1000);
    const out = join(root, 'bench/results/backup.json');
    await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${out}: ${JSON.stringify(results.summary)}`);
  } finally {
    await stack?.stop().catch((e: Error) => log(`stack stop: ${e.message}`));
    await rm(dir, { recursive: true, force: true });
    await teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

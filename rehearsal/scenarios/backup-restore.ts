/**
 * Backup and restore on the running host (issue 12): the stack's database gets
 * an Alembic revision and rows; dalston-backup.service, the unit the nightly
 * timer starts, dumps it into the S3 stand-in; the table is dropped; `dalston-host
 * restore --latest --yes` brings the rows back while the agent holds Postgres
 * and its dependents (the maintenance lease) and heals nothing, and the rest
 * of the stack keeps running. Needs the machine the previous scenarios left
 * running and healthy, and leaves it so (the stop scenario's clean shutdown and
 * the second boot's rows read back come after it).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseBackupMetadata } from '../../shared/backup/backup-object.ts';
import { parseConfig } from '../../shared/config/load.ts';
import type { StatusSnapshot } from '../../shared/status/snapshot.ts';
import { fail } from '../checks.ts';
import { PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { journalMessages, unitProps } from '../machine/systemd.ts';
import { INSTANCE_ROLE_ENV } from '../product/machine-files.ts';
import { agentStatus, containerOf, isSnapshot, projectContainers } from '../product/observe.ts';
import { sleep, waitFor } from '../wait.ts';
import { psqlIn } from '../world/db-images.ts';
import { STANDIN_ALEMBIC_REVISION, STANDIN_DALSTON_TAG } from '../world/standin-dalston.ts';

const NAME = 'backup/restore';
const TABLE = 'rehearsal_backup';
/**
 * Rows of 512 random-looking bytes (md5 digests as bytea: zlib cannot shrink
 * them), ~24 MB: more than one 16 MiB upload part, so the backup goes through
 * a real multipart upload at host.json's default part size.
 */
export const BACKUP_ROWS = 48_000;
const DIGESTS_PER_ROW = 32;

/** Pure: SQL that creates the schema revision and the rows for `nonce`. */
export function writeBackupRowsSql(nonce: string): string {
  if (!/^[0-9a-f]+$/.test(nonce)) throw new Error(`nonce must be hex, got ${JSON.stringify(nonce)}`);
  return [
    'CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)',
    `INSERT INTO alembic_version VALUES ('${STANDIN_ALEMBIC_REVISION}')`,
    `CREATE TABLE ${TABLE} (i int PRIMARY KEY, v bytea NOT NULL)`,
    `INSERT INTO ${TABLE} SELECT i, decode(string_agg(md5('${nonce}:' || i || ':' || k), '' ORDER BY k), 'hex')` +
      ` FROM generate_series(1, ${BACKUP_ROWS}) AS a(i), generate_series(1, ${DIGESTS_PER_ROW}) AS b(k) GROUP BY i`,
  ].join('; ');
}

/** `count|digest` of the rows (the digest covers every byte, in order). */
const READ_ROWS_SQL = `SELECT count(*) || '|' || md5(string_agg(md5(v), ',' ORDER BY i)) FROM ${TABLE}`;

/** Pure: s3rver's stored metadata (`<key>._S3rver_metadata.json`) as S3 would return it: x-amz-meta-* without the prefix. */
export function userMetadataOf(s3rverMetadataJson: string): Record<string, string> {
  const raw = JSON.parse(s3rverMetadataJson) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k.startsWith('x-amz-meta-') && typeof v === 'string') out[k.slice('x-amz-meta-'.length)] = v;
  }
  return out;
}

/** Pure: the agent's healing actions among its journal lines (pino JSON); `held` ones counted apart. */
export function healingLines(journalText: string): { healed: string[]; held: number } {
  const healed: string[] = [];
  let held = 0;
  for (const line of journalText.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    let o: { msg?: unknown; action?: unknown; service?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      continue;
    }
    if (o.action === 'held') held++;
    else if (o.action === 'restart' || o.action === 'recreate' || o.action === 'stop')
      healed.push(`${String(o.action)} ${String(o.service)}`);
    else if (o.msg === 'compose up done') healed.push('compose up');
  }
  return { healed, held };
}

/** The backup objects in the S3 stand-in (host side of s3rver's directory), oldest first. */
async function backupObjects(ctx: RehearsalContext): Promise<Array<{ key: string; file: string }>> {
  const w = ctx.world;
  const r = await ctx.shell.run('find', [
    w.s3.dir,
    '-path',
    '*/backups/postgres/*',
    '-name',
    '*._S3rver_object',
  ]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((file) => ({
      file,
      key: path.relative(path.join(w.s3.dir, w.rendered.bucket), file).replace(/\._S3rver_object$/, ''),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const restartsOf = (s: StatusSnapshot) => s.services.reduce((n, x) => n + x.agentRestarts, 0);

async function healthySnapshot(m: Machine): Promise<StatusSnapshot> {
  const s = await agentStatus(m);
  if (!isSnapshot(s)) fail(`no /status: ${s.error}`);
  if (s.state !== 'healthy') fail(`the stack is ${s.state}, not healthy, to begin with`);
  return s;
}

export const backupRestore: Scenario = {
  name: NAME,
  async run(ctx: RehearsalContext) {
    const m = ctx.runningMachine(NAME);
    const w = ctx.world;
    const partMiB = parseConfig(w.rendered.hostJson).backup.partSizeMiB;
    /** count|digest read back once written: what the restore must bring back. */
    let expected = '';
    const pg = () => containerOf(m, PROJECT, 'postgres');
    const names = {
      write: `backup: the stack's database gets Alembic revision ${STANDIN_ALEMBIC_REVISION} and ${BACKUP_ROWS} rows`,
      backup: 'backup: dalston-backup.service (the nightly timer’s unit) dumps it to S3 with its metadata',
      restore: `restore: table dropped → dalston-host restore --latest --yes brings the ${BACKUP_ROWS} rows back`,
      held: 'restore: the agent heals nothing in the maintenance window; the rest of the stack keeps running',
      after: 'restore: the stack is healthy again, maintenance over, the safety backup recorded',
    };
    const skip = (from: keyof typeof names, because: string) => {
      const keys = Object.keys(names) as Array<keyof typeof names>;
      for (const k of keys.slice(keys.indexOf(from))) ctx.checks.blocked(names[k], because);
    };

    const written = await ctx.check(names.write, async () => {
      await healthySnapshot(m);
      const c = await pg();
      await psqlIn(m, c.id, writeBackupRowsSql(ctx.nonce));
      expected = (await psqlIn(m, c.id, READ_ROWS_SQL)).trim();
      if (!expected.startsWith(`${BACKUP_ROWS}|`))
        fail(`read back ${expected}, expected ${BACKUP_ROWS} rows`);
      const size = (
        await psqlIn(m, c.id, `SELECT pg_size_pretty(pg_total_relation_size('${TABLE}'))`)
      ).trim();
      return `${BACKUP_ROWS} rows (${size}) through psql, digest ${expected.split('|')[1]!.slice(0, 12)}…`;
    });
    if (!written) return skip('backup', 'the rows could not be written');

    let key = '';
    const backedUp = await ctx.check(names.backup, async () => {
      const timer = await unitProps(m, 'dalston-backup.timer', ['ActiveState', 'UnitFileState']);
      if (timer.ActiveState !== 'active' || timer.UnitFileState !== 'enabled')
        fail(`dalston-backup.timer is ${timer.ActiveState}/${timer.UnitFileState}, not active/enabled`);
      const before = await backupObjects(ctx);
      const t0 = Date.now();
      // A oneshot: `systemctl start` returns once the backup has finished (or failed).
      const r = await m.exec('systemctl', ['start', 'dalston-backup.service'], { timeoutMs: 10 * 60_000 });
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      const unit = await unitProps(m, 'dalston-backup.service', ['Result', 'ExecMainStatus']);
      if (r.exitCode !== 0 || unit.Result !== 'success') {
        const log = (await journalMessages(m, 'dalston-backup.service')).slice(-4).join(' | ');
        fail(
          `systemctl start exited ${r.exitCode}, Result=${unit.Result} status ${unit.ExecMainStatus}: ${log}`,
        );
      }
      const now = (await backupObjects(ctx)).filter((o) => !before.some((b) => b.key === o.key));
      if (now.length !== 1) fail(`${now.length} new objects under backups/postgres/ (expected 1)`);
      const o = now[0]!;
      key = o.key;
      const bytes = (await stat(o.file)).size;
      const head = Buffer.alloc(5);
      const fh = await open(o.file);
      await fh.read(head, 0, 5, 0).finally(() => fh.close());
      if (head.toString() !== 'PGDMP') fail(`${o.key} is not a pg_dump custom archive`);
      const metaFile = o.file.replace(/_object$/, '_metadata.json');
      const info = parseBackupMetadata(userMetadataOf(await readFile(metaFile, 'utf8')));
      if (!info?.complete) fail(`${o.key} has no complete backup metadata (${info ? info.missing : 'none'})`);
      const sha = await sha256Of(o.file);
      const want = {
        sha256: sha,
        sizeBytes: bytes,
        alembicRevision: STANDIN_ALEMBIC_REVISION,
        dalstonRef: STANDIN_DALSTON_TAG,
        database: 'dalston',
      };
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, info[k as keyof typeof want]]));
      if (JSON.stringify(got) !== JSON.stringify(want))
        fail(`metadata ${JSON.stringify(got)}; expected ${JSON.stringify(want)}`);
      if (!/^15\./.test(info.postgresVersion))
        fail(`Postgres version ${info.postgresVersion}, expected 15.x`);
      // The agent reports it (it watches the backup state file).
      const s = await waitFor(
        "the backup in the agent's /status",
        60_000,
        async () => {
          const x = await agentStatus(m);
          return isSnapshot(x) && x.backup?.lastSuccess?.key === key ? x : undefined;
        },
        () => '',
        1000,
      );
      if (s.backup?.lastRun?.trigger !== 'timer')
        fail(
          `/status says the last run was triggered by ${s.backup?.lastRun?.trigger}, not the timer's unit`,
        );
      const parts = Math.ceil(bytes / (partMiB * 1024 * 1024));
      return `${key}: ${(bytes / 1024 ** 2).toFixed(1)} MiB (${parts} parts of ${partMiB} MiB) in ${secs} s, sha256 ${sha.slice(0, 12)}… matches, Postgres ${info.postgresVersion}; /status last backup: timer, success`;
    });
    if (!backedUp) return skip('restore', 'no backup was taken');

    // Watched while the restore runs: the maintenance lease and every service's state.
    const samples: StatusSnapshot[] = [];
    let restarts0 = 0;
    let containers0: Awaited<ReturnType<typeof projectContainers>> = [];
    let since = 0;
    let restoreSecs = '';
    const restored = await ctx.check(names.restore, async () => {
      const c = await pg();
      await psqlIn(m, c.id, `DROP TABLE ${TABLE}`);
      const gone = await m.exec('docker', [
        'exec',
        c.id,
        'psql',
        '-U',
        'dalston',
        '-d',
        'dalston',
        '-Atc',
        READ_ROWS_SQL,
      ]);
      if (gone.exitCode === 0) fail('the table is still there after DROP TABLE');
      const s0 = await healthySnapshot(m);
      restarts0 = restartsOf(s0);
      containers0 = await projectContainers(m, PROJECT);
      since = Math.floor(Date.now() / 1000) - 1;
      let running = true;
      const watcher = (async () => {
        while (running) {
          const s = await agentStatus(m);
          if (isSnapshot(s)) samples.push(s);
          await sleep(1000);
        }
      })();
      const t0 = Date.now();
      // As an operator would, with the instance role's credentials (the rehearsal's stand-in for them).
      const r = await m
        .exec('env', [...INSTANCE_ROLE_ENV, 'dalston-host', 'restore', '--latest', '--yes'], {
          timeoutMs: 15 * 60_000,
        })
        .finally(() => {
          running = false;
        });
      await watcher;
      restoreSecs = ((Date.now() - t0) / 1000).toFixed(1);
      if (r.exitCode !== 0)
        fail(
          `dalston-host restore exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`,
        );
      const got = (await psqlIn(m, (await pg()).id, READ_ROWS_SQL)).trim();
      if (got !== expected) fail(`after the restore: ${got}, expected ${expected}`);
      if (!r.stdout.includes(key)) fail(`the restore's output does not name ${key}`);
      return `restored ${key} in ${restoreSecs} s; ${BACKUP_ROWS} rows back, same digest`;
    });
    if (!restored) return skip('held', 'the restore failed');

    await ctx.check(names.held, async () => {
      const leases = samples.flatMap((s) => (s.maintenance ? [s.maintenance] : []));
      const lease = leases.find((l) => l.holder === 'dalston-host restore' && l.reason === `restore ${key}`);
      if (!lease) fail(`/status never showed the restore's maintenance lease (${samples.length} samples)`);
      if (!lease.services.includes('postgres'))
        fail(`the lease holds ${lease.services.join(', ')}, not postgres`);
      const held = new Set(lease.services);
      // The agent's own actions: its restart counters and its journal since the restore began.
      const s1 = await agentStatus(m);
      if (!isSnapshot(s1)) fail(`no /status after the restore: ${s1.error}`);
      const restarts = restartsOf(s1) - restarts0;
      const j = await m.exec('journalctl', [
        '-u',
        'dalston.service',
        '--since',
        `@${since}`,
        '-o',
        'cat',
        '--no-pager',
      ]);
      const { healed, held: heldLines } = healingLines(j.stdout);
      if (healed.length > 0) fail(`the agent acted during the restore: ${healed.join(', ')}`);
      if (restarts !== 0) fail(`the agent's restart counters moved by ${restarts}`);
      // The rest of the stack: never down in a sample, the same containers before and after.
      const down = samples.flatMap((s) =>
        s.services
          .filter((x) => !held.has(x.name) && (x.state !== 'running' || x.health === 'unhealthy'))
          .map((x) => `${x.name} ${x.state}/${x.health}`),
      );
      if (down.length > 0) fail(`services outside the lease were down: ${[...new Set(down)].join(', ')}`);
      const now = await projectContainers(m, PROJECT);
      const keep = containers0.filter((c) => !held.has(c.service) || c.service === 'postgres');
      const changed = keep.filter(
        (c) => !now.some((n) => n.id === c.id && n.startedAt === c.startedAt && n.running),
      );
      if (changed.length > 0) fail(`restarted or replaced: ${changed.map((c) => c.service).join(', ')}`);
      return `lease held ${lease.services.join(', ')}; 0 agent actions (${heldLines} wanted ones held back), ${keep.length} containers (postgres included) untouched, ${samples.length} /status samples`;
    });

    await ctx.check(names.after, async () => {
      let last = '';
      const s = await waitFor(
        'healthy without a maintenance lease',
        4 * 60_000,
        async () => {
          const x = await agentStatus(m);
          last = isSnapshot(x) ? `${x.state}, maintenance ${x.maintenance ? 'on' : 'off'}` : x.error;
          return isSnapshot(x) && x.state === 'healthy' && !x.maintenance ? x : undefined;
        },
        () => last,
        1000,
      );
      const objects = await backupObjects(ctx);
      const safety = s.backup?.lastRun;
      if (safety?.trigger !== 'before-restore' || safety.result !== 'success')
        fail(`/status's last backup run is ${safety?.trigger}/${safety?.result}, not the safety backup`);
      if (!objects.some((o) => o.key === safety.key) || safety.key === key)
        fail(`the safety backup ${safety.key} is not a new object in S3`);
      return `healthy ${s.services.length}/${s.services.length}; safety backup ${safety.key} (${objects.length} backups in S3)`;
    });
  },
};

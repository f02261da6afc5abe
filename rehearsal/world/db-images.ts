import { createHash } from 'node:crypto';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { DB_IMAGES, DB_RECIPE_LABEL, type DbRole, PG_BIN } from '../../test/harness/debian-images.ts';
import type { Machine } from '../machine/nspawn.ts';

/**
 * Real Postgres and Redis in the machine: the images `npm test` uses
 * (test/harness/debian-images.ts: Debian 12's postgresql-15 and redis-server
 * 7.0 on a debootstrap rootfs), loaded into the machine's dockerd with
 * `docker load` and tagged with the names the resolved compose config asks
 * for. The rootfs is cached in the harness's cache dir, so after `npm test` on
 * the same machine the rehearsal builds nothing.
 */

/** The compose services that run the real images instead of the busybox stand-in. */
export const DB_SERVICES: Record<string, DbRole> = { postgres: 'postgres', redis: 'redis' };

/** The rehearsal's rows: written through psql on the first boot, read back after the stop/start. */
export const MARKS_TABLE = 'rehearsal_marks';
export const MARK_ROWS = 1000;

/** Pure: SQL that writes the rows for `nonce` and makes them durable in the data files. */
export function writeMarksSql(nonce: string): string {
  if (!/^[0-9a-f]+$/.test(nonce)) throw new Error(`nonce must be hex, got ${JSON.stringify(nonce)}`);
  return [
    `CREATE TABLE ${MARKS_TABLE} (i int PRIMARY KEY, v text NOT NULL)`,
    `INSERT INTO ${MARKS_TABLE} SELECT i, md5('${nonce}:' || i) FROM generate_series(1, ${MARK_ROWS}) AS s(i)`,
    'CHECKPOINT',
  ].join('; ');
}

/** Pure: SQL that reads the rows back as `count|digest|relation file|data directory`. */
export const READ_MARKS_SQL = `SELECT count(*), md5(string_agg(v, ',' ORDER BY i)), pg_relation_filepath('${MARKS_TABLE}'), current_setting('data_directory') FROM ${MARKS_TABLE}`;

/** Pure: the digest READ_MARKS_SQL returns for the rows writeMarksSql(nonce) wrote. */
export function expectedMarksDigest(nonce: string): string {
  return md5(markValues(nonce).join(','));
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** Pure: the values writeMarksSql(nonce) writes, in row order. */
export function markValues(nonce: string): string[] {
  return Array.from({ length: MARK_ROWS }, (_, k) => md5(`${nonce}:${k + 1}`));
}

export interface Marks {
  count: number;
  digest: string;
  relationFile: string;
  dataDirectory: string;
}

/** Pure: READ_MARKS_SQL's one row (`psql -At`). */
export function parseMarks(out: string): Marks {
  const line = out.trim().split('\n').pop() ?? '';
  const [count, digest, relationFile, dataDirectory] = line.split('|');
  if (dataDirectory === undefined) throw new Error(`unexpected psql output: ${JSON.stringify(out.trim())}`);
  return { count: Number(count), digest: digest!, relationFile: relationFile!, dataDirectory };
}

/** psql as the stack's superuser, inside the Postgres container (its local socket). */
export function psqlIn(m: Machine, containerId: string, sql: string): Promise<string> {
  // biome-ignore format: one option per line would hide the command
  return m.execChecked('docker', [
    'exec', containerId, 'psql', '-U', 'dalston', '-d', 'dalston', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql,
  ]);
}

/** The container's log (stdout and stderr: Postgres logs to stderr). */
export async function containerLog(m: Machine, containerId: string): Promise<string> {
  const r = await m.exec('docker', ['logs', containerId]);
  if (r.exitCode !== 0) throw new Error(`docker logs ${containerId}: ${r.stderr.trim()}`);
  return `${r.stdout}\n${r.stderr}`;
}

/**
 * Pure: the script that loads the images in the machine: the busybox stand-in
 * (docker import), the Postgres and Redis images (docker load, skipped when
 * both carry `hash`), then one `docker tag SOURCE TARGET` per line of the list.
 */
export function loadImagesScript(p: {
  standinImage: string;
  standinTar: string;
  dbArchiveDir: string;
  imagesList: string;
  hash: string;
}): string {
  return `#!/bin/sh
set -eu
docker image inspect ${p.standinImage} >/dev/null 2>&1 ||
  docker import --change 'CMD ["sh"]' --change 'ENV PATH=/bin' ${p.standinTar} ${p.standinImage} >/dev/null
for image in ${Object.values(DB_IMAGES).join(' ')}; do
  label=$(docker image inspect --format '{{ index .Config.Labels "${DB_RECIPE_LABEL}" }}' "$image" 2>/dev/null || true)
  if [ "$label" != ${p.hash} ]; then
    tar -C ${p.dbArchiveDir} -cf - . | docker load >/dev/null
    break
  fi
done
while read -r source target; do
  [ -n "$target" ] && docker tag "$source" "$target"
done < ${p.imagesList}
`;
}

/**
 * Pure: which image each resolved image name is tagged from: the Postgres or
 * Redis image for those services, the busybox stand-in for every other. An
 * image name two kinds of service share cannot be both, and is an error.
 */
export function imageSources(
  configJson: string,
  standinImage: string,
): Array<[source: string, target: string]> {
  const cfg = JSON.parse(configJson) as { services: Record<string, { image?: string }> };
  const byTarget = new Map<string, string>();
  for (const [service, s] of Object.entries(cfg.services)) {
    if (!s.image) continue;
    const role = DB_SERVICES[service];
    const source = role ? DB_IMAGES[role] : standinImage;
    const seen = byTarget.get(s.image);
    if (seen && seen !== source)
      throw new Error(
        `image ${s.image} is used by ${service} (needs ${source}) and by a service that needs ${seen}`,
      );
    byTarget.set(s.image, source);
  }
  return [...byTarget].map(([target, source]) => [source, target]);
}

/**
 * `sh -c script` with `args` in a private mount namespace that ends with it: a
 * read-only mount of a powered-off volume made there is seen by no one else.
 */
function inPrivateMountNs(shell: Shell, script: string, args: string[]): Promise<string> {
  // biome-ignore format: the sh -c arguments read better together
  return runChecked(shell, 'unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args]);
}

/**
 * `pg_controldata` for the cluster on the (unattached, powered-off) data
 * volume, run from the images' cached rootfs: the volume is mounted read-only
 * inside that rootfs in a private mount namespace that ends with the command,
 * so neither the host nor other users of the cache see the mount.
 */
export function controlDataOnVolume(
  shell: Shell,
  dbRootfs: string,
  device: string,
  pgdataOnVolume: string,
): Promise<string> {
  const script = 'mount -o ro,noload "$1" "$2/mnt" && exec chroot "$2" "$3" "/mnt/$4"';
  return inPrivateMountNs(shell, script, [device, dbRootfs, `${PG_BIN}/pg_controldata`, pgdataOnVolume]);
}

/** What a Postgres data directory on a powered-off volume holds, byte for byte. */
export interface ClusterFiles {
  /** SHA-256 over every file's path and SHA-256 (sorted by path). */
  digest: string;
  files: number;
  /** How many of the first boot's row values (writeMarksSql) occur in the data files. */
  marksFound: number;
}

/** Pure: the three numbers clusterFilesOnVolume's script prints, one a line. */
export function parseClusterFiles(out: string): ClusterFiles {
  const [digest, files, marks] = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  if (!digest || !/^[0-9a-f]{64}$/.test(digest) || files === undefined || marks === undefined)
    throw new Error(`unexpected output of the digest script: ${JSON.stringify(out.trim())}`);
  return { digest, files: Number(files), marksFound: Number(marks) };
}

/**
 * The Postgres data directory `dirOnVolume` on the (unattached, powered-off)
 * volume `device`, mounted read-only at `mountpoint` in a private mount
 * namespace: a digest of its files and how many of the lines of `marksFile`
 * (markValues, one a line) its table files (base/) hold.
 */
export async function clusterFilesOnVolume(
  shell: Shell,
  device: string,
  mountpoint: string,
  dirOnVolume: string,
  marksFile: string,
): Promise<ClusterFiles> {
  const script = [
    'mount -o ro,noload "$1" "$2" && cd "$2/$3" || exit 1',
    'find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum',
    'find . -type f | wc -l',
    'grep -rhoaF -f "$4" base | sort -u | wc -l',
  ].join('\n');
  return parseClusterFiles(
    await inPrivateMountNs(shell, script, [device, mountpoint, dirOnVolume, marksFile]),
  );
}

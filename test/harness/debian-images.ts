import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { pidAlive } from '../../shared/process-alive.ts';
import { runChecked, type Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { debianMirror } from './apt-mirror.ts';
import { staleEntries } from './cache-entries.ts';
import { findCommand } from './require.ts';

/**
 * Real Postgres and Redis for tests and the rehearsal, built offline from
 * Debian 12's packages (no image registry is reachable): one debootstrap
 * minbase rootfs with `postgresql-15` and `redis-server` (7.0), loaded with
 * `docker load` as a Postgres image and a Redis image over the same layers,
 * that behave like the official `postgres:18-alpine` and `redis:8-alpine`
 * where the Dalston stack depends on it (environment, data paths, uids,
 * entrypoints, stop signals, the `pg_isready` and `redis-cli ping` healthchecks).
 *
 * The rootfs is cached under the harness cache dir by a hash of its recipe, so
 * the rehearsal (which runs after `npm test` on the same machine) reuses it, and
 * the images carry a hash of rootfs, entrypoints and config as a label, so an
 * unchanged recipe is never loaded again.
 */

export const DB_RECIPE_LABEL = 'dalston-host-test.recipe';

/** The images the harness provides (DALSTON_TEST_PG_IMAGE, DALSTON_TEST_REDIS_IMAGE). */
export const DB_IMAGES = { postgres: 'dalston-postgres:test', redis: 'dalston-redis:test' } as const;
export type DbRole = keyof typeof DB_IMAGES;

/** The official image's PGDATA for Postgres 18: the overlay bind-mounts `<dataDir>/postgres` at its parent. */
export const PGDATA = '/var/lib/postgresql/18/docker';
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Alpine's ids, which the bootstrap's dirs step gives `<dataDir>/postgres` (70:70) and `<dataDir>/redis` (999:1000). */
export const DB_IDS = {
  postgres: { uid: 70, gid: 70 },
  redis: { uid: 999, gid: 1000 },
} as const;

/**
 * The parts of the official postgres image's docker-entrypoint.sh the stack
 * relies on: as root, create PGDATA (0700) and the socket dir and hand them to
 * postgres, then re-exec as postgres; on an empty PGDATA, initdb with the
 * superuser and password from the environment, password auth for every TCP
 * client, POSTGRES_DB created, /docker-entrypoint-initdb.d/*.sql|*.sh run;
 * then exec postgres as PID 1 (SIGINT from `docker stop` is a fast shutdown).
 */
export const POSTGRES_ENTRYPOINT = `#!/bin/sh
set -eu

# "docker run IMAGE -c x=y": options for postgres, as in the official image.
if [ "\${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3775 /var/run/postgresql
  # A bind-mounted directory created by someone else (or an older image) becomes postgres's.
  find "$PGDATA" /var/run/postgresql \\! -user postgres -exec chown postgres '{}' +
  exec env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "\${POSTGRES_PASSWORD:-}" ] && [ "\${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
    echo '       Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one).' >&2
    exit 1
  fi
  user="\${POSTGRES_USER:-postgres}"
  db="\${POSTGRES_DB:-$user}"
  # C.UTF-8 is built into glibc, so the image needs no generated locales. POSTGRES_INITDB_ARGS
  # is split into words on purpose, as in the official image.
  # shellcheck disable=SC2086
  if [ -n "\${POSTGRES_PASSWORD:-}" ]; then
    printf '%s\\n' "$POSTGRES_PASSWORD" |
      initdb --username="$user" --pwfile=/dev/stdin --encoding=UTF8 --locale=C.UTF-8 \${POSTGRES_INITDB_ARGS:-}
  else
    initdb --username="$user" --encoding=UTF8 --locale=C.UTF-8 \${POSTGRES_INITDB_ARGS:-}
  fi
  # Local socket: trust (initdb's default); every TCP client: the password, like the official image.
  printf '\\nhost all all all %s\\n' "\${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >> "$PGDATA/pg_hba.conf"
  # A temporary server on the socket only, so nothing connects before the database exists.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$db" != postgres ]; then
    echo 'CREATE DATABASE :"db";' |
      psql -v ON_ERROR_STOP=1 --username "$user" --no-password --dbname postgres --set db="$db"
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "running $f"
        # shellcheck source=/dev/null
        . "$f"
        ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --username "$user" --no-password --dbname "$db" -f "$f" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
`;

/**
 * The official redis image's docker-entrypoint.sh, plus protected mode off:
 * the official image compiles it off so other containers on the network can
 * connect without a password; Debian's build keeps it on, so it is passed as
 * an option (right after a config file, so the caller's options still win).
 */
export const REDIS_ENTRYPOINT = `#!/bin/sh
set -eu

# "docker run IMAGE --appendonly yes" or "docker run IMAGE my.conf": options for redis-server.
if [ "\${1#-}" != "$1" ] || [ "\${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi

if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *)
      shift
      if [ $# -gt 0 ] && { [ "\${1%.conf}" != "$1" ] || [ "$1" = - ]; }; then
        conf=$1
        shift
        set -- redis-server "$conf" --protected-mode no "$@"
      else
        set -- redis-server --protected-mode no "$@"
      fi
      ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    find . \\! -user redis -exec chown redis '{}' +
    exec env HOME=/var/lib/redis setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
  fi
fi

# As the official image: a private umask for the data files unless one was set.
if [ "$(umask)" = 0022 ]; then umask 0077; fi

exec "$@"
`;

/**
 * Runs in the debootstrapped rootfs (chroot, as root) after the packages are
 * installed: Alpine's uids/gids for postgres and redis (and every file they
 * owned), the official image's `listen_addresses = '*'`, no Debian-made
 * cluster, and the trim (docs, man pages, translations, apt's caches; JIT:
 * with llvmjit.so gone Postgres runs every query without JIT, without an error).
 */
export const CUSTOMISE_SCRIPT = `set -eu
move_ids() {
  name=$1 uid=$2 gid=$3
  old_uid=$(id -u "$name")
  old_gid=$(getent group "$name" | cut -d: -f3)
  if [ "$old_uid" != "$uid" ] && getent passwd "$uid" >/dev/null; then
    echo "uid $uid is taken: $(getent passwd "$uid")" >&2; exit 1
  fi
  if [ "$old_gid" != "$gid" ] && getent group "$gid" >/dev/null; then
    echo "gid $gid is taken: $(getent group "$gid")" >&2; exit 1
  fi
  groupmod -g "$gid" "$name"
  usermod -u "$uid" -g "$gid" "$name"
  find / -xdev -uid "$old_uid" -exec chown -h "$uid" '{}' +
  find / -xdev -gid "$old_gid" -exec chgrp -h "$gid" '{}' +
}
move_ids postgres ${DB_IDS.postgres.uid} ${DB_IDS.postgres.gid}
move_ids redis ${DB_IDS.redis.uid} ${DB_IDS.redis.gid}

sample=/usr/share/postgresql/15/postgresql.conf.sample
sed -i "s/^#listen_addresses = 'localhost'/listen_addresses = '*'/" "$sample"
grep -q "^listen_addresses = '\\*'" "$sample"

rm -rf /var/lib/postgresql/15 /etc/postgresql/15 /var/lib/postgresql/.[!.]*
mkdir -p /docker-entrypoint-initdb.d /data
chown redis:redis /data
rm -f /usr/lib/postgresql/15/lib/llvmjit.so /usr/lib/postgresql/15/lib/llvmjit_types.bc
rm -rf /usr/lib/postgresql/15/lib/bitcode /usr/lib/*-linux-gnu/libLLVM-*
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/i18n/*
rm -rf /var/cache/apt/* /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log /var/log/apt/*
`;

export interface DbRootfsRecipe {
  suite: string;
  variant: string;
  /** Added to minbase (`debootstrap --include`); their dependencies come along. */
  packages: readonly string[];
  customise: string;
  /** Bumped when the build steps in this file change in a way the fields above do not show. */
  layout: number;
}

/** The cached part: packages and customisation. The entrypoints are a layer of their own (see below). */
export const DB_ROOTFS_RECIPE: DbRootfsRecipe = {
  suite: 'bookworm',
  variant: 'minbase',
  packages: ['postgresql-15', 'redis-server'],
  customise: CUSTOMISE_SCRIPT,
  layout: 1,
};

/** Files of the images' second layer, over the rootfs: editing one reloads the images, never re-runs debootstrap. */
export const ENTRYPOINT_FILES: Record<string, string> = {
  'usr/local/bin/postgres-entrypoint.sh': POSTGRES_ENTRYPOINT,
  'usr/local/bin/redis-entrypoint.sh': REDIS_ENTRYPOINT,
};

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The `config` part of an image: what `docker inspect` shows as `.Config`. */
export interface ImageRunConfig {
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir: string;
  StopSignal?: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Labels: Record<string, string>;
}

/**
 * Pure: each role's image configuration, as the official image's where the
 * stack depends on it. It is written into a `docker load` archive rather than
 * set with `docker import --change`, because Docker 20.10's import/commit
 * cannot set STOPSIGNAL. No VOLUME (unlike the official images): an unmounted
 * test container would leave an anonymous volume that no label cleans up; no
 * HEALTHCHECK either (the official images have none; the compose file has it).
 */
export function imageRunConfig(role: DbRole, hash: string): ImageRunConfig {
  const Labels = { [DB_RECIPE_LABEL]: hash };
  if (role === 'postgres') {
    return {
      Env: [`PATH=${PG_BIN}:${BASE_PATH}`, 'LANG=C.UTF-8', `PGDATA=${PGDATA}`],
      Entrypoint: ['/usr/local/bin/postgres-entrypoint.sh'],
      Cmd: ['postgres'],
      WorkingDir: '',
      // Fast shutdown, as the official image: SIGTERM (smart) would wait for every client to disconnect.
      StopSignal: 'SIGINT',
      ExposedPorts: { '5432/tcp': {} },
      Labels,
    };
  }
  return {
    Env: [`PATH=${BASE_PATH}`, 'LANG=C.UTF-8'],
    Entrypoint: ['/usr/local/bin/redis-entrypoint.sh'],
    Cmd: ['redis-server'],
    WorkingDir: '/data',
    ExposedPorts: { '6379/tcp': {} },
    Labels,
  };
}

/** Pure: a short stable hash of the rootfs recipe (the mirror is not part of it): names the cache entry. */
export function dbRootfsHash(recipe: DbRootfsRecipe = DB_ROOTFS_RECIPE): string {
  const canonical = JSON.stringify({
    suite: recipe.suite,
    variant: recipe.variant,
    packages: [...recipe.packages].sort(),
    customise: recipe.customise,
    layout: recipe.layout,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * Pure: the images' recipe hash (their label): the rootfs's, the entrypoints
 * and the image configuration. Only a rootfs change runs debootstrap again.
 */
export function dbImageHash(
  recipe: DbRootfsRecipe = DB_ROOTFS_RECIPE,
  entrypoints: Record<string, string> = ENTRYPOINT_FILES,
): string {
  const canonical = JSON.stringify({
    rootfs: dbRootfsHash(recipe),
    entrypoints,
    // The labels would change with the hash itself, so the config is hashed without them.
    images: { postgres: imageRunConfig('postgres', ''), redis: imageRunConfig('redis', '') },
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

export interface ArchiveLayer {
  /** Path of the layer's tar inside the archive. */
  path: string;
  /** sha256 (hex) of the uncompressed layer tar. */
  diffId: string;
  createdBy: string;
}

export interface ArchiveManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * Pure: the files of a `docker load` archive (the `docker save` layout: a
 * manifest.json, one config JSON per image named by its sha256, which is the
 * image id) holding both images over the same layers, so they share them.
 */
export function dbImageArchiveFiles(
  hash: string,
  layers: readonly ArchiveLayer[],
  tags: Record<DbRole, string>,
  created: string,
  arch: string = process.arch,
): { manifest: ArchiveManifestEntry[]; configs: Record<string, string> } {
  const manifest: ArchiveManifestEntry[] = [];
  const configs: Record<string, string> = {};
  for (const role of Object.keys(tags) as DbRole[]) {
    const config = JSON.stringify({
      architecture: GO_ARCH[arch] ?? arch,
      os: 'linux',
      created,
      config: imageRunConfig(role, hash),
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.diffId}`) },
      history: layers.map((l) => ({ created, created_by: l.createdBy })),
    });
    const name = `${createHash('sha256').update(config).digest('hex')}.json`;
    configs[name] = config;
    manifest.push({ Config: name, RepoTags: [tags[role]], Layers: layers.map((l) => l.path) });
  }
  return { manifest, configs };
}

export interface DbRootfs {
  /** The finished rootfs (what the images are made of; also where pg_controldata can run from). */
  dir: string;
  hash: string;
  built: boolean;
  seconds: number;
}

/** Where the rootfs for `hash` lives under a cache dir. */
export function dbRootfsDir(cacheDir: string, hash: string = dbRootfsHash()): string {
  return path.join(cacheDir, 'db-images', `rootfs-${hash}`);
}

/**
 * The cached rootfs of the recipe, built with debootstrap when missing (2–4
 * minutes on 2 cores, mostly downloads). Built in a `.partial-<pid>` directory
 * and renamed, so an interrupted build is never taken for a finished one, and
 * two runs building at once each finish (the later one keeps the first's).
 */
export async function ensureDbRootfs(
  shell: Shell,
  cacheDir: string,
  log: (line: string) => void,
  recipe: DbRootfsRecipe = DB_ROOTFS_RECIPE,
): Promise<DbRootfs> {
  const t0 = Date.now();
  const hash = dbRootfsHash(recipe);
  const dir = dbRootfsDir(cacheDir, hash);
  const done = () => ({ dir, hash, seconds: (Date.now() - t0) / 1000 });
  if (existsSync(path.join(dir, '.recipe.json'))) return { ...done(), built: false };

  const base = path.dirname(dir);
  await mkdir(base, { recursive: true });
  for (const name of staleEntries(await readdir(base), hash, pidAlive)) {
    await rm(path.join(base, name), { recursive: true, force: true });
  }
  const debootstrap = findCommand('debootstrap');
  if (!debootstrap)
    throw new Error('missing prerequisite: debootstrap is not on PATH (apt-get install debootstrap)');
  const mirror = await debianMirror();
  const partial = `${dir}.partial-${process.pid}`;
  log(
    `db images: building the Postgres/Redis rootfs (recipe ${hash}) with debootstrap from ${mirror}; about 2 minutes on 2 cores, cached`,
  );
  try {
    const r = await shell.run(
      debootstrap,
      [
        `--variant=${recipe.variant}`,
        `--include=${[...recipe.packages].sort().join(',')}`,
        recipe.suite,
        partial,
        mirror,
      ],
      { timeoutMs: 20 * 60_000 },
    );
    if (r.exitCode !== 0) {
      throw new Error(
        `debootstrap of the Postgres/Redis rootfs failed (exit ${r.exitCode}); is ${mirror} (from the apt sources) reachable? ${tail(`${r.stdout}\n${r.stderr}`)}`,
      );
    }
    const c = await shell.run('chroot', [partial, '/bin/sh', '-c', recipe.customise], { timeoutMs: 300_000 });
    if (c.exitCode !== 0)
      throw new Error(`customising the Postgres/Redis rootfs failed: ${tail(`${c.stdout}\n${c.stderr}`)}`);
    await writeFile(
      path.join(partial, '.recipe.json'),
      `${JSON.stringify({ hash, suite: recipe.suite, packages: recipe.packages, mirror }, null, 2)}\n`,
    );
    if (existsSync(path.join(dir, '.recipe.json'))) {
      await rm(partial, { recursive: true, force: true });
    } else {
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
    }
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
  return { ...done(), built: true };
}

/**
 * Pure: tar argv that packs the rootfs as an image layer: numeric owners (the
 * host's names would map 70 and 999 to whatever it calls them), no device
 * nodes or kernel filesystems (Docker provides /dev, /proc, /sys), no marker.
 */
export function rootfsTarArgs(rootfs: string, tarball: string): string[] {
  // biome-ignore format: option groups read better on one line each
  return [
    '-C', rootfs,
    '--numeric-owner',
    '--exclude=./dev/*', '--exclude=./proc/*', '--exclude=./sys/*', '--exclude=./.recipe.json',
    '-cf', tarball, '.',
  ];
}

/** Pure: `a/b/c` → `a`, `a/b`. */
function ancestors(rel: string): string[] {
  const parts = rel.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Writes the `docker load` archive's files into `dir`: the rootfs layer, the
 * entrypoints layer, the two configs and manifest.json; `tar -C dir -cf - .`
 * is then the archive.
 */
export async function writeDbImageArchive(
  shell: Shell,
  rootfs: string,
  dir: string,
  tags: Record<DbRole, string> = DB_IMAGES,
): Promise<void> {
  const hash = dbImageHash();
  const layers: ArchiveLayer[] = [];
  const rootfsLayer = `rootfs-${dbRootfsHash()}/layer.tar`;
  await mkdir(path.join(dir, path.dirname(rootfsLayer)), { recursive: true });
  await runChecked(shell, 'tar', rootfsTarArgs(rootfs, path.join(dir, rootfsLayer)), {
    timeoutMs: 300_000,
  });
  layers.push({
    path: rootfsLayer,
    diffId: await sha256File(path.join(dir, rootfsLayer)),
    createdBy: `debootstrap --variant=${DB_ROOTFS_RECIPE.variant} ${DB_ROOTFS_RECIPE.suite} + ${DB_ROOTFS_RECIPE.packages.join(' ')}`,
  });

  const files = await mkdtemp(path.join(dir, 'entrypoints-'));
  for (const [rel, text] of Object.entries(ENTRYPOINT_FILES)) {
    await mkdir(path.join(files, path.dirname(rel)), { recursive: true });
    await writeFile(path.join(files, rel), text, { mode: 0o755 });
  }
  const entryLayer = `entrypoints-${hash}/layer.tar`;
  await mkdir(path.join(dir, path.dirname(entryLayer)), { recursive: true });
  // Parent directories as the rootfs has them (root, 0755): Docker would otherwise create them itself.
  const parents = [...new Set(Object.keys(ENTRYPOINT_FILES).flatMap((f) => ancestors(f)))].sort();
  // biome-ignore format: option groups read better on one line each
  await runChecked(shell, 'tar', [
    '-C', files, '--numeric-owner', '--owner=0', '--group=0', '--mode=0755', '--no-recursion',
    '-cf', path.join(dir, entryLayer), ...parents, ...Object.keys(ENTRYPOINT_FILES),
  ]);
  await rm(files, { recursive: true, force: true });
  layers.push({
    path: entryLayer,
    diffId: await sha256File(path.join(dir, entryLayer)),
    createdBy: `entrypoints: ${Object.keys(ENTRYPOINT_FILES)
      .map((f) => `/${f}`)
      .join(' ')}`,
  });

  // The rootfs's build time: the same cached rootfs always gives the same image ids.
  const created = (await stat(path.join(rootfs, '.recipe.json'))).mtime.toISOString();
  const { manifest, configs } = dbImageArchiveFiles(hash, layers, tags, created);
  for (const [name, text] of Object.entries(configs)) await writeFile(path.join(dir, name), text);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

/**
 * Harness step: ensures `dalston-postgres:test` and `dalston-redis:test` exist
 * with this recipe's label; builds (or reuses) the cached rootfs and loads it
 * only when an image is missing or carries another recipe's hash.
 */
export async function ensureDbImages(
  shell: Shell,
  docker: Docker,
  cacheDir: string,
  scratchDir: string,
  dockerEnv: Record<string, string>,
  log: (line: string) => void,
): Promise<string> {
  const hash = dbImageHash();
  const labels = await Promise.all(
    Object.values(DB_IMAGES).map(async (image) => {
      const info = await docker
        .getImage(image)
        .inspect()
        .catch(() => undefined);
      return info?.Config?.Labels?.[DB_RECIPE_LABEL];
    }),
  );
  if (labels.every((l) => l === hash))
    return `db images: ${DB_IMAGES.postgres}, ${DB_IMAGES.redis} present (recipe ${hash})`;

  const rootfs = await ensureDbRootfs(shell, cacheDir, log);
  const t0 = Date.now();
  const work = await mkdtemp(path.join(scratchDir, 'db-images-'));
  try {
    await writeDbImageArchive(shell, rootfs.dir, work);
    const r = await shell.run('sh', ['-c', 'tar -C "$1" -cf - . | docker load', 'sh', work], {
      env: dockerEnv,
      timeoutMs: 300_000,
    });
    if (r.exitCode !== 0)
      throw new Error(
        `docker load of ${Object.values(DB_IMAGES).join(', ')} failed: ${tail(r.stderr || r.stdout)}`,
      );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const how = rootfs.built ? `rootfs built in ${rootfs.seconds.toFixed(0)} s` : 'rootfs from cache';
  return `db images: loaded ${DB_IMAGES.postgres}, ${DB_IMAGES.redis} (recipe ${hash}; ${how}, load ${((Date.now() - t0) / 1000).toFixed(0)} s)`;
}

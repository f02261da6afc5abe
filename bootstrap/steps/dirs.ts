import { chmod, chown, mkdir, readdir, stat } from 'node:fs/promises';
import { type DataSubdir, dataPaths } from '../../shared/config/data-paths.ts';
import { HostError } from '../../shared/errors.ts';
import { observeDataMount } from '../../shared/mount/data-mount.ts';
import type { BootstrapContext } from '../context.ts';
import { done, planned, type Step, unchanged } from './step.ts';

/**
 * Directories on the data volume and who owns them. Looked up in Dalston's
 * compose files (docker-compose.yml + infra/docker/docker-compose.aws.yml) and
 * the official images they use:
 *
 * | dir       | uid:gid  | mode | why |
 * |-----------|----------|------|-----|
 * | postgres  | 70:70    | 0700 | `postgres:18-alpine`: Alpine's postgres user is uid/gid 70 (Debian images use 999); bind-mounted at /var/lib/postgresql |
 * | redis     | 999:1000 | 0750 | `redis:8-alpine`: `adduser -u 999 -G redis` with `addgroup -g 1000 redis`; bind-mounted at /data |
 * | models    | 0:0      | 0755 | Dalston's engine Dockerfiles set no USER, so engines run as root; HF_HOME/NEMO_CACHE cache |
 * | dalston   | 0:0      | 0755 | Dalston source checkouts, written by this bootstrap (root) |
 * | backups   | 0:0      | 0700 | database dumps: root only |
 * | secrets   | 0:0      | 0700 | the host's generated secrets (the Postgres password): root only |
 * | tailscale | 0:0      | 0700 | tailscaled's state (node key): bound at /var/lib/tailscale, root only |
 *
 * Ownership is only set on a directory that is new or empty: a populated
 * Postgres directory is never re-chowned (the image's entrypoint manages it,
 * and a recursive chown of a large cluster on every boot is slow and risky).
 */
export const DATA_DIRS = [
  { name: 'postgres', uid: 70, gid: 70, mode: 0o700 },
  { name: 'redis', uid: 999, gid: 1000, mode: 0o750 },
  { name: 'models', uid: 0, gid: 0, mode: 0o755 },
  { name: 'dalston', uid: 0, gid: 0, mode: 0o755 },
  { name: 'backups', uid: 0, gid: 0, mode: 0o700 },
  { name: 'secrets', uid: 0, gid: 0, mode: 0o700 },
  { name: 'tailscale', uid: 0, gid: 0, mode: 0o700 },
] as const satisfies readonly { name: DataSubdir; uid: number; gid: number; mode: number }[];

export interface DirObservation {
  exists: boolean;
  isDir: boolean;
  empty: boolean;
  uid: number;
  gid: number;
  mode: number;
}

export type DirAction = 'create' | 'fix-owner' | 'keep' | 'keep-populated';

/** Pure: create missing dirs, fix ownership only on empty ones, never touch populated ones. */
export function planDir(spec: { uid: number; gid: number; mode: number }, obs: DirObservation): DirAction {
  if (!obs.exists) return 'create';
  const right = obs.uid === spec.uid && obs.gid === spec.gid && obs.mode === spec.mode;
  if (right) return 'keep';
  return obs.empty ? 'fix-owner' : 'keep-populated';
}

async function observeDir(path: string): Promise<DirObservation> {
  try {
    const st = await stat(path);
    const empty = st.isDirectory() ? (await readdir(path)).length === 0 : false;
    return { exists: true, isDir: st.isDirectory(), empty, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { exists: false, isDir: false, empty: true, uid: -1, gid: -1, mode: 0 };
  }
}

/** Refuses to write under dataDir unless the data volume is mounted there (never onto the root disk). */
export async function requireDataMounted(ctx: BootstrapContext, forWhat: string): Promise<void> {
  const data = await observeDataMount(ctx.config.dataDir, ctx.mounts);
  if (data.mounted) return;
  throw new HostError(
    'failure',
    `${data.reason}: refusing to create ${forWhat} on the root disk (run the disk and mount steps first)`,
  );
}

export const dirsStep: Step = {
  name: 'dirs',
  async run(ctx) {
    const { subdirs } = dataPaths(ctx.config.dataDir);
    if (!ctx.dryRun) await requireDataMounted(ctx, 'data directories');
    const changes: string[] = [];
    const kept: string[] = [];
    for (const d of DATA_DIRS) {
      const path = subdirs[d.name];
      const obs = await observeDir(path);
      if (obs.exists && !obs.isDir) throw new HostError('failure', `${path} exists and is not a directory`);
      const action = planDir(d, obs);
      const owner = `${d.uid}:${d.gid} mode ${d.mode.toString(8).padStart(4, '0')}`;
      if (action === 'keep') continue;
      if (action === 'keep-populated') {
        kept.push(`${d.name} (populated, owned ${obs.uid}:${obs.gid}; left as is)`);
        continue;
      }
      changes.push(`${action === 'create' ? 'create' : 'set owner of empty'} ${path} ${owner}`);
      if (ctx.dryRun) continue;
      if (action === 'create') await mkdir(path, { mode: d.mode });
      await chown(path, d.uid, d.gid);
      await chmod(path, d.mode);
    }
    const keptNote = kept.length > 0 ? `; ${kept.join(', ')}` : '';
    if (ctx.dryRun && changes.length > 0) return planned(changes);
    if (changes.length === 0) return unchanged(`all ${DATA_DIRS.length} directories in place${keptNote}`);
    return done(`${changes.length} change(s): ${changes.join('; ')}${keptNote}`);
  },
};

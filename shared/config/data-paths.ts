import { posix } from 'node:path';

/**
 * Every path on the data volume, derived from `dataDir` here and nowhere else:
 * the config fills `compose.workingDir` from it, the dirs step creates the
 * directories, the dalston step checks Dalston out under `dalstonCheckouts`.
 * The overlay binds the same directory names under `${DALSTON_DATA_DIR}`.
 */

/** Directories on the data volume, by name (their owners are in bootstrap/steps/dirs.ts). */
export const DATA_SUBDIRS = [
  'postgres',
  'redis',
  'models',
  'dalston',
  'backups',
  'secrets',
  'tailscale',
] as const;
export type DataSubdir = (typeof DATA_SUBDIRS)[number];

/** Name of the symlink in `dalstonCheckouts` that points at the checkout in use. */
export const CURRENT_CHECKOUT = 'current';

export interface DataPaths {
  dataDir: string;
  /** `<dataDir>/<name>` for each directory the bootstrap creates. */
  subdirs: Record<DataSubdir, string>;
  /** Dalston checkouts, one directory per ref: `<dataDir>/dalston`. */
  dalstonCheckouts: string;
  /** The checkout in use (a symlink), the default `compose.workingDir`: `<dataDir>/dalston/current`. */
  dalstonCurrent: string;
  /**
   * The host's generated secrets as a compose env file (root, 0600): `<dataDir>/secrets/compose.env`.
   * On the data volume, so they stay with the database they protect when the instance is replaced.
   */
  secretsEnv: string;
  /** A generated password not yet set on an existing database (the secrets step's crash-safe hand-over). */
  pendingPostgresPassword: string;
  /** Records that the admin API key is in SSM (parameter and digest, never the key): the api-key step. */
  apiKeyStored: string;
  /** tailscaled's state directory (bound at /var/lib/tailscale): the node keeps its identity and name. */
  tailscaleState: string;
}

/** Pure: the paths under `dataDir` (posix paths; a trailing slash is normalised away). */
export function dataPaths(dataDir: string): DataPaths {
  const under = (...parts: string[]) => posix.join(dataDir, ...parts);
  const subdirs = Object.fromEntries(DATA_SUBDIRS.map((n) => [n, under(n)])) as Record<DataSubdir, string>;
  return {
    dataDir,
    subdirs,
    dalstonCheckouts: subdirs.dalston,
    dalstonCurrent: under('dalston', CURRENT_CHECKOUT),
    secretsEnv: under('secrets', 'compose.env'),
    pendingPostgresPassword: under('secrets', 'postgres-password.pending'),
    apiKeyStored: under('secrets', 'api-key.stored'),
    tailscaleState: subdirs.tailscale,
  };
}

/** How docs/config.md shows a default derived from dataDir, e.g. `<dataDir>/dalston/current`. */
export const DATA_DIR_PLACEHOLDER = '<dataDir>';

import { isAbsolute, join } from 'node:path';

/**
 * `--root DIR` prefixes every configuration path (like `systemctl --root`), so
 * tests and image builds can bootstrap a tree that is not the running system.
 * Devices and `dataDir` are never prefixed: they are the real disk.
 */
export function rooted(root: string, path: string): string {
  if (!isAbsolute(path)) throw new Error(`internal: rooted() needs an absolute path, got ${path}`);
  return root === '/' || root === '' ? path : join(root, path);
}

/** System paths the bootstrap reads or writes for configuration (all under --root). */
export const SystemPath = {
  fstab: '/etc/fstab',
  osRelease: '/etc/os-release',
  systemdUnits: '/etc/systemd/system',
  stateDir: '/var/lib/dalston',
  result: '/var/lib/dalston/bootstrap.json',
  /** Present once a full bootstrap has succeeded on this host: later boots take the quick path. */
  completeMarker: '/var/lib/dalston/bootstrap-complete',
  composePluginDir: '/usr/local/lib/docker/cli-plugins',
  aptSources: '/etc/apt/sources.list.d',
  aptKeyrings: '/usr/share/keyrings',
  yumRepos: '/etc/yum.repos.d',
} as const;

/**
 * Compose v2 release binaries pinned in the repo. Amazon Linux 2023 has no
 * Compose v2 package, so the packages step downloads this exact release and
 * refuses it unless its SHA-256 matches. Values are the ones docker/compose
 * publishes for the release assets (`docker-compose-linux-<arch>.sha256`).
 * Bump version and both hashes together; `docker.composeSha256.<arch>` in
 * host.json overrides a value here.
 */
export const COMPOSE_PIN = {
  version: '2.29.7',
  sha256: {
    x86_64: '383ce6698cd5d5bbf958d2c8489ed75094e34a77d340404d9f32c4ae9e12baf0',
    aarch64: '6e9fbd5daa20dca5d7d89145081ae8155d68ef2928b497d9f85b54fe0f9dbb2c',
  } as Record<string, string | undefined>,
} as const;

export function composeDownloadUrl(version: string, arch: string): string {
  return `https://github.com/docker/compose/releases/download/v${version}/docker-compose-linux-${arch}`;
}

/** `uname -m` spellings mapped to the release asset names. */
export function composeArch(unameM: string): string | undefined {
  const m = unameM.trim();
  if (m === 'x86_64' || m === 'amd64') return 'x86_64';
  if (m === 'aarch64' || m === 'arm64') return 'aarch64';
  return undefined;
}

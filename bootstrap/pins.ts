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

/**
 * Buildx release binaries pinned in the repo. Compose's builder needs buildx
 * >= 0.17 and Amazon Linux 2023's docker package ships an older one, so the
 * packages step installs this release next to the pinned Compose, refused
 * unless its SHA-256 matches. Values are those of the release's
 * `checksums.txt`, as pinned by docker-library/docker (versions.json, the
 * official `docker` image) and cashapp/hermit-packages (docker-buildx.hcl),
 * which agree. Keyed by `uname -m`; `docker.buildxSha256.<arch>` overrides.
 */
export const BUILDX_PIN = {
  version: '0.17.1',
  sha256: {
    x86_64: 'aa7a9778349e1a8ace685e4c51a1d33e7a9b0aa6925d1c625b09cb3800eba696',
    aarch64: 'de05dccd47932eb9fd6e63781ab29d2b0b2c834bbdd19b51d7ea452b1fe378d3',
  } as Record<string, string | undefined>,
} as const;

/** Buildx names its assets by Go architecture: `buildx-v<ver>.linux-<amd64|arm64>`. */
export function buildxDownloadUrl(version: string, arch: string): string {
  const goArch = arch === 'aarch64' ? 'arm64' : 'amd64';
  return `https://github.com/docker/buildx/releases/download/v${version}/buildx-v${version}.linux-${goArch}`;
}

/** `uname -m` spellings mapped to the release asset names (and the `*Sha256` config keys). */
export function composeArch(unameM: string): string | undefined {
  const m = unameM.trim();
  if (m === 'x86_64' || m === 'amd64') return 'x86_64';
  if (m === 'aarch64' || m === 'arm64') return 'aarch64';
  return undefined;
}

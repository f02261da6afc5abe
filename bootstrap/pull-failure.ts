import { ConfigError, HostError } from '../shared/errors.ts';

/**
 * Why an image pull failed, as far as compose's error text tells:
 * - `missing`: the registry answered and has no such tag (or repository);
 * - `unreachable`: the registry could not be reached or went silent (DNS, connect, TLS, our time limit);
 * - `other`: anything else (access denied, a full disk…): said as it is, never called a missing tag.
 */
export type PullFailureKind = 'missing' | 'unreachable' | 'other';

// Checked first: a registry that could not be reached has said nothing about the tag.
const UNREACHABLE = [
  /dial tcp/i,
  /connection refused/i,
  /connection reset/i,
  /no such host/i,
  /server misbehaving/i,
  /temporary failure in name resolution/i,
  /network is unreachable/i,
  /no route to host/i,
  /i\/o timeout/i,
  /tls handshake timeout/i,
  /client\.timeout exceeded/i,
  /context deadline exceeded/i,
  /timed out after \d+ ms/i, // the Shell's own time limit
  /unexpected EOF/i,
];
// The Distribution API's answers for an unknown tag or repository, and Docker Hub's wording.
const MISSING = [
  /manifest unknown/i,
  /manifest for \S+ not found/i,
  /name unknown/i,
  /repository does not exist/i,
  /not found: manifest/i,
];

/** Pure: classifies compose's (or dockerd's) error text of a failed pull. */
export function classifyPullFailure(text: string): PullFailureKind {
  if (UNREACHABLE.some((re) => re.test(text))) return 'unreachable';
  if (MISSING.some((re) => re.test(text))) return 'missing';
  return 'other';
}

/**
 * Pure: the line of compose's output that says why (dockerd's "Error response from daemon: …"
 * when there is one, else the last non-empty line), without compose's list markers.
 */
export function composeErrorLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s*/, '').trim())
    .filter(Boolean);
  const daemon = lines.filter((l) => /error response from daemon/i.test(l)).at(-1);
  const timeout = lines.filter((l) => /timed out after \d+ ms/i.test(l)).at(-1);
  return timeout ?? daemon ?? lines.at(-1) ?? '(no output)';
}

/** Pure: the tag of an image reference (`latest` when it names none); undefined for a digest. */
export function tagOf(image: string): string | undefined {
  if (image.includes('@')) return undefined;
  const name = image.slice(image.lastIndexOf('/') + 1);
  const colon = name.lastIndexOf(':');
  return colon === -1 ? 'latest' : name.slice(colon + 1);
}

export interface PullFailure {
  /** The image reference compose pulled, e.g. `ghcr.io/ssarunic/dalston/gateway:1.2.3`. */
  image: string;
  /** The services that use it. */
  services: readonly string[];
  /** host.json `dalston.imageTag`, when set. */
  imageTag: string | undefined;
  /** compose's output of the failed pull. */
  output: string;
  /** Attempts made (more than one only for an unreachable registry). */
  attempts: number;
}

const TAG_KEY = 'dalston.imageTag';
const TAG_HELP = `${TAG_KEY} (Terraform variable dalston_image_tag)`;
const PUBLISHED = 'Dalston publishes `latest` and `X.Y.Z` tags only, e.g. 1.2.3 for dalston_ref v1.2.3';

/**
 * Pure: the error that stops the bootstrap (or a Dalston change) when an image cannot be pulled.
 * The first line is the fix; compose's own error line follows. Exit codes (shared/errors.ts):
 * a tag of `dalston.imageTag` that the registry does not have is a config problem (78, the key
 * named); an unreachable registry is 69 (EX_UNAVAILABLE: the next boot tries again); any other
 * failure, or a missing image whose tag is not Dalston's (pinned in the compose files), is 1.
 */
export function pullFailureError(f: PullFailure): HostError {
  const kind = classifyPullFailure(f.output);
  const what = `${f.image} (${f.services.join(', ')})`;
  const dalstonTag = f.imageTag !== undefined && tagOf(f.image) === f.imageTag;
  const compose = `docker compose pull: ${composeErrorLine(f.output)}`;
  if (kind === 'missing' && dalstonTag) {
    return new ConfigError(
      TAG_KEY,
      `image ${what} not found: its tag ${f.imageTag} is ${TAG_HELP}; set it to a published tag ` +
        `(${PUBLISHED}) and apply again\n${compose}`,
    );
  }
  if (kind === 'missing') {
    return new HostError(
      'failure',
      `image ${what} not found in its registry: its tag is pinned by the compose files (compose.files), ` +
        `not by ${TAG_KEY}\n${compose}`,
    );
  }
  if (kind === 'unreachable') {
    const tries = f.attempts > 1 ? ` (${f.attempts} attempts)` : '';
    return new HostError(
      'unavailable',
      `image ${what} could not be pulled: its registry could not be reached${tries}, a network problem, ` +
        `not a missing tag; check the host's outbound access (route, DNS); the next boot tries again\n${compose}`,
    );
  }
  const hint = dalstonTag ? `; its tag is ${TAG_HELP}: ${PUBLISHED}` : '';
  return new HostError('failure', `image ${what} could not be pulled${hint}\n${compose}`);
}

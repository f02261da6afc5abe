/**
 * The `desired` step (first, at every boot): turns the desired state that
 * Terraform (or `dalston-aws deploy`) published at `config/host.json` into
 * `/etc/dalston/host.json` and the compose env, so every later step — and the
 * agent — reads what was last published. User-data no longer carries them.
 *
 * Where the object is: host.json's `s3.bucket`/`s3.region`/`s3.endpoint` on a
 * running host; at first boot (no host.json yet) the `--desired-state
 * s3://<bucket>/config/host.json --region <r>` the user-data passes, with
 * `AWS_ENDPOINT_URL_S3` as the endpoint of an S3-compatible server (tests, the
 * rehearsal).
 *
 * A Dalston change (`dalston.ref`, `dalston.imageTag`, `compose.services`) is
 * never applied here: on a host that has a host.json those keys keep their
 * running values, and `dalston-host sync` applies them after a backup and
 * behind a health gate. A boot must never apply one ungated.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { withDalstonVersion } from '../../converge/dalston-change-plan.ts';
import { parseConfig } from '../../shared/config/load.ts';
import type { DesiredState } from '../../shared/desired/desired-state.ts';
import { DESIRED_STATE_KEY, parseDesiredState } from '../../shared/desired/desired-state.ts';
import {
  type DesiredStateRead,
  type DesiredStateStore,
  desiredStateUrl,
  readDesiredState,
} from '../../shared/desired/desired-state-source.ts';
import { ConfigError, HostError, UsageError } from '../../shared/errors.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import { rooted, SystemPath } from '../paths.ts';
import { readIfExists } from '../read-if-exists.ts';
import { done, planned, type Step, type StepOutcome, skipped, unchanged } from './step.ts';

/** The last good object read, so a boot without S3 still has what was published. */
export const DESIRED_STATE_CACHE = `${SystemPath.stateDir}/desired-state.json`;
/** The compose env host.json's `compose.envFiles` lists (Terraform's and the Dalston change's). */
export const COMPOSE_ENV_PATH = '/etc/dalston/compose.env';
/** One read of the object: a small GET; the SDK retries once within it. */
export const DESIRED_READ_TIMEOUT_MS = 30_000;

/** The keys a boot keeps at their running values (the Dalston change applies them, gated). */
export const DALSTON_KEYS = ['dalston.ref', 'dalston.imageTag', 'compose.services'] as const;

/** Where the desired-state object is. */
export interface DesiredLocation {
  bucket: string;
  region?: string;
  endpoint?: string;
}

export interface DesiredCache {
  body: string;
  etag: string;
  versionId: string | null;
  fetchedAt: string;
}

export type DesiredStoreFactory = (loc: DesiredLocation) => Promise<DesiredStateStore & { destroy?(): void }>;

export interface DesiredStepOptions {
  /** `--desired-state s3://<bucket>/config/host.json`: where the object is before host.json exists. */
  url?: string;
  /** `--region`, with `url`. */
  region?: string;
  /** An S3-compatible endpoint (`AWS_ENDPOINT_URL_S3`) used with `url`. */
  endpoint?: string;
  /** Tests: a store over a local server or a fake. */
  store?: DesiredStoreFactory;
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Pure: `s3://<bucket>/config/host.json` → the bucket; anything else is a usage error. */
export function parseDesiredStateUrl(url: string): string {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(url);
  if (!m) throw new UsageError(`--desired-state must be s3://<bucket>/${DESIRED_STATE_KEY}, not ${url}`);
  if (m[2] !== DESIRED_STATE_KEY)
    throw new UsageError(`--desired-state must name the key ${DESIRED_STATE_KEY}, not ${m[2]}`);
  return m[1]!;
}

/**
 * Pure: where to read the desired state. A running host's host.json says
 * (its `s3` section); the flag is for the first boot, and wins when given, as
 * the user-data is the instance's own word on which bucket holds its state.
 */
export function desiredLocation(running: Raw | null, opts: DesiredStepOptions): DesiredLocation | null {
  if (opts.url !== undefined) {
    return {
      bucket: parseDesiredStateUrl(opts.url),
      ...(opts.region ? { region: opts.region } : {}),
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    };
  }
  const s3 = running && isObject(running.s3) ? running.s3 : null;
  if (!s3 || typeof s3.bucket !== 'string' || s3.bucket === '') return null;
  return {
    bucket: s3.bucket,
    ...(typeof s3.region === 'string' ? { region: s3.region } : {}),
    ...(typeof s3.endpoint === 'string' ? { endpoint: s3.endpoint } : {}),
  };
}

function getPath(raw: Raw, dotted: string): unknown {
  let v: unknown = raw;
  for (const k of dotted.split('.')) v = isObject(v) ? v[k] : undefined;
  return v;
}

/** Sets (or, for undefined, removes) a dotted key, creating parents as needed. */
function setPath(raw: Raw, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let o = raw;
  for (const k of keys.slice(0, -1)) {
    if (!isObject(o[k])) o[k] = {};
    o = o[k] as Raw;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Pure: the dotted leaf keys whose values differ (arrays compared whole). */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => changedKeys(before[k], after[k], `${prefix}${k}.`));
  }
  if (isObject(after) && before === undefined) return changedKeys({}, after, prefix);
  if (isObject(before) && after === undefined) return changedKeys(before, {}, prefix);
  return same(before, after) ? [] : [prefix.replace(/\.$/, '')];
}

/**
 * Pure: the host.json to write from the desired state. First boot (no
 * running host.json) takes everything; a running host keeps its running
 * `dalston.ref`, `dalston.imageTag` and `compose.services` (`kept` lists those
 * whose desired value differs: sync applies them). `changedKeys` names what
 * the write changes; empty means nothing to write.
 */
export function hostJsonFromDesired(
  desired: DesiredState,
  runningRaw: Record<string, unknown> | null,
): { raw: Record<string, unknown>; changedKeys: string[]; kept: string[] } {
  const raw = structuredClone(desired.document.host) as Raw;
  const kept: string[] = [];
  if (runningRaw !== null) {
    for (const key of DALSTON_KEYS) {
      const running = getPath(runningRaw, key);
      if (!same(getPath(raw, key), running)) kept.push(key);
      setPath(raw, key, structuredClone(running));
    }
    // Setting a key on an absent parent leaves an empty object: drop it, as the publisher would.
    for (const parent of ['dalston', 'compose'])
      if (isObject(raw[parent]) && Object.keys(raw[parent] as Raw).length === 0) delete raw[parent];
  }
  return { raw, changedKeys: changedKeys(runningRaw ?? {}, raw), kept };
}

/**
 * Pure: the compose env for `host`: the variables the overlay interpolates,
 * derived from host.json (set, or removed when host.json has no value); every
 * other line of the current file (DALSTON_VPC_IP from the user-data) is kept.
 */
export function composeEnvFor(host: Raw, current: string): string {
  const region = getPath(host, 's3.region');
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  // In Terraform's order (its compose_env output), so a first boot writes the same text.
  return withDalstonVersion(current, {
    AWS_REGION: str(region),
    DALSTON_IMAGE_TAG: str(getPath(host, 'dalston.imageTag')),
    DALSTON_REF: str(getPath(host, 'dalston.ref')),
    DALSTON_S3_BUCKET: str(getPath(host, 's3.bucket')),
    DALSTON_S3_REGION: str(region),
  });
}

/** Pure: the key named by an invalid object's reason (`s3://b/config/host.json: host.dataDir: …`). */
export function invalidKey(reason: string, url: string): string {
  const rest = reason.startsWith(`${url}: `) ? reason.slice(url.length + 2) : reason;
  const m = /^([^\s:]+):/.exec(rest);
  return m?.[1] ?? '(root)';
}

async function defaultStore(loc: DesiredLocation) {
  // Loaded only here: the SDK is most of a small process's memory.
  const { S3ObjectStore } = await import('../../shared/aws/s3-object-store.ts');
  return new S3ObjectStore({ ...loc, timeoutMs: DESIRED_READ_TIMEOUT_MS });
}

async function readJson(path: string): Promise<Raw | null> {
  const text = await readIfExists(path);
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return isObject(v) ? v : null;
  } catch {
    return null;
  }
}

function parseCache(raw: Raw | null): DesiredCache | null {
  if (!raw || typeof raw.body !== 'string' || typeof raw.etag !== 'string') return null;
  return {
    body: raw.body,
    etag: raw.etag,
    versionId: typeof raw.versionId === 'string' ? raw.versionId : null,
    fetchedAt: typeof raw.fetchedAt === 'string' ? raw.fetchedAt : 'unknown',
  };
}

/** What was read, settled to one state to apply (or an outcome that ends the step). */
type Source =
  | { kind: 'apply'; state: DesiredState; from: string; cache?: DesiredCache }
  | { kind: 'end'; outcome: StepOutcome };

async function resolveSource(
  ctx: BootstrapContext,
  loc: DesiredLocation,
  cache: DesiredCache | null,
  hostExists: boolean,
  store: DesiredStoreFactory,
): Promise<Source> {
  const url = desiredStateUrl(loc.bucket);
  let read: DesiredStateRead;
  const s = await store(loc);
  try {
    read = await readDesiredState(s, cache?.etag ?? null);
  } finally {
    // Its sockets must not keep the boot waiting.
    s.destroy?.();
  }
  const fromCache = (why: string): Source => {
    const parsed = parseDesiredState(cache!.body);
    if (parsed.kind === 'invalid')
      throw new ConfigError(invalidKey(parsed.reason, ''), `cached ${url}: ${parsed.reason}`);
    return { kind: 'apply', state: parsed.state, from: why };
  };
  switch (read.kind) {
    case 'ok':
      return {
        kind: 'apply',
        state: read.state,
        from: `${url} (ETag ${read.etag})`,
        cache: {
          body: read.body,
          etag: read.etag,
          versionId: read.versionId,
          fetchedAt: new Date(ctx.clock.now()).toISOString(),
        },
      };
    case 'unchanged':
      return fromCache(`${url} (unchanged since ${cache!.fetchedAt})`);
    case 'invalid':
      // Nothing is written: the host keeps what it runs, and the key at fault is named.
      throw new ConfigError(invalidKey(read.reason, url), `the desired state is invalid: ${read.reason}`);
    case 'missing':
      if (!hostExists)
        throw new HostError(
          'unavailable',
          `nothing is published at ${read.where}: this host has no host.json to start from (publish it with \`terraform apply\`)`,
        );
      return {
        kind: 'end',
        outcome: unchanged(`nothing is published at ${read.where}: host.json kept as it is`),
      };
    case 'unreachable':
      if (cache) {
        const why = `S3 is unreachable (${read.reason}): using the desired state cached at ${cache.fetchedAt}`;
        ctx.log.warn({ reason: read.reason }, why);
        return fromCache(why);
      }
      if (!hostExists)
        throw new HostError(
          'unavailable',
          `cannot read the desired state and none is cached: ${read.reason} (the instance role must allow s3:GetObject on ${DESIRED_STATE_KEY})`,
        );
      ctx.log.warn({ reason: read.reason }, 'the desired state cannot be read: host.json kept');
      return {
        kind: 'end',
        outcome: unchanged(
          `S3 is unreachable (${read.reason}) and nothing is cached: host.json kept as it is`,
        ),
      };
  }
}

export function desiredStep(opts: DesiredStepOptions = {}): Step {
  return {
    name: 'desired',
    async run(ctx) {
      const hostPath = ctx.configPath;
      const envPath = rooted(ctx.root, COMPOSE_ENV_PATH);
      const cachePath = rooted(ctx.root, DESIRED_STATE_CACHE);
      const hostText = await readIfExists(hostPath);
      const running = await readJson(hostPath);
      const loc = desiredLocation(running, opts);
      if (!loc) {
        // Nothing names a bucket: host.json (or its absence) is all there is, as before there was a desired state.
        return skipped(
          hostText === undefined
            ? `no ${hostPath} and no --desired-state: no desired state to follow`
            : `${hostPath} has no s3.bucket: no desired state to follow`,
        );
      }
      const cache = parseCache(await readJson(cachePath));
      const src = await resolveSource(ctx, loc, cache, hostText !== undefined, opts.store ?? defaultStore);
      if (src.kind === 'end') return src.outcome;

      const next = hostJsonFromDesired(src.state, running);
      // The result must be a valid host.json (it is, unless a kept running value is not).
      parseConfig(next.raw, `host.json from ${desiredStateUrl(loc.bucket)}`);
      const hostOut = `${JSON.stringify(next.raw, null, 2)}\n`;
      const envOld = (await readIfExists(envPath)) ?? '';
      const envOut = composeEnvFor(next.raw, envOld);
      const changes: string[] = [];
      // Only a change of content is written (a formatting-only difference is not one).
      ctx.state.hostChanged = running === null ? [] : next.changedKeys;
      const writeHost = running === null || next.changedKeys.length > 0;
      if (writeHost)
        changes.push(
          `write ${hostPath} (${running === null ? 'first boot' : `changed: ${next.changedKeys.join(', ')}`})`,
        );
      const writeEnv = envOut !== envOld;
      if (writeEnv) changes.push(`write ${envPath}`);
      const keptNote =
        next.kept.length > 0
          ? `; kept the running ${next.kept.join(', ')} (\`dalston-host sync\` applies the desired ones, gated)`
          : '';
      if (ctx.dryRun) {
        return changes.length > 0 ? planned(changes) : unchanged(`host.json follows ${src.from}${keptNote}`);
      }
      if (writeHost) {
        await mkdir(dirname(hostPath), { recursive: true, mode: 0o755 });
        await writeFileAtomic(hostPath, hostOut, { mode: 0o644 });
      }
      if (writeEnv) {
        await mkdir(dirname(envPath), { recursive: true, mode: 0o755 });
        await writeFileAtomic(envPath, envOut, { mode: 0o644 });
      }
      if (src.cache) {
        await mkdir(dirname(cachePath), { recursive: true, mode: 0o755 });
        await writeFileAtomic(cachePath, `${JSON.stringify(src.cache)}\n`, { mode: 0o644 });
      }
      if (changes.length === 0) return unchanged(`host.json follows ${src.from}${keptNote}`);
      return done(`${changes.join('; ')} from ${src.from}${keptNote}`);
    },
  };
}

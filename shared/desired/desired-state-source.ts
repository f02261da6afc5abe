/**
 * Reading the desired state (`config/host.json`) from S3: one conditional GET
 * on the ETag last seen, so the agent's poll downloads the object only when it
 * changed, and one answer type for every way the read can go. The bootstrap,
 * `dalston-host sync` and the agent's poll all read through here.
 */
import type { ConditionalRead } from '../aws/s3-object-store.ts';
import { DESIRED_STATE_KEY, type DesiredState, parseDesiredState } from './desired-state.ts';

/** The one S3 call this needs (S3ObjectStore implements it; unit tests fake it). */
export interface DesiredStateStore {
  readonly bucket: string;
  getIfChanged(key: string, etag: string | null): Promise<ConditionalRead>;
}

export type DesiredStateRead =
  /** The object's ETag is still the one given: nothing downloaded. */
  | { kind: 'unchanged' }
  | {
      kind: 'ok';
      state: DesiredState;
      /** The raw body (cached on the host, so a boot without S3 can use the last one read). */
      body: string;
      etag: string;
      /** The S3 object version (a versioned bucket), what `dalston-aws deploy` waits for. */
      versionId: string | null;
    }
  /** No object at `config/host.json`: nothing has been published (or the bucket is another one). */
  | { kind: 'missing'; where: string }
  /** The object is there but not a desired state this host understands; `reason` names the key. */
  | { kind: 'invalid'; reason: string; etag: string; versionId: string | null }
  /** S3 could not be asked (network, permissions, a missing bucket); `reason` says what it answered. */
  | { kind: 'unreachable'; reason: string };

/** The object's address, for messages (`s3://bucket/config/host.json`). */
export function desiredStateUrl(bucket: string): string {
  return `s3://${bucket}/${DESIRED_STATE_KEY}`;
}

/** Never throws: every failure is an answer the caller reports. */
export async function readDesiredState(
  store: DesiredStateStore,
  knownEtag: string | null = null,
): Promise<DesiredStateRead> {
  let r: ConditionalRead;
  try {
    r = await store.getIfChanged(DESIRED_STATE_KEY, knownEtag);
  } catch (err) {
    const e = err as { name?: string; message?: string };
    const what = e.name && e.name !== 'Error' ? `${e.name}: ${e.message ?? ''}` : (e.message ?? String(err));
    return { kind: 'unreachable', reason: `${desiredStateUrl(store.bucket)}: ${what.trim()}` };
  }
  if (r.kind === 'not-modified') return { kind: 'unchanged' };
  if (r.kind === 'missing') return { kind: 'missing', where: desiredStateUrl(store.bucket) };
  const parsed = parseDesiredState(r.body);
  if (parsed.kind === 'invalid') {
    return {
      kind: 'invalid',
      reason: `${desiredStateUrl(store.bucket)}: ${parsed.reason}`,
      etag: r.etag,
      versionId: r.versionId,
    };
  }
  return { kind: 'ok', state: parsed.state, body: r.body, etag: r.etag, versionId: r.versionId };
}

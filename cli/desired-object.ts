/**
 * The desired-state object (`config/host.json`) from the laptop: read it with
 * its version, and write an edit back only over the version that was read.
 */
import { DESIRED_STATE_KEY, type DesiredState, parseDesiredState } from '../shared/desired/desired-state.ts';
import { HostError } from '../shared/errors.ts';
import { changedSinceRead, type ObjectReader, type ObjectVersion, sameEtag } from './aws/snapshots.ts';

export interface PublishedDesiredState {
  state: DesiredState;
  version: ObjectVersion;
  location: string;
}

export function desiredLocation(bucket: string): string {
  return `s3://${bucket}/${DESIRED_STATE_KEY}`;
}

/** Throws exit 78 when the object is missing or invalid (the reason names the key). */
export async function readDesiredState(
  objects: ObjectReader,
  bucket: string,
): Promise<PublishedDesiredState> {
  const location = desiredLocation(bucket);
  const obj = await objects.getVersioned(bucket, DESIRED_STATE_KEY);
  if (!obj) {
    throw new HostError(
      'config',
      `no desired state at ${location}: \`terraform apply\` publishes it (a deployment from before it has none)`,
    );
  }
  const parsed = parseDesiredState(obj.body);
  if (parsed.kind === 'invalid') {
    throw new HostError('config', `desired state at ${location} is invalid: ${parsed.reason}`);
  }
  return { state: parsed.state, version: obj.version, location };
}

/** The same object version: VersionId when both have one (versioned bucket), else the ETag. */
export function sameVersion(a: ObjectVersion, b: ObjectVersion): boolean {
  if (a.versionId && b.versionId) return a.versionId === b.versionId;
  return sameEtag(a.etag, b.etag);
}

/**
 * Writes `body` only if the object is still the version read. The PUT carries
 * If-Match, which S3 enforces; S3-compatible servers without conditional writes
 * (s3rver, used by the tests) ignore it, so the version is also compared just
 * before writing: that leaves only the moment between the two calls open.
 */
export async function publishDesiredState(
  objects: ObjectReader,
  bucket: string,
  body: string,
  read: ObjectVersion,
): Promise<ObjectVersion> {
  const now = await objects.headVersion(bucket, DESIRED_STATE_KEY);
  if (!now || !sameVersion(now, read)) throw changedSinceRead(bucket, DESIRED_STATE_KEY);
  return objects.putTextIfMatch(bucket, DESIRED_STATE_KEY, body, read);
}

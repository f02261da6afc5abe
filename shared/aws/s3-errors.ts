/**
 * Reading S3 errors without loading the SDK (agent code that runs without a
 * bucket imports this eagerly, the SDK lazily).
 */

/** An S3 error that means "no such object" (GetObject says NoSuchKey, HeadObject NotFound, some servers only 404). */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is a 404 as well, but a configuration error, not an absent object.
  if (e.name === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

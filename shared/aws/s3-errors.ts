/**
 * Reading S3 errors without loading the SDK (agent code that runs without a
 * bucket imports this eagerly, the SDK lazily).
 */

/**
 * An S3 error that means "no such object" (GetObject says NoSuchKey, HeadObject NotFound, some
 * servers only 404). A missing bucket is a 404 too, but never "no object": it is a wrong
 * deployment, and readers must say so (e.g. exit 78) instead of reporting an empty bucket.
 */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** A conditional GET (`If-None-Match`) answered 304: the object is the one the caller has. */
export function isNotModified(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotModified' || e.name === '304' || e.$metadata?.httpStatusCode === 304;
}

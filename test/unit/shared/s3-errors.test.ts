import { describe, expect, it } from 'vitest';
import { isNotFound } from '../../../shared/aws/s3-errors.ts';

const s3Error = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('isNotFound: "no such object", not any 404', () => {
  it('NoSuchKey, NotFound (HEAD) and a bare 404 are a missing object', () => {
    expect(isNotFound(s3Error('NoSuchKey', 404))).toBe(true);
    expect(isNotFound(s3Error('NotFound', 404))).toBe(true);
    expect(isNotFound(s3Error('UnknownError', 404))).toBe(true);
  });

  it('a missing bucket is also a 404, but not a missing object (the CLI says "bucket missing", exit 78)', () => {
    expect(isNotFound(s3Error('NoSuchBucket', 404))).toBe(false);
    expect(isNotFound(s3Error('AccessDenied', 403))).toBe(false);
  });
});

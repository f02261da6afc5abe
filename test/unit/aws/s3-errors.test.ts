import { describe, expect, it } from 'vitest';
import { isNotFound } from '../../../shared/aws/s3-errors.ts';

const s3Error = (name: string, status: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra });

describe('isNotFound', () => {
  it('a missing object is "not found", however the server spells it', () => {
    expect(isNotFound(s3Error('NoSuchKey', 404))).toBe(true);
    expect(isNotFound(s3Error('NotFound', 404))).toBe(true);
    expect(isNotFound(s3Error('UnknownError', 404))).toBe(true);
  });

  it('a missing bucket is not "no such object", although it is a 404 too', () => {
    expect(isNotFound(s3Error('NoSuchBucket', 404))).toBe(false);
    expect(isNotFound(s3Error('UnknownError', 404, { Code: 'NoSuchBucket' }))).toBe(false);
  });

  it('anything else is not "not found"', () => {
    expect(isNotFound(s3Error('AccessDenied', 403))).toBe(false);
    expect(isNotFound(new Error('socket hang up'))).toBe(false);
  });
});

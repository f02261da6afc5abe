import { describe, expect, it } from 'vitest';
import { mapAwsError } from '../../../cli/errors.ts';
import { HostError } from '../../../shared/errors.ts';

const named = (name: string, message = name, status?: number) =>
  Object.assign(new Error(message), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });

describe('AWS errors → one line and an exit code', () => {
  const ctx = { action: 'ec2:DescribeInstances', resource: 'i-0123456789abcdef0' };

  it.each([
    [
      named('CredentialsProviderError', 'Could not load credentials from any providers'),
      78,
      /^no AWS credentials found: set AWS_PROFILE/,
    ],
    [named('InvalidInstanceID.NotFound'), 78, /^unknown instance id i-0123456789abcdef0: no such instance/],
    [named('InvalidInstanceID.Malformed'), 78, /^malformed instance id "i-0123456789abcdef0"/],
    [
      named('UnauthorizedOperation', 'You are not authorized', 403),
      1,
      /^access denied: ec2:DescribeInstances on i-0123456789abcdef0 is not allowed/,
    ],
    [named('ExpiredToken'), 78, /have expired: run `aws sso login`/],
    [named('AuthFailure'), 78, /rejected the credentials .*\(AuthFailure\)/],
    [named('TimeoutError', 'The operation was aborted due to timeout'), 69, /got no answer in time$/],
    [named('Error', 'connect ECONNREFUSED 127.0.0.1:1'), 69, /could not reach AWS: connect ECONNREFUSED/],
    [
      named('Throttling', 'Rate exceeded\nmore detail', 400),
      1,
      /^ec2:DescribeInstances on i-0123456789abcdef0 failed \(Throttling, HTTP 400\): Rate exceeded$/,
    ],
  ])('%s', (err, code, message) => {
    const e = mapAwsError(err, ctx);
    expect(e).toBeInstanceOf(HostError);
    expect(e.exitCode).toBe(code);
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/\n/);
  });

  it('NoSuchBucket names the bucket; AccessDenied on a GetObject explains the ListBucket quirk', () => {
    const s3 = { action: 's3:GetObject', resource: 's3://my-bucket/status/i-1/latest.json', profile: 'ops' };
    const nb = mapAwsError(named('NoSuchBucket', 'The specified bucket does not exist', 404), s3);
    expect(nb.message).toBe('bucket missing: my-bucket does not exist (check --bucket / DALSTON_BUCKET)');
    expect(nb.exitCode).toBe(78);
    const ad = mapAwsError(named('AccessDenied', 'Access Denied', 403), s3);
    expect(ad.message).toBe(
      'access denied: s3:GetObject on s3://my-bucket/status/i-1/latest.json is not allowed for profile "ops" ' +
        '(without s3:ListBucket S3 also answers AccessDenied for a key that does not exist)',
    );
  });

  it('passes HostErrors through untouched', () => {
    const h = new HostError('unavailable', 'x');
    expect(mapAwsError(h, ctx)).toBe(h);
  });
});

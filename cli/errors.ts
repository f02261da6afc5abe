import { HostError } from '../shared/errors.ts';

/** What was being attempted when an AWS call failed: named in the one-line message. */
export interface AwsCallContext {
  /** IAM action, e.g. `ec2:StartInstances`. */
  action: string;
  /** The thing it was done to, e.g. an instance id or `s3://bucket/key`. */
  resource: string;
  /** AWS profile in use, if any: named in credential and permission messages. */
  profile?: string;
}

const NO_CREDENTIALS =
  'no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws configure` / `aws sso login`';

function errorName(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; Code?: unknown; code?: unknown };
    for (const v of [e.name, e.Code, e.code]) if (typeof v === 'string' && v !== 'Error') return v;
  }
  return '';
}

function httpStatus(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.split('\n')[0] ?? '').trim();
}

/**
 * Turns whatever the AWS SDK threw into one operator-facing line with an exit
 * code. Unknown errors keep their own first line; nothing here prints a stack.
 */
export function mapAwsError(err: unknown, ctx: AwsCallContext): HostError {
  if (err instanceof HostError) return err;
  const name = errorName(err);
  const who = ctx.profile ? `profile "${ctx.profile}"` : 'the current AWS credentials';
  const cause = { cause: err };

  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(firstLine(err))) {
    return new HostError('config', NO_CREDENTIALS, cause);
  }
  if (
    name === 'ExpiredToken' ||
    name === 'ExpiredTokenException' ||
    name === 'TokenRefreshRequired' ||
    /token.*expired|sso session.*expired/i.test(firstLine(err))
  ) {
    return new HostError(
      'config',
      `AWS credentials of ${who} have expired: run \`aws sso login\` (or refresh them) and retry`,
      cause,
    );
  }
  if (['InvalidClientTokenId', 'InvalidAccessKeyId', 'AuthFailure', 'SignatureDoesNotMatch'].includes(name)) {
    return new HostError(
      'config',
      `AWS rejected the credentials of ${who} (${name}): check the profile`,
      cause,
    );
  }
  if (name === 'InvalidInstanceID.NotFound') {
    return new HostError(
      'config',
      `unknown instance id ${ctx.resource}: no such instance in this region/account (check --instance-id and --region)`,
      cause,
    );
  }
  if (name === 'InvalidInstanceID.Malformed') {
    return new HostError(
      'config',
      `malformed instance id "${ctx.resource}": expected i-0123456789abcdef0`,
      cause,
    );
  }
  if (name === 'UnauthorizedOperation' || name === 'AccessDenied' || name === 'AccessDeniedException') {
    const hint = ctx.action.startsWith('s3:GetObject')
      ? ' (without s3:ListBucket S3 also answers AccessDenied for a key that does not exist)'
      : '';
    return new HostError(
      'failure',
      `access denied: ${ctx.action} on ${ctx.resource} is not allowed for ${who}${hint}`,
      cause,
    );
  }
  if (name === 'NoSuchBucket') {
    return new HostError(
      'config',
      `bucket missing: ${ctx.resource.replace(/^s3:\/\/([^/]+).*$/, '$1')} does not exist (check --bucket / DALSTON_BUCKET)`,
      cause,
    );
  }
  if (name === 'IncorrectInstanceState') {
    return new HostError('failure', `${ctx.action} refused: ${firstLine(err)}`, cause);
  }
  if (name === 'AbortError' || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new HostError('unavailable', `${ctx.action} on ${ctx.resource} got no answer in time`, cause);
  }
  if (
    name === 'ECONNREFUSED' ||
    name === 'ENOTFOUND' ||
    name === 'EAI_AGAIN' ||
    name === 'ECONNRESET' ||
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|socket hang up/.test(firstLine(err))
  ) {
    return new HostError('unavailable', `${ctx.action} could not reach AWS: ${firstLine(err)}`, cause);
  }
  const status = httpStatus(err);
  const tag = name ? `${name}${status ? `, HTTP ${status}` : ''}` : status ? `HTTP ${status}` : '';
  return new HostError(
    'failure',
    `${ctx.action} on ${ctx.resource} failed${tag ? ` (${tag})` : ''}: ${firstLine(err)}`,
    cause,
  );
}

/**
 * This machine's name as AWS knows it: the EC2 instance id through IMDSv2, the
 * DMI asset tag when IMDS does not answer on EC2, the hostname elsewhere. No
 * AWS SDK: two plain HTTP calls.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { httpRequest } from '../http-request.ts';
import type { Logger } from '../logger.ts';
import { type Clock, systemClock } from '../time/clock.ts';

/**
 * The instance's name for the S3 key: its EC2 instance id through IMDSv2
 * (PUT /latest/api/token, then GET /latest/meta-data/instance-id with the
 * token), or os.hostname() when not on EC2. Each lookup is bounded by
 * `timeoutMs` so a non-EC2 host falls back quickly. On EC2 (DMI vendor
 * "Amazon EC2") a failed lookup is retried, then the DMI asset tag (the
 * instance id on Nitro) is used: the operator CLI finds the heartbeat under
 * the instance id, so falling back to a hostname there would hide it.
 */
export async function resolveInstanceName(
  opts: {
    imdsEndpoint?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    hostname?: () => string;
    logger?: Logger;
    /** Reads a DMI attribute (`sys_vendor`, `board_asset_tag`); '' when absent. */
    readDmi?: (name: string) => Promise<string>;
    attemptsOnEc2?: number;
    /** The n-th retry waits n times this. */
    retryDelayMs?: number;
    clock?: Clock;
  } = {},
): Promise<string> {
  const env = opts.env ?? process.env;
  const hostname = opts.hostname ?? os.hostname;
  const clock = opts.clock ?? systemClock;
  const readDmi =
    opts.readDmi ??
    ((name: string) => readFile(`/sys/devices/virtual/dmi/id/${name}`, 'utf8').catch(() => ''));
  const fallback = (reason: string) => {
    opts.logger?.info({ reason }, 'not using an EC2 instance id; naming this host by its hostname');
    return hostname();
  };
  if ((env.AWS_EC2_METADATA_DISABLED ?? '').toLowerCase() === 'true')
    return fallback('AWS_EC2_METADATA_DISABLED');
  const base = (
    opts.imdsEndpoint ??
    env.AWS_EC2_METADATA_SERVICE_ENDPOINT ??
    'http://169.254.169.254'
  ).replace(/\/+$/, '');
  const onEc2 = /Amazon EC2/i.test(await readDmi('sys_vendor'));
  const attempts = onEc2 ? (opts.attemptsOnEc2 ?? 5) : 1;
  let reason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const r = await imdsInstanceId(base, opts.timeoutMs ?? 1000);
    if ('id' in r) return r.id;
    reason = r.reason;
    if (attempt < attempts) await clock.sleep((opts.retryDelayMs ?? 1000) * attempt);
  }
  if (onEc2) {
    const tag = (await readDmi('board_asset_tag')).trim();
    if (/^i-[0-9a-f]{8,17}$/.test(tag)) {
      opts.logger?.warn({ reason }, 'IMDS did not answer; using the instance id from the DMI asset tag');
      return tag;
    }
  }
  return fallback(reason);
}

async function imdsInstanceId(base: string, timeoutMs: number): Promise<{ id: string } | { reason: string }> {
  try {
    const token = await httpRequest(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
      timeoutMs,
    });
    if (token.status !== 200) return { reason: `IMDS token request answered HTTP ${token.status}` };
    const idRes = await httpRequest(`${base}/latest/meta-data/instance-id`, {
      headers: { 'X-aws-ec2-metadata-token': token.body.trim() },
      timeoutMs,
    });
    if (idRes.status !== 200) return { reason: `IMDS instance-id answered HTTP ${idRes.status}` };
    const id = idRes.body.trim();
    if (!/^i-[0-9a-f]{8,17}$/.test(id))
      return { reason: `IMDS returned an unexpected instance id '${id.slice(0, 40)}'` };
    return { id };
  } catch (err) {
    return { reason: `IMDS not reachable: ${(err as Error).message}` };
  }
}

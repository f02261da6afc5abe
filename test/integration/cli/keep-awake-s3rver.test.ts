import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectReader } from '../../../cli/aws/snapshots.ts';
import { buildLease, clearLease, writeLease } from '../../../cli/keep-awake.ts';
import { judgeKeepAwake } from '../../../shared/idle/keep-awake.ts';
import { runDalstonAws, standInEnv } from '../../helpers/cli-process.ts';
import { type LocalS3, startS3rver } from '../../helpers/s3rver.ts';
import { type FakeEc2, startFakeEc2 } from './fake-ec2-server.ts';

// The keep-awake lease, the record of a `down` and the running-hours read through the
// real SDK against s3rver (the S3-compatible server the CLI tests use), and the real
// `dalston-aws` process end to end with a local EC2 Query API stand-in.

const BUCKET = `dalston-idle-${process.pid}`;
const INSTANCE = 'i-0e2e0000000000002';
const LEASE = `status/${INSTANCE}/keep-awake.json`;

let dir: string;
let local: LocalS3 | null = null;
let endpoint: string;
let s3: S3Client;
let ec2: FakeEc2 | null = null;

const read = async (key: string): Promise<string | null> => {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return (await out.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return null;
    throw err;
  }
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dalston-idle-s3-'));
  local = await startS3rver(BUCKET);
  ({ endpoint, client: s3 } = local);
  ec2 = await startFakeEc2({
    id: INSTANCE,
    type: 't3.xlarge',
    state: 'stopped',
    launchTime: new Date(Date.now() - 86_400_000).toISOString(),
    volumes: [{ id: 'vol-0e2e000000000000c', sizeGiB: 30, type: 'gp3' }],
  });
});

afterAll(async () => {
  await ec2?.close();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], extraEnv: Record<string, string> = {}) =>
  runDalstonAws(args, {
    ...standInEnv({
      home: path.join(dir, 'home'),
      s3Endpoint: endpoint,
      ec2Url: ec2!.url,
      instance: INSTANCE,
      bucket: BUCKET,
    }),
    USER: 'carol',
    ...extraEnv,
  });

describe('the lease through the SDK against s3rver', () => {
  it('written, read back and judged by the shared contract; cleared', async () => {
    const objects = new S3ObjectReader(s3, { timeoutMs: 10_000 });
    const target = { bucket: BUCKET, statusPrefix: 'status/', instanceId: INSTANCE };
    const now = Date.now();
    await writeLease(objects, target, buildLease(now, 2 * 3_600_000, 'test'));
    const body = await read(LEASE);
    expect(judgeKeepAwake(body, now + 3_600_000)).toMatchObject({ kind: 'active', lease: { by: 'test' } });
    await clearLease(objects, target);
    expect(await read(LEASE)).toBeNull();
    // Clearing an absent lease is not an error.
    await clearLease(objects, target);
  });

  it('a bucket that does not exist → exit-78 error naming s3:PutObject', async () => {
    const objects = new S3ObjectReader(s3, { timeoutMs: 10_000 });
    await expect(
      writeLease(
        objects,
        { bucket: 'no-such-bucket-dalston', statusPrefix: 'status/', instanceId: INSTANCE },
        buildLease(Date.now(), 60_000, 't'),
      ),
    ).rejects.toMatchObject({ exitCode: 78 });
  });
});

describe('bin/dalston-aws.mjs end to end', () => {
  it('up --for 1h: the lease is in the bucket, then StartInstances; keep-awake on the running host; --clear', async () => {
    ec2!.calls.length = 0;
    ec2!.instance.state = 'stopped';
    const up = await run(['up', '--for', '1h', '--no-wait']);
    expect(up.stderr).toMatch(
      new RegExp(`waking ${INSTANCE} \\(dalston-e2e\\), t3\\.xlarge, kept awake until .* UTC`),
    );
    expect(up.code).toBe(0);
    expect(ec2!.calls.map((c) => c.action)).toEqual(['DescribeInstances', 'StartInstances']);
    const lease = JSON.parse((await read(LEASE))!);
    expect(Date.parse(lease.until) - Date.parse(lease.createdAt)).toBe(3_600_000);
    expect(lease.by).toMatch(/^dalston-aws up --for 1h \(carol@/);

    ec2!.instance.state = 'running';
    const ka = await run(['keep-awake', '1h30m']);
    expect(ka.code).toBe(0);
    const l2 = JSON.parse((await read(LEASE))!);
    expect(Date.parse(l2.until) - Date.parse(l2.createdAt)).toBe(90 * 60_000);

    const status = await run(['status', '--json']);
    expect(JSON.parse(status.stdout).lease).toMatchObject({ kind: 'active', until: l2.until });

    const clear = await run(['keep-awake', '--clear']);
    expect(clear.code).toBe(0);
    expect(await read(LEASE)).toBeNull();

    const bad = await run(['keep-awake', '90']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^dalston-aws: duration "90" is not a duration/);
  });

  it('down leaves its record; status of the stopped instance names `down`', async () => {
    ec2!.instance.state = 'running';
    ec2!.instance.launchTime = new Date(Date.now() - 3_600_000).toISOString();
    const down = await run(['down', '--no-wait']);
    expect(down.code).toBe(0);
    const rec = JSON.parse((await read(`status/${INSTANCE}/last-stop.json`))!);
    expect(rec).toMatchObject({ by: 'dalston-aws down', operator: expect.stringMatching(/^carol@/) });

    ec2!.instance.state = 'stopped';
    ec2!.instance.reason = `User initiated (${new Date().toISOString().slice(0, 19).replace('T', ' ')} GMT)`;
    const status = await run(['status']);
    expect(status.stdout).toMatch(/stopped {4}stopped by `dalston-aws down` \(carol@/);
  });

  it('cost --json reads the running-hours object the agent writes', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const from = `${month}-01T00:00:00.000Z`;
    const to = `${month}-01T05:00:00.000Z`;
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `status/${INSTANCE}/running/${month}.json`,
        Body: JSON.stringify({ month, intervals: [{ from, to }] }),
      }),
    );
    ec2!.instance.state = 'stopped';
    const r = await run(['cost', '--json']);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    expect(j.soFar.runningHours).toBe(5);
    expect(j.soFar.computeUsd).toBe(0.83); // 5 h × $0.1664
    expect(j.storageMonthlyUsd).toBe(2.4);
  });
});

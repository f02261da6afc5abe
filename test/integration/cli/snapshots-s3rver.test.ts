import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Step, StepName } from '../../../bootstrap/steps/step.ts';
import { readBootstrapReport } from '../../../cli/aws/bootstrap-reports.ts';
import { readSnapshot, S3ObjectReader } from '../../../cli/aws/snapshots.ts';
import { nextSteps } from '../../../cli/bootstrap-view.ts';
import { HostError } from '../../../shared/errors.ts';
import { snapshotFreshness } from '../../../shared/status/heartbeat.ts';
import { requireCommand } from '../../harness/require.ts';
import { bootstrapAgainstS3rver } from '../../helpers/bootstrap-s3rver.ts';
import { runDalstonAws, standInEnv } from '../../helpers/cli-process.ts';
import { type LocalS3, startS3rver } from '../../helpers/s3rver.ts';
import { type FakeEc2, startFakeEc2 } from './fake-ec2-server.ts';

const FIXTURE = JSON.parse(
  readFileSync(new URL('../../fixtures/cli/snapshot-healthy.json', import.meta.url), 'utf8'),
);
const BUCKET = `dalston-cli-${process.pid}`;
const INSTANCE = 'i-0e2e0000000000001';
const KEY = `status/${INSTANCE}/latest.json`;

let dir: string;
let local: LocalS3 | null = null;
let endpoint: string;
let s3: S3Client;
let ec2: FakeEc2 | null = null;

const put = (key: string, body: string) =>
  s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const snapshotAgo = (seconds: number) =>
  JSON.stringify({
    ...FIXTURE,
    instance: INSTANCE,
    generatedAt: new Date(Date.now() - seconds * 1000).toISOString(),
  });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dalston-cli-s3-'));
  local = await startS3rver(BUCKET);
  ({ endpoint, client: s3 } = local);
  ec2 = await startFakeEc2({
    id: INSTANCE,
    type: 't3.xlarge',
    state: 'running',
    launchTime: new Date(Date.now() - 3_600_000).toISOString(),
    volumes: [
      { id: 'vol-0e2e000000000000a', sizeGiB: 30, type: 'gp3' },
      { id: 'vol-0e2e000000000000b', sizeGiB: 100, type: 'gp3' },
    ],
  });
});

afterAll(async () => {
  await ec2?.close();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('snapshot reading through @aws-sdk/client-s3 against s3rver', () => {
  const reader = () => new S3ObjectReader(s3, { timeoutMs: 10_000 });

  it('fresh snapshot: parsed and current', async () => {
    await put(KEY, snapshotAgo(30));
    const r = await readSnapshot(reader(), BUCKET, 'status/', INSTANCE);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.snapshot.services.map((s) => s.name)).toEqual([
      'gateway',
      'orchestrator',
      'redis',
      'stt-batch-transcribe-whisper',
    ]);
    expect(snapshotFreshness(r.snapshot, Date.now())).toMatchObject({ stale: false, staleAfterSeconds: 600 });
  });

  it('stale snapshot: older than two heartbeat intervals', async () => {
    await put(KEY, snapshotAgo(11 * 60));
    const r = await readSnapshot(reader(), BUCKET, 'status/', INSTANCE);
    if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind}`);
    const f = snapshotFreshness(r.snapshot, Date.now());
    expect(f.stale).toBe(true);
    expect(f.ageSeconds).toBeGreaterThanOrEqual(660);
  });

  it('missing snapshot: "no heartbeat yet", not an error', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY }));
    expect(await readSnapshot(reader(), BUCKET, 'status/', INSTANCE)).toEqual({ kind: 'missing', key: KEY });
  });

  it('malformed snapshot: JSON syntax and wrong shape give a reason, no throw', async () => {
    await put(KEY, '{"state": "healthy"');
    const a = await readSnapshot(reader(), BUCKET, 'status/', INSTANCE);
    expect(a).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/^not JSON/) });
    await put(KEY, JSON.stringify({ ...FIXTURE, heartbeatSeconds: 'five minutes' }));
    const b = await readSnapshot(reader(), BUCKET, 'status/', INSTANCE);
    expect(b).toMatchObject({
      kind: 'malformed',
      reason: expect.stringMatching(/^wrong shape at heartbeatSeconds: /),
    });
  });

  it('a bucket that does not exist → "bucket missing", exit 78', async () => {
    await expect(readSnapshot(reader(), 'no-such-bucket-dalston', 'status/', INSTANCE)).rejects.toMatchObject(
      {
        exitCode: 78,
        message: 'bucket missing: no-such-bucket-dalston does not exist (check --bucket / DALSTON_BUCKET)',
      },
    );
  });
});

describe('bin/dalston-aws.mjs end to end (real SDK → s3rver and a local EC2 Query API stand-in)', () => {
  const home = () => path.join(dir, 'home');
  const run = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
    runDalstonAws(args, {
      ...standInEnv({
        home: home(),
        s3Endpoint: endpoint,
        ec2Url: ec2!.url,
        instance: INSTANCE,
        bucket: BUCKET,
      }),
      ...extraEnv,
    });

  it('status --json: instance from EC2, cost from its volumes, a fresh heartbeat from S3', async () => {
    ec2!.calls.length = 0;
    await put(KEY, snapshotAgo(20));
    const r = await run(['status', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.instance).toMatchObject({
      id: INSTANCE,
      state: 'running',
      type: 't3.xlarge',
      name: 'dalston-e2e',
    });
    expect(j.instance.uptimeSeconds).toBeGreaterThanOrEqual(3600);
    expect(j.cost).toMatchObject({ estimate: true, monthlyStoppedUsd: 10.4, monthlyRunningUsd: 131.87 });
    expect(j.heartbeat).toMatchObject({ status: 'fresh', location: `s3://${BUCKET}/${KEY}` });
    expect(j.stack).toMatchObject({ current: true, state: 'healthy', servicesUp: 4, servicesTotal: 4 });
    expect(ec2!.calls.map((c) => c.action)).toEqual(['DescribeInstances', 'DescribeVolumes']);
    // Signed with the credentials from the standard chain (here: the environment).
    expect(ec2!.calls[0]!.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=S3RVER\/\d{8}\/us-east-1\/ec2\//,
    );
  });

  it('status (text) on a stale snapshot says STALE and not current', async () => {
    await put(KEY, snapshotAgo(15 * 60));
    const r = await run(['status']);
    // A silent agent: not known healthy, exit 1 (docs: cli/README.md "Errors and exit codes").
    expect(r.code).toBe(1);
    // 15 min plus however long the CLI took to start and ask (seconds on a busy machine).
    expect(r.stdout).toMatch(/heartbeat +STALE {2}last seen 15m [0-5]\ds ago/);
    expect(r.stdout).toMatch(/stack +unknown \(last known: healthy, 4\/4 services up\)/);
  });

  it('status with a malformed snapshot: one-line error, exit 1, no stack trace', async () => {
    await put(KEY, 'not json at all');
    const r = await run(['status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dalston-aws: snapshot at s3:\/\/.* is malformed: not JSON \(.*\)\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('no heartbeat yet: shown, exit 0', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY }));
    const r = await run(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/heartbeat +none yet/);
  });

  it('unknown instance id → exit 78, one line', async () => {
    const r = await run(['status'], { DALSTON_INSTANCE_ID: 'i-0e2e00000000000ff' });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      'dalston-aws: unknown instance id i-0e2e00000000000ff: no such instance in this region/account (check --instance-id and --region)\n',
    );
  });

  it('no AWS credentials anywhere → says how to provide them, exit 78', async () => {
    const r = await run(['status'], { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    expect(r.stderr).toBe(
      'dalston-aws: no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws configure` / `aws sso login`\n',
    );
    expect(r.code).toBe(78);
  });

  it('--profile picks credentials from the shared credentials file', async () => {
    const creds = path.join(dir, 'credentials');
    writeFileSync(creds, '[ops]\naws_access_key_id = OPSKEY\naws_secret_access_key = opssecret\n');
    ec2!.calls.length = 0;
    await put(KEY, snapshotAgo(20));
    const r = await run(['status', '--json', '--profile', 'ops'], {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SHARED_CREDENTIALS_FILE: creds,
      AWS_CONFIG_FILE: path.join(dir, 'no-config'),
    });
    // s3rver checks signatures against its own keys, so the S3 read fails; the EC2 call shows the profile was used.
    expect(ec2!.calls[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=OPSKEY\//);
    expect(r.stdout).toMatch(/"id": "i-0e2e0000000000001"/);
    expect(r.stderr).toBe(
      'dalston-aws: AWS rejected the credentials of profile "ops" (InvalidAccessKeyId): check the profile\n',
    );
    expect(r.code).toBe(78);
  });

  it('finds the deployment through real `terraform output -json` of --tf-dir', async () => {
    requireCommand('terraform', 'the harness checks for it; see test/harness/global-setup.ts');
    const tf = path.join(dir, 'tf-env');
    mkdirSync(tf);
    // Provider-less configuration: outputs only, so init and apply work offline.
    writeFileSync(
      path.join(tf, 'outputs.tf'),
      [
        `output "instance_id" { value = "${INSTANCE}" }`,
        'output "availability_zone" { value = "us-east-1a" }',
        `output "bucket_name" { value = "${BUCKET}" }`,
        'output "tailscale_hostname" { value = "dalston" }',
        '',
      ].join('\n'),
    );
    const tfEnv = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
    for (const args of [
      ['init', '-input=false', '-no-color'],
      ['apply', '-auto-approve', '-input=false', '-no-color'],
    ]) {
      await new Promise<void>((resolve, reject) =>
        execFile('terraform', [`-chdir=${tf}`, ...args], { env: tfEnv }, (err, _o, e) =>
          err ? reject(new Error(e)) : resolve(),
        ),
      );
    }
    await put(KEY, snapshotAgo(20));
    const r = await run(['status', '--json', '--tf-dir', tf], {
      DALSTON_INSTANCE_ID: undefined,
      DALSTON_BUCKET: undefined,
      AWS_REGION: undefined,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.instance).toMatchObject({ id: INSTANCE, region: 'us-east-1' });
    expect(j.heartbeat).toMatchObject({ status: 'fresh', location: `s3://${BUCKET}/${KEY}` });
  });

  it('bucket missing → exit 78 after the instance part', async () => {
    const r = await run(['status', '--bucket', 'no-such-bucket-dalston']);
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/instance +running/);
    expect(r.stderr).toBe(
      'dalston-aws: bucket missing: no-such-bucket-dalston does not exist (check --bucket / DALSTON_BUCKET)\n',
    );
  });

  it('wait: running instance and a healthy heartbeat since its start → exit 0, plain progress lines', async () => {
    await put(KEY, snapshotAgo(5));
    const r = await run(['wait', '--timeout', '30s']);
    expect(r.code).toBe(0);
    // Each line is stamped with the time since the start ([m:ss]); how many seconds pass between
    // the lines depends on the machine, the lines themselves do not.
    const lines = r.stderr.split('\n');
    for (const l of lines.slice(0, -1)) expect(l).toMatch(/^\[0:[0-5]\d\] /);
    expect(lines.map((l) => l.replace(/^\[0:[0-5]\d\] /, ''))).toEqual([
      '✔ instance running (t3.xlarge)',
      'heartbeat: waiting for the agent’s first snapshot since the start',
      '✔ agent heartbeat (agent 0.1.0)',
      '✔ stack healthy: 4/4 services up',
      '',
    ]);
    expect(r.stdout).toBe(`dalston is healthy on ${INSTANCE}\n`);
  });

  it('a failed bootstrap, uploaded by the host, is shown by status and by wait with what to do next', async () => {
    // The real bootstrap command and uploader (S3 adapter → s3rver); only the steps that need a
    // real disk, network or package manager are stand-ins, and Tailscale fails as with an expired key.
    const root = path.join(dir, 'host-root');
    mkdirSync(path.join(root, 'etc/dalston'), { recursive: true });
    writeFileSync(
      path.join(root, 'etc/dalston/host.json'),
      JSON.stringify({
        dalston: { ref: 'v1' },
        tailscale: { authKeyParameter: '/dalston/ts' },
        s3: { bucket: BUCKET, endpoint, region: 'us-east-1' },
      }),
    );
    const fine = (name: StepName): Step => ({
      name,
      run: async () => ({ result: 'done', detail: `${name} (stand-in)` }),
    });
    const steps: Partial<Record<StepName, Step>> = {};
    for (const n of [
      'os',
      'disk',
      'mount',
      'fstab',
      'dirs',
      'packages',
      'dalston',
      'secrets',
      'images',
      'stack',
    ] as const)
      steps[n] = fine(n);
    steps.tailscale = {
      name: 'tailscale',
      run: async () => {
        throw new HostError(
          'failure',
          'tailscale up failed (exit 1): backend error: invalid key: API key not valid',
        );
      },
    };
    const code = await bootstrapAgainstS3rver(root, steps, INSTANCE);
    expect(code).toBe(1);
    const read = await readBootstrapReport(new S3ObjectReader(s3), BUCKET, 'status/', INSTANCE);
    expect(read).toMatchObject({ kind: 'ok', report: { ok: false, instance: INSTANCE, path: 'full' } });

    const st = await run(['status']);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/\n {2}bootstrap {2}FAILED {2}at step tailscale, \S+ \S+ UTC \(full run\)\n/);
    expect(st.stdout).toContain(
      '             tailscale up failed (exit 1): backend error: invalid key: API key not valid\n',
    );
    expect(st.stdout).toContain(`  next       ${nextSteps('tailscale')[0]}\n`);

    await put(KEY, snapshotAgo(5));
    const w = await run(['wait', '--timeout', '30s']);
    expect(w.code).toBe(0);
    expect(w.stderr).toContain(
      '✘ bootstrap failed at step tailscale: tailscale up failed (exit 1): backend error: invalid key: API key not valid',
    );
    expect(w.stderr.trim().split('\n').at(-1)).toMatch(
      /^dalston-aws: warning: the stack is healthy, but this start's bootstrap failed at step tailscale/,
    );
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `status/${INSTANCE}/bootstrap.json` }));
  });

  it('up --no-wait sends StartInstances for the instance', async () => {
    ec2!.instance.state = 'stopped';
    ec2!.calls.length = 0;
    const r = await run(['up', '--no-wait']);
    expect(r.stderr).toMatch(/waking i-0e2e0000000000001 \(dalston-e2e\), t3\.xlarge: pending/);
    expect(r.code).toBe(0);
    expect(ec2!.calls.map((c) => [c.action, c.params['InstanceId.1']])).toEqual([
      ['DescribeInstances', INSTANCE],
      ['StartInstances', INSTANCE],
    ]);
    ec2!.instance.state = 'running';
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3ObjectReader } from '../../../cli/aws/snapshots.ts';
import { publishDesiredState, readDesiredState } from '../../../cli/desired-object.ts';
import type { ConvergenceStatus } from '../../../shared/desired/convergence-status.ts';
import { DESIRED_STATE_KEY, parseDesiredState } from '../../../shared/desired/desired-state.ts';
import { runDalstonAws, standInEnv } from '../../helpers/cli-process.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';
import { type FakeEc2, startFakeEc2 } from './fake-ec2-server.ts';

// `dalston-aws deploy` end to end: the real CLI process and the real SDK against s3rver
// (the S3-compatible server the CLI tests use) and a local EC2 Query API stand-in. The
// host's side is played by the test: it writes the heartbeat the agent would.

const FIXTURE = JSON.parse(
  readFileSync(new URL('../../fixtures/cli/snapshot-healthy.json', import.meta.url), 'utf8'),
);
const BUCKET = `dalston-deploy-${process.pid}`;
const INSTANCE = 'i-0e2e0000000000003';
const HEARTBEAT = `status/${INSTANCE}/latest.json`;

const DOC = {
  schemaVersion: 1,
  release: { version: '0.2.0', key: 'releases/dalston-host-0.2.0.tgz', sha256: 'b'.repeat(64) },
  host: {
    dataDir: '/data',
    volume: { id: 'vol-0e2e000000000000d' },
    dalston: { ref: 'v1.2.3', imageTag: '1.2.3' },
    compose: { services: ['gateway', 'orchestrator', 'redis'] },
  },
};
const RUNNING = {
  release: '0.2.0',
  dalstonRef: 'v1.2.3',
  imageTag: '1.2.3',
  services: ['gateway', 'orchestrator', 'redis'],
};

let dir: string;
let local: LocalS3 | null = null;
let endpoint: string;
let s3: S3Client;
let ec2: FakeEc2 | null = null;

const put = (key: string, body: string) =>
  s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
const read = async (key: string) => {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
};
const etagNow = async () =>
  (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: DESIRED_STATE_KEY }))).ETag!;

/** The heartbeat the agent uploads, with its convergence record. */
const heartbeat = (c: Partial<ConvergenceStatus>) =>
  put(
    HEARTBEAT,
    JSON.stringify({
      ...FIXTURE,
      instance: INSTANCE,
      generatedAt: new Date().toISOString(),
      convergence: {
        state: 'converged',
        running: RUNNING,
        desired: RUNNING,
        desiredVersion: null,
        checkedAt: new Date().toISOString(),
        step: null,
        summary: 'converged',
        lastResult: null,
        problem: null,
        ...c,
      },
    }),
  );

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dalston-deploy-s3-'));
  local = await startS3rver(BUCKET);
  ({ endpoint, client: s3 } = local);
  ec2 = await startFakeEc2({
    id: INSTANCE,
    type: 't3.xlarge',
    state: 'running',
    launchTime: new Date(Date.now() - 3_600_000).toISOString(),
    volumes: [{ id: 'vol-0e2e000000000000d', sizeGiB: 30, type: 'gp3' }],
  });
});

afterAll(async () => {
  await ec2?.close();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  ec2!.instance.state = 'running';
  await put(DESIRED_STATE_KEY, JSON.stringify(DOC));
  await heartbeat({ desiredVersion: await etagNow() });
});

const run = (args: string[]) =>
  runDalstonAws(
    ['deploy', '--poll', '1s', ...args],
    standInEnv({
      home: path.join(dir, 'home'),
      s3Endpoint: endpoint,
      ec2Url: ec2!.url,
      instance: INSTANCE,
      bucket: BUCKET,
    }),
    90_000,
  );

/** Waits until the desired-state object is no longer `etag` (the CLI published), then returns the new ETag. */
async function publishedAfter(etag: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const now = await etagNow();
    if (now !== etag) return now;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the CLI never published');
}

describe('dalston-aws deploy against s3rver', () => {
  it('--ref/--image-tag publishes a valid object, then waits until the heartbeat reports it converged', async () => {
    const before = await etagNow();
    const cli = run(['--ref', 'v1.3.0', '--image-tag', '1.3.0', '--timeout', '1m']);
    // Play the host: read the new object's version, report converging, then converged.
    const etag = await publishedAfter(before);
    const next = { ...RUNNING, dalstonRef: 'v1.3.0', imageTag: '1.3.0' };
    await heartbeat({
      desiredVersion: etag,
      state: 'converging',
      step: 'dalston',
      desired: next,
      summary: 'pulling 1.3.0',
    });
    await new Promise((r) => setTimeout(r, 1500));
    await heartbeat({
      desiredVersion: etag,
      running: next,
      desired: next,
      lastResult: {
        kind: 'dalston',
        outcome: 'applied',
        message: 'dalston v1.2.3 → v1.3.0 (image 1.3.0): healthy in 41 s',
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
      },
    });
    const r = await cli;
    expect(r.stderr).toMatch(/warning: this edits config\/host.json outside Terraform/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /runs release 0.2.0, dalston v1.3.0 \(image 1.3.0\) — last change: .*healthy in 41 s\n$/,
    );

    const parsed = parseDesiredState(await read(DESIRED_STATE_KEY));
    expect(parsed.kind).toBe('ok');
    if (parsed.kind !== 'ok') return;
    expect(parsed.state.host.dalston).toMatchObject({ ref: 'v1.3.0', imageTag: '1.3.0' });
    expect(parsed.state.document.host).toMatchObject({ volume: DOC.host.volume, dataDir: '/data' });
    expect(parsed.state.document.publishedBy).toBe('dalston-aws deploy');
    expect(Date.parse(parsed.state.document.publishedAt ?? '')).toBeGreaterThan(Date.now() - 120_000);
  }, 120_000);

  it('the host rolled back → exit 1 with its message and the restore command', async () => {
    await heartbeat({
      desiredVersion: await etagNow(),
      state: 'failed',
      desired: { ...RUNNING, imageTag: '9.9.9' },
      lastResult: {
        kind: 'dalston',
        outcome: 'failed',
        message: 'dalston 9.9.9 migrated the database, then failed health',
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        migrated: true,
        restoreCommand: 'sudo dalston-host restore backups/2026-12-02.dump',
      },
    });
    const r = await run(['--timeout', '30s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /dalston-aws: the host failed to converge: dalston 9.9.9 migrated the database, then failed health; .*restore the pre-upgrade backup: sudo dalston-host restore backups\/2026-12-02.dump\n$/,
    );
  }, 60_000);

  it('a stopped instance: published, said, exit 1, not started', async () => {
    ec2!.instance.state = 'stopped';
    ec2!.calls.length = 0;
    const r = await run(['--image-tag', '1.2.4']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /is stopped: it applies the desired state at its next boot\. Start it with `dalston-aws up`/,
    );
    expect(ec2!.calls.map((c) => c.action)).toEqual(['DescribeInstances']);
    expect(JSON.parse(await read(DESIRED_STATE_KEY)).host.dalston.imageTag).toBe('1.2.4');
  }, 60_000);

  it('a change of the object between the read and the write is detected: nothing overwritten (exit 75)', async () => {
    const objects = new S3ObjectReader(s3, { timeoutMs: 10_000 });
    const mine = await readDesiredState(objects, BUCKET);
    // A concurrent `terraform apply` publishes in between.
    const theirs = JSON.stringify({
      ...DOC,
      host: { ...DOC.host, dalston: { ref: 'v1.4.0', imageTag: '1.4.0' } },
    });
    await put(DESIRED_STATE_KEY, theirs);
    await expect(
      publishDesiredState(objects, BUCKET, JSON.stringify(DOC), mine.version),
    ).rejects.toMatchObject({
      exitCode: 75,
      message: expect.stringMatching(/config\/host.json changed since it was read/),
    });
    expect(await read(DESIRED_STATE_KEY)).toBe(theirs);
    // Over the version just read, the write goes through and names the new version.
    const now = await readDesiredState(objects, BUCKET);
    const v = await publishDesiredState(objects, BUCKET, JSON.stringify(DOC), now.version);
    expect(v.etag).toBe(await etagNow());
  }, 60_000);

  it('S3 refusing the conditional PUT (412 PreconditionFailed) is exit 75; If-Match carries the ETag read', async () => {
    // s3rver ignores If-Match; this stand-in answers as S3 does when the object changed.
    const seen: Array<string | undefined> = [];
    const srv = http.createServer((req, res) => {
      seen.push(req.headers['if-match'] as string | undefined);
      req.resume();
      req.on('end', () => {
        res.writeHead(412, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
            '<Message>At least one of the pre-conditions you specified did not hold</Message>' +
            '<Condition>If-Match</Condition></Error>',
        );
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: S3RVER_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const objects = new S3ObjectReader(client, { timeoutMs: 10_000 });
      await expect(
        objects.putTextIfMatch(BUCKET, DESIRED_STATE_KEY, '{}', { etag: '"abc"', versionId: null }),
      ).rejects.toMatchObject({ exitCode: 75, message: expect.stringMatching(/changed since it was read/) });
      expect(seen).toEqual(['"abc"']);
    } finally {
      client.destroy();
      await new Promise((r) => srv.close(r));
    }
  });
});

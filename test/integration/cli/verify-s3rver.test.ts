import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toneWav } from '../../../cli/verify-audio.ts';
import { type SsmStandIn, startSsmStandIn } from '../../../rehearsal/world/ssm.ts';
import { DEFAULT_STATUS_PREFIX, statusKey } from '../../../shared/status/s3-key.ts';
import { runDalstonAws, standInEnv } from '../../helpers/cli-process.ts';
import { type LocalS3, startS3rver } from '../../helpers/s3rver.ts';
import { type FakeEc2, startFakeEc2 } from './fake-ec2-server.ts';
import { type StandinGateway, startStandinGateway } from './standin-gateway.ts';

// `dalston-aws verify` and `dalston-aws api-key` end to end: the real CLI process, the
// real SDK against s3rver (heartbeat, artifacts), the local EC2 stand-in, the rehearsal's
// stand-in SSM (the key), and a stand-in gateway speaking Dalston's job API.

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const INSTANCE = 'i-0e2e0000000000015';
const KEY = `dk_${'5a'.repeat(32)}`;
const PARAM = '/dalston/e2e/api-key';

let dir: string;
let s3: LocalS3;
let ec2: FakeEc2;
let ssm: SsmStandIn;
let gw: StandinGateway;

const fixture = JSON.parse(
  await readFile(new URL('../../fixtures/cli/snapshot-healthy.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

async function heartbeat(ageSeconds: number) {
  const body = {
    ...fixture,
    instance: INSTANCE,
    generatedAt: new Date(Date.now() - ageSeconds * 1000).toISOString(),
  };
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: statusKey(DEFAULT_STATUS_PREFIX, INSTANCE),
      Body: JSON.stringify(body),
    }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(process.env.DALSTON_TEST_TMP ?? os.tmpdir(), 'dalston-verify-'));
  s3 = await startS3rver(`dalston-verify-${process.pid}`);
  ec2 = await startFakeEc2({
    id: INSTANCE,
    type: 't3.xlarge',
    state: 'running',
    launchTime: new Date(Date.now() - 3_600_000).toISOString(),
    volumes: [{ id: 'vol-0e2e000000000000f', sizeGiB: 30, type: 'gp3' }],
  });
  ssm = await startSsmStandIn({
    port: 0,
    name: PARAM,
    valueFile: path.join(dir, 'api-key'),
    value: KEY,
  });
  gw = await startStandinGateway({ apiKey: KEY, s3 });
});

afterAll(async () => {
  await gw?.close();
  await ssm?.stop();
  await ec2?.close();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[], extraEnv: Record<string, string> = {}) =>
  runDalstonAws(
    args,
    {
      ...standInEnv({
        home: path.join(dir, 'home'),
        s3Endpoint: s3.endpoint,
        ec2Url: ec2.url,
        instance: INSTANCE,
        bucket: s3.bucket,
      }),
      AWS_ENDPOINT_URL_SSM: ssm.endpoint,
      DALSTON_API_KEY_PARAMETER: PARAM,
      ...extraEnv,
    },
    120_000,
  );

const verify = (extra: string[] = [], env: Record<string, string> = {}) =>
  run(['verify', '--gateway-url', gw.url, '--poll', '1s', ...extra], env);

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('dalston-aws api-key', () => {
  it('prints only the key from the SSM SecureString', async () => {
    const r = await run(['api-key']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${KEY}\n`);
  });

  it('a parameter that does not exist yet: exit 1, naming it and how the host stores it', async () => {
    const r = await run(['api-key', '--parameter', '/dalston/e2e/nothing-here']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no API key in SSM parameter /dalston/e2e/nothing-here yet');
    expect(r.stderr).toContain('dalston-host bootstrap --steps secrets,api-key');
  });
});

describe('dalston-aws verify against a stand-in gateway and s3rver', () => {
  it('passes every check: a 201 pending job polled to completed, its artifacts in S3, one screen with timings', async () => {
    gw.mode = 'ok';
    await heartbeat(30);
    const before = gw.requests.length;
    // No DALSTON_API_KEY: the key comes from SSM, as `dalston-aws api-key` reads it.
    const r = await verify();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const check of ['instance', 'heartbeat', 'gateway', 'api key', 'transcription', 'artifacts'])
      expect(r.stdout).toMatch(new RegExp(`✓ ${check} +\\d+\\.\\d s `));
    expect(r.stdout).toMatch(/verify: 6 checks passed in \d+\.\d s\n$/);
    // Progress while it ran: pending, running 50 %.
    expect(r.stderr).toMatch(/transcription: job [0-9a-f-]{36} pending/);
    expect(r.stderr).toMatch(/transcription: job [0-9a-f-]{36} running 50%/);
    const submit = gw.requests.slice(before).find((q) => q.method === 'POST')!;
    expect(submit).toMatchObject({ authorized: true, model: 'faster-whisper', bytes: toneWav().length });
    // The audio the stand-in stored is exactly the repo's test recording.
    const id = /job ([0-9a-f-]{36}) completed/.exec(r.stdout)![1]!;
    const stored = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: `jobs/${id}/audio/original.wav` }),
    );
    expect(Buffer.from(await stored.Body!.transformToByteArray())).toEqual(
      await readFile(path.join(REPO, 'cli/assets/verify-tone.wav')),
    );
  }, 180_000);

  it('a wrong API key: fails at "api key" (401), names what to do, runs nothing after', async () => {
    gw.mode = 'ok';
    await heartbeat(30);
    const r = await verify([], { DALSTON_API_KEY: `dk_${'00'.repeat(32)}` });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ api key .*the gateway refused the API key \(HTTP 401\)/);
    expect(r.stdout).toMatch(/– transcription +not run/);
    expect(r.stdout).toContain('verify: failed at api key');
    expect(r.stdout).toContain(
      'next: use the key the host generated: `export DALSTON_API_KEY=$(dalston-aws api-key)`',
    );
  }, 180_000);

  it('a job that fails: fails at "transcription" with the job\'s error', async () => {
    gw.mode = 'job-fails';
    await heartbeat(30);
    const r = await verify([], { DALSTON_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /✗ transcription .*job [0-9a-f-]{36} failed: engine stt-transcribe-faster-whisper: model load failed/,
    );
    expect(r.stdout).toContain('verify: failed at transcription');
    expect(r.stdout).toMatch(/– artifacts +not run/);
  }, 180_000);

  it('a completed job without its transcript in S3: fails at "artifacts", naming what is missing', async () => {
    gw.mode = 'no-transcript';
    await heartbeat(30);
    const r = await verify([], { DALSTON_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /✗ artifacts .*s3:\/\/dalston-verify-\d+\/jobs\/[0-9a-f-]{36}\/ lacks transcript\.json \(found: audio\/original\.wav, tasks\/transcribe\/output\.json\)/,
    );
    expect(r.stdout).toContain('verify: failed at artifacts');
  }, 180_000);

  it('a gateway nobody answers on: fails at "gateway", pointing at the tailnet', async () => {
    gw.mode = 'ok';
    await heartbeat(30);
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await run(['verify', '--gateway-url', url], { DALSTON_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(`✗ gateway .*cannot reach the gateway: no answer from ${url}/health: ECONNREFUSED`),
    );
    expect(r.stdout).toContain('next: is this machine on the tailnet (`tailscale status`)');
    expect(r.stdout).toMatch(/– api key +not run/);
  }, 180_000);

  it('an unhealthy gateway: fails at "gateway" with its answer', async () => {
    gw.mode = 'unhealthy';
    await heartbeat(30);
    const r = await verify([], { DALSTON_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ gateway .*GET \/health answered HTTP 503/);
  }, 180_000);

  it('a stale heartbeat: fails at "heartbeat" before touching the gateway', async () => {
    gw.mode = 'ok';
    await heartbeat(3600);
    const before = gw.requests.length;
    const r = await verify([], { DALSTON_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ heartbeat .*the last heartbeat is \d+ s old \(stale after 600 s\)/);
    expect(r.stdout).toContain('verify: failed at heartbeat');
    expect(gw.requests.length).toBe(before);
  }, 180_000);

  it('a stopped instance: fails at "instance" and says to start it', async () => {
    ec2.instance.state = 'stopped';
    try {
      const r = await verify([], { DALSTON_API_KEY: KEY });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/✗ instance .*the instance is stopped/);
      expect(r.stdout).toContain('next: start it: `dalston-aws up`');
    } finally {
      ec2.instance.state = 'running';
    }
  }, 180_000);
});

describe('README "Your first transcription": the curl commands, against the stand-in gateway', () => {
  /** The walkthrough's shell lines that call the gateway (continuations joined). */
  async function readmeCurls(): Promise<string[]> {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Your first transcription'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    return block
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .filter((l) => l.startsWith('curl '))
      .map((l) => l.replace(/\s+#.*$/, ''));
  }

  const sh = (line: string) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        'sh',
        ['-c', line],
        {
          cwd: REPO,
          env: { PATH: process.env.PATH, DALSTON_URL: gw.url, DALSTON_API_KEY: KEY },
          timeout: 30_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`${line}: ${stderr}`)) : resolve(stdout)),
      );
    });

  it('submits the test recording (201 pending) and polls the job to completed', async () => {
    gw.mode = 'ok';
    const [submit, poll] = await readmeCurls();
    expect(submit).toContain('-F file=@cli/assets/verify-tone.wav -F model=faster-whisper');
    const created = JSON.parse(await sh(submit!)) as { id: string; status: string };
    expect(created.status).toBe('pending');
    const seen: string[] = [];
    for (let i = 0; i < 10 && seen.at(-1) !== 'completed'; i++)
      seen.push((JSON.parse(await sh(poll!.replace('<id>', created.id))) as { status: string }).status);
    expect(seen).toEqual(['pending', 'running', 'completed']);
    await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: `jobs/${created.id}/transcript.json` }),
    );
  }, 60_000);
});

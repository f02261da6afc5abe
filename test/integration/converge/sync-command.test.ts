import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convergenceFile,
  readConvergenceRecord,
  syncLockFile,
} from '../../../shared/desired/convergence-record.ts';
import { DESIRED_STATE_KEY } from '../../../shared/desired/desired-state.ts';
import { hostVersion } from '../../../shared/version.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

// `dalston-host sync` as a process against a real S3-compatible server: the exit codes of the
// project's map for each way the desired state can be, the record it leaves for the agent, and
// host.json left alone whenever nothing was applied.

const BIN = fileURLToPath(new URL('../../../bin/dalston-host.mjs', import.meta.url));
let s3: LocalS3;
let dir: string;
let configFile: string;
let stateDir: string;
let runDir: string;
let host: Record<string, unknown>;

function sync(config = configFile): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'sync', '--config', config], {
      env: {
        ...process.env,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const publish = (body: unknown) =>
  s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: DESIRED_STATE_KEY,
      Body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
const doc = (h: Record<string, unknown>) => ({
  schemaVersion: 1,
  // The release this checkout runs: no release step.
  release: { version: hostVersion().version, key: 'releases/dalston-host.tgz', sha256: 'a'.repeat(64) },
  host: h,
});

beforeAll(async () => {
  s3 = await startS3rver(`sync-${process.pid}`);
  dir = await mkdtemp(join(process.env.DALSTON_TEST_TMP ?? tmpdir(), 'sync-command-'));
  stateDir = join(dir, 'state');
  runDir = join(dir, 'run');
  host = {
    s3: { bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint },
    dalston: { ref: 'v1.2.3', imageTag: '1.2.3' },
    agent: { stateDir },
    backup: { runDir, stateFile: join(stateDir, 'backup.json') },
  };
  configFile = join(dir, 'host.json');
  await writeFile(configFile, JSON.stringify(host, null, 2));
});
afterAll(async () => {
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dalston-host sync against s3rver', () => {
  it('nothing published: exit 78, the record says where it looked', async () => {
    const r = await sync();
    expect(r.code, r.stderr).toBe(78);
    const rec = await readConvergenceRecord(convergenceFile(stateDir));
    expect(rec.kind === 'ok' && rec.record.problem).toContain(
      `no desired state at s3://${s3.bucket}/config/host.json`,
    );
  });

  it('the desired state the host already runs: exit 0, recorded converged with the ETag read', async () => {
    await publish(doc(host));
    const r = await sync();
    expect(r.code, r.stderr).toBe(0);
    const rec = await readConvergenceRecord(convergenceFile(stateDir));
    if (rec.kind !== 'ok') throw new Error(JSON.stringify(rec));
    expect(rec.record).toMatchObject({
      state: 'converged',
      running: { release: hostVersion().version, dalstonRef: 'v1.2.3' },
    });
    expect(rec.record.desiredVersion).toMatch(/^"[0-9a-f]+"$/);
  });

  it('an invalid desired state: exit 78 naming the key, host.json untouched', async () => {
    const before = await readFile(configFile, 'utf8');
    await publish(doc({ ...host, dataDir: 'relative/path' }));
    const r = await sync();
    expect(r.code, r.stderr).toBe(78);
    expect(r.stdout).toContain('host.dataDir');
    expect(await readFile(configFile, 'utf8')).toBe(before);
    const rec = await readConvergenceRecord(convergenceFile(stateDir));
    expect(rec.kind === 'ok' && rec.record).toMatchObject({ state: 'unknown' });
    expect(rec.kind === 'ok' && rec.record.problem).toContain('host.dataDir');
  });

  it('another sync running: exit 75, nothing read or recorded', async () => {
    await mkdir(runDir, { recursive: true });
    // A live process that is not the sync under test (its parent: this test runner).
    await writeFile(
      syncLockFile(runDir),
      JSON.stringify({ pid: process.pid, what: 'sync', since: new Date().toISOString() }),
    );
    const before = await readFile(convergenceFile(stateDir), 'utf8');
    const r = await sync();
    expect(r.code, r.stderr).toBe(75);
    expect(r.stderr).toContain('another sync is running');
    expect(await readFile(convergenceFile(stateDir), 'utf8')).toBe(before);
    await rm(syncLockFile(runDir));
  });

  it('S3 not answering: exit 69, said in the record', async () => {
    const other = join(dir, 'unreachable.json');
    await writeFile(
      other,
      JSON.stringify({
        ...host,
        s3: { bucket: s3.bucket, region: 'us-east-1', endpoint: 'http://127.0.0.1:9' },
      }),
    );
    const r = await sync(other);
    expect(r.code, r.stderr).toBe(69);
    const rec = await readConvergenceRecord(convergenceFile(stateDir));
    expect(rec.kind === 'ok' && rec.record.problem).toContain('could not be read');
  });

  it('no s3.bucket: exit 78 naming the key', async () => {
    const other = join(dir, 'nobucket.json');
    await writeFile(other, JSON.stringify({ agent: { stateDir } }));
    const r = await sync(other);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('s3.bucket');
  });
});

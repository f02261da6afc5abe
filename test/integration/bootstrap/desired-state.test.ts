import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCommand } from '../../../bootstrap/command.ts';
import { ebsByIdName } from '../../../bootstrap/disk/resolve.ts';
import { DESIRED_STATE_CACHE } from '../../../bootstrap/steps/desired.ts';
import { S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { DESIRED_STATE_KEY } from '../../../shared/desired/desired-state.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand } from '../../harness/require.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';
import { makeRoot, runBootstrap, unmountAll } from './bootstrap-process.ts';

// The desired step through the real bootstrap against a real S3-compatible server:
// first boot from the user-data's flags (a child process, the SDK's own credential chain
// and AWS_ENDPOINT_URL_S3), later boots from host.json, and a replaced data volume
// followed at the next boot by the disk step on real loop devices.
const MiB = 1024 * 1024;
const VOL_A = 'vol-0aaaaaaaaaaaaaaa1';
const VOL_B = 'vol-0bbbbbbbbbbbbbbb2';

let s3: LocalS3;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

beforeAll(async () => {
  for (const [cmd, pkg] of [
    ['blkid', 'util-linux'],
    ['mkfs.ext4', 'e2fsprogs'],
    ['findmnt', 'util-linux'],
  ] as const)
    requireCommand(cmd, `apt-get install -y ${pkg}`);
  s3 = await startS3rver(`desired-boot-${process.pid}`);
});
afterAll(async () => {
  await s3?.close();
});

const host = (dataDir: string, volumeId: string, extra: Record<string, unknown> = {}) => ({
  dataDir,
  compose: {
    services: ['postgres', 'redis', 'gateway', 'orchestrator'],
    envFiles: ['/etc/dalston/compose.env'],
  },
  s3: { bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint },
  volume: { id: volumeId, waitSeconds: 10 },
  dalston: { ref: 'v1.0.0', imageTag: '1.0.0' },
  ...extra,
});
async function publish(h: Record<string, unknown>): Promise<void> {
  const body = JSON.stringify({
    schemaVersion: 1,
    release: { version: '0.3.0', key: 'releases/dalston-host-0.3.0.tgz', sha256: 'a'.repeat(64) },
    host: h,
    publishedBy: 'terraform',
  });
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: DESIRED_STATE_KEY, Body: body }));
}

async function scratch() {
  const r = await makeRoot((dataDir) => ({ dataDir }));
  // First boot: no host.json yet.
  await rm(join(r.root, 'etc/dalston/host.json'));
  cleanups.push(async () => {
    await unmountAll(r.dir);
    await rm(r.dir, { recursive: true, force: true });
  });
  return r;
}

const readJson = async (p: string) => JSON.parse(await readFile(p, 'utf8'));

describe('the desired step against s3rver', () => {
  it('first boot from --desired-state, then every boot from host.json; invalid → 78, files untouched', async () => {
    const r = await scratch();
    await publish(host(r.dataDir, VOL_A));
    const env = {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    };
    const url = `s3://${s3.bucket}/${DESIRED_STATE_KEY}`;
    const first = await runBootstrap(
      ['--root', r.root, '--steps', 'desired', '--desired-state', url, '--region', 'us-east-1'],
      env,
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.steps.desired).toMatchObject({ result: 'done' });
    expect(first.steps.desired!.detail).toMatch(/host\.json \(first boot\)/);
    const hostPath = join(r.root, 'etc/dalston/host.json');
    expect(await readJson(hostPath)).toEqual(host(r.dataDir, VOL_A));
    expect(await readFile(join(r.root, 'etc/dalston/compose.env'), 'utf8')).toBe(
      `DALSTON_S3_BUCKET=${s3.bucket}\nDALSTON_S3_REGION=us-east-1\nAWS_REGION=us-east-1\nDALSTON_IMAGE_TAG=1.0.0\nDALSTON_REF=v1.0.0\n`,
    );
    const cache = await readJson(join(r.root, DESIRED_STATE_CACHE));
    expect(cache.etag).not.toBe('');

    // The every-boot unit's command line: host.json says where; the unchanged object is not downloaded again.
    const again = await runBootstrap(
      ['--root', r.root, '--config', '/etc/dalston/host.json', '--steps', 'desired'],
      env,
    );
    expect(again.code).toBe(0);
    expect(again.steps.desired).toMatchObject({
      result: 'unchanged',
      detail: expect.stringContaining('unchanged since'),
    });

    // A Dalston change is not applied by a boot; a bad object fails naming the key.
    await publish(host(r.dataDir, VOL_A, { dalston: { ref: 'v1.1.0', imageTag: '1.1.0' } }));
    const kept = await runBootstrap(['--root', r.root, '--steps', 'desired'], env);
    expect(kept.code).toBe(0);
    expect(kept.steps.desired!.detail).toMatch(/kept the running dalston\.ref, dalston\.imageTag/);
    expect((await readJson(hostPath)).dalston).toEqual({ ref: 'v1.0.0', imageTag: '1.0.0' });

    const before = await readFile(hostPath, 'utf8');
    await publish(host(r.dataDir, VOL_A, { dataDir: 'relative/path' }));
    const bad = await runBootstrap(['--root', r.root, '--steps', 'desired'], env);
    expect(bad.code).toBe(78);
    expect(bad.steps.desired).toMatchObject({ result: 'failed' });
    expect(bad.stderr).toMatch(/host\.dataDir/);
    expect(await readFile(hostPath, 'utf8')).toBe(before);
    const report = await readJson(join(r.root, 'var/lib/dalston/bootstrap.json'));
    expect(report).toMatchObject({ ok: false, exitCode: 78 });
  });

  it('first boot with nothing reachable and no cache fails loudly, writing nothing', async () => {
    const r = await scratch();
    const run = await runBootstrap(
      ['--root', r.root, '--desired-state', 's3://nowhere-bucket/config/host.json', '--region', 'us-east-1'],
      {
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
      },
    );
    expect(run.code).toBe(69);
    expect(run.stderr).toMatch(/cannot read the desired state and none is cached/);
    // No other step ran on defaults.
    expect(Object.keys(run.steps)).toEqual(['desired']);
    await expect(readFile(join(r.root, 'etc/dalston/host.json'))).rejects.toThrow(/ENOENT/);
  });
});

describe('volume swap', () => {
  async function loop(): Promise<LoopDevice> {
    const l = await createLoopDevice({ sizeBytes: 64 * MiB });
    cleanups.push(async () => {
      await l.detach();
      await rm(l.file, { force: true });
    });
    return l;
  }

  it('a new volume.id in the desired state is followed at the next boot, before the disk step looks', async () => {
    const r = await scratch();
    const [a, b] = [await loop(), await loop()];
    // udev's by-id links of two EBS volumes, pointing at the two loop devices.
    const devRoot = join(r.dir, 'dev');
    await mkdir(join(devRoot, 'disk/by-id'), { recursive: true });
    await symlink(a.device, join(devRoot, 'disk/by-id', ebsByIdName(VOL_A)));
    await symlink(b.device, join(devRoot, 'disk/by-id', ebsByIdName(VOL_B)));
    const quiet = { write: () => true };
    const boot = (args: string[]) =>
      bootstrapCommand(['--root', r.root, '--steps', 'desired,disk', ...args], {
        log: pino({ level: 'silent' }),
        stdout: quiet,
        stderr: quiet,
        devRoot,
        sysfsRoot: join(r.dir, 'no-sys'),
        desiredStore: async (loc) => new S3ObjectStore({ ...loc, credentials: S3RVER_CREDENTIALS }),
      });
    const diskOf = async () =>
      (await readJson(join(r.root, 'var/lib/dalston/bootstrap.json'))).steps.find(
        (s: { name: string }) => s.name === 'disk',
      ).detail as string;

    await publish(host(r.dataDir, VOL_A));
    expect(
      await boot(['--desired-state', `s3://${s3.bucket}/${DESIRED_STATE_KEY}`, '--region', 'us-east-1']),
    ).toBe(0);
    expect(await diskOf()).toContain(ebsByIdName(VOL_A));

    // The volume is replaced (a restore from a snapshot): Terraform publishes its id.
    await publish(host(r.dataDir, VOL_B));
    expect(await boot([])).toBe(0);
    const report = await readJson(join(r.root, 'var/lib/dalston/bootstrap.json'));
    expect(report.steps.find((s: { name: string }) => s.name === 'desired').detail).toMatch(
      /changed: volume\.id/,
    );
    expect(await diskOf()).toContain(ebsByIdName(VOL_B));
    expect((await readJson(join(r.root, 'etc/dalston/host.json'))).volume.id).toBe(VOL_B);
  });
});

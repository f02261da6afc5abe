import { readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETWORK_LIMITS } from '../../../bootstrap/network-limits.ts';
import { swapSymlink } from '../../../bootstrap/steps/dalston.ts';
import { applyDalstonChange, type DalstonChangeDeps } from '../../../converge/dalston-change.ts';
import { backupBeforeChange, holdForChange } from '../../../converge/dalston-change-wiring.ts';
import { leaseFile, readLease } from '../../../shared/backup/maintenance-lease.ts';
import type { HostConfig } from '../../../shared/config/schema.ts';
import { DockerodeClient, dockerodeFromEnv } from '../../../shared/engine/docker/dockerode-client.ts';
import type { ContainerInfo } from '../../../shared/engine/docker/types.ts';
import { createLogger } from '../../../shared/logger.ts';
import { ProcessShell } from '../../../shared/process-shell.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import {
  BUCKET,
  type ChangeStack,
  MIGRATED_REVISION,
  REVISION,
  SERVICES,
  startChangeStack,
  useS3CredentialsEnv,
} from './dalston-change-stack.ts';

/**
 * The Dalston change for real: a stand-in Dalston repository with tagged
 * versions, real Postgres, a real pre-change backup to s3rver, real compose and
 * dockerd. One host goes through the changes in order: v1.0.0 → v1.1.0
 * (applied), → 1.2.0 images that never become healthy (rolled back), → v1.4.0
 * whose image cannot be pulled (failed before anything stopped), → v1.3.0 which
 * migrates the database and then fails (failed, not rolled back, restore offered).
 */

let stack: ChangeStack;
let deps: DalstonChangeDeps;
let docker: DockerodeClient;
let running: HostConfig;
const lines: string[] = [];
let restoreEnv: (() => void) | undefined;

const containers = async (): Promise<ContainerInfo[]> => docker.listProjectContainers(stack.project);
const byService = async () => Object.fromEntries((await containers()).map((c) => [c.service, c]));
const gateway = () => stack.gatewayVersion();

async function objectExists(key: string): Promise<boolean> {
  try {
    await stack.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  restoreEnv = useS3CredentialsEnv();
  stack = await startChangeStack('dalston-change');
  docker = new DockerodeClient(dockerodeFromEnv(), { callTimeoutMs: 30_000 });
  const logger = createLogger({ name: 'dalston-change-test', level: 'warn' });
  deps = {
    shell: new ProcessShell(),
    docker,
    clock: systemClock,
    backup: (config) => backupBeforeChange(config, logger),
    maintenance: (services, reason) => holdForChange(running)(services, reason),
    paths: { composeEnvFile: stack.envFile },
    pollMs: 500,
  };
  running = stack.hostConfig('v1.0.0', '1.0.0', SERVICES.old);
  await stack.psql('CREATE TABLE transcripts (id int PRIMARY KEY, body text)');
  await stack.psql("INSERT INTO transcripts SELECT g, 'row ' || g FROM generate_series(1, 500) g");
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  restoreEnv?.();
});

describe('a Dalston change on a running host', () => {
  it('upgrades v1.0.0 → v1.1.0: backup first, changed services recreated, dropped one removed, added one started, data intact', async () => {
    const before = await byService();
    expect(await gateway()).toBe('1.0.0');
    const to = stack.hostConfig('v1.1.0', '1.1.0', SERVICES.new);

    const t0 = Date.now();
    const lease = leaseFile(to.backup.runDir);
    let heldWhileSwitching: string[] | null = null;
    const r = await applyDalstonChange(deps, running, to, (l) => {
      lines.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${l}`);
      if (l.startsWith('switching to')) {
        const read = readLease(lease, Date.now());
        heldWhileSwitching = read.kind === 'active' ? read.lease.services : [];
      }
    });
    // Where the time goes, for the report (the machine is shared and often loaded).
    console.log(lines.join('\n'));

    expect(r.outcome, r.message).toBe('applied');
    expect(r.kind).toBe('dalston');
    expect(r.runs).toBe('new');
    expect(r.migrated).toBe(false);
    expect(r.message).toMatch(/dalston v1\.0\.0 \(image 1\.0\.0\) → dalston v1\.1\.0 \(image 1\.1\.0\)/);
    expect(r.message).toContain('changed gateway, orchestrator');
    expect(r.message).toContain('added stt-new');
    expect(r.message).toContain('removed stt-old');
    expect(r.backupKey).toMatch(/^backups\/postgres\/.+\.dump$/);
    expect(await objectExists(r.backupKey!)).toBe(true);
    expect(r.restoreCommand).toBe(`dalston-host restore ${r.backupKey} --yes`);
    expect(typeof r.downtimeSeconds).toBe('number');
    expect(r.downtimeSeconds!).toBeGreaterThan(0);
    expect(r.downtimeSeconds!).toBeLessThan(60);
    // The agent was told to leave every old and new service alone during the switch, and is free again.
    expect(heldWhileSwitching).toEqual(['gateway', 'orchestrator', 'postgres', 'stt-new', 'stt-old']);
    expect(readLease(lease, Date.now()).kind).toBe('none');

    const after = await byService();
    expect(Object.keys(after).sort()).toEqual([...SERVICES.new].sort());
    expect(after.postgres!.id).toBe(before.postgres!.id); // unchanged: not recreated
    expect(after.gateway!.id).not.toBe(before.gateway!.id);
    expect(after.orchestrator!.id).not.toBe(before.orchestrator!.id);
    expect(await gateway()).toBe('1.1.0');
    expect(await readlink(stack.link)).toBe('v1.1.0');
    const env = await readFile(stack.envFile, 'utf8');
    expect(env).toContain('DALSTON_IMAGE_TAG=1.1.0\n');
    expect(env).toContain('DALSTON_REF=v1.1.0\n');
    expect(env).toContain('DALSTON_S3_BUCKET=kept-as-is\n');
    expect(await stack.psql('SELECT count(*) FROM transcripts')).toBe('500');
    expect(await stack.psql('SELECT version_num FROM alembic_version')).toBe(REVISION);
    running = to;
  }, 600_000);

  it('rolls back image 1.2.0, which never becomes healthy, to v1.1.0 and is healthy on it again', async () => {
    const to = stack.hostConfig('v1.2.0', '1.2.0', SERVICES.new, 15);

    const r = await applyDalstonChange(deps, running, to);

    expect(r.outcome, r.message).toBe('rolled-back');
    expect(r.runs).toBe('old');
    expect(r.migrated).toBe(false);
    expect(r.message).toMatch(
      /dalston v1\.2\.0 \(image 1\.2\.0\) failed \(not healthy within 15 s: .*gateway running\/starting/,
    );
    expect(r.message).toContain('rolled back to dalston v1.1.0 (image 1.1.0), healthy again');
    expect(r.backupKey).toBeTruthy();
    const after = await containers();
    expect(after.every((c) => c.state === 'running' && (c.health === 'healthy' || c.health === 'none'))).toBe(
      true,
    );
    expect(await gateway()).toBe('1.1.0');
    expect(await readlink(stack.link)).toBe('v1.1.0');
    expect(await readFile(stack.envFile, 'utf8')).toContain('DALSTON_IMAGE_TAG=1.1.0\n');
    expect(await stack.psql('SELECT count(*) FROM transcripts')).toBe('500');
  }, 600_000);

  it('rolls back to the running version named in `from`, even when an interrupted attempt left `current` and the env on the new one', async () => {
    // What a sync killed after its switch leaves behind: current → v1.2.0, the env on 1.2.0, the containers on 1.1.0.
    await swapSymlink(stack.link, 'v1.2.0');
    const env = await readFile(stack.envFile, 'utf8');
    await writeFile(
      stack.envFile,
      env
        .replace('DALSTON_IMAGE_TAG=1.1.0', 'DALSTON_IMAGE_TAG=1.2.0')
        .replace('DALSTON_REF=v1.1.0', 'DALSTON_REF=v1.2.0'),
    );
    const to = stack.hostConfig('v1.2.0', '1.2.0', SERVICES.new, 15);

    const r = await applyDalstonChange(deps, running, to);

    expect(r.outcome, r.message).toBe('rolled-back');
    expect(await readlink(stack.link)).toBe('v1.1.0');
    const after = await readFile(stack.envFile, 'utf8');
    expect(after).toContain('DALSTON_IMAGE_TAG=1.1.0\n');
    expect(after).toContain('DALSTON_REF=v1.1.0\n');
    expect(await gateway()).toBe('1.1.0');
  }, 600_000);

  it('fails v1.4.0, whose image cannot be pulled, before stopping anything', async () => {
    const before = (await containers()).map((c) => `${c.service}:${c.id}:${c.state}`).sort();
    const envBefore = await readFile(stack.envFile, 'utf8');
    const to = stack.hostConfig('v1.4.0', '1.1.0', SERVICES.new, 15);

    // One attempt: the retries of an unreachable registry are the bootstrap's unit tests' business.
    const r = await applyDalstonChange({ ...deps, limits: { ...NETWORK_LIMITS, attempts: 1 } }, running, to);

    expect(r.outcome, r.message).toBe('failed');
    expect(r.runs).toBe('old');
    expect(r.message).toMatch(
      /dalston v1\.4\.0 \(image 1\.1\.0\) could not be prepared \(.*127\.0\.0\.1:9.*\); nothing was stopped, dalston v1\.1\.0 \(image 1\.1\.0\) runs on/,
    );
    // Said as what it is (the shared pull's message, on one line), not as a missing tag.
    expect(r.message).toContain(
      'image 127.0.0.1:9/dalston/gateway:1.4.0 (gateway) could not be pulled: its registry could not be reached',
    );
    expect(r.message).not.toContain('\n');
    expect((await containers()).map((c) => `${c.service}:${c.id}:${c.state}`).sort()).toEqual(before);
    expect(await readlink(stack.link)).toBe('v1.1.0');
    expect(await readFile(stack.envFile, 'utf8')).toBe(envBefore);
    await expect(stat(`${stack.envFile}.next`)).rejects.toThrow(/ENOENT/);
    await expect(stat(`${stack.envFile}.previous`)).rejects.toThrow(/ENOENT/);
    expect(await gateway()).toBe('1.1.0');
  }, 600_000);

  it('does not roll back v1.3.0, which migrated the database and then failed: failed, migrated, restore offered', async () => {
    const to = stack.hostConfig('v1.3.0', '1.1.0', SERVICES.new, 15);

    const r = await applyDalstonChange(deps, running, to);

    expect(r.outcome, r.message).toBe('failed');
    expect(r.migrated).toBe(true);
    expect(r.runs).toBe('new');
    expect(r.backupKey).toMatch(/^backups\/postgres\//);
    expect(await objectExists(r.backupKey!)).toBe(true);
    expect(r.restoreCommand).toBe(`dalston-host restore ${r.backupKey} --yes`);
    expect(r.message).toContain(
      `dalston v1.3.0 (image 1.1.0) migrated the database from ${REVISION} to ${MIGRATED_REVISION} and then failed`,
    );
    expect(r.message).toContain(
      `the old version cannot run on it. Restore the pre-upgrade backup: ${r.restoreCommand}, or fix forward with a new ref`,
    );
    // Left on the new version (see applyDalstonChange): Postgres runs for the restore.
    expect(await readlink(stack.link)).toBe('v1.3.0');
    expect(await stack.psql('SELECT version_num FROM alembic_version')).toBe(MIGRATED_REVISION);
    expect((await byService()).postgres!.state).toBe('running');
  }, 600_000);

  // Last: a pg_dump ended mid-stream can send the test image's Postgres through crash recovery.
  it('stops at a backup that fails for real (no such bucket): nothing staged or touched', async () => {
    const before = (await containers()).map((c) => `${c.service}:${c.id}:${c.state}`).sort();
    const logger = createLogger({ name: 'dalston-change-test', level: 'silent' });
    const noBucket: DalstonChangeDeps = {
      ...deps,
      backup: (config) =>
        backupBeforeChange({ ...config, s3: { ...config.s3, bucket: 'no-such-bucket' } }, logger),
    };
    const linkBefore = await readlink(stack.link);
    const envBefore = await readFile(stack.envFile, 'utf8');
    const to = stack.hostConfig('v1.1.0', '1.1.0', SERVICES.old, 15);

    const r = await applyDalstonChange(noBucket, running, to);

    expect(r.outcome, r.message).toBe('failed');
    expect(r.runs).toBe('old');
    // Which error wins depends on timing: S3's NoSuchBucket, or pg_dump ended when the upload failed.
    expect(r.message).toMatch(
      /^dalston v1\.1\.0 \(image 1\.1\.0\): the backup before the change failed \(backup failed: .+\); nothing was changed, dalston v1\.1\.0 \(image 1\.1\.0\) runs on$/,
    );
    expect((await containers()).map((c) => `${c.service}:${c.id}:${c.state}`).sort()).toEqual(before);
    expect(await readlink(stack.link)).toBe(linkBefore);
    expect(await readFile(stack.envFile, 'utf8')).toBe(envBefore);
    await expect(stat(`${stack.envFile}.next`)).rejects.toThrow(/ENOENT/);
  }, 600_000);
});

import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSync } from '../../../converge/sync-runner.ts';
import { wireSync } from '../../../converge/sync-wiring.ts';
import type { HostConfig } from '../../../shared/config/schema.ts';
import { convergenceFile, readConvergenceRecord } from '../../../shared/desired/convergence-record.ts';
import { DESIRED_STATE_KEY } from '../../../shared/desired/desired-state.ts';
import { createLogger } from '../../../shared/logger.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import { hostVersion } from '../../../shared/version.ts';
import { requireEnv } from '../../harness/require.ts';
import {
  BUCKET,
  type ChangeStack,
  SERVICES,
  startChangeStack,
  useS3CredentialsEnv,
} from './dalston-change-stack.ts';

/**
 * `dalston-host sync`'s core with its real wiring on a running stand-in stack:
 * a Dalston change published to the (real, S3-compatible) desired state is
 * applied through applyDalstonChange and written into host.json; a version that
 * never becomes healthy is rolled back, host.json keeps the running one, and the
 * next sync does not try it again.
 */

let stack: ChangeStack;
let configFile: string;
let stateDir: string;
let restoreEnv: (() => void) | undefined;
// A short health gate for the version that never becomes healthy; the same in every host.json.
const HEALTHY_SECONDS = 20;

const hostJson = (c: HostConfig) => JSON.stringify(c, null, 2);
/** The stack's host.json of a version, its sync record in the test's own directory. */
const hostFor = (ref: string, tag: string, services: string[]): HostConfig => {
  const c = stack.hostConfig(ref, tag, services, HEALTHY_SECONDS);
  return { ...c, agent: { ...c.agent, stateDir } };
};
async function publish(c: HostConfig) {
  const doc = {
    schemaVersion: 1,
    release: { version: hostVersion().version, key: 'releases/dalston-host.tgz', sha256: 'a'.repeat(64) },
    host: JSON.parse(hostJson(c)),
  };
  await stack.s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: DESIRED_STATE_KEY, Body: JSON.stringify(doc) }),
  );
}
async function sync() {
  const config = JSON.parse(await readFile(configFile, 'utf8')) as HostConfig;
  const lines: string[] = [];
  const deps = wireSync({
    config,
    configPath: configFile,
    release: hostVersion().version,
    clock: systemClock,
    logger: createLogger({ name: 'sync-test', level: 'warn' }),
    say: (l) => void lines.push(l),
    composeEnvFile: stack.envFile,
  });
  const out = await runSync(deps);
  const rec = await readConvergenceRecord(convergenceFile(config.agent.stateDir));
  if (rec.kind !== 'ok') throw new Error(`no record: ${JSON.stringify(rec)}\n${lines.join('\n')}`);
  return { out, record: rec.record, lines };
}
const gateway = () => stack.gatewayVersion();

beforeAll(async () => {
  restoreEnv = useS3CredentialsEnv();
  stack = await startChangeStack('sync-dalston');
  const dir = await mkdtemp(path.join(requireEnv('DALSTON_TEST_TMP'), 'sync-dalston-'));
  configFile = path.join(dir, 'host.json');
  stateDir = path.join(dir, 'state');
  await writeFile(configFile, hostJson(hostFor('v1.0.0', '1.0.0', SERVICES.old)));
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  restoreEnv?.();
});

describe('sync applies a Dalston change from the desired state', () => {
  it('v1.0.0 → v1.1.0 with a new service list: applied, host.json rewritten, recorded converged', async () => {
    expect(await gateway()).toBe('1.0.0');
    await publish(hostFor('v1.1.0', '1.1.0', SERVICES.new));
    const { out, record, lines } = await sync();
    expect(out.exitCode, lines.join('\n')).toBe(0);
    expect(record).toMatchObject({
      state: 'converged',
      running: { dalstonRef: 'v1.1.0', imageTag: '1.1.0', services: [...SERVICES.new].sort() },
      lastResult: { kind: 'dalston', outcome: 'applied' },
    });
    const host = JSON.parse(await readFile(configFile, 'utf8'));
    expect(host.dalston).toMatchObject({ ref: 'v1.1.0', imageTag: '1.1.0' });
    expect(host.compose.services).toEqual(SERVICES.new);
    expect(await gateway()).toBe('1.1.0');
  });

  it('image 1.2.0 never becomes healthy: rolled back, host.json keeps v1.1.0, and the next sync does not retry it', async () => {
    await publish(hostFor('v1.2.0', '1.2.0', SERVICES.new));
    const first = await sync();
    expect(first.out.exitCode, first.lines.join('\n')).toBe(1);
    expect(first.record).toMatchObject({
      state: 'rolled-back',
      running: { dalstonRef: 'v1.1.0' },
      desired: { dalstonRef: 'v1.2.0' },
      lastResult: { kind: 'dalston', outcome: 'rolled-back' },
    });
    expect(JSON.parse(await readFile(configFile, 'utf8')).dalston).toMatchObject({
      ref: 'v1.1.0',
      imageTag: '1.1.0',
    });
    expect(await gateway()).toBe('1.1.0');

    const again = await sync();
    expect(again.out.exitCode).toBe(1);
    expect(again.record.state).toBe('rolled-back');
    // Nothing was tried again: the last result is the same attempt.
    expect(again.record.lastResult).toEqual(first.record.lastResult);
    expect(again.lines.some((l) => l.startsWith('converging'))).toBe(false);
  });
});

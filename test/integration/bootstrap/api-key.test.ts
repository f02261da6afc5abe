import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseApiKey } from '../../../bootstrap/api-key.ts';
import { parseSecretsEnv, secretsEnvText } from '../../../bootstrap/postgres-password.ts';
import { type SsmStandIn, startSsmStandIn } from '../../../rehearsal/world/ssm.ts';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { makeRoot, runBootstrap, sh, unmountAll } from './bootstrap-process.ts';

/**
 * The admin API key from the first boot: the real bootstrap (secrets, api-key steps)
 * on a mounted loop-device data volume, storing the key through the real SDK client
 * in the stand-in SSM the rehearsal uses, which takes PutParameter for one name only
 * (as the instance role does).
 */

const PARAM = '/dalston/it/api-key';
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function volumeHost(parameter: string) {
  const loop: LoopDevice = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024 });
  cleanups.push(() => loop.detach());
  await sh('mkfs.ext4', ['-q', loop.device]);
  const s = await makeRoot((dataDir) => ({ dataDir, s3: { region: 'eu-west-2' }, apiKey: { parameter } }));
  await mkdir(s.dataDir);
  await sh('mount', [loop.device, s.dataDir]);
  cleanups.push(() => unmountAll(s.dir));
  const paths = dataPaths(s.dataDir);
  await mkdir(paths.subdirs.postgres, { mode: 0o700 });
  await mkdir(paths.subdirs.secrets, { mode: 0o700 });
  return { ...s, paths };
}

async function ssm(dir: string, writableValue?: string): Promise<SsmStandIn & { stored: string }> {
  const stored = join(dir, 'ssm-api-key');
  if (writableValue !== undefined) await writeFile(stored, `${writableValue}\n`);
  const s = await startSsmStandIn({
    port: 0,
    name: '/dalston/it/tailscale-auth-key',
    valueFile: join(dir, 'ssm-tailscale'),
    value: 'tskey-unused',
    writable: { name: PARAM, file: stored },
  });
  cleanups.push(() => s.stop());
  return { ...s, stored };
}

const awsEnv = (endpoint: string) => ({
  AWS_ENDPOINT_URL_SSM: endpoint,
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
});

describe('admin API key (secrets + api-key steps, stand-in SSM)', () => {
  it('is generated once into the root-only secrets file, stored in SSM once, and never regenerated', async () => {
    const h = await volumeHost(PARAM);
    // A value left by an earlier data volume: this volume's key replaces it.
    const world = await ssm(h.dir, `dk_${'0'.repeat(64)}`);
    const first = await runBootstrap(
      ['--root', h.root, '--steps', 'secrets,api-key'],
      awsEnv(world.endpoint),
    );
    expect(first.code, first.stderr).toBe(0);
    expect(first.steps.secrets?.result).toBe('done');
    expect(first.steps['api-key']).toMatchObject({
      result: 'done',
      detail: `stored the admin API key as SSM SecureString ${PARAM}`,
    });
    const env = await readFile(h.paths.secretsEnv, 'utf8');
    const key = parseApiKey(env)!;
    expect(key).toMatch(/^dk_[0-9a-f]{64}$/);
    expect(parseSecretsEnv(env)).toMatch(/^[0-9a-f]{64}$/);
    expect((await stat(h.paths.secretsEnv)).mode & 0o777).toBe(0o600);
    expect((await readFile(world.stored, 'utf8')).trim()).toBe(key);
    // Never in the bootstrap's output (its log) nor in the marker.
    expect(first.stdout + first.stderr).not.toContain(key);
    expect(await readFile(h.paths.apiKeyStored, 'utf8')).not.toContain(key);

    // Every later boot: nothing to do, and no SSM call (the stand-in is gone).
    await world.stop();
    const again = await runBootstrap(
      ['--root', h.root, '--steps', 'secrets,api-key'],
      awsEnv(world.endpoint),
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.steps.secrets?.result).toBe('unchanged');
    expect(again.steps['api-key']?.result).toBe('unchanged');
    expect(await readFile(h.paths.secretsEnv, 'utf8')).toBe(env);
  }, 300_000);

  it('a secrets file from before the API key gets one added; its password stays', async () => {
    const h = await volumeHost(PARAM);
    const world = await ssm(h.dir);
    const password = 'c'.repeat(64);
    await writeFile(h.paths.secretsEnv, secretsEnvText(password), { mode: 0o600 });
    const run = await runBootstrap(['--root', h.root, '--steps', 'secrets,api-key'], awsEnv(world.endpoint));
    expect(run.code, run.stderr).toBe(0);
    expect(run.steps.secrets?.detail).toContain('added a generated Dalston admin API key');
    const env = await readFile(h.paths.secretsEnv, 'utf8');
    expect(parseSecretsEnv(env)).toBe(password);
    expect((await readFile(world.stored, 'utf8')).trim()).toBe(parseApiKey(env));
  }, 300_000);

  it('a parameter the role may not write fails the api-key step by name; the key stays and is stored once allowed', async () => {
    const h = await volumeHost('/dalston/it/not-allowed');
    const world = await ssm(h.dir);
    const denied = await runBootstrap(
      ['--root', h.root, '--steps', 'secrets,api-key'],
      awsEnv(world.endpoint),
    );
    expect(denied.code).toBe(1);
    expect(denied.steps.secrets?.result).toBe('done');
    expect(denied.steps['api-key']?.result).toBe('failed');
    expect(denied.stderr).toMatch(
      /cannot store the admin API key in SSM parameter \/dalston\/it\/not-allowed \(apiKey\.parameter\): AccessDeniedException/,
    );
    const key = parseApiKey(await readFile(h.paths.secretsEnv, 'utf8'))!;
    expect(key).toBeDefined();
    await expect(stat(h.paths.apiKeyStored)).rejects.toThrow(/ENOENT/);

    // The operator fixes host.json (Terraform's apiKey.parameter): the same key is stored.
    const hostJson = join(h.root, 'etc/dalston/host.json');
    const cfg = JSON.parse(await readFile(hostJson, 'utf8')) as { apiKey: { parameter: string } };
    cfg.apiKey.parameter = PARAM;
    await writeFile(hostJson, JSON.stringify(cfg));
    const fixed = await runBootstrap(
      ['--root', h.root, '--steps', 'secrets,api-key'],
      awsEnv(world.endpoint),
    );
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.steps.secrets?.result).toBe('unchanged');
    expect(fixed.steps['api-key']?.result).toBe('done');
    expect((await readFile(world.stored, 'utf8')).trim()).toBe(key);
  }, 300_000);
});

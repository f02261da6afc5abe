import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decideApiKeyStore,
  generateApiKey,
  parseApiKey,
  storedMarker,
  withApiKey,
} from '../../../bootstrap/api-key.ts';
import { secretsEnvText } from '../../../bootstrap/postgres-password.ts';
import { apiKeyStep } from '../../../bootstrap/steps/api-key.ts';
import { dataPaths } from '../../../shared/config/data-paths.ts';
import { fakeContext } from './fakes.ts';
import { tailscaleVolumeHost } from './tailscale-volume-host.ts';

const PW = 'a'.repeat(64);
const ssmMock = mockClient(SSMClient);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  ssmMock.reset();
  for (const c of cleanups.splice(0)) await c();
});

describe('the admin API key in the secrets env file', () => {
  it('is dk_ and 64 hex digits, different every time', () => {
    const a = generateApiKey();
    expect(a).toMatch(/^dk_[0-9a-f]{64}$/);
    expect(generateApiKey()).not.toBe(a);
  });

  it('is appended beside the password and read back; both stay readable', () => {
    const key = generateApiKey();
    const text = withApiKey(secretsEnvText(PW), key);
    expect(parseApiKey(text)).toBe(key);
    expect(text).toContain(`POSTGRES_PASSWORD=${PW}\n`);
    expect(text.endsWith(`DALSTON_API_KEY=${key}\n`)).toBe(true);
    // A file without a trailing newline still gets the key on a line of its own.
    expect(parseApiKey(withApiKey(`POSTGRES_PASSWORD=${PW}`, key))).toBe(key);
  });

  it('is never replaced, and only a generated key is written', () => {
    const text = withApiKey(secretsEnvText(PW), generateApiKey());
    expect(() => withApiKey(text, generateApiKey())).toThrow(/already holds an API key/);
    expect(() => withApiKey('', 'dk_short')).toThrow(/not a generated API key/);
    expect(parseApiKey(secretsEnvText(PW))).toBeUndefined();
    expect(parseApiKey('DALSTON_API_KEY=dk_oops\n')).toBeUndefined();
  });
});

describe('storing the key in SSM: the decision', () => {
  const key = generateApiKey();
  const envText = withApiKey(secretsEnvText(PW), key);
  it('skips without a parameter, fails without a key, stores once per parameter and key', () => {
    expect(decideApiKeyStore({ parameter: undefined, envText, marker: undefined })).toEqual({
      kind: 'no-parameter',
    });
    expect(decideApiKeyStore({ parameter: '/d/k', envText: undefined, marker: undefined })).toEqual({
      kind: 'no-key',
    });
    expect(decideApiKeyStore({ parameter: '/d/k', envText, marker: undefined })).toEqual({
      kind: 'store',
      key,
    });
    expect(decideApiKeyStore({ parameter: '/d/k', envText, marker: storedMarker('/d/k', key) })).toEqual({
      kind: 'stored',
    });
    // A renamed parameter or another key (a restored secrets file) is stored again.
    expect(decideApiKeyStore({ parameter: '/d/new', envText, marker: storedMarker('/d/k', key) }).kind).toBe(
      'store',
    );
    expect(
      decideApiKeyStore({ parameter: '/d/k', envText, marker: storedMarker('/d/k', generateApiKey()) }).kind,
    ).toBe('store');
  });
  it('the marker never holds the key', () => {
    expect(storedMarker('/d/k', key)).not.toContain(key.slice(3));
  });
});

async function hostWithKey(key: string | undefined) {
  const h = await tailscaleVolumeHost(cleanups);
  const paths = dataPaths(h.dataDir);
  await mkdir(paths.subdirs.secrets, { recursive: true });
  if (key !== undefined) await writeFile(paths.secretsEnv, withApiKey(secretsEnvText(PW), key));
  return { ...h, paths };
}

describe('api-key step', () => {
  const ssm = () => new SSMClient({ region: 'eu-west-2' });

  it('is skipped without apiKey.parameter and makes no call', async () => {
    const h = await hostWithKey(generateApiKey());
    const ctx = fakeContext({ dataDir: h.dataDir }, { mounts: h.mounts, ssm });
    expect(await apiKeyStep.run(ctx)).toMatchObject({ result: 'skipped' });
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('stores the key as a SecureString once; the next run makes no call', async () => {
    const key = generateApiKey();
    const h = await hostWithKey(key);
    ssmMock.on(PutParameterCommand).resolves({ Version: 1 });
    const ctx = fakeContext(
      { dataDir: h.dataDir, apiKey: { parameter: '/dalston/dev/api-key' } },
      { mounts: h.mounts, ssm },
    );
    const out = await apiKeyStep.run(ctx);
    expect(out).toEqual({
      result: 'done',
      detail: 'stored the admin API key as SSM SecureString /dalston/dev/api-key',
    });
    expect(JSON.stringify(out)).not.toContain(key);
    const put = ssmMock.commandCalls(PutParameterCommand);
    expect(put).toHaveLength(1);
    expect(put[0]!.args[0].input).toMatchObject({
      Name: '/dalston/dev/api-key',
      Value: key,
      Type: 'SecureString',
      Overwrite: true,
    });
    expect(await readFile(h.paths.apiKeyStored, 'utf8')).toBe(storedMarker('/dalston/dev/api-key', key));
    expect((await apiKeyStep.run(ctx)).result).toBe('unchanged');
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(1);
  });

  it('a denied write fails naming the parameter and the key, retries nothing and writes no marker', async () => {
    const h = await hostWithKey(generateApiKey());
    ssmMock.on(PutParameterCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: ssm:PutParameter'), {
        name: 'AccessDeniedException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const ctx = fakeContext(
      { dataDir: h.dataDir, apiKey: { parameter: '/dalston/dev/api-key' } },
      { mounts: h.mounts, ssm },
    );
    await expect(apiKeyStep.run(ctx)).rejects.toThrow(
      /cannot store the admin API key in SSM parameter \/dalston\/dev\/api-key \(apiKey.parameter\): AccessDeniedException/,
    );
    expect(ssmMock.commandCalls(PutParameterCommand)).toHaveLength(1);
    await expect(readFile(h.paths.apiKeyStored, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('without a key in the secrets file it fails naming the command that makes one', async () => {
    const h = await hostWithKey(undefined);
    const ctx = fakeContext(
      { dataDir: h.dataDir, apiKey: { parameter: '/dalston/dev/api-key' } },
      { mounts: h.mounts, ssm },
    );
    await expect(apiKeyStep.run(ctx)).rejects.toThrow(/dalston-host bootstrap --steps secrets,api-key/);
  });

  it('a dry run plans the write and makes no call', async () => {
    const h = await hostWithKey(generateApiKey());
    const ctx = fakeContext(
      { dataDir: h.dataDir, apiKey: { parameter: '/dalston/dev/api-key' } },
      { mounts: h.mounts, ssm, dryRun: true },
    );
    expect(await apiKeyStep.run(ctx)).toMatchObject({ result: 'planned' });
    expect(ssmMock.calls()).toHaveLength(0);
  });
});

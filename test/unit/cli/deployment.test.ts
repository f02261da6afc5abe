import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTerraformOutputs, resolveDeployment } from '../../../cli/deployment.ts';
import { ConfigError, UsageError } from '../../../shared/errors.ts';
import { FakeShell, tfOutputs } from './helpers.ts';

// An existing directory stands for the Terraform environment; the shell is fake.
const tfDir = mkdtempSync(path.join(os.tmpdir(), 'dalston-cli-tf-'));
afterAll(() => rmSync(tfDir, { recursive: true, force: true }));

const TF = tfOutputs({
  instance_id: 'i-0ffffffffffffffff',
  region: 'us-east-1',
  bucket_name: 'tf-bucket',
  tailscale_hostname: 'dalston-tf',
  data_volume_id: 'vol-0123456789abcdef0',
});

describe('deployment resolution: flags > environment > terraform output', () => {
  it('flags win over environment and terraform is not run when nothing is missing', async () => {
    const shell = new FakeShell(TF);
    const d = await resolveDeployment(
      {
        instanceId: 'i-0aaaaaaaaaaaaaaaa',
        region: 'eu-west-2',
        bucket: 'flag-bucket',
        profile: 'flagprof',
        tfDir,
      },
      {
        DALSTON_INSTANCE_ID: 'i-0bbbbbbbbbbbbbbbb',
        AWS_REGION: 'eu-central-1',
        DALSTON_BUCKET: 'env-bucket',
        AWS_PROFILE: 'envprof',
      },
      shell,
      ['instanceId', 'region', 'bucket'],
    );
    expect(d).toMatchObject({
      instanceId: 'i-0aaaaaaaaaaaaaaaa',
      region: 'eu-west-2',
      bucket: 'flag-bucket',
      profile: 'flagprof',
      statusPrefix: 'status/',
      sshUser: 'ec2-user',
      sources: { instanceId: 'flag', region: 'flag', bucket: 'flag' },
    });
    expect(shell.calls).toEqual([]);
  });

  it('environment wins over terraform', async () => {
    const shell = new FakeShell(TF);
    const d = await resolveDeployment(
      { tfDir },
      {
        DALSTON_INSTANCE_ID: 'i-0bbbbbbbbbbbbbbbb',
        AWS_REGION: 'eu-central-1',
        DALSTON_BUCKET: 'env-bucket',
        AWS_PROFILE: 'envprof',
      },
      shell,
      ['instanceId', 'region', 'bucket'],
    );
    expect(d).toMatchObject({
      instanceId: 'i-0bbbbbbbbbbbbbbbb',
      region: 'eu-central-1',
      bucket: 'env-bucket',
      profile: 'envprof',
      sources: { instanceId: 'env', region: 'env', bucket: 'env' },
    });
    expect(shell.calls).toEqual([]);
  });

  it('terraform output fills what flags and environment left open, once', async () => {
    const shell = new FakeShell(TF);
    const d = await resolveDeployment(
      { tfDir, region: 'eu-west-2' },
      { AWS_DEFAULT_REGION: 'ignored-1' },
      shell,
      ['instanceId', 'region', 'bucket', 'tailscaleHostname'],
    );
    expect(d).toMatchObject({
      instanceId: 'i-0ffffffffffffffff',
      region: 'eu-west-2',
      bucket: 'tf-bucket',
      tailscaleHostname: 'dalston-tf',
      dataVolumeId: 'vol-0123456789abcdef0',
      sources: {
        instanceId: 'terraform',
        region: 'flag',
        bucket: 'terraform',
        tailscaleHostname: 'terraform',
      },
    });
    expect(shell.calls).toEqual([
      { cmd: 'terraform', args: [`-chdir=${tfDir}`, 'output', '-no-color', '-json'] },
    ]);
  });

  it("without a region output: the availability_zone output, then the profile's region", async () => {
    const az = new FakeShell(
      tfOutputs({ instance_id: 'i-0ffffffffffffffff', availability_zone: 'eu-west-2b' }),
    );
    const a = await resolveDeployment({ tfDir }, {}, az, ['instanceId', 'region']);
    expect(a).toMatchObject({ region: 'eu-west-2', sources: { region: 'terraform' } });

    const none = new FakeShell(tfOutputs({ instance_id: 'i-0ffffffffffffffff' }));
    const asked: Array<string | undefined> = [];
    const b = await resolveDeployment(
      { tfDir },
      { AWS_PROFILE: 'ops' },
      none,
      ['instanceId', 'region'],
      async (p) => {
        asked.push(p);
        return 'ca-central-1';
      },
    );
    expect(b).toMatchObject({ region: 'ca-central-1', sources: { region: 'profile' } });
    expect(asked).toEqual(['ops']);

    await expect(resolveDeployment({ tfDir }, {}, none, ['region'])).rejects.toThrow(
      `deployment not found. Fix: give the values below (${tfDir} has no output for them).\n` +
        '  region  --region or AWS_REGION / AWS_DEFAULT_REGION (Terraform output "region", or a region in the AWS profile)',
    );
  });

  it('AWS_DEFAULT_REGION is used when AWS_REGION is not set', async () => {
    const d = await resolveDeployment(
      { instanceId: 'i-0aaaaaaaaaaaaaaaa' },
      { AWS_DEFAULT_REGION: 'ap-southeast-2' },
      new FakeShell(),
      ['instanceId', 'region'],
    );
    expect(d.region).toBe('ap-southeast-2');
  });

  it('missing → one message naming flag, variable and output of each missing key, plus why terraform had none', async () => {
    const shell = new FakeShell({ exitCode: 0, stdout: '{}', stderr: '' });
    const err = await resolveDeployment({ tfDir, region: 'eu-west-2' }, {}, shell, [
      'instanceId',
      'region',
      'bucket',
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.exitCode).toBe(78);
    // The fix first, on its own line; then one line per missing value.
    expect(err.message).toBe(
      [
        `deployment not found. Fix: run \`terraform apply\` in ${tfDir} first (terraform in ${tfDir}: it has no outputs yet), or give the values below.`,
        '  instance id  --instance-id or DALSTON_INSTANCE_ID (Terraform output "instance_id")',
        '  bucket       --bucket or DALSTON_BUCKET (Terraform output "bucket_name")',
      ].join('\n'),
    );
  });

  it('a terraform failure is reported in the missing message', async () => {
    const shell = new FakeShell({
      exitCode: 1,
      stdout: '',
      stderr: '╷\n│ Error: Backend initialization required\n',
    });
    await expect(resolveDeployment({ tfDir }, {}, shell, ['instanceId'])).rejects.toThrow(
      /^deployment not found\. Fix: make `terraform -chdir=.* output -json` work \(terraform in .*: terraform output failed: Error: Backend initialization required\), or give the values below\.\n {2}instance id {2}--instance-id/,
    );
    const absent = await readTerraformOutputs(new FakeShell(TF), path.join(tfDir, 'nope'));
    expect(absent).toEqual({
      values: {},
      problem: `${path.join(tfDir, 'nope')} does not exist`,
      fix: 'pass --tf-dir with the directory you ran `terraform apply` in',
    });
    const notInstalled = await readTerraformOutputs(
      new FakeShell({ exitCode: 127, stdout: '', stderr: '' }),
      tfDir,
    );
    expect(notInstalled).toMatchObject({ problem: 'terraform is not installed', fix: 'install terraform' });
    const garbage = await readTerraformOutputs(
      new FakeShell({ exitCode: 0, stdout: 'Warning: x', stderr: '' }),
      tfDir,
    );
    expect(garbage.problem).toBe('terraform output -json did not print JSON');
  });

  it('a malformed id is a usage error from a flag, a config error from the environment', async () => {
    await expect(
      resolveDeployment({ instanceId: 'web-1' }, {}, new FakeShell(), ['instanceId']),
    ).rejects.toThrow(UsageError);
    await expect(
      resolveDeployment({ instanceId: 'web-1' }, {}, new FakeShell(), ['instanceId']),
    ).rejects.toThrow('--instance-id "web-1" is not a valid instance id (e.g. i-0123456789abcdef0)');
    const env = await resolveDeployment({}, { DALSTON_INSTANCE_ID: 'web-1' }, new FakeShell(), [
      'instanceId',
    ]).catch((e) => e);
    expect(env).toBeInstanceOf(ConfigError);
    expect(env.message).toBe(
      'DALSTON_INSTANCE_ID="web-1" is not a valid instance id (e.g. i-0123456789abcdef0)',
    );
  });

  it('ssh user and status prefix come from flag/env/terraform with defaults', async () => {
    const shell = new FakeShell(
      tfOutputs({ tailscale_hostname: 'h', ssh_user: 'admin', status_prefix: 'hb/' }),
    );
    const d = await resolveDeployment({ tfDir }, {}, shell, ['tailscaleHostname']);
    expect(d).toMatchObject({ sshUser: 'admin', statusPrefix: 'hb/', tailscaleHostname: 'h' });
    const e = await resolveDeployment({ tfDir, user: 'me' }, { DALSTON_STATUS_PREFIX: 'x/' }, shell, [
      'tailscaleHostname',
    ]);
    expect(e).toMatchObject({ sshUser: 'me', statusPrefix: 'x/' });
  });
});

describe('deployment resolution: what comes free once terraform was read', () => {
  it('a value not needed is still taken from terraform once it ran (the bucket `down` records in)', async () => {
    const shell = new FakeShell(TF);
    const d = await resolveDeployment({ tfDir }, {}, shell, ['instanceId', 'region']);
    expect(d).toMatchObject({ instanceId: 'i-0ffffffffffffffff', bucket: 'tf-bucket', stopSchedule: null });
    expect(shell.calls).toHaveLength(1);
  });

  it('without terraform, an unneeded value stays unknown and terraform is not run', async () => {
    const shell = new FakeShell(TF);
    const d = await resolveDeployment(
      { instanceId: 'i-0aaaaaaaaaaaaaaaa', region: 'eu-west-2', tfDir },
      {},
      shell,
      ['instanceId', 'region'],
    );
    expect(d.bucket).toBeNull();
    expect(shell.calls).toEqual([]);
  });

  it('the backstop schedule: terraform output stop_schedule, or DALSTON_STOP_SCHEDULE first', async () => {
    const answer = tfOutputs({ instance_id: 'i-0ffffffffffffffff', region: 'us-east-1' });
    const withSchedule = JSON.parse(answer.stdout);
    withSchedule.stop_schedule = {
      sensitive: false,
      type: ['object', {}],
      value: { expression: 'cron(0 2 * * ? *)', timezone: 'Europe/London' },
    };
    const shell = new FakeShell({ ...answer, stdout: JSON.stringify(withSchedule) });
    const fromTf = await resolveDeployment({ tfDir }, {}, shell, ['instanceId', 'region']);
    expect(fromTf.stopSchedule).toEqual({ expression: 'cron(0 2 * * ? *)', timezone: 'Europe/London' });
    const fromEnv = await resolveDeployment(
      { tfDir },
      { DALSTON_STOP_SCHEDULE: 'cron(30 1 * * ? *) UTC' },
      shell,
      ['instanceId', 'region'],
    );
    expect(fromEnv.stopSchedule).toEqual({ expression: 'cron(30 1 * * ? *)', timezone: 'UTC' });
    await expect(
      resolveDeployment({ tfDir }, { DALSTON_STOP_SCHEDULE: 'daily' }, shell, ['instanceId', 'region']),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('deployment resolution: the API key parameter', () => {
  it('comes from --parameter, then DALSTON_API_KEY_PARAMETER, then output api_key_parameter', async () => {
    const tf = tfOutputs({ region: 'us-east-1', api_key_parameter: '/dalston/tf/api-key' });
    const fromTf = await resolveDeployment({ tfDir }, {}, new FakeShell(tf), ['region', 'apiKeyParameter']);
    expect(fromTf.apiKeyParameter).toBe('/dalston/tf/api-key');
    const fromEnv = await resolveDeployment(
      { tfDir },
      { DALSTON_API_KEY_PARAMETER: '/dalston/env/api-key' },
      new FakeShell(tf),
      ['region', 'apiKeyParameter'],
    );
    expect(fromEnv.apiKeyParameter).toBe('/dalston/env/api-key');
    const fromFlag = await resolveDeployment(
      { tfDir, apiKeyParameter: '/dalston/flag/api-key' },
      { DALSTON_API_KEY_PARAMETER: '/dalston/env/api-key' },
      new FakeShell(tf),
      ['region', 'apiKeyParameter'],
    );
    expect(fromFlag.apiKeyParameter).toBe('/dalston/flag/api-key');
  });

  it('a malformed name is refused naming the flag; a missing one names flag, variable and output', async () => {
    await expect(
      resolveDeployment({ tfDir, apiKeyParameter: 'api key' }, {}, new FakeShell(TF), ['apiKeyParameter']),
    ).rejects.toThrow(UsageError);
    await expect(
      resolveDeployment({ tfDir }, { AWS_REGION: 'eu-west-2' }, new FakeShell(TF), [
        'region',
        'apiKeyParameter',
      ]),
    ).rejects.toThrow(
      /\n {2}API key parameter {2}--parameter or DALSTON_API_KEY_PARAMETER \(Terraform output "api_key_parameter"\)/,
    );
  });
});

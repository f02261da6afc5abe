import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';
import { type ShellResult, ZxShell } from '../../../shared/shell.ts';
import { requireCommand } from '../../harness/require.ts';
import {
  findAwsProviderMirror,
  mirrorTerraformEnv,
  type ProviderMirror,
} from '../../harness/terraform-mirror.ts';
import { allows, decide, type PolicyDocument, statements } from './iam-policy.ts';

// Real terraform with the real AWS provider from the machine image's filesystem mirror
// (no registry, no account): `init` + `validate` of every configuration, and `terraform
// test` with `mock_provider "aws"`, whose planned values (`-json -verbose`) are checked
// here resource by resource, nested modules included.

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const shell = new ZxShell();

/** Modules whose tftest needs fixtures that test/integration/infra/terraform.test.ts builds. */
const testedElsewhere = new Set(['modules/host-config']);

/** AWS-managed policies the instance role must never carry (their wildcards reach every container). */
const FORBIDDEN_MANAGED_POLICIES = [
  'AmazonSSMManagedInstanceCore',
  'AmazonEC2RoleforSSM',
  'AmazonSSMFullAccess',
  'AmazonSSMReadOnlyAccess',
  'AmazonS3FullAccess',
  'AmazonS3ReadOnlyAccess',
  'AdministratorAccess',
  'PowerUserAccess',
  'ReadOnlyAccess',
  'AmazonEC2FullAccess',
  'IAMFullAccess',
  'CloudWatchAgentServerPolicy',
];

interface PlannedResource {
  address: string;
  type: string;
  change: { actions: string[]; after: Record<string, unknown> | null };
}
interface Plan {
  resource_changes: PlannedResource[];
}
interface TestOutcome {
  result: ShellResult;
  plans: Map<string, Plan>;
  runs: Map<string, string>;
  summary?: { status: string; passed: number; failed: number; errored: number; skipped: number };
}

let ws: string;
let tfRoot: string;
let env: Record<string, string | undefined>;
let mirror: ProviderMirror;
let dirs: string[] = [];
const inits = new Map<string, ShellResult>();
const validations = new Map<string, ShellResult>();

const tf = (dir: string, args: string[]) =>
  shell.run('terraform', args, { cwd: path.join(tfRoot, dir), env, timeoutMs: 300_000 });

/** Every directory of .tf files under environments/ and modules/, as 'modules/x' paths. */
async function terraformDirs(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const group of ['environments', 'modules']) {
    for (const e of await readdir(path.join(root, group), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const files = await readdir(path.join(root, group, e.name));
      if (files.some((f) => f.endsWith('.tf'))) out.push(`${group}/${e.name}`);
    }
  }
  return out.sort();
}

/**
 * `terraform test -json`: the run statuses, and with `verbose` each run's JSON plan
 * (about 13 MB a run: it embeds the AWS provider's schema).
 */
async function terraformTest(dir: string, verbose = false): Promise<TestOutcome> {
  const result = await tf(dir, ['test', '-json', ...(verbose ? ['-verbose'] : []), '-no-color']);
  const plans = new Map<string, Plan>();
  const runs = new Map<string, string>();
  let summary: TestOutcome['summary'];
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line) as Record<string, unknown>;
    if (msg.type === 'test_plan') plans.set(msg['@testrun'] as string, msg.test_plan as Plan);
    if (msg.type === 'test_run') {
      const r = msg.test_run as { run: string; progress: string; status?: string };
      if (r.progress === 'complete') runs.set(r.run, r.status ?? '?');
    }
    if (msg.type === 'test_summary') summary = msg.test_summary as TestOutcome['summary'];
  }
  return { result, plans, runs, summary };
}

function diagnostics(r: ShellResult): string {
  return r.stdout
    .split('\n')
    .filter((l) => l.includes('"diagnostic"'))
    .map((l) => {
      const d = (JSON.parse(l) as { diagnostic: { summary: string; detail?: string } }).diagnostic;
      return `${d.summary}: ${d.detail ?? ''}`;
    })
    .join('\n')
    .concat(r.stderr);
}

/** environments/dev's `terraform test`, run once by the beforeAll of its describe block. */
let devOutcome: TestOutcome | undefined;
const dev = async (): Promise<TestOutcome> => {
  if (!devOutcome) throw new Error('environments/dev was not tested (its beforeAll failed)');
  return devOutcome;
};

async function plan(run: string): Promise<Plan> {
  const o = await dev();
  const p = o.plans.get(run);
  if (!p) throw new Error(`no plan for run "${run}" of environments/dev: ${diagnostics(o.result)}`);
  return p;
}

function all(p: Plan, type: string): { address: string; after: Record<string, unknown> }[] {
  return p.resource_changes
    .filter((r) => r.type === type && r.change.actions.includes('create'))
    .map((r) => ({ address: r.address, after: r.change.after ?? {} }));
}

function only(p: Plan, type: string, addressPart = ''): Record<string, unknown> {
  const found = all(p, type).filter((r) => r.address.includes(addressPart));
  expect(
    found.map((r) => r.address),
    `one ${type}${addressPart ? ` matching ${addressPart}` : ''}`,
  ).toHaveLength(1);
  return found[0]!.after;
}

const first = (v: unknown): Record<string, unknown> => (v as Record<string, unknown>[])[0]!;
const doc = (json: unknown): PolicyDocument => JSON.parse(json as string) as PolicyDocument;

/** The role(s) EC2 may assume, and the inline policy documents attached to them. */
function instanceRole(p: Plan): { name: string; inline: PolicyDocument[] } {
  const roles = all(p, 'aws_iam_role').filter((r) =>
    statements(doc(r.after.assume_role_policy)).some((s) =>
      JSON.stringify(s.Principal).includes('ec2.amazonaws.com'),
    ),
  );
  expect(roles, 'exactly one role trusted by EC2').toHaveLength(1);
  const name = roles[0]!.after.name as string;
  const inline = all(p, 'aws_iam_role_policy')
    .filter((r) => r.after.role === name)
    .map((r) => doc(r.after.policy));
  return { name, inline };
}

const BUCKET = 'arn:aws:s3:::dalston-artifacts-123456789012';
const obj = (key: string) => `${BUCKET}/${key}`;
const PARAM = 'arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/tailscale-auth-key';
const INSTANCE_ARN = 'arn:aws:ec2:eu-west-2:123456789012:instance/i-0123456789abcdef0';

beforeAll(async () => {
  requireCommand('terraform', 'install Terraform >= 1.7 (https://developer.hashicorp.com/terraform/install)');
  mirror = await findAwsProviderMirror();
  ws = await mkdtemp(path.join(process.env.DALSTON_TEST_TMP ?? os.tmpdir(), 'tf-plan-'));
  tfRoot = path.join(ws, 'infra/terraform');
  // A copy, so .terraform/, lock files and test state never land in the repository;
  // an operator's own terraform.tfvars or state is not copied (terraform test would read it).
  await cp(path.join(repoRoot, 'infra/terraform'), tfRoot, {
    recursive: true,
    filter: (src) => {
      const base = path.basename(src);
      return !(
        base === '.terraform' ||
        base === '.terraform.lock.hcl' ||
        base === 'terraform.tfvars' ||
        base.includes('.tfstate') ||
        base === 'tfplan'
      );
    },
  });
  // environments/dev reads the service list from the repository's compose/ directory.
  await mkdir(path.join(ws, 'compose'));
  await cp(path.join(repoRoot, 'compose/services.cpu.json'), path.join(ws, 'compose/services.cpu.json'));
  env = await mirrorTerraformEnv(mirror, ws);
  dirs = await terraformDirs(tfRoot);
  for (const dir of dirs) {
    const init = await tf(dir, ['init', '-backend=false', '-input=false', '-no-color']);
    inits.set(dir, init);
    if (init.exitCode === 0) validations.set(dir, await tf(dir, ['validate', '-json', '-no-color']));
  }
}, 900_000);

afterAll(async () => {
  if (ws) await rm(ws, { recursive: true, force: true });
});

describe('terraform init and validate with the mirrored AWS provider', () => {
  it('covers environments/dev and every module', () => {
    expect(dirs).toEqual(
      expect.arrayContaining([
        'environments/dev',
        'modules/data-snapshots',
        'modules/ec2-dalston',
        'modules/host-config',
        'modules/iam-dalston',
        'modules/s3-artifacts',
        'modules/stop-schedule',
      ]),
    );
  });

  it('init -backend=false and validate pass for each, with hashicorp/aws from the mirror', async () => {
    for (const dir of dirs) {
      const init = inits.get(dir)!;
      expect(init.exitCode, `${dir}: terraform init\n${init.stdout}${init.stderr}`).toBe(0);
      const v = validations.get(dir)!;
      const result = JSON.parse(v.stdout) as { valid: boolean; error_count: number; diagnostics: unknown[] };
      expect(result.valid, `${dir}: terraform validate ${JSON.stringify(result.diagnostics)}`).toBe(true);
      expect(result.error_count).toBe(0);
      if (dir === 'modules/host-config') continue; // provider-free by design
      // .terraform/providers/<registry host>/hashicorp/aws/<version>
      const providers = path.join(tfRoot, dir, '.terraform/providers');
      const hosts = await readdir(providers);
      expect(hosts, `${dir}: one provider source host`).toHaveLength(1);
      const installed = await readdir(path.join(providers, hosts[0]!, 'hashicorp/aws'));
      expect(installed.length, `${dir}: AWS provider installed`).toBe(1);
      expect(mirror.versions, `${dir}: provider version comes from the mirror`).toContain(installed[0]);
    }
  });
});

describe('terraform test of each module (mock_provider "aws")', () => {
  it('every module with tests passes every run', async () => {
    const tested: string[] = [];
    for (const dir of dirs.filter((d) => d.startsWith('modules/') && !testedElsewhere.has(d))) {
      const hasTests = await stat(path.join(tfRoot, dir, 'tests')).then(
        () => true,
        () => false,
      );
      if (!hasTests) continue;
      const o = await terraformTest(dir);
      expect(o.summary, `${dir}: ${diagnostics(o.result)}`).toBeDefined();
      expect(o.summary!.status, `${dir}: ${diagnostics(o.result)}`).toBe('pass');
      expect(o.summary!.failed + o.summary!.errored + o.summary!.skipped).toBe(0);
      expect(o.summary!.passed).toBeGreaterThanOrEqual(3);
      tested.push(dir);
    }
    expect(tested).toEqual([
      'modules/data-snapshots',
      'modules/ec2-dalston',
      'modules/iam-dalston',
      'modules/s3-artifacts',
      'modules/stop-schedule',
    ]);
  }, 900_000);
});

describe('environments/dev planned on the mocked provider', () => {
  beforeAll(async () => {
    devOutcome = await terraformTest('environments/dev', true);
  }, 900_000);

  it('terraform test passes every run, validations included', async () => {
    const o = await dev();
    expect(o.summary, diagnostics(o.result)).toBeDefined();
    expect(o.summary!.status, diagnostics(o.result)).toBe('pass');
    expect(
      [...o.runs.values()].every((s) => s === 'pass'),
      JSON.stringify([...o.runs]),
    ).toBe(true);
    expect([...o.runs.keys()]).toEqual(
      expect.arrayContaining(['defaults', 'all_options', 'minimal', 'tailscale_key_withdrawn']),
    );
    expect(o.result.exitCode).toBe(0);
  });

  it('plans the whole stack: instance, volumes, bucket, role, snapshots', async () => {
    const types = new Set((await plan('defaults')).resource_changes.map((r) => r.type));
    for (const t of [
      'aws_instance',
      'aws_ebs_volume',
      'aws_volume_attachment',
      'aws_security_group',
      'aws_s3_bucket',
      'aws_s3_bucket_versioning',
      'aws_s3_bucket_lifecycle_configuration',
      'aws_iam_role',
      'aws_iam_role_policy',
      'aws_dlm_lifecycle_policy',
      'aws_s3_object',
    ]) {
      expect(types, t).toContain(t);
    }
  });

  it('no ingress is open to 0.0.0.0/0 or ::/0; peers get the gateway port by security group only', async () => {
    for (const run of ['defaults', 'all_options', 'minimal']) {
      const p = await plan(run);
      expect(all(p, 'aws_security_group_rule'), `${run}: legacy rule resources`).toHaveLength(0);
      for (const sg of all(p, 'aws_security_group')) {
        const inline = (sg.after.ingress as unknown[] | undefined) ?? [];
        expect(inline, `${run}: ${sg.address} inline ingress`).toHaveLength(0);
      }
      for (const rule of all(p, 'aws_vpc_security_group_ingress_rule')) {
        expect(rule.after.cidr_ipv4, `${run}: ${rule.address}`).not.toBe('0.0.0.0/0');
        expect(rule.after.cidr_ipv6, `${run}: ${rule.address}`).not.toBe('::/0');
        expect(rule.after.cidr_ipv4 ?? null).toBeNull();
        expect(rule.after.cidr_ipv6 ?? null).toBeNull();
        expect(rule.after.referenced_security_group_id).toMatch(/^sg-[0-9a-f]+$/);
        expect([rule.after.from_port, rule.after.to_port, rule.after.ip_protocol]).toEqual([
          8000,
          8000,
          'tcp',
        ]);
      }
    }
    expect(all(await plan('defaults'), 'aws_vpc_security_group_ingress_rule')).toHaveLength(0);
    expect(all(await plan('all_options'), 'aws_vpc_security_group_ingress_rule')).toHaveLength(1);
  });

  it('the instance requires IMDSv2, encrypts its root volume, and stops (not terminates) on power-off', async () => {
    const i = only(await plan('defaults'), 'aws_instance');
    expect(first(i.metadata_options)).toMatchObject({
      http_tokens: 'required',
      http_endpoint: 'enabled',
      http_put_response_hop_limit: 2,
    });
    expect(first(i.root_block_device).encrypted).toBe(true);
    expect(i.instance_initiated_shutdown_behavior).toBe('stop');
    expect(i.ebs_optimized).toBe(true);
    expect(i.instance_type).toBe('t3.xlarge');
  });

  it('every EBS volume is encrypted, and the data volume carries the snapshot tag', async () => {
    const vols = all(await plan('defaults'), 'aws_ebs_volume');
    expect(vols).toHaveLength(1);
    for (const v of vols) expect(v.after.encrypted, v.address).toBe(true);
    expect(vols[0]!.after.tags).toMatchObject({ DalstonDataVolume: 'dalston-data' });
  });

  it('the bucket blocks public access, is versioned, encrypted and TLS-only', async () => {
    const p = await plan('defaults');
    expect(only(p, 'aws_s3_bucket_public_access_block')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(first(only(p, 'aws_s3_bucket_versioning').versioning_configuration).status).toBe('Enabled');
    const sse = first(
      first(only(p, 'aws_s3_bucket_server_side_encryption_configuration').rule)
        .apply_server_side_encryption_by_default,
    );
    expect(['AES256', 'aws:kms', 'aws:kms:dsse']).toContain(sse.sse_algorithm);
    expect(only(p, 'aws_s3_bucket').force_destroy).toBe(false);
    const tls = doc(only(p, 'aws_s3_bucket_policy').policy);
    expect(decide([tls], 's3:GetObject', obj('jobs/x'))).toBe('implicit-deny');
    const deny = statements(tls).find((s) => s.Effect === 'Deny')!;
    expect(deny.Condition).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    expect(deny.Action).toBe('s3:*');
    expect(deny.Resource).toEqual([BUCKET, `${BUCKET}/*`]);
  });

  it('lifecycle: backups/ expire after backups_expiration_days, noncurrent versions expire, jobs/ expire', async () => {
    const rules = only(await plan('all_options'), 'aws_s3_bucket_lifecycle_configuration').rule as Record<
      string,
      unknown
    >[];
    const byId = new Map(rules.map((r) => [r.id as string, r]));
    const backups = byId.get('expire-backups')!;
    expect(first(backups.filter).prefix).toBe('backups/');
    expect(first(backups.expiration).days).toBe(45);
    const noncurrent = byId.get('expire-noncurrent-versions')!;
    expect(first(noncurrent.noncurrent_version_expiration).noncurrent_days).toBe(30);
    expect(first(noncurrent.expiration).expired_object_delete_marker).toBe(true);
    expect(first(byId.get('expire-jobs')!.expiration).days).toBe(30);
    for (const r of rules) expect(r.status, r.id as string).toBe('Enabled');
  });

  it('the instance role has no managed policy, and no role in the stack has a forbidden one', async () => {
    for (const run of ['defaults', 'all_options', 'minimal']) {
      const p = await plan(run);
      const { name } = instanceRole(p);
      const role = all(p, 'aws_iam_role').find((r) => r.after.name === name)!;
      expect((role.after.managed_policy_arns as unknown[] | undefined) ?? []).toHaveLength(0);
      const attachments = all(p, 'aws_iam_role_policy_attachment');
      expect(
        attachments.filter((a) => a.after.role === name).map((a) => a.after.policy_arn),
        `${run}: managed policies on the instance role`,
      ).toEqual([]);
      for (const a of attachments) {
        const policyName = (a.after.policy_arn as string).split('/').pop()!;
        expect(FORBIDDEN_MANAGED_POLICIES, `${run}: ${a.address}`).not.toContain(policyName);
      }
      for (const t of ['aws_iam_policy_attachment', 'aws_iam_role_policy_attachments_exclusive']) {
        expect(all(p, t), `${run}: ${t}`).toHaveLength(0);
      }
    }
  });

  it('the instance role reads releases/ and config/ but writes only the prefixes the host writes', async () => {
    const { inline } = instanceRole(await plan('defaults'));
    for (const key of [
      'jobs/j1/transcript.json',
      'sessions/s1/audio.wav',
      'models/m1/model.bin',
      'status/i-1/latest.json',
      'backups/db.dump',
    ]) {
      expect(allows(inline, 's3:PutObject', obj(key)), `PutObject ${key}`).toBe(true);
      expect(allows(inline, 's3:GetObject', obj(key)), `GetObject ${key}`).toBe(true);
    }
    for (const key of ['releases/dalston-host-0.1.0.tgz', 'config/host.json']) {
      expect(allows(inline, 's3:GetObject', obj(key)), `GetObject ${key}`).toBe(true);
      expect(allows(inline, 's3:PutObject', obj(key)), `PutObject ${key}`).toBe(false);
      expect(allows(inline, 's3:DeleteObject', obj(key)), `DeleteObject ${key}`).toBe(false);
    }
    for (const key of ['elsewhere/x', 'jobsx/y', 'other']) {
      expect(allows(inline, 's3:PutObject', obj(key)), `PutObject ${key}`).toBe(false);
      expect(allows(inline, 's3:GetObject', obj(key)), `GetObject ${key}`).toBe(false);
    }
    expect(allows(inline, 's3:GetObject', 'arn:aws:s3:::someone-elses-bucket/jobs/x')).toBe(false);
    for (const action of [
      's3:PutBucketVersioning',
      's3:PutLifecycleConfiguration',
      's3:PutBucketPolicy',
      's3:DeleteBucket',
    ]) {
      expect(allows(inline, action, BUCKET), action).toBe(false);
    }
  });

  it('config/ and releases/ are explicitly denied to writes and deletes: the host cannot rewrite its own orders', async () => {
    const { inline } = instanceRole(await plan('defaults'));
    for (const key of ['config/host.json', 'releases/dalston-host-0.1.0.tgz']) {
      for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']) {
        expect(decide(inline, action, obj(key)), `${action} ${key}`).toBe('explicit-deny');
      }
      expect(decide(inline, 's3:GetObject', obj(key)), `GetObject ${key}`).toBe('allow');
    }
  });

  it('publishes the desired state at config/host.json, valid for the host, after the release it names', async () => {
    const p = await plan('defaults');
    const objects = all(p, 'aws_s3_object');
    const desired = objects.find((o) => o.after.key === 'config/host.json');
    expect(desired, objects.map((o) => o.address).join(', ')).toBeDefined();
    const parsed = parseDesiredState(desired!.after.content as string);
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    const release = objects.find((o) => String(o.after.key).startsWith('releases/'))!;
    expect(parsed.state.document.release).toMatchObject({
      version: '0.0.0-fixture',
      key: release.after.key,
      sha256: (release.after.metadata as Record<string, string>).sha256,
    });
    expect(parsed.state.document.publishedBy).toBe('terraform');
    expect(parsed.state.host.volume.id).toBe('vol-0123456789abcdef0');
    expect(parsed.state.host.dalston).toMatchObject({ ref: 'v1.2.3', imageTag: '1.2.3' });
    // The instance names where its state is and carries no release it may not run.
    const tags = only(p, 'aws_instance').tags as Record<string, string>;
    expect(tags).not.toHaveProperty('DalstonHostRelease');
    expect(tags.DalstonDesiredState).toBe('s3://dalston-artifacts-123456789012/config/host.json');
  });

  it('the instance role reads the keep-awake lease beside its snapshot, and cannot delete it or the running-hours record', async () => {
    const { inline } = instanceRole(await plan('defaults'));
    // The agent honours status/<id>/keep-awake.json (written from the laptop) and keeps
    // status/<id>/running/<month>.json; it never removes either.
    expect(allows(inline, 's3:GetObject', obj('status/i-0123456789abcdef0/keep-awake.json'))).toBe(true);
    expect(allows(inline, 's3:PutObject', obj('status/i-0123456789abcdef0/running/2026-12.json'))).toBe(true);
    for (const key of [
      'status/i-0123456789abcdef0/keep-awake.json',
      'status/i-0123456789abcdef0/running/2026-12.json',
    ]) {
      expect(allows(inline, 's3:DeleteObject', obj(key)), `DeleteObject ${key}`).toBe(false);
    }
    // No EC2 API on the host: the lease is an object, not an instance tag.
    for (const action of ['ec2:DescribeTags', 'ec2:DescribeInstances', 'ec2:StopInstances']) {
      expect(allows(inline, action, '*'), action).toBe(false);
      expect(allows(inline, action, INSTANCE_ARN), action).toBe(false);
    }
  });

  it('the instance role cannot delete under backups/ (explicit deny), nor any object version', async () => {
    const { inline } = instanceRole(await plan('defaults'));
    expect(decide(inline, 's3:DeleteObject', obj('backups/2026-01-01/db.dump'))).toBe('explicit-deny');
    expect(decide(inline, 's3:DeleteObjectVersion', obj('backups/2026-01-01/db.dump'))).toBe('explicit-deny');
    expect(allows(inline, 's3:DeleteObjectVersion', obj('jobs/j1/transcript.json'))).toBe(false);
    expect(allows(inline, 's3:DeleteObject', obj('jobs/j1/transcript.json'))).toBe(true);
    expect(allows(inline, 's3:DeleteObject', obj('status/i-1/latest.json'))).toBe(false);
  });

  it('SSM: the one Tailscale parameter while readable; never GetParameter* on anything else', async () => {
    const def = instanceRole(await plan('defaults')).inline;
    expect(allows(def, 'ssm:GetParameter', PARAM)).toBe(true);
    const withdrawn = instanceRole(await plan('tailscale_key_withdrawn')).inline;
    expect(allows(withdrawn, 'ssm:GetParameter', PARAM)).toBe(false);
    for (const inline of [def, withdrawn, instanceRole(await plan('minimal')).inline]) {
      for (const action of [
        'ssm:GetParameter',
        'ssm:GetParameters',
        'ssm:GetParametersByPath',
        'ssm:GetParameterHistory',
      ]) {
        for (const res of ['*', 'arn:aws:ssm:eu-west-2:123456789012:parameter/prod/db-password']) {
          expect(allows(inline, action, res), `${action} on ${res}`).toBe(false);
        }
      }
      expect(allows(inline, 'ssm:GetParameters', PARAM)).toBe(false);
    }
  });

  it('SSM: PutParameter on the one API key parameter only, and no read of it', async () => {
    const apiKey = 'arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/dalston/api-key';
    for (const name of ['defaults', 'minimal', 'tailscale_key_withdrawn']) {
      const inline = instanceRole(await plan(name)).inline;
      expect(allows(inline, 'ssm:PutParameter', apiKey), `${name}: PutParameter`).toBe(true);
      expect(allows(inline, 'ssm:GetParameter', apiKey), `${name}: GetParameter`).toBe(false);
      expect(allows(inline, 'ssm:DeleteParameter', apiKey), `${name}: DeleteParameter`).toBe(false);
      for (const res of ['*', PARAM, 'arn:aws:ssm:eu-west-2:123456789012:parameter/dalston/other']) {
        expect(allows(inline, 'ssm:PutParameter', res), `${name}: PutParameter on ${res}`).toBe(false);
      }
    }
  });

  it('Session Manager: exactly the agent channel actions on "*", and only when enabled', async () => {
    const session = [
      'ssm:UpdateInstanceInformation',
      'ssmmessages:CreateControlChannel',
      'ssmmessages:CreateDataChannel',
      'ssmmessages:OpenControlChannel',
      'ssmmessages:OpenDataChannel',
    ];
    const def = instanceRole(await plan('defaults')).inline;
    for (const a of session) expect(allows(def, a, '*'), a).toBe(true);
    for (const a of ['ec2messages:GetMessages', 'ssm:SendCommand', 'ssm:StartSession', 'ssm:PutParameter']) {
      expect(allows(def, a, '*'), a).toBe(false);
    }
    // Wherever a statement grants on "*", its actions are the Session Manager ones and no others.
    for (const s of def.flatMap(statements)) {
      const res = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      if (!res.includes('*')) continue;
      expect(s.Effect).toBe('Allow');
      expect([...(s.Action as string[])].sort()).toEqual([...session].sort());
    }
    const minimal = instanceRole(await plan('minimal')).inline;
    for (const a of session) expect(allows(minimal, a, '*'), a).toBe(false);
  });

  it('the evaluator sees a managed-policy-style wildcard, so the SSM checks above can fail', () => {
    const managedCoreLike: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:GetParameters'], Resource: '*' }],
    };
    expect(allows([managedCoreLike], 'ssm:GetParameter', 'arn:aws:ssm:eu-west-2:1:parameter/prod/x')).toBe(
      true,
    );
    expect(allows([managedCoreLike], 'ssm:GetParameters', '*')).toBe(true);
  });

  it('DLM snapshots the data volume daily by tag with its own DLM-only role', async () => {
    const p = await plan('all_options');
    const dlm = only(p, 'aws_dlm_lifecycle_policy');
    expect(dlm.state).toBe('ENABLED');
    const details = first(dlm.policy_details);
    expect(details.resource_types).toEqual(['VOLUME']);
    expect(details.target_tags).toEqual({ DalstonDataVolume: 'dalston-data' });
    const schedule = first(details.schedule);
    expect(first(schedule.create_rule)).toMatchObject({
      interval: 24,
      interval_unit: 'HOURS',
      times: ['03:15'],
    });
    expect(first(schedule.retain_rule).count).toBe(14);
    expect(schedule.copy_tags).toBe(true);
    const role = all(p, 'aws_iam_role').find((r) => r.address.includes('snapshots'))!;
    expect(statements(doc(role.after.assume_role_policy)).map((s) => s.Principal)).toEqual([
      { Service: 'dlm.amazonaws.com' },
    ]);
    const attached = all(p, 'aws_iam_role_policy_attachment').filter((a) => a.after.role === role.after.name);
    expect(attached.map((a) => a.after.policy_arn)).toEqual([
      'arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole',
    ]);
    expect(all(await plan('minimal'), 'aws_dlm_lifecycle_policy')).toHaveLength(0);
  });

  it('the backstop stop schedule is off by default; when on, its role may stop this instance only', async () => {
    expect(all(await plan('defaults'), 'aws_scheduler_schedule')).toHaveLength(0);
    const p = await plan('all_options');
    const s = only(p, 'aws_scheduler_schedule');
    expect(s.schedule_expression).toBe('cron(30 1 * * ? *)');
    expect(s.schedule_expression_timezone).toBe('Europe/Berlin');
    const target = first(s.target);
    expect(target.arn).toBe('arn:aws:scheduler:::aws-sdk:ec2:stopInstances');
    expect(JSON.parse(target.input as string)).toEqual({ InstanceIds: ['i-0123456789abcdef0'] });
    const role = all(p, 'aws_iam_role').find((r) => r.address.includes('stop_schedule'))!;
    const trust = statements(doc(role.after.assume_role_policy));
    expect(trust.map((t) => t.Principal)).toEqual([{ Service: 'scheduler.amazonaws.com' }]);
    expect(trust[0]!.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': '123456789012' } });
    const inline = all(p, 'aws_iam_role_policy')
      .filter((r) => r.after.role === role.after.name)
      .map((r) => doc(r.after.policy));
    expect(allows(inline, 'ec2:StopInstances', INSTANCE_ARN)).toBe(true);
    expect(
      allows(inline, 'ec2:StopInstances', 'arn:aws:ec2:eu-west-2:123456789012:instance/i-0fedcba9876543210'),
    ).toBe(false);
    for (const a of ['ec2:TerminateInstances', 'ec2:StartInstances', 'ec2:ModifyInstanceAttribute']) {
      expect(allows(inline, a, INSTANCE_ARN), a).toBe(false);
    }
    expect(
      all(p, 'aws_iam_role_policy_attachment').filter((a) => a.after.role === role.after.name),
    ).toHaveLength(0);
  });
});

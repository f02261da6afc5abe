// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Terraform expressions as hcl2json prints them
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STATUS_PREFIX } from '../../../shared/status/s3-key.ts';

// Security properties of the Terraform code, asserted on the parsed HCL of every
// .tf file (no terraform, no provider). The planned values are checked as well, by
// test/integration/infra/terraform-plan.test.ts with the AWS provider from a local mirror.

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const tfRoot = path.join(repoRoot, 'infra/terraform');

type Body = Record<string, unknown>;
interface TfFile {
  file: string;
  dir: string;
  json: Body;
}

function listTf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === '.terraform' ? [] : listTf(p);
    return e.name.endsWith('.tf') ? [p] : [];
  });
}

let files: TfFile[] = [];

beforeAll(async () => {
  files = await Promise.all(
    listTf(tfRoot).map(async (file) => ({
      file: path.relative(repoRoot, file),
      dir: path.relative(tfRoot, path.dirname(file)),
      json: (await parse(file, readFileSync(file, 'utf8'))) as Body,
    })),
  );
});

/** All blocks of `kind` (resource/data) and `type`, optionally within one module directory. */
function blocks(kind: 'resource' | 'data', type: string, dir?: string): { name: string; body: Body }[] {
  return files
    .filter((f) => dir === undefined || f.dir === dir)
    .flatMap((f) => {
      const byType = (f.json[kind] as Record<string, Record<string, Body[]>> | undefined)?.[type] ?? {};
      return Object.entries(byType).flatMap(([name, list]) => list.map((body) => ({ name, body })));
    });
}

function one(kind: 'resource' | 'data', type: string, name: string, dir?: string): Body {
  const found = blocks(kind, type, dir).filter((b) => b.name === name);
  expect(found, `${kind} ${type}.${name}${dir ? ` in ${dir}` : ''}`).toHaveLength(1);
  return found[0]!.body;
}

function sub(body: Body, key: string): Body {
  const list = body[key] as Body[] | undefined;
  expect(list, `block ${key}`).toBeDefined();
  expect(list).toHaveLength(1);
  return list![0]!;
}

function namedBlocks(section: 'variable' | 'output'): { file: string; name: string; body: Body }[] {
  return files.flatMap((f) =>
    Object.entries((f.json[section] as Record<string, Body[]> | undefined) ?? {}).map(([name, list]) => ({
      file: f.file,
      name,
      body: list[0]!,
    })),
  );
}

const ec2 = 'modules/ec2-dalston';
const s3 = 'modules/s3-artifacts';
const iam = 'modules/iam-dalston';
const snapshots = 'modules/data-snapshots';
const stopSchedule = 'modules/stop-schedule';
const dev = 'environments/dev';

/** AWS-managed policies that must never reach the instance role (their wildcards reach every container). */
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

/** The `locals` of one module directory, merged. */
function locals(dir: string): Body {
  return Object.assign(
    {},
    ...files.filter((f) => f.dir === dir).flatMap((f) => (f.json.locals as Body[] | undefined) ?? []),
  ) as Body;
}

function variable(dir: string, name: string): Body {
  const v = namedBlocks('variable').find(
    (x) => x.file.startsWith(`infra/terraform/${dir}/`) && x.name === name,
  );
  expect(v, `${dir} variable ${name}`).toBeDefined();
  return v!.body;
}

/** Every object with a `Resource` key anywhere in a value (policy statements in locals). */
function statementsIn(value: unknown): Body[] {
  if (Array.isArray(value)) return value.flatMap(statementsIn);
  if (value && typeof value === 'object') {
    const own = 'Resource' in value || 'NotResource' in value ? [value as Body] : [];
    return [...own, ...Object.values(value).flatMap(statementsIn)];
  }
  return [];
}

describe('layout', () => {
  it('has every module and environment file the design lists', () => {
    const present = new Set(files.map((f) => f.file));
    for (const m of [
      'ec2-dalston',
      's3-artifacts',
      'iam-dalston',
      'host-config',
      'data-snapshots',
      'stop-schedule',
    ]) {
      for (const f of ['main.tf', 'variables.tf', 'outputs.tf']) {
        expect(present, `modules/${m}/${f}`).toContain(`infra/terraform/modules/${m}/${f}`);
      }
    }
    for (const f of ['versions.tf', 'main.tf', 'variables.tf', 'outputs.tf']) {
      expect(present).toContain(`infra/terraform/environments/dev/${f}`);
    }
  });
});

describe('variables and outputs', () => {
  it('every variable is typed and described', () => {
    const vars = namedBlocks('variable');
    expect(vars.length).toBeGreaterThan(40);
    for (const v of vars) {
      expect(typeof v.body.description, `${v.file}: variable ${v.name} description`).toBe('string');
      expect((v.body.description as string).length, `${v.file}: ${v.name}`).toBeGreaterThan(10);
      expect(v.body.type, `${v.file}: variable ${v.name} type`).toBeDefined();
    }
  });

  it('every output is described', () => {
    const outs = namedBlocks('output');
    expect(outs.length).toBeGreaterThan(20);
    for (const o of outs) {
      expect(typeof o.body.description, `${o.file}: output ${o.name}`).toBe('string');
      expect((o.body.description as string).length).toBeGreaterThan(10);
    }
  });

  it('module variables where a wrong value is possible carry a validation', () => {
    const mustValidate: Record<string, string[]> = {
      [ec2]: [
        'subnet_id',
        'availability_zone',
        'os_family',
        'instance_type',
        'data_volume_size_gb',
        'allowed_security_group_ids',
      ],
      [s3]: [
        'bucket_name',
        'jobs_expiration_days',
        'backups_expiration_days',
        'noncurrent_version_expiration_days',
      ],
      [iam]: [
        'bucket_arn',
        'tailscale_auth_key_parameter_arn',
        'write_prefixes',
        'read_only_prefixes',
        'delete_prefixes',
      ],
      [snapshots]: ['name', 'target_tags', 'time_utc', 'retain_count'],
      [stopSchedule]: [
        'name',
        'account_id',
        'instance_id',
        'instance_arn',
        'schedule_expression',
        'timezone',
      ],
      [dev]: ['idle_stop_after_minutes'],
      'modules/host-config': ['account_id', 'region', 'release_version', 'dalston_ref', 'dalston_image_tag'],
    };
    for (const [dir, names] of Object.entries(mustValidate)) {
      const vars = namedBlocks('variable').filter((v) => v.file.startsWith(`infra/terraform/${dir}/`));
      for (const name of names) {
        const v = vars.find((x) => x.name === name);
        expect(v, `${dir} variable ${name}`).toBeDefined();
        expect(v!.body.validation, `${dir} variable ${name} validation`).toBeDefined();
      }
    }
  });

  it('the dev environment outputs everything the operator needs', () => {
    const outs = namedBlocks('output')
      .filter((o) => o.file.startsWith(`infra/terraform/${dev}/`))
      .map((o) => o.name);
    expect(outs).toEqual(
      expect.arrayContaining([
        'instance_id',
        'private_ip',
        'data_volume_id',
        'bucket_name',
        'bucket_arn',
        'role_arn',
        'security_group_id',
        'tailscale_hostname',
        'start_command',
        'stop_command',
        'status_command',
        'shell_aliases',
        'availability_zone',
        'data_snapshot_policy_arn',
        'stop_schedule_arn',
      ]),
    );
    const aliases = namedBlocks('output').find((o) => o.file.includes(dev) && o.name === 'shell_aliases')!;
    for (const alias of ['dalston-up', 'dalston-down', 'dalston-status']) {
      expect(aliases.body.value as string).toContain(`alias ${alias}=`);
    }
  });
});

describe('network: no public port', () => {
  it('the security group has no inline ingress and no legacy rule resources', () => {
    for (const sg of blocks('resource', 'aws_security_group')) {
      expect(sg.body.ingress, `aws_security_group.${sg.name}`).toBeUndefined();
      expect(typeof sg.body.description).toBe('string');
    }
    expect(blocks('resource', 'aws_security_group_rule')).toHaveLength(0);
  });

  it('ingress exists only per allowed security group (default none), gateway port only, no CIDR', () => {
    const rules = blocks('resource', 'aws_vpc_security_group_ingress_rule');
    expect(rules).toHaveLength(1);
    const rule = rules[0]!.body;
    expect(rule.for_each).toBe('${toset(var.allowed_security_group_ids)}');
    expect(rule.referenced_security_group_id).toBe('${each.value}');
    expect(rule.from_port).toBe('${var.gateway_port}');
    expect(rule.to_port).toBe('${var.gateway_port}');
    expect(rule.ip_protocol).toBe('tcp');
    for (const key of ['cidr_ipv4', 'cidr_ipv6', 'prefix_list_id']) expect(rule[key]).toBeUndefined();
    for (const v of namedBlocks('variable').filter((x) => x.name === 'allowed_security_group_ids')) {
      expect(v.body.default, v.file).toEqual([]);
    }
  });

  it('every security group rule is described', () => {
    const rules = [
      ...blocks('resource', 'aws_vpc_security_group_ingress_rule'),
      ...blocks('resource', 'aws_vpc_security_group_egress_rule'),
    ];
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const r of rules) expect(typeof r.body.description, r.name).toBe('string');
  });

  it('egress is open with a comment that says why', () => {
    const src = readFileSync(path.join(tfRoot, ec2, 'main.tf'), 'utf8');
    expect(src).toMatch(/# Egress is open: Tailscale .*UDP/);
    expect(one('resource', 'aws_vpc_security_group_egress_rule', 'all_ipv4', ec2).cidr_ipv4).toBe(
      '0.0.0.0/0',
    );
  });
});

describe('instance', () => {
  let instance: Body;
  beforeAll(() => {
    instance = one('resource', 'aws_instance', 'this', ec2);
  });

  it('requires IMDSv2 with hop limit 2', () => {
    const md = sub(instance, 'metadata_options');
    expect(md.http_tokens).toBe('required');
    expect(md.http_put_response_hop_limit).toBe(2);
    expect(md.http_endpoint).toBe('enabled');
  });

  it('has an encrypted 30 GB gp3 root, EBS optimisation and standard credits', () => {
    const root = sub(instance, 'root_block_device');
    expect(root.encrypted).toBe(true);
    expect(root.volume_type).toBe('gp3');
    const size = namedBlocks('variable').find(
      (v) => v.file.includes(ec2) && v.name === 'root_volume_size_gb',
    );
    expect(size!.body.default).toBe(30);
    expect(instance.ebs_optimized).toBe(true);
    expect(sub(instance, 'credit_specification').cpu_credits).toBe('standard');
    const type = namedBlocks('variable').find((v) => v.file.includes(ec2) && v.name === 'instance_type');
    expect(type!.body.default).toBe('t3.xlarge');
  });

  it('refuses instance types AWS will not EBS-optimize (t2 and other previous generations)', () => {
    // ebs_optimized = true on a t2 is refused by AWS at apply: the validation must stop it at plan.
    const conditions = (variable(ec2, 'instance_type').validation as Body[]).map(
      (v) => v.condition as string,
    );
    const refused = conditions.find((c) => c.includes('t2|'));
    expect(refused, 'a validation naming t2').toBeDefined();
    const pattern = /regex\("([^"]+)"/.exec(refused!)![1]!.replace(/\\\\/g, '\\');
    const re = new RegExp(pattern);
    for (const t of ['t2.large', 't2.micro', 't1.micro', 'm3.xlarge', 'c3.large', 'r3.large', 'm1.small']) {
      expect(re.test(t), t).toBe(true);
    }
    for (const t of ['t3.xlarge', 't3a.large', 'm7i.xlarge', 'c6i.2xlarge', 'm5.large', 'r6i.large']) {
      expect(re.test(t), t).toBe(false);
    }
    expect(refused!.startsWith('${!can(regex(')).toBe(true);
  });

  it('stops, never terminates, when powered off from inside (the idle stop)', () => {
    expect(instance.instance_initiated_shutdown_behavior).toBe('stop');
  });

  it('ignores AMI changes and takes the AMI from the public SSM parameters', () => {
    expect(sub(instance, 'lifecycle').ignore_changes).toContain('${ami}');
    expect(instance.ami).toBe('${nonsensitive(data.aws_ssm_parameter.ami.value)}');
    const locals = files.find((f) => f.file === `infra/terraform/${ec2}/main.tf`)!.json.locals as Body[];
    const params = locals[0]!.ami_parameter as Record<string, string>;
    expect(params.al2023).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
    expect(params.ubuntu).toBe(
      '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    );
    const os = namedBlocks('variable').find((v) => v.file.includes(ec2) && v.name === 'os_family');
    expect(os!.body.default).toBe('al2023');
  });

  it('chooses the subnet deterministically', () => {
    const subnet = one('data', 'aws_subnet', 'this', ec2);
    expect(subnet.id).toBe('${var.subnet_id}');
    expect(subnet.default_for_az).toBe('${var.subnet_id == null ? true : null}');
    expect(subnet.availability_zone).toBe('${var.subnet_id == null ? var.availability_zone : null}');
    expect(instance.subnet_id).toBe('${data.aws_subnet.this.id}');
    expect(blocks('data', 'aws_subnets')).toHaveLength(0);
    for (const f of listTf(tfRoot)) {
      expect(readFileSync(f, 'utf8'), f).not.toMatch(/\.ids\s*\)?\s*\[\s*0\s*\]/);
    }
  });
});

describe('data volume: cannot be lost', () => {
  it('is its own encrypted gp3 volume, 50 GB, in the subnet AZ, prevent_destroy and final_snapshot', () => {
    const vol = one('resource', 'aws_ebs_volume', 'data', ec2);
    expect(vol.encrypted).toBe(true);
    expect(vol.type).toBe('gp3');
    expect(vol.final_snapshot).toBe(true);
    expect(sub(vol, 'lifecycle').prevent_destroy).toBe(true);
    expect(vol.availability_zone).toBe('${data.aws_subnet.this.availability_zone}');
    expect(JSON.stringify(vol)).not.toContain('aws_instance');
    const size = namedBlocks('variable').find(
      (v) => v.file.includes(ec2) && v.name === 'data_volume_size_gb',
    );
    expect(size!.body.default).toBe(50);
  });

  it('is attached as /dev/xvdf, stopping the instance before detaching', () => {
    const att = one('resource', 'aws_volume_attachment', 'data', ec2);
    expect(att.device_name).toBe('/dev/xvdf');
    expect(att.stop_instance_before_detaching).toBe(true);
    expect(att.volume_id).toBe('${aws_ebs_volume.data.id}');
  });

  it('is the only EBS resource with prevent_destroy removed by nothing', () => {
    for (const f of listTf(tfRoot))
      expect(readFileSync(f, 'utf8')).not.toMatch(/prevent_destroy\s*=\s*false/);
  });
});

describe('artifacts bucket', () => {
  it('blocks all public access', () => {
    const pab = one('resource', 'aws_s3_bucket_public_access_block', 'this', s3);
    for (const flag of [
      'block_public_acls',
      'block_public_policy',
      'ignore_public_acls',
      'restrict_public_buckets',
    ]) {
      expect(pab[flag], flag).toBe(true);
    }
  });

  it('enforces bucket-owner ownership and SSE-S3, and is never force-destroyed', () => {
    expect(
      sub(one('resource', 'aws_s3_bucket_ownership_controls', 'this', s3), 'rule').object_ownership,
    ).toBe('BucketOwnerEnforced');
    const sse = sub(
      one('resource', 'aws_s3_bucket_server_side_encryption_configuration', 'this', s3),
      'rule',
    );
    expect(sub(sse, 'apply_server_side_encryption_by_default').sse_algorithm).toBe('AES256');
    expect(one('resource', 'aws_s3_bucket', 'this', s3).force_destroy).toBe(false);
  });

  it('denies any request without TLS, applied after the public-access block', () => {
    const st = (locals(s3).tls_only_policy as Body).Statement as Body[];
    expect(st).toHaveLength(1);
    expect(st[0]).toMatchObject({
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const policy = one('resource', 'aws_s3_bucket_policy', 'tls_only', s3);
    expect(policy.policy).toBe('${jsonencode(local.tls_only_policy)}');
    expect(policy.depends_on).toEqual(['${aws_s3_bucket_public_access_block.this}']);
  });

  it('is versioned, so an overwrite or delete leaves a noncurrent version', () => {
    const v = one('resource', 'aws_s3_bucket_versioning', 'this', s3);
    expect(sub(v, 'versioning_configuration').status).toBe('Enabled');
  });

  it('expires jobs/ and backups/ after variable days, temp/ after 7, noncurrent versions, aborted uploads', () => {
    const lc = one('resource', 'aws_s3_bucket_lifecycle_configuration', 'this', s3);
    expect(lc.depends_on).toEqual(['${aws_s3_bucket_versioning.this}']);
    const rules = lc.rule as Body[];
    const byId = Object.fromEntries(rules.map((r) => [r.id as string, r]));
    expect(sub(byId['expire-jobs']!, 'filter').prefix).toBe('jobs/');
    expect(sub(byId['expire-jobs']!, 'expiration').days).toBe('${var.jobs_expiration_days}');
    expect(sub(byId['expire-temp']!, 'filter').prefix).toBe('temp/');
    expect(sub(byId['expire-temp']!, 'expiration').days).toBe(7);
    expect(sub(byId['expire-backups']!, 'filter').prefix).toBe('backups/');
    expect(sub(byId['expire-backups']!, 'expiration').days).toBe('${var.backups_expiration_days}');
    const noncurrent = byId['expire-noncurrent-versions']!;
    expect(sub(noncurrent, 'filter')).toEqual({});
    expect(sub(noncurrent, 'noncurrent_version_expiration').noncurrent_days).toBe(
      '${var.noncurrent_version_expiration_days}',
    );
    expect(sub(noncurrent, 'expiration').expired_object_delete_marker).toBe(true);
    const abort = byId['abort-incomplete-multipart-uploads']!;
    expect(sub(abort, 'abort_incomplete_multipart_upload').days_after_initiation).toBe(7);
    for (const r of rules) expect(r.status).toBe('Enabled');
    expect(variable(s3, 'backups_expiration_days').default).toBe(30);
    expect(variable(dev, 'backups_expiration_days').default).toBe(30);
    const mod = (
      files.find((f) => f.file === `infra/terraform/${dev}/main.tf`)!.json.module as Record<string, Body[]>
    ).artifacts![0]!;
    expect(mod.backups_expiration_days).toBe('${var.backups_expiration_days}');
    expect(mod.noncurrent_version_expiration_days).toBe('${var.noncurrent_version_expiration_days}');
  });

  it('documents the prefixes', () => {
    const readme = readFileSync(path.join(tfRoot, s3, 'README.md'), 'utf8');
    for (const p of [
      'jobs/',
      'sessions/',
      'models/',
      'uploads/',
      'outputs/',
      'releases/',
      'config/',
      'status/',
      'backups/',
    ]) {
      expect(readme).toContain(`\`${p}\``);
    }
  });
});

describe('IAM: the instance role', () => {
  it('trusts EC2 only', () => {
    const st = (locals(iam).trust_ec2 as Body).Statement as Body[];
    expect(st).toEqual([
      {
        Sid: 'TrustEC2Only',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'ec2.amazonaws.com' },
      },
    ]);
    expect(one('resource', 'aws_iam_role', 'this', iam).assume_role_policy).toBe(
      '${jsonencode(local.trust_ec2)}',
    );
  });

  it('S3: lists the bucket; reads, writes and deletes by prefix; an explicit deny protects backups/', () => {
    const statements = (locals(iam).s3_statements as Body[]).map((s) => ({
      Sid: s.Sid,
      Effect: s.Effect,
      Action: s.Action,
      Resource: s.Resource,
    }));
    expect(statements).toEqual([
      {
        Sid: 'ListArtifactsBucket',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['${var.bucket_arn}'],
      },
      {
        Sid: 'ReadArtifacts',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: '${[for p in local.read_prefixes : "${local.objects}${p}*"]}',
      },
      {
        Sid: 'WriteArtifacts',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: '${[for p in var.write_prefixes : "${local.objects}${p}*"]}',
      },
      {
        Sid: 'DeleteExpendableArtifacts',
        Effect: 'Allow',
        Action: ['s3:DeleteObject'],
        Resource: '${[for p in var.delete_prefixes : "${local.objects}${p}*"]}',
      },
      {
        Sid: 'DenyBackupDeletes',
        Effect: 'Deny',
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        Resource: ['${local.objects}backups/*'],
      },
    ]);
    expect(locals(iam).objects).toBe('${var.bucket_arn}/');
    expect(locals(iam).read_prefixes).toBe('${distinct(concat(var.write_prefixes, var.read_only_prefixes))}');
  });

  it('writes exactly where the host writes, reads config/ and releases/ only, deletes never under backups/', () => {
    const write = variable(iam, 'write_prefixes').default as string[];
    // Dalston: jobs/ (job artifacts, transcripts), sessions/ (realtime audio), models/ (model
    // registry); the agent: its status snapshot prefix; dalston-host: backups/.
    expect(write).toEqual(['jobs/', 'sessions/', 'models/', 'status/', 'backups/']);
    expect(write).toContain(DEFAULT_STATUS_PREFIX);
    expect(variable(iam, 'read_only_prefixes').default).toEqual(['config/', 'releases/']);
    const del = variable(iam, 'delete_prefixes').default as string[];
    expect(del).toEqual(['jobs/', 'sessions/', 'models/']);
    for (const p of del) expect(write).toContain(p);
    const writeChecks = (variable(iam, 'write_prefixes').validation as Body[]).map(
      (v) => v.condition as string,
    );
    expect(writeChecks.some((c) => c.includes('"config/", "releases/"'))).toBe(true);
    // And an explicit deny of writes there (the desired state and releases are the host's orders).
    const ro = locals(iam).read_only_statements as string;
    expect(ro).toContain('Sid      = "DenyWritesToReadOnlyPrefixes"');
    expect(ro).toContain('Effect   = "Deny"');
    expect(ro).toContain('Action   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]');
    expect(ro).toContain('Resource = [for p in var.read_only_prefixes : "${local.objects}${p}*"]');
    const delChecks = (variable(iam, 'delete_prefixes').validation as Body[]).map(
      (v) => v.condition as string,
    );
    expect(
      delChecks.some(
        (c) => c.includes('startswith("backups/", p)') && c.includes('startswith(p, "backups/")'),
      ),
    ).toBe(true);
  });

  it('reads the one Tailscale parameter, with GetParameter only, and only while tailscale_auth_key_readable', () => {
    const ts = locals(iam).tailscale_statements as string;
    expect(
      ts.startsWith('${var.tailscale_auth_key_parameter_arn != null && var.tailscale_auth_key_readable ?'),
    ).toBe(true);
    expect(ts).toContain('Action   = ["ssm:GetParameter"]');
    expect(ts).toContain('Resource = [var.tailscale_auth_key_parameter_arn]');
    expect(ts.match(/Sid/g)).toHaveLength(1);
    expect((locals(iam).host_policy as Body).Statement).toBe(
      '${concat(local.s3_statements, local.read_only_statements, local.tailscale_statements, local.api_key_statements)}',
    );
    expect(one('resource', 'aws_iam_role_policy', 'host', iam).policy).toBe(
      '${jsonencode(local.host_policy)}',
    );
    expect(variable(iam, 'tailscale_auth_key_readable').default).toBe(true);
  });

  it('writes the one API key parameter, with PutParameter only, and never reads it', () => {
    const st = locals(iam).api_key_statements as string;
    expect(st.startsWith('${var.api_key_parameter_arn != null ?')).toBe(true);
    expect(st).toContain('Action   = ["ssm:PutParameter"]');
    expect(st).toContain('Resource = [var.api_key_parameter_arn]');
    expect(st).not.toMatch(/GetParameter|DeleteParameter|\*/);
    expect(st.match(/Sid/g)).toHaveLength(1);
    // The environment grants exactly the parameter host.json names (one local for both).
    const moduleIn = (name: string) =>
      files
        .filter((f) => f.dir === dev)
        .flatMap((f) => (f.json.module as Record<string, Body[]> | undefined)?.[name] ?? [])[0]!;
    expect(moduleIn('iam').api_key_parameter_arn).toBe('${local.api_key_parameter_arn}');
    expect(moduleIn('host_config').api_key_parameter).toBe('${local.api_key_parameter}');
  });

  it('Session Manager is a scoped inline policy behind a variable: agent channels only, no GetParameter', () => {
    const st = (locals(iam).session_manager_policy as Body).Statement as Body[];
    expect(st).toHaveLength(1);
    expect(st[0]!.Effect).toBe('Allow');
    expect([...(st[0]!.Action as string[])].sort()).toEqual([
      'ssm:UpdateInstanceInformation',
      'ssmmessages:CreateControlChannel',
      'ssmmessages:CreateDataChannel',
      'ssmmessages:OpenControlChannel',
      'ssmmessages:OpenDataChannel',
    ]);
    const policy = one('resource', 'aws_iam_role_policy', 'session_manager', iam);
    expect(policy.count).toBe('${var.enable_ssm_session_manager ? 1 : 0}');
    expect(policy.policy).toBe('${jsonencode(local.session_manager_policy)}');
    expect(policy.role).toBe('${aws_iam_role.this.name}');
  });

  it('has no managed policy at all, and no role in the stack has a forbidden one', () => {
    expect(blocks('resource', 'aws_iam_role_policy_attachment', iam)).toHaveLength(0);
    for (const t of [
      'aws_iam_policy_attachment',
      'aws_iam_role_policies_exclusive',
      'aws_iam_role_policy_attachments_exclusive',
    ]) {
      expect(blocks('resource', t), t).toHaveLength(0);
    }
    for (const role of blocks('resource', 'aws_iam_role')) {
      expect(role.body.managed_policy_arns, `aws_iam_role.${role.name}`).toBeUndefined();
      expect(role.body.inline_policy, `aws_iam_role.${role.name}`).toBeUndefined();
    }
    const attachments = blocks('resource', 'aws_iam_role_policy_attachment');
    expect(attachments.length).toBeGreaterThan(0);
    for (const a of attachments) {
      const name = (a.body.policy_arn as string).split('/').pop()!;
      expect(FORBIDDEN_MANAGED_POLICIES, `aws_iam_role_policy_attachment.${a.name}`).not.toContain(name);
      expect(a.body.role, `aws_iam_role_policy_attachment.${a.name}`).not.toBe('${aws_iam_role.this.name}');
    }
    expect(blocks('data', 'aws_iam_policy')).toHaveLength(0);
  });

  it('policies are jsonencode()d HCL (known at plan time), and "*" is a resource only for Session Manager', () => {
    expect(blocks('data', 'aws_iam_policy_document')).toHaveLength(0);
    const dirs = [...new Set(files.map((f) => f.dir))];
    const star = dirs.flatMap((d) =>
      statementsIn(locals(d)).filter((st) => {
        const r = st.Resource ?? st.NotResource;
        return r === '*' || (Array.isArray(r) && r.includes('*'));
      }),
    );
    expect(star.map((st) => st.Sid)).toEqual(['SessionManagerChannels']);
    // No Allow grants a service-wide action wildcard or batch parameter reads (a Deny may be broad).
    for (const st of dirs.flatMap((d) => statementsIn(locals(d))).filter((x) => x.Effect === 'Allow')) {
      expect(JSON.stringify(st.Action ?? st.NotAction), `${st.Sid}`).not.toMatch(
        /"[a-z0-9]+:\*"|"\*"|GetParameters|GetParametersByPath/,
      );
    }
  });

  it('the READMEs name every statement and action the code grants', () => {
    const readme = readFileSync(path.join(tfRoot, iam, 'README.md'), 'utf8');
    const all = [
      ...(locals(iam).s3_statements as Body[]),
      ...((locals(iam).session_manager_policy as Body).Statement as Body[]),
    ];
    for (const st of all) {
      expect(readme, `${st.Sid}`).toContain(`\`${st.Sid}\``);
      for (const a of st.Action as string[]) expect(readme, a).toContain(`\`${a}\``);
    }
    expect(readme).toContain('`ReadTailscaleAuthKey`');
    expect(readme).toContain('`StoreApiKey`');
    expect(readme).toContain('`ssm:PutParameter`');
    expect(readme).toContain('`ssm:GetParameter`');
    // Nothing claims the managed policy is attached any more.
    expect(readme).not.toMatch(/attaches the AWS-managed/);
    const infra = readFileSync(path.join(tfRoot, 'README.md'), 'utf8');
    expect(infra).not.toMatch(/survives(?: everything| `terraform destroy`)/);
    for (const f of listTf(tfRoot))
      expect(readFileSync(f, 'utf8'), f).not.toMatch(/survives `terraform destroy`/);
  });
});

describe('snapshots of the data volume (DLM)', () => {
  it('is a daily, tag-targeted DLM policy that keeps N and copies tags', () => {
    const pol = one('resource', 'aws_dlm_lifecycle_policy', 'data', snapshots);
    expect(pol.execution_role_arn).toBe('${aws_iam_role.dlm.arn}');
    expect(pol.state).toBe('ENABLED');
    const details = sub(pol, 'policy_details');
    expect(details.policy_type).toBe('EBS_SNAPSHOT_MANAGEMENT');
    expect(details.resource_types).toEqual(['VOLUME']);
    expect(details.target_tags).toBe('${var.target_tags}');
    const schedule = sub(details, 'schedule');
    expect(sub(schedule, 'create_rule')).toEqual({
      interval: 24,
      interval_unit: 'HOURS',
      times: ['${var.time_utc}'],
    });
    expect(sub(schedule, 'retain_rule')).toEqual({ count: '${var.retain_count}' });
    expect(schedule.copy_tags).toBe(true);
  });

  it('has its own role, assumable by DLM only, with the DLM service policy and nothing else', () => {
    const trust = (locals(snapshots).trust_dlm as Body).Statement as Body[];
    expect(trust).toEqual([
      {
        Sid: 'TrustDLMOnly',
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'dlm.amazonaws.com' },
      },
    ]);
    expect(one('resource', 'aws_iam_role', 'dlm', snapshots).assume_role_policy).toBe(
      '${jsonencode(local.trust_dlm)}',
    );
    const att = blocks('resource', 'aws_iam_role_policy_attachment', snapshots);
    expect(att).toHaveLength(1);
    expect(att[0]!.body.role).toBe('${aws_iam_role.dlm.name}');
    expect(att[0]!.body.policy_arn).toBe(
      'arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole',
    );
    expect(blocks('resource', 'aws_iam_role_policy', snapshots)).toHaveLength(0);
  });

  it('targets the data volume by the tag the ec2 module puts on it; daily at 04:45 UTC keeping 7 by default', () => {
    expect((locals(ec2).data_volume_snapshot_tags as Body).DalstonDataVolume).toBe('${var.name_prefix}-data');
    expect(one('resource', 'aws_ebs_volume', 'data', ec2).tags).toBe(
      '${merge(var.tags, local.data_volume_snapshot_tags, { Name = "${var.name_prefix}-data" })}',
    );
    const mod = (
      files.find((f) => f.file === `infra/terraform/${dev}/main.tf`)!.json.module as Record<string, Body[]>
    ).snapshots![0]!;
    expect(mod.target_tags).toBe('${module.ec2.data_volume_snapshot_tags}');
    expect(mod.count).toBe('${var.data_snapshots_enabled ? 1 : 0}');
    expect(mod.time_utc).toBe('${var.data_snapshot_time_utc}');
    expect(mod.retain_count).toBe('${var.data_snapshot_retain_count}');
    for (const [dir, time, count] of [
      [snapshots, 'time_utc', 'retain_count'],
      [dev, 'data_snapshot_time_utc', 'data_snapshot_retain_count'],
    ] as const) {
      expect(variable(dir, time).default).toBe('04:45');
      expect(variable(dir, count).default).toBe(7);
    }
    expect(variable(dev, 'data_snapshots_enabled').default).toBe(true);
  });
});

describe('stop backstop (EventBridge Scheduler) and idle stop', () => {
  it('is off by default and calls EC2 StopInstances on this instance with a cron in a time zone', () => {
    const mod = (
      files.find((f) => f.file === `infra/terraform/${dev}/main.tf`)!.json.module as Record<string, Body[]>
    ).stop_schedule![0]!;
    expect(mod.count).toBe('${var.stop_schedule_enabled ? 1 : 0}');
    expect(mod.instance_arn).toBe('${module.ec2.instance_arn}');
    expect(variable(dev, 'stop_schedule_enabled').default).toBe(false);
    expect(variable(dev, 'stop_schedule_expression').default).toBe('cron(0 2 * * ? *)');
    const schedule = one('resource', 'aws_scheduler_schedule', 'stop', stopSchedule);
    expect(schedule.schedule_expression).toBe('${var.schedule_expression}');
    expect(schedule.schedule_expression_timezone).toBe('${var.timezone}');
    const target = sub(schedule, 'target');
    expect(target.arn).toBe(
      'arn:${data.aws_partition.current.partition}:scheduler:::aws-sdk:ec2:stopInstances',
    );
    expect(target.input).toBe('${jsonencode({ InstanceIds = [var.instance_id] })}');
    expect(target.role_arn).toBe('${aws_iam_role.scheduler.arn}');
  });

  it('has its own role: trusted by Scheduler of this account, may only stop this one instance', () => {
    const trust = (locals(stopSchedule).trust_scheduler as Body).Statement as Body[];
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Principal: { Service: 'scheduler.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': '${var.account_id}' } },
    });
    const stop = (locals(stopSchedule).stop_policy as Body).Statement as Body[];
    expect(stop).toEqual([
      {
        Sid: 'StopThisInstanceOnly',
        Effect: 'Allow',
        Action: ['ec2:StopInstances'],
        Resource: ['${var.instance_arn}'],
      },
    ]);
    expect(blocks('resource', 'aws_iam_role_policy_attachment', stopSchedule)).toHaveLength(0);
  });

  it('idle_stop_after_minutes defaults to 15 and refuses negative or fractional minutes', () => {
    const v = variable(dev, 'idle_stop_after_minutes');
    expect(v.default).toBe(15);
    expect((v.validation as Body[])[0]!.condition).toBe(
      '${var.idle_stop_after_minutes >= 0 && floor(var.idle_stop_after_minutes) == var.idle_stop_after_minutes}',
    );
  });
});

describe('release and user-data wiring', () => {
  it('publishes the desired state at config/host.json after the release; the instance is ordered after it', () => {
    const obj = one('resource', 'aws_s3_object', 'desired_state', dev);
    expect(obj.key).toBe('${module.host_config.desired_state_key}');
    expect(obj.content).toBe('${module.host_config.desired_state}');
    expect(obj.content_type).toBe('application/json');
    expect(obj.depends_on).toEqual(['${aws_s3_object.release}']);
    const main = files.find((f) => f.file === `infra/terraform/${dev}/main.tf`)!.json.module as Record<
      string,
      Record<string, unknown>[]
    >;
    expect(main.ec2![0]!.desired_state_url).toBe(
      's3://${module.host_config.bucket_name}/${aws_s3_object.desired_state.key}',
    );
    expect(main.ec2![0]).not.toHaveProperty('release_object_version');
  });

  it('uploads the bundle under releases/ with its SHA-256 and hands key and hash to the user-data', () => {
    const obj = one('resource', 'aws_s3_object', 'release', dev);
    expect(obj.key).toBe('${module.host_config.release_key}');
    expect(obj.source).toBe('${module.host_config.release_file}');
    expect(obj.source_hash).toBe('${module.host_config.release_sha256}');
    expect(obj.checksum_algorithm).toBe('SHA256');
    const main = files.find((f) => f.file === `infra/terraform/${dev}/main.tf`)!.json.module as Record<
      string,
      Body[]
    >;
    expect(main.ec2![0]!.user_data).toBe('${module.host_config.user_data}');
    expect(main.host_config![0]!.data_volume_id).toBe('${module.ec2.data_volume_id}');
  });

  it('reads the CPU service set from compose/services.cpu.json', () => {
    const src = readFileSync(path.join(tfRoot, dev, 'main.tf'), 'utf8');
    expect(src).toMatch(
      /jsondecode\(file\("\$\{path\.module\}\/\.\.\/\.\.\/\.\.\/\.\.\/compose\/services\.cpu\.json"\)\)/,
    );
  });

  it('escapes every bash ${...} in the template: only template variables stay unescaped', () => {
    const tpl = readFileSync(path.join(tfRoot, 'modules/host-config/templates/user-data.sh.tftpl'), 'utf8');
    const main = readFileSync(path.join(tfRoot, 'modules/host-config/main.tf'), 'utf8');
    const call = /templatefile\([^{]*\{([\s\S]*?)\}\)/.exec(main)![1]!;
    const known = new Set([...call.matchAll(/^\s*(\w+)\s*=/gm)].map((m) => m[1]));
    const used = [...tpl.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]!.trim());
    // The template names where the desired state is (bucket, key, region) and the Ubuntu Node pin.
    expect(used.length).toBeGreaterThanOrEqual(5);
    for (const name of used) expect(known, `unescaped \${${name}} in the template`).toContain(name);
    for (const m of tpl.matchAll(/%\{\s*(if|else|endif)?\s*([^}]*)\}/g)) {
      expect(['if', 'else', 'endif']).toContain(m[1]);
    }
  });

  it('puts no secret into the user-data', () => {
    const tpl = readFileSync(path.join(tfRoot, 'modules/host-config/templates/user-data.sh.tftpl'), 'utf8');
    expect(tpl).not.toMatch(
      /tskey-|AKIA[0-9A-Z]{16}|aws_secret_access_key|PASSWORD=|BEGIN [A-Z ]*PRIVATE KEY/i,
    );
    const main = readFileSync(path.join(tfRoot, 'modules/host-config/main.tf'), 'utf8');
    const call = /templatefile\([^{]*\{([\s\S]*?)\}\)/.exec(main)![1]!;
    expect(call).not.toMatch(/secret|password|auth_key\s*=/i);
    // No variable of any module carries a secret value (the Tailscale key stays in SSM).
    for (const v of namedBlocks('variable')) {
      expect(v.name, v.file).not.toMatch(/secret|password|token|^tailscale_auth_key$/i);
      expect(v.body.sensitive, `${v.file}: ${v.name}`).toBeUndefined();
    }
  });
});

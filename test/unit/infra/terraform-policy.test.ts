// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Terraform expressions as hcl2json prints them
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';

// Security properties of the Terraform code, asserted on the parsed HCL of every
// .tf file: AWS providers cannot be downloaded here, so `plan` cannot show them.

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
const dev = 'environments/dev';

describe('layout', () => {
  it('has every module and environment file the design lists', () => {
    const present = new Set(files.map((f) => f.file));
    for (const m of ['ec2-dalston', 's3-artifacts', 'iam-dalston', 'host-config']) {
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
      [s3]: ['bucket_name', 'jobs_expiration_days'],
      [iam]: ['bucket_arn', 'tailscale_auth_key_parameter_arn'],
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
    const doc = one('data', 'aws_iam_policy_document', 'tls_only', s3);
    const st = sub(doc, 'statement');
    expect(st.effect).toBe('Deny');
    expect(st.actions).toEqual(['s3:*']);
    const cond = sub(st, 'condition');
    expect(cond).toMatchObject({ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] });
    const policy = one('resource', 'aws_s3_bucket_policy', 'tls_only', s3);
    expect(policy.policy).toBe('${data.aws_iam_policy_document.tls_only.json}');
    expect(policy.depends_on).toEqual(['${aws_s3_bucket_public_access_block.this}']);
  });

  it('expires jobs/ after a variable number of days, temp/ after 7, aborts multipart uploads after 7', () => {
    const rules = one('resource', 'aws_s3_bucket_lifecycle_configuration', 'this', s3).rule as Body[];
    const byId = Object.fromEntries(rules.map((r) => [r.id as string, r]));
    expect(sub(byId['expire-jobs']!, 'filter').prefix).toBe('jobs/');
    expect(sub(byId['expire-jobs']!, 'expiration').days).toBe('${var.jobs_expiration_days}');
    expect(sub(byId['expire-temp']!, 'filter').prefix).toBe('temp/');
    expect(sub(byId['expire-temp']!, 'expiration').days).toBe(7);
    const abort = byId['abort-incomplete-multipart-uploads']!;
    expect(sub(abort, 'abort_incomplete_multipart_upload').days_after_initiation).toBe(7);
    for (const r of rules) expect(r.status).toBe('Enabled');
  });

  it('documents the prefixes', () => {
    const readme = readFileSync(path.join(tfRoot, s3, 'README.md'), 'utf8');
    for (const p of ['jobs/', 'uploads/', 'outputs/', 'releases/', 'status/', 'backups/']) {
      expect(readme).toContain(`\`${p}\``);
    }
  });
});

describe('IAM', () => {
  it('trusts EC2 only', () => {
    const st = sub(one('data', 'aws_iam_policy_document', 'assume_ec2', iam), 'statement');
    expect(st.actions).toEqual(['sts:AssumeRole']);
    expect(sub(st, 'principals')).toEqual({ type: 'Service', identifiers: ['ec2.amazonaws.com'] });
  });

  it('grants exactly ListBucket on the bucket, Get/Put/Delete on its objects, GetParameter on one parameter', () => {
    const doc = one('data', 'aws_iam_policy_document', 'host', iam);
    const statements = (doc.statement as Body[]).map((s) => ({
      actions: s.actions,
      resources: s.resources,
      effect: s.effect,
    }));
    expect(statements).toEqual([
      { actions: ['s3:ListBucket'], resources: ['${var.bucket_arn}'], effect: 'Allow' },
      {
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: ['${var.bucket_arn}/*'],
        effect: 'Allow',
      },
    ]);
    const dyn = (doc.dynamic as Record<string, Body[]>).statement![0]!;
    expect(dyn.for_each).toBe(
      '${var.tailscale_auth_key_parameter_arn == null ? [] : [var.tailscale_auth_key_parameter_arn]}',
    );
    const content = sub(dyn, 'content');
    expect(content.actions).toEqual(['ssm:GetParameter']);
    expect(content.resources).toEqual(['${statement.value}']);
    expect(one('resource', 'aws_iam_role_policy', 'host', iam).policy).toBe(
      '${data.aws_iam_policy_document.host.json}',
    );
  });

  it('uses no * resource in any policy and attaches Session Manager only through a variable', () => {
    for (const doc of blocks('data', 'aws_iam_policy_document')) {
      const text = JSON.stringify(doc.body);
      expect(text, doc.name).not.toMatch(/"resources":\["\*"/);
    }
    const ssm = one('resource', 'aws_iam_role_policy_attachment', 'ssm_core', iam);
    expect(ssm.count).toBe('${var.enable_ssm_session_manager ? 1 : 0}');
    expect(ssm.policy_arn).toContain('AmazonSSMManagedInstanceCore');
    expect(blocks('resource', 'aws_iam_role_policy_attachment')).toHaveLength(1);
  });
});

describe('release and user-data wiring', () => {
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
    expect(used.length).toBeGreaterThan(5);
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

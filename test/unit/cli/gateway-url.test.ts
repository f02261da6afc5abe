// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Terraform expressions as hcl2json prints them
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { parse } from '@cdktf/hcl2json';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { GATEWAY_SERVE_ARGS } from '../../../bootstrap/steps/tailscale.ts';
import { gatewayToCheck } from '../../../cli/commands/common.ts';
import { gatewayHealthUrl, gatewayUrl } from '../../../cli/gateway-url.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import {
  DEPLOY,
  describedInstance,
  FakeClock,
  FakeObjects,
  fixtureSnapshot,
  SNAPSHOT_KEY,
  testContext,
} from './helpers.ts';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const ec2Mock = mockClient(EC2Client);

describe('the one gateway URL', () => {
  it('is what the tailscale step serves: HTTP on port 8000 of the tailnet name', () => {
    expect(gatewayUrl('dalston')).toBe('http://dalston:8000');
    expect(GATEWAY_SERVE_ARGS).toContain('--http=8000');
    expect(gatewayHealthUrl('http://dalston:8000/')).toBe('http://dalston:8000/health');
  });

  it('the Terraform output gateway_url is the same builder, spelt in HCL', async () => {
    const file = path.join(repoRoot, 'infra/terraform/environments/dev/outputs.tf');
    const json = (await parse(file, readFileSync(file, 'utf8'))) as {
      output: Record<string, { value: string }[]>;
    };
    expect(json.output.gateway_url?.[0]?.value).toBe(gatewayUrl('${var.tailscale_hostname}'));
    // No other output spells a tailnet or host-local gateway address (one URL, not three);
    // private_ip names the VPC peers' address, which is another audience.
    for (const [name, [o]] of Object.entries(json.output)) {
      if (name === 'gateway_url') continue;
      expect(JSON.stringify(o), name).not.toMatch(
        /ts\.net|127\.0\.0\.1|<name>:8000|tailscale_hostname}:8000/,
      );
    }
  });

  it('`wait --check-gateway` probes the health endpoint under it', () => {
    const d = { tailscaleHostname: 'dalston' } as Parameters<typeof gatewayToCheck>[1];
    expect(gatewayToCheck({ 'check-gateway': true }, d)).toBe(gatewayHealthUrl(gatewayUrl('dalston')));
  });

  it('`status` shows it for the gateway, not the host-local probe URL', async () => {
    ec2Mock.reset();
    ec2Mock.on(DescribeInstancesCommand).resolves(
      describedInstance('running', {
        LaunchTime: new Date('2026-12-01T08:00:00.000Z'),
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0root0000000000a' } }],
      }),
    );
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [{ VolumeId: 'vol-0root0000000000a', Size: 30, VolumeType: 'gp3' }],
    });
    const snap = { ...fixtureSnapshot('snapshot-healthy.json'), generatedAt: '2026-12-01T10:59:30.000Z' };
    expect(snap.gateway?.url).toContain('127.0.0.1');
    const ctx = testContext({
      clock: new FakeClock(Date.parse('2026-12-01T11:00:00.000Z')),
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: JSON.stringify(snap) }),
      env: { DALSTON_TAILSCALE_HOST: 'dalston-test' },
    });
    const code = await dalstonAwsMain(['status', ...DEPLOY, '--json'], ctx);
    expect(code, ctx.stderr.text).toBe(0);
    const report = JSON.parse(ctx.stdout.text) as { gateway: { url: string } };
    expect(report.gateway.url).toBe(gatewayUrl('dalston-test'));
  });
});

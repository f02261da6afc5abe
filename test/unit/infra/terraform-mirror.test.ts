import { describe, expect, it } from 'vitest';
import { mirrorCliConfig, mirrorFromPaths } from '../../harness/terraform-mirror.ts';

describe('the AWS provider mirror the Terraform plan tests use', () => {
  const bin = (root: string, v: string) =>
    `${root}/provider.host/hashicorp/aws/${v}/linux_amd64/terraform-provider-aws_v${v}_x5`;

  it('takes the directory above the registry-host directory as the mirror root, with its versions', () => {
    expect(mirrorFromPaths([bin('/mirror-root', '5.100.0'), bin('/mirror-root', '5.90.1')])).toEqual({
      root: '/mirror-root',
      versions: ['5.100.0', '5.90.1'],
    });
  });

  it('ignores other providers and files that are not the provider binary; none found is undefined', () => {
    expect(
      mirrorFromPaths([
        '/m/provider.host/hashicorp/random/3.6.0/linux_amd64/terraform-provider-random_v3.6.0_x5',
        '/m/provider.host/hashicorp/aws/5.1.0/linux_amd64/README',
        '/elsewhere/terraform-provider-aws_v5.1.0_x5',
      ]),
    ).toBeUndefined();
  });

  it('writes a CLI config that installs hashicorp/aws from the mirror only', () => {
    const cfg = mirrorCliConfig({ root: '/mirror-root', versions: ['5.100.0'] });
    expect(cfg).toContain('filesystem_mirror {');
    expect(cfg).toContain('path    = "/mirror-root"');
    expect(cfg).toContain('include = ["hashicorp/aws"]');
    expect(cfg).not.toContain('direct');
    expect(cfg).not.toContain('network_mirror');
  });
});

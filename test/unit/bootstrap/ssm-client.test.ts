import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ssmClientFor } from '../../../bootstrap/command.ts';
import { parseConfig } from '../../../shared/config/load.ts';

// On a host nothing sets AWS_REGION for the bootstrap (user-data, dalston-bootstrap.service),
// and the SDK does not ask IMDS for it: the region must come from host.json.
describe('the SSM client of the tailscale step', () => {
  const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
  beforeEach(() => {
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  it("uses host.json's region (Terraform writes s3.region), not the environment", async () => {
    const client = ssmClientFor(parseConfig({ s3: { bucket: 'dalston-artifacts-1', region: 'eu-west-2' } }));
    expect(await client.config.region()).toBe('eu-west-2');
    client.destroy();
  });

  it('without one in host.json it falls back to the SDK chain (environment, profile)', async () => {
    process.env.AWS_REGION = 'us-west-1';
    const client = ssmClientFor(parseConfig({}));
    expect(await client.config.region()).toBe('us-west-1');
    client.destroy();
  });
});

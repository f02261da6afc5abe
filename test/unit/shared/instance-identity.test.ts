import { describe, expect, it } from 'vitest';
import { resolveInstanceName } from '../../../shared/aws/instance-identity.ts';

describe('resolveInstanceName', () => {
  it('falls back to the hostname when IMDS is disabled', async () => {
    const name = await resolveInstanceName({
      env: { AWS_EC2_METADATA_DISABLED: 'true' },
      hostname: () => 'box',
    });
    expect(name).toBe('box');
  });
});

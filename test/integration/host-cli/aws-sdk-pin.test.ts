import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('pinned AWS SDK', () => {
  it('constructs S3, SSM and EC2 clients on this Node without a NodeVersionSupportWarning', () => {
    const script = `
      const { S3Client } = require('@aws-sdk/client-s3');
      const { SSMClient } = require('@aws-sdk/client-ssm');
      const { EC2Client } = require('@aws-sdk/client-ec2');
      for (const C of [S3Client, SSMClient, EC2Client]) new C({ region: 'eu-west-1' });
      console.log('constructed');`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('constructed');
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning/);
    expect(r.stderr).toBe('');
  });
});

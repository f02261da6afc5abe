import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from '../../../shared/logger.ts';

describe('logger', () => {
  it('never logs values of secret-looking keys, at any depth', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger({ destination });
    log.info(
      {
        service: 'gateway',
        env: { AWS_SECRET_ACCESS_KEY: 'abc123', DALSTON_S3_BUCKET: 'b' },
        authToken: 'tok',
      },
      'action',
    );
    const entry = JSON.parse(lines[0]!);
    expect(entry.service).toBe('gateway');
    expect(entry.env.DALSTON_S3_BUCKET).toBe('b');
    expect(entry.env.AWS_SECRET_ACCESS_KEY).toBe('[redacted]');
    expect(entry.authToken).toBe('[redacted]');
    expect(lines.join('')).not.toContain('abc123');
    expect(entry.level).toBe('info');
  });

  it('leaves empty secret values visible (an empty key is the intended setting, not a secret)', () => {
    expect(redactSecrets({ AWS_ACCESS_KEY_ID: '', PASSWORD: 'x' })).toEqual({
      AWS_ACCESS_KEY_ID: '',
      PASSWORD: '[redacted]',
    });
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  createLogger,
  journalPriority,
  redactSecrets,
  stdoutIsJournal,
  withJournalPriority,
} from '../../../shared/logger.ts';

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

function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, destination };
}

describe('journald priorities', () => {
  it('maps each pino level to its syslog severity', () => {
    expect(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'custom'].map((l) => journalPriority(l)),
    ).toEqual([2, 3, 4, 6, 7, 7, 6]);
  });

  it('prefixes every line with its priority and leaves out time and pid under journald', () => {
    const { lines, destination } = capture();
    const log = createLogger({ destination, journal: true, level: 'trace' });
    log.fatal('f');
    log.error({ err: new Error('boom') }, 'e');
    log.child({ component: 'agent' }).warn('w');
    log.info('i');
    log.debug('d');
    log.trace('t');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<2>', '<3>', '<4>', '<6>', '<7>', '<7>']);
    for (const line of lines) {
      const entry = JSON.parse(line.slice(3));
      expect(entry).not.toHaveProperty('time');
      expect(entry).not.toHaveProperty('pid');
      expect(entry.name).toBe('dalston-host');
    }
    expect(JSON.parse(lines[2]!.slice(3)).component).toBe('agent');
  });

  it('keeps plain JSON lines with time and pid elsewhere', () => {
    const { lines, destination } = capture();
    createLogger({ destination, journal: false }).error('e');
    expect(lines[0]!.startsWith('{')).toBe(true);
    const entry = JSON.parse(lines[0]!);
    expect(entry.pid).toBe(process.pid);
    expect(typeof entry.time).toBe('string');
  });

  it('prefixes an unrecognised line as info', () => {
    expect(withJournalPriority('{"msg":"x"}')).toBe('<6>{"msg":"x"}');
  });
});

describe('journald detection (JOURNAL_STREAM)', () => {
  const stdout = { dev: 64769n, ino: 1234567n };

  it('is the journal when JOURNAL_STREAM names stdout’s device and inode', () => {
    expect(stdoutIsJournal('64769:1234567', stdout)).toBe(true);
    expect(stdoutIsJournal('64769:1234567', { dev: 64769, ino: 1234567 })).toBe(true);
  });

  it('is not when the variable is missing, malformed or inherited by a process writing elsewhere', () => {
    expect(stdoutIsJournal(undefined, stdout)).toBe(false);
    expect(stdoutIsJournal('', stdout)).toBe(false);
    expect(stdoutIsJournal('garbage', stdout)).toBe(false);
    expect(stdoutIsJournal('64769:7654321', stdout)).toBe(false);
    expect(stdoutIsJournal('1:1234567', stdout)).toBe(false);
    expect(stdoutIsJournal('64769:1234567', undefined)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../../../commands/main.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) }, out, err };
}

describe('dalston-host dispatcher', () => {
  it('offers the agreed subcommands', () => {
    expect(Object.keys(COMMANDS)).toEqual(
      expect.arrayContaining(['agent', 'bootstrap', 'status', 'version']),
    );
  });

  it('prints usage on stderr and exits 2 without a command', async () => {
    const c = capture();
    expect(await main([], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/usage: dalston-host <command>/);
    expect(c.out).toEqual([]);
  });

  it('prints usage on stderr and exits 2 for an unknown command', async () => {
    const c = capture();
    expect(await main(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/unknown command 'frobnicate'/);
    expect(c.err.join('')).toMatch(/usage:/);
  });

  it('exits 2 with the command usage for an unknown flag', async () => {
    const c = capture();
    expect(await main(['version', '--bogus'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/Unknown option '--bogus'/);
    expect(c.err.join('')).toMatch(/usage: dalston-host version/);
  });

  it('--help goes to stdout with exit 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/commands:/);
  });
});

import { describe, expect, it } from 'vitest';
import { STEP_ORDER } from '../../../bootstrap/steps/step.ts';
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

  it("bootstrap --help is the bootstrap's own help: every step, --boot, the exit codes", async () => {
    for (const flag of ['--help', '-h']) {
      const c = capture();
      expect(await main(['bootstrap', flag], c.io)).toBe(0);
      const out = c.out.join('');
      expect(out).toContain(`--steps LIST    comma list from: ${STEP_ORDER.join(',')}`);
      expect(out).toMatch(/--boot +what dalston-bootstrap\.service runs/);
      expect(out).toMatch(/Exit codes: 0 done/);
      expect(c.err).toEqual([]);
    }
  });

  it('a command without its own help: usage and summary', async () => {
    const c = capture();
    expect(await main(['version', '--help'], c.io)).toBe(0);
    expect(c.out.join('')).toBe('usage: dalston-host version\n  print version and git commit\n');
  });

  it('--help goes to stdout with exit 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/commands:/);
  });
});

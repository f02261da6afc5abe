import { describe, expect, it } from 'vitest';
import { ZxShell } from '../../../shared/shell.ts';

// Real tiny commands through zx: the seam's own reporting is under test.
const shell = new ZxShell();

describe('ZxShell time limit', () => {
  it('says "timed out" for a plain command killed at the limit', async () => {
    const r = await shell.run('sleep', ['5'], { timeoutMs: 200 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/timed out after 200 ms/);
  });

  it('says "timed out" when the killed command still exits with a code of its own', async () => {
    // Like `git fetch` whose remote helper is killed first: the parent reports its own
    // failure code instead of dying by the signal (seen as a flaky CI failure).
    // sh exits with a code of its own either way: 7 from its trap, or 143 from `wait` when zx
    // kills the sleep first (the order is a race); never "killed by a signal".
    const r = await shell.run('sh', ['-c', 'trap "exit 7" TERM; sleep 30 & wait'], { timeoutMs: 3_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/timed out after 3000 ms/);
  });

  it('does not call a quick failure a timeout', async () => {
    const r = await shell.run('sh', ['-c', 'echo no >&2; exit 3'], { timeoutMs: 5_000 });
    expect(r).toEqual({ exitCode: 3, stdout: '', stderr: 'no\n' });
  });
});

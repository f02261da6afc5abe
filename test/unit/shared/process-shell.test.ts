import { describe, expect, it } from 'vitest';
import { ProcessShell } from '../../../shared/process-shell.ts';

// Runs real tiny commands (sh, cat): the seam itself is what is under test.
const shell = new ProcessShell();

describe('ProcessShell', () => {
  it('returns stdout, stderr and the exit code without throwing', async () => {
    expect(await shell.run('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({
      exitCode: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
  });

  it('passes argv without shell parsing, stdin, env and cwd', async () => {
    const r = await shell.run('sh', ['-c', 'printf "%s|" "$1" "$X" "$(pwd)"; cat', 'sh', 'a b; c'], {
      input: 'from-stdin',
      env: { X: 'ex' },
      cwd: '/',
    });
    expect(r.stdout).toBe('a b; c|ex|/|from-stdin');
  });

  it('reports a missing binary as a failed run', async () => {
    const r = await shell.run('definitely-not-a-command-dh', []);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/ENOENT/);
  });

  it('kills on timeout and on abort', async () => {
    const t0 = Date.now();
    const r = await shell.run('sleep', ['5'], { timeoutMs: 100 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/timed out after 100 ms/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const a = await shell.run('sleep', ['5'], { signal: ac.signal });
    expect(a.exitCode).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(4_000);
  });
});

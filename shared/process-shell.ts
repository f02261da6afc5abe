import { spawn } from 'node:child_process';
import type { RunOptions, Shell, ShellResult } from './shell.ts';

/**
 * A Shell over node:child_process for the long-running agent: same contract
 * as ZxShell (argv array, never throws on a non-zero exit), without loading
 * zx and its bundled dependencies into a process that must stay small.
 */
export class ProcessShell implements Shell {
  run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ShellResult> {
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const child = spawn(cmd, [...args], {
        cwd: opts.cwd,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: opts.signal,
      });
      const timer =
        opts.timeoutMs === undefined
          ? null
          : setTimeout(() => {
              timedOut = true;
              child.kill('SIGTERM');
            }, opts.timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      // An abort or a missing binary surfaces here; report it like a failed run.
      child.on('error', (err) => {
        stderr += `${stderr ? '\n' : ''}${err.message}`;
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        if (timedOut) stderr += `${stderr ? '\n' : ''}timed out after ${opts.timeoutMs} ms`;
        resolve({ exitCode: code ?? (signal ? 128 + 15 : 1), stdout, stderr });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input ?? '');
    });
  }
}

import { $ } from 'zx';

/** Result of one command; never throws for a non-zero exit. */
export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text written to the command's stdin (secrets go here, never in argv). */
  input?: string;
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Aborting kills the command (e.g. the agent's in-flight compose run on shutdown). */
  signal?: AbortSignal;
}

/**
 * The project's seam over process execution. Steps and adapters receive a
 * Shell, so unit tests can assert the exact argv with a fake and integration
 * tests run the real thing. Arguments are passed as an array: no shell parsing.
 */
export interface Shell {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<ShellResult>;
}

/** The real shell, through zx. */
export class ZxShell implements Shell {
  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<ShellResult> {
    const sh = $({
      nothrow: true,
      quiet: true,
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      input: opts.input,
      timeout: opts.timeoutMs,
      signal: opts.signal,
    });
    const t0 = performance.now();
    const p = await sh`${cmd} ${args}`;
    // zx kills the whole process tree at the limit: say why it ended. The exit code can't
    // tell (a parent whose child was killed first, like `git fetch`, exits with its own
    // code), so a failed run that lasted the whole limit is a timeout.
    const timedOut =
      opts.timeoutMs !== undefined && p.exitCode !== 0 && performance.now() - t0 >= opts.timeoutMs;
    const stderr = timedOut
      ? `${p.stderr}${p.stderr ? '\n' : ''}timed out after ${opts.timeoutMs} ms`
      : p.stderr;
    return { exitCode: p.exitCode ?? 1, stdout: p.stdout, stderr };
  }
}

/** Runs and throws with the command's own stderr when it fails. */
export async function runChecked(
  shell: Shell,
  cmd: string,
  args: readonly string[],
  opts?: RunOptions,
): Promise<string> {
  const r = await shell.run(cmd, args, opts);
  if (r.exitCode !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.exitCode}: ${detail}`);
  }
  return r.stdout;
}

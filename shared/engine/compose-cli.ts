import { dataPaths } from '../config/data-paths.ts';
import type { HostConfig } from '../config/schema.ts';
import type { Shell } from '../shell.ts';

export interface ComposeTarget {
  project: string;
  workingDir: string;
  /** Relative to workingDir. */
  files: string[];
  profiles: string[];
  /** Relative to workingDir. */
  envFiles: string[];
}

/**
 * The compose project as host.json names it: the agent and the bootstrap's images step use the same.
 * The host's generated secrets (`<dataDir>/secrets/compose.env`: the Postgres password Dalston's
 * compose file interpolates) come last, so they win over host.json's env files. The file is
 * required: compose fails loudly without it rather than let Postgres fall back to Dalston's
 * default password. `withSecrets: false` is only for the bootstrap's secrets step, which runs the
 * stack as it was before those secrets existed.
 */
export function composeTarget(config: HostConfig, opts: { withSecrets?: boolean } = {}): ComposeTarget {
  const c = config.compose;
  const secrets = opts.withSecrets === false ? [] : [dataPaths(config.dataDir).secretsEnv];
  return {
    project: c.project,
    workingDir: c.workingDir,
    files: c.files,
    profiles: c.profiles,
    envFiles: [...c.envFiles, ...secrets],
  };
}

/**
 * Variables compose interpolates: the overlay puts Postgres, Redis and models
 * under DALSTON_DATA_DIR, the dataDir the agent verified as the data volume's mount.
 */
export function composeEnv(config: HostConfig): Record<string, string> {
  return { DALSTON_DATA_DIR: config.dataDir };
}

/** A failed compose run; the message carries compose's own stderr. */
export class ComposeError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    const detail = stderr.trim().split('\n').slice(-8).join(' | ') || '(no output)';
    super(`docker ${args.join(' ')} exited ${exitCode}: ${detail}`);
    this.name = 'ComposeError';
  }
}

/**
 * The real `docker compose` v2 CLI through the Shell seam: the agent never
 * re-implements compose, it only asks it to bring services up or stop them.
 */
export class ComposeCli {
  constructor(
    private readonly shell: Shell,
    private readonly target: ComposeTarget,
    private readonly opts: {
      docker?: string;
      timeoutMs?: number;
      /** Variables compose interpolates, e.g. DALSTON_DATA_DIR (the mount the agent checked). */
      env?: Record<string, string>;
    } = {},
  ) {}

  /** `docker compose version --short`, e.g. `2.26.1`. */
  async version(): Promise<string> {
    const args = ['compose', 'version', '--short'];
    const r = await this.shell.run(this.docker, args, { timeoutMs: 15_000 });
    if (r.exitCode !== 0) throw new ComposeError(args, r.exitCode, r.stderr || r.stdout);
    return r.stdout.trim().replace(/^v/, '');
  }

  /** `up -d [services]`: creates what is missing, leaves healthy containers alone. */
  async up(services: readonly string[], signal?: AbortSignal): Promise<void> {
    await this.exec([...this.projectArgs(), 'up', '-d', ...services], undefined, signal);
  }

  /** `stop -t grace services…` */
  async stop(services: readonly string[], graceSeconds: number): Promise<void> {
    if (services.length === 0) return;
    await this.exec(
      [...this.projectArgs(), 'stop', '-t', String(graceSeconds), ...services],
      (graceSeconds + 60) * 1000,
    );
  }

  /** The global flags naming the project, its files, profiles and env files. */
  projectArgs(): string[] {
    const t = this.target;
    const args = ['compose', '-p', t.project, '--project-directory', t.workingDir];
    for (const f of t.files) args.push('-f', f);
    for (const p of t.profiles) args.push('--profile', p);
    for (const e of t.envFiles) args.push('--env-file', e);
    return args;
  }

  private get docker(): string {
    return this.opts.docker ?? 'docker';
  }

  private async exec(args: string[], timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    const r = await this.shell.run(this.docker, args, {
      cwd: this.target.workingDir,
      ...(this.opts.env ? { env: this.opts.env } : {}),
      timeoutMs: timeoutMs ?? this.opts.timeoutMs ?? 15 * 60_000,
      ...(signal ? { signal } : {}),
    });
    if (signal?.aborted) throw new Error(`docker ${args.join(' ')}: cancelled by shutdown`);
    if (r.exitCode !== 0) throw new ComposeError(args, r.exitCode, r.stderr || r.stdout);
  }
}

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, type GetParameterCommandOutput } from '@aws-sdk/client-ssm';
import { HostError } from '../../shared/errors.ts';
import { runChecked } from '../../shared/shell.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import type { Platform } from '../os-release.ts';
import { rooted, SystemPath } from '../paths.ts';
import { withRetry } from '../retry.ts';
import { ensureTailscaleStateOnVolume } from '../tailscale-state.ts';
import { requirePlatform } from './os.ts';
import { APT_LOCK } from './packages.ts';
import { done, planned, type Step, skipped, unchanged } from './step.ts';

/** Tailscale's own package repositories (https://pkgs.tailscale.com/stable/). */
export function tailscaleRepo(p: Platform): {
  files: { path: string; content: string }[];
  keyring?: { url: string; path: string };
} {
  if (p.family === 'al2023') {
    return {
      files: [
        {
          path: `${SystemPath.yumRepos}/tailscale.repo`,
          content: [
            '[tailscale-stable]',
            'name=Tailscale stable',
            'baseurl=https://pkgs.tailscale.com/stable/amazon-linux/2023/$basearch',
            'enabled=1',
            'type=rpm',
            'repo_gpgcheck=1',
            'gpgcheck=1',
            'gpgkey=https://pkgs.tailscale.com/stable/amazon-linux/2023/repo.gpg',
            '',
          ].join('\n'),
        },
      ],
    };
  }
  const distro = p.family === 'ubuntu' ? 'ubuntu' : 'debian';
  const keyring = `${SystemPath.aptKeyrings}/tailscale-archive-keyring.gpg`;
  return {
    keyring: { url: `https://pkgs.tailscale.com/stable/${distro}/${p.codename}.noarmor.gpg`, path: keyring },
    files: [
      {
        path: `${SystemPath.aptSources}/tailscale.list`,
        content: `deb [signed-by=${keyring}] https://pkgs.tailscale.com/stable/${distro} ${p.codename} main\n`,
      },
    ],
  };
}

/** Pure: curl's argv for the keyring: bounded connect and total time, curl's own retries for transient errors. */
export function keyringDownloadArgs(path: string, url: string, maxMs: number): string[] {
  return [
    '-fsSL',
    '--retry',
    '3',
    '--connect-timeout',
    '30',
    '--max-time',
    String(Math.ceil(maxMs / 1000)),
    '-o',
    path,
    url,
  ];
}

/** Pure: `tailscale status --json` → is this node up? */
export function tailscaleRunning(exitCode: number, stdout: string): boolean {
  if (exitCode !== 0) return false;
  try {
    return (JSON.parse(stdout) as { BackendState?: string }).BackendState === 'Running';
  } catch {
    return false;
  }
}

/**
 * The argv of `tailscale up`; the key is only ever referenced as `file:` (never in argv or logs).
 * `--ssh`: Tailscale SSH, so `dalston-aws ssh` logs in over the tailnet with no key pair and no open port.
 */
export function tailscaleUpArgs(keyFile: string, hostname: string): string[] {
  return ['up', `--auth-key=file:${keyFile}`, `--hostname=${hostname}`, '--ssh', '--timeout=60s'];
}

/**
 * The gateway reaches the tailnet through `tailscale serve`: plain HTTP on port
 * 8000 of the Tailscale address only, proxied to the loopback port compose
 * publishes. So no compose port is ever bound to a non-loopback address.
 */
export const GATEWAY_SERVE_ARGS = ['serve', '--bg', '--http=8000', 'http://127.0.0.1:8000'];

/** Pure: `tailscale serve status --json` → is the gateway already served on port 8000? */
export function gatewayServed(exitCode: number, stdout: string): boolean {
  if (exitCode !== 0) return false;
  try {
    const config = JSON.parse(stdout) as { TCP?: Record<string, unknown> } | null;
    return Boolean(config?.TCP?.['8000']);
  } catch {
    return false;
  }
}

/** The tailscale CLI talks to tailscaled, which can hang: every call has a time limit. */
const tailscale = (ctx: BootstrapContext, args: string[]) =>
  ctx.shell.run('tailscale', args, { timeoutMs: ctx.limits.tailscaleCliMs });

async function serveGateway(ctx: BootstrapContext): Promise<boolean> {
  const status = await tailscale(ctx, ['serve', 'status', '--json']);
  if (gatewayServed(status.exitCode, status.stdout)) return false;
  await runChecked(ctx.shell, 'tailscale', GATEWAY_SERVE_ARGS, { timeoutMs: ctx.limits.tailscaleCliMs });
  return true;
}

/**
 * Pure: is an SSM error worth another attempt? Timeouts, dropped connections
 * and server errors are; a missing parameter or a denied read is not (it fails
 * the same way until someone fixes it, and the next boot tries again).
 */
export function ssmRetryable(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return true;
}

async function readAuthKey(ctx: BootstrapContext, name: string): Promise<string> {
  let out: GetParameterCommandOutput;
  try {
    out = await withRetry(
      ctx.clock,
      async () => {
        try {
          return (await ctx.ssm().send(new GetParameterCommand({ Name: name, WithDecryption: true }), {
            abortSignal: AbortSignal.timeout(ctx.limits.ssmMs),
          })) as GetParameterCommandOutput;
        } catch (err) {
          if (!ssmRetryable(err)) throw new NotRetried(err);
          throw err;
        }
      },
      {
        attempts: ctx.limits.attempts,
        onRetry: (err, attempt) =>
          ctx.progress(
            `reading SSM parameter ${name} failed (attempt ${attempt}), retrying: ${describeAws(err)}`,
          ),
        retryIf: (err) => !(err instanceof NotRetried),
      },
    );
  } catch (err) {
    const cause = err instanceof NotRetried ? err.cause : err;
    throw new HostError(
      'failure',
      `cannot read SSM parameter ${name} (tailscale.authKeyParameter): ${describeAws(cause)}`,
    );
  }
  const value = out.Parameter?.Value;
  if (!value) throw new HostError('failure', `SSM parameter ${name} (tailscale.authKeyParameter) is empty`);
  return value.trim();
}

/** Marks an error the retry must pass through at once. */
class NotRetried extends Error {
  constructor(cause: unknown) {
    super('not retried', { cause });
  }
}

export function describeAws(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `${e.name}: no answer in time`;
  return `${e?.name ?? ''} ${e?.message ?? String(err)}`.trim();
}

export const tailscaleStep: Step = {
  name: 'tailscale',
  async run(ctx) {
    const param = ctx.config.tailscale.authKeyParameter;
    if (!param) return skipped('tailscale.authKeyParameter not set');
    const hostname = ctx.config.tailscale.hostname;
    // Before tailscaled is installed, started or asked anything: its state goes on the data volume.
    const stateChanges = await ensureTailscaleStateOnVolume(ctx);
    const stateNote =
      stateChanges.length > 0 && !ctx.dryRun ? "tailscaled's state now on the data volume; " : '';
    const status = await tailscale(ctx, ['status', '--json']);
    if (tailscaleRunning(status.exitCode, status.stdout)) {
      if (ctx.dryRun)
        return planned([
          ...stateChanges,
          `ensure the gateway is served on the tailnet: tailscale ${GATEWAY_SERVE_ARGS.join(' ')}`,
        ]);
      return (await serveGateway(ctx)) || stateNote
        ? done(`${stateNote}tailscale is Running; gateway served on the tailnet at :8000`)
        : unchanged('tailscale is Running; gateway served on the tailnet at :8000');
    }
    const installed = (await tailscale(ctx, ['version'])).exitCode === 0;
    const platform = installed ? undefined : await requirePlatform(ctx, 'installing Tailscale');
    const repo = platform ? tailscaleRepo(platform) : undefined;
    if (ctx.dryRun) {
      const changes: string[] = [...stateChanges];
      if (repo && platform) {
        if (repo.keyring)
          changes.push(`download ${repo.keyring.url} to ${rooted(ctx.root, repo.keyring.path)}`);
        for (const f of repo.files) changes.push(`write ${rooted(ctx.root, f.path)}`);
        changes.push(
          platform.family === 'al2023' ? 'dnf install -y tailscale' : 'apt-get install -y tailscale',
        );
      }
      if (ctx.host.systemdRunning()) changes.push('systemctl enable --now tailscaled');
      changes.push(`read SSM SecureString ${param} and run tailscale up --hostname=${hostname} --ssh`);
      changes.push(`serve the gateway on the tailnet: tailscale ${GATEWAY_SERVE_ARGS.join(' ')}`);
      return planned(changes);
    }
    if (repo && platform) {
      if (repo.keyring) {
        const keyPath = rooted(ctx.root, repo.keyring.path);
        await mkdir(join(keyPath, '..'), { recursive: true });
        await withRetry(
          ctx.clock,
          () =>
            runChecked(
              ctx.shell,
              'curl',
              keyringDownloadArgs(keyPath, repo.keyring!.url, ctx.limits.downloadMs),
              {
                // curl's own --max-time ends it first; this one catches a curl that does not.
                timeoutMs: ctx.limits.downloadMs + 30_000,
              },
            ),
          { attempts: ctx.limits.attempts },
        );
      }
      for (const f of repo.files) {
        const path = rooted(ctx.root, f.path);
        await mkdir(join(path, '..'), { recursive: true });
        await writeFileAtomic(path, f.content, { mode: 0o644 });
      }
      if (platform.family === 'al2023') {
        await withRetry(ctx.clock, () =>
          runChecked(ctx.shell, 'dnf', ['install', '-y', 'tailscale'], { timeoutMs: 20 * 60_000 }),
        );
      } else {
        const env = { DEBIAN_FRONTEND: 'noninteractive' };
        await withRetry(ctx.clock, () =>
          runChecked(ctx.shell, 'apt-get', [...APT_LOCK, 'update'], { env, timeoutMs: 20 * 60_000 }),
        );
        await withRetry(ctx.clock, () =>
          runChecked(ctx.shell, 'apt-get', [...APT_LOCK, 'install', '-y', 'tailscale'], {
            env,
            timeoutMs: 20 * 60_000,
          }),
        );
      }
    }
    if (ctx.host.systemdRunning())
      await runChecked(ctx.shell, 'systemctl', ['enable', '--now', 'tailscaled'], {
        timeoutMs: ctx.limits.systemctlMs,
      });
    const key = await readAuthKey(ctx, param);
    // The key goes to a 0600 file in a private 0700 dir, removed whatever happens.
    const dir = await mkdtemp(join(tmpdir(), 'dalston-tailscale-'));
    try {
      const file = join(dir, 'authkey');
      await writeFile(file, key, { mode: 0o600 });
      // One retry: a coordination-server hiccup passes; a bad key fails again at once (the next boot retries).
      await withRetry(
        ctx.clock,
        async () => {
          const r = await ctx.shell.run('tailscale', tailscaleUpArgs(file, hostname), {
            timeoutMs: ctx.limits.tailscaleUpMs,
          });
          if (r.exitCode !== 0) {
            const detail = (r.stderr || r.stdout)
              .split(key)
              .join('[redacted]')
              .trim()
              .split('\n')
              .slice(-3)
              .join(' | ');
            throw new HostError('failure', `tailscale up failed (exit ${r.exitCode}): ${detail}`);
          }
        },
        {
          attempts: 2,
          onRetry: (err) => ctx.progress(`retrying after: ${(err as Error).message}`),
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await serveGateway(ctx);
    return done(
      `${stateNote}${repo ? 'installed tailscale; ' : ''}joined the tailnet as ${hostname}; gateway served at :8000`,
    );
  },
};

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

/** Pure: `tailscale status --json` → is this node up? */
export function tailscaleRunning(exitCode: number, stdout: string): boolean {
  if (exitCode !== 0) return false;
  try {
    return (JSON.parse(stdout) as { BackendState?: string }).BackendState === 'Running';
  } catch {
    return false;
  }
}

/** The argv of `tailscale up`; the key is only ever referenced as `file:` (never in argv or logs). */
export function tailscaleUpArgs(keyFile: string, hostname: string): string[] {
  return ['up', `--auth-key=file:${keyFile}`, `--hostname=${hostname}`, '--timeout=60s'];
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

async function serveGateway(ctx: BootstrapContext): Promise<boolean> {
  const status = await ctx.shell.run('tailscale', ['serve', 'status', '--json']);
  if (gatewayServed(status.exitCode, status.stdout)) return false;
  await runChecked(ctx.shell, 'tailscale', GATEWAY_SERVE_ARGS);
  return true;
}

async function readAuthKey(ctx: BootstrapContext, name: string): Promise<string> {
  let out: GetParameterCommandOutput;
  try {
    out = (await ctx
      .ssm()
      .send(new GetParameterCommand({ Name: name, WithDecryption: true }))) as GetParameterCommandOutput;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    throw new HostError(
      'failure',
      `cannot read SSM parameter ${name} (tailscale.authKeyParameter): ${e.name ?? ''} ${e.message ?? ''}`.trim(),
    );
  }
  const value = out.Parameter?.Value;
  if (!value) throw new HostError('failure', `SSM parameter ${name} (tailscale.authKeyParameter) is empty`);
  return value.trim();
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
    const status = await ctx.shell.run('tailscale', ['status', '--json']);
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
    const installed = (await ctx.shell.run('tailscale', ['version'])).exitCode === 0;
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
      changes.push(`read SSM SecureString ${param} and run tailscale up --hostname=${hostname}`);
      changes.push(`serve the gateway on the tailnet: tailscale ${GATEWAY_SERVE_ARGS.join(' ')}`);
      return planned(changes);
    }
    if (repo && platform) {
      if (repo.keyring) {
        const keyPath = rooted(ctx.root, repo.keyring.path);
        await mkdir(join(keyPath, '..'), { recursive: true });
        await withRetry(ctx.clock, () =>
          runChecked(ctx.shell, 'curl', ['-fsSL', '--retry', '3', '-o', keyPath, repo.keyring!.url]),
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
        await withRetry(ctx.clock, () => runChecked(ctx.shell, 'apt-get', [...APT_LOCK, 'update'], { env }));
        await withRetry(ctx.clock, () =>
          runChecked(ctx.shell, 'apt-get', [...APT_LOCK, 'install', '-y', 'tailscale'], {
            env,
            timeoutMs: 20 * 60_000,
          }),
        );
      }
    }
    if (ctx.host.systemdRunning())
      await runChecked(ctx.shell, 'systemctl', ['enable', '--now', 'tailscaled']);
    const key = await readAuthKey(ctx, param);
    // The key goes to a 0600 file in a private 0700 dir, removed whatever happens.
    const dir = await mkdtemp(join(tmpdir(), 'dalston-tailscale-'));
    try {
      const file = join(dir, 'authkey');
      await writeFile(file, key, { mode: 0o600 });
      const r = await ctx.shell.run('tailscale', tailscaleUpArgs(file, hostname), { timeoutMs: 120_000 });
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
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await serveGateway(ctx);
    return done(
      `${stateNote}${repo ? 'installed tailscale; ' : ''}joined the tailnet as ${hostname}; gateway served at :8000`,
    );
  },
};

import { readFile } from 'node:fs/promises';
import { HostError } from '../../shared/errors.ts';
import type { BootstrapContext } from '../context.ts';
import { classifyOs, type Platform, parseOsRelease, SUPPORTED_OS_TEXT } from '../os-release.ts';
import { rooted, SystemPath } from '../paths.ts';
import { type Step, skipped, unchanged } from './step.ts';

/** Reads and classifies /etc/os-release (under --root); caches the platform. */
export async function detectPlatform(ctx: BootstrapContext): Promise<Platform | { unsupported: string }> {
  if (ctx.state.platform) return ctx.state.platform;
  const path = rooted(ctx.root, SystemPath.osRelease);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { unsupported: `${path} is unreadable (${(err as NodeJS.ErrnoException).code ?? err})` };
  }
  const c = classifyOs(parseOsRelease(text));
  if (!c.supported) return { unsupported: c.description };
  ctx.state.platform = c.platform;
  return c.platform;
}

/** The platform, or exit 1 naming the OS: package-installing steps cannot guess. */
export async function requirePlatform(ctx: BootstrapContext, forWhat: string): Promise<Platform> {
  const p = await detectPlatform(ctx);
  if ('unsupported' in p) {
    throw new HostError(
      'failure',
      `unsupported OS for ${forWhat}: ${p.unsupported}; supported: ${SUPPORTED_OS_TEXT}`,
    );
  }
  return p;
}

export function osStep(selected: readonly string[]): Step {
  return {
    name: 'os',
    async run(ctx) {
      const p = await detectPlatform(ctx);
      if (!('unsupported' in p)) return unchanged(`${p.name} (supported)`);
      // Non-package steps (disk, mount, fstab, dirs, dalston) work on any Linux.
      const needsPackages = selected.some((s) => s === 'packages' || s === 'tailscale');
      if (needsPackages) {
        throw new HostError('failure', `unsupported OS: ${p.unsupported}; supported: ${SUPPORTED_OS_TEXT}`);
      }
      return skipped(`${p.unsupported} is not a supported OS, but no package step is selected`);
    },
  };
}

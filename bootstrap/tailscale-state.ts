import { cp, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dataPaths } from '../shared/config/data-paths.ts';
import { runChecked } from '../shared/shell.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BootstrapContext } from './context.ts';
import { rooted, SystemPath } from './paths.ts';
import { readIfExists } from './read-if-exists.ts';
import { requireDataMounted } from './steps/dirs.ts';
import { unitPathWord } from './steps/units.ts';

/**
 * tailscaled keeps its node key and name in /var/lib/tailscale. On the root disk
 * they die with the instance: a replaced instance (how a release is rolled out)
 * would join as a new node, named `dalston-1` while everything points at
 * `dalston`, and a one-off key could not join at all. So its state directory is
 * the data volume's `tailscale/`, bound over /var/lib/tailscale by a drop-in,
 * and tailscaled runs only with the volume mounted (RequiresMountsFor): one
 * identity, never a second empty one on the root disk.
 */

export const TAILSCALED_UNIT = 'tailscaled.service';
/** Where the package's unit keeps its state (its StateDirectory). */
export const TAILSCALE_STATE_DIR = '/var/lib/tailscale';
export const TAILSCALED_DROP_IN = `${TAILSCALED_UNIT}.d/dalston-state.conf`;

/** Pure: one side of a BindPaths= pair: a path word, with `:` escaped (it separates source and target). */
function bindWord(path: string): string {
  return unitPathWord(path).replace(/:/g, '\\:');
}

/** Pure: the drop-in that puts tailscaled's state on the data volume. */
export function tailscaledDropIn(dataDir: string): string {
  const state = dataPaths(dataDir).tailscaleState;
  return (
    "# Written by `dalston-host bootstrap` (tailscale step) from host.json's dataDir.\n" +
    "# tailscaled's state (node key, name) lives on the data volume, so a replaced instance\n" +
    '# keeps its node identity; without the volume tailscaled does not start (no second,\n' +
    '# empty identity on the root disk).\n' +
    `[Unit]\nRequiresMountsFor=${unitPathWord(dataDir)}\n` +
    `[Service]\nBindPaths=${bindWord(state)}:${bindWord(TAILSCALE_STATE_DIR)}\n`
  );
}

/**
 * Ensures the drop-in before tailscaled is installed or started (the package's
 * install starts it), so the first state it writes is on the volume. A
 * tailscaled that already ran from the root disk (a host set up before this)
 * has its state copied over once, then is restarted with the drop-in.
 * Returns what changed (empty when nothing did), or in a dry run what would.
 */
export async function ensureTailscaleStateOnVolume(ctx: BootstrapContext): Promise<string[]> {
  const path = rooted(ctx.root, join(SystemPath.systemdUnits, TAILSCALED_DROP_IN));
  const text = tailscaledDropIn(ctx.config.dataDir);
  if ((await readIfExists(path)) === text) return [];
  const state = dataPaths(ctx.config.dataDir).tailscaleState;
  const running = ctx.host.systemdRunning();
  const limit = { timeoutMs: ctx.limits.systemctlMs };
  const active =
    running &&
    (await ctx.shell.run('systemctl', ['is-active', '--quiet', TAILSCALED_UNIT], limit)).exitCode === 0;
  const onRootDisk = rooted(ctx.root, TAILSCALE_STATE_DIR);
  const migrate =
    (await ctx.host.listDir(state)).length === 0 &&
    (await ctx.host.listDir(onRootDisk)).includes('tailscaled.state');
  const changes = [
    ...(migrate ? [`copy tailscaled's state from ${onRootDisk} to ${state}`] : []),
    `install ${path} (state in ${state}, bound at ${TAILSCALE_STATE_DIR})`,
    ...(running ? ['systemctl daemon-reload'] : []),
    ...(active ? [`systemctl restart ${TAILSCALED_UNIT}`] : []),
  ];
  if (ctx.dryRun) return changes;
  await requireDataMounted(ctx, "tailscaled's state directory");
  await mkdir(state, { recursive: true, mode: 0o700 });
  if (migrate) await cp(onRootDisk, state, { recursive: true, preserveTimestamps: true });
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, text, { mode: 0o644 });
  if (running) await runChecked(ctx.shell, 'systemctl', ['daemon-reload'], limit);
  if (active) await runChecked(ctx.shell, 'systemctl', ['restart', TAILSCALED_UNIT], limit);
  return changes;
}

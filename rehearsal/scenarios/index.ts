import type { Scenario } from '../context.ts';
import { backupRestore } from './backup-restore.ts';
import { badUpgrade } from './bad-upgrade.ts';
import { duplicateUuid } from './duplicate-uuid.ts';
import { faults } from './faults.ts';
import { firstBoot } from './first-boot.ts';
import { idleStop } from './idle-stop.ts';
import { liveChange } from './live-change.ts';
import { missingVolume } from './missing-volume.ts';
import { secondBoot } from './second-boot.ts';
import { stop } from './stop.ts';
import { tailscaleFails } from './tailscale-fails.ts';
import { uncleanStop } from './unclean-stop.ts';
import { upgrade } from './upgrade.ts';
import { volumePulled } from './volume-pulled.ts';
import { volumeSwap } from './volume-swap.ts';

/**
 * The scenarios in the order they run. Each may rely on the state the one
 * before left: faults and stop use the machine the first boot left running,
 * volume-pulled leaves it running and healthy again, backup/restore needs it
 * so and leaves it so (the second boot then reads the first boot's rows back
 * through a restored database), as do the live change (a desired state applied
 * by sync), the upgrade (a new release and Dalston version: the machine runs
 * them from then on, and the desired state scenarios publish later builds on
 * them) and the bad upgrade (rolled back, then the good desired state published
 * again); the unclean-stop, duplicate-UUID and
 * missing-volume boots need it powered off; idle stop boots it from powered
 * off, shortens the idle window in its host.json and leaves it powered off;
 * the volume swap boots it on a new blank volume and leaves it powered off.
 * The Tailscale failure boots an instance of its own, once the main one is
 * off. A new scenario is a file in
 * this directory and one line here.
 */
export const SCENARIOS: readonly Scenario[] = [
  firstBoot,
  faults,
  volumePulled,
  backupRestore,
  liveChange,
  upgrade,
  badUpgrade,
  stop,
  secondBoot,
  uncleanStop,
  duplicateUuid,
  missingVolume,
  idleStop,
  volumeSwap,
  tailscaleFails,
];

/** The scenarios `--only` names, in the usual order; an unknown name is an error, not an empty run. */
export function selectScenarios(only: string | undefined): readonly Scenario[] {
  if (only === undefined) return SCENARIOS;
  const names = only
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(
      `--only: unknown scenario ${unknown.map((n) => `"${n}"`).join(', ') || '(none given)'}; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  }
  return SCENARIOS.filter((s) => names.includes(s.name));
}

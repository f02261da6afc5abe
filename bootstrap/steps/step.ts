import type { BootstrapContext } from '../context.ts';

/**
 * The order steps run in. `desired` is first: it writes host.json and the
 * compose env from the published desired state, and every other step reads
 * them (bootstrap/command.ts runs it before host.json is loaded). `units` comes right after `os`: it needs nothing but
 * host.json, and once it has run the every-boot unit exists, so a later failure
 * for an outside reason (a late volume, a package mirror, a registry, an expired
 * Tailscale key) is retried at the next boot instead of leaving a host with no
 * units. `packages` follows the data volume (Docker may be ordered after its
 * mount). `stack` starts dalston.service once the checkout and images are in
 * place; `tailscale` is last, so it can never keep the stack from starting.
 */
export const STEP_ORDER = [
  'desired',
  'os',
  'units',
  'disk',
  'mount',
  'fstab',
  'dirs',
  'packages',
  'dalston',
  'secrets',
  'images',
  'stack',
  'api-key',
  'tailscale',
] as const;
export type StepName = (typeof STEP_ORDER)[number];

/**
 * What each step builds on. A step whose need failed (or was itself blocked)
 * in the same run is not run and is recorded as `blocked`; independent steps
 * still run (a failed image build does not keep Tailscale, the operator's way
 * in, from being set up). A need that was not selected is not checked here:
 * the step checks its own preconditions.
 */
export const STEP_NEEDS: Readonly<Record<StepName, readonly StepName[]>> = {
  // A failed read of the desired state leaves host.json as it was: the rest still runs on it.
  desired: [],
  os: [],
  units: [],
  disk: [],
  mount: ['disk'],
  fstab: ['mount'],
  dirs: ['mount'],
  packages: ['os'],
  dalston: ['dirs'],
  secrets: ['dirs'],
  images: ['packages', 'dalston'],
  stack: ['units', 'packages', 'dalston', 'secrets', 'images'],
  // Only the SSM copy: the key itself is in the secrets file, so the stack never waits for it.
  'api-key': ['secrets'],
  // tailscaled's state lives on the data volume.
  tailscale: ['os', 'dirs'],
};

/**
 * Steps of the quick path: what every boot after a completed bootstrap checks
 * (the desired state, so a new volume id is followed before the disk step looks; data volume, mount, fstab, directories, checkout, the per-host secrets). dalston-bootstrap.service's
 * ExecStartPost starts the stack after it.
 */
export const QUICK_STEPS: readonly StepName[] = [
  'desired',
  'os',
  'disk',
  'mount',
  'fstab',
  'dirs',
  'dalston',
  'secrets',
];

export type BootstrapPath = 'full' | 'quick';

/**
 * Pure: which steps a boot runs (`bootstrap --boot`, from dalston-bootstrap.service).
 * Until a full bootstrap has succeeded once on this host (its marker file), every
 * boot runs all of them again: a first boot that failed for an outside reason is
 * retried, not left half-done. After that, only the quick path.
 */
export function bootPlan(completed: boolean): { path: BootstrapPath; steps: StepName[] } {
  return completed ? { path: 'quick', steps: [...QUICK_STEPS] } : { path: 'full', steps: [...STEP_ORDER] };
}

/**
 * Pure: why a quick-path boot must run every step after all, or null. A desired state that moved
 * host.json to another data volume (a swap: `volume.id`) or data directory leaves everything the
 * quick path skips stale: tailscaled's state and the API key's SSM copy belong to the old volume
 * (tailscaled could not even start without it), the units' drop-ins name the old dataDir. Every
 * step is idempotent, so the full path redoes only what changed.
 */
export function fullPathReason(path: BootstrapPath, hostChanged: readonly string[]): string | null {
  if (path !== 'quick') return null;
  const moved = hostChanged.filter((k) => k === 'volume.id' || k === 'dataDir');
  return moved.length > 0 ? `the data volume changed (${moved.join(', ')})` : null;
}

/** Pure: a run that selects every step is a full run (only its success writes the marker). */
export function isFullRun(names: readonly StepName[]): boolean {
  return STEP_ORDER.every((s) => names.includes(s));
}

export type StepResult = 'done' | 'unchanged' | 'skipped' | 'planned' | 'failed' | 'blocked';

export interface StepOutcome {
  result: Exclude<StepResult, 'failed' | 'blocked'>;
  /** One line for the operator: what was found or done. */
  detail: string;
  /** In a dry run: every change the step would make. */
  changes?: string[];
  /** Extra lines for parts of the step that did not happen. */
  also?: { name: string; result: Exclude<StepResult, 'failed' | 'blocked'>; detail: string }[];
}

export interface Step {
  name: StepName;
  run(ctx: BootstrapContext): Promise<StepOutcome>;
}

export const unchanged = (detail: string): StepOutcome => ({ result: 'unchanged', detail });
export const done = (detail: string): StepOutcome => ({ result: 'done', detail });
export const skipped = (detail: string): StepOutcome => ({ result: 'skipped', detail });
export const planned = (changes: string[]): StepOutcome => ({
  result: 'planned',
  detail: changes.length === 1 ? `would ${changes[0]}` : `would make ${changes.length} changes`,
  changes,
});

import type { BootstrapContext } from '../context.ts';

export const STEP_ORDER = [
  'os',
  'packages',
  'disk',
  'mount',
  'fstab',
  'dirs',
  'dalston',
  'secrets',
  'images',
  'tailscale',
  'units',
] as const;
export type StepName = (typeof STEP_ORDER)[number];

/** Steps that install software (or build images); the every-boot unit runs without them. */
export const INSTALL_STEPS: readonly StepName[] = ['packages', 'images', 'tailscale', 'units'];

export type StepResult = 'done' | 'unchanged' | 'skipped' | 'planned' | 'failed';

export interface StepOutcome {
  result: Exclude<StepResult, 'failed'>;
  /** One line for the operator: what was found or done. */
  detail: string;
  /** In a dry run: every change the step would make. */
  changes?: string[];
  /** Extra lines for parts of the step that did not happen, e.g. `units:start` skipped offline. */
  also?: { name: string; result: Exclude<StepResult, 'failed'>; detail: string }[];
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

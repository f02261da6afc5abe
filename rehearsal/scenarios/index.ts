import type { Scenario } from '../context.ts';
import { faults } from './faults.ts';
import { firstBoot } from './first-boot.ts';
import { missingVolume } from './missing-volume.ts';
import { secondBoot } from './second-boot.ts';
import { stop } from './stop.ts';
import { tailscaleFails } from './tailscale-fails.ts';

/**
 * The scenarios in the order they run. Each may rely on the state the one
 * before left: faults and stop use the machine the first boot left running,
 * the missing-volume boot needs it powered off. The Tailscale failure boots an
 * instance of its own, once the main one is off. A new scenario is a file in
 * this directory and one line here.
 */
export const SCENARIOS: readonly Scenario[] = [
  firstBoot,
  faults,
  stop,
  secondBoot,
  missingVolume,
  tailscaleFails,
];

import type { Scenario } from '../context.ts';
import { faults } from './faults.ts';
import { firstBoot } from './first-boot.ts';
import { idleStop } from './idle-stop.ts';
import { missingVolume } from './missing-volume.ts';
import { secondBoot } from './second-boot.ts';
import { stop } from './stop.ts';
import { volumePulled } from './volume-pulled.ts';

/**
 * The scenarios in the order they run. Each may rely on the state the one
 * before left: faults and stop use the machine the first boot left running,
 * volume-pulled leaves it running and healthy again, the missing-volume boot
 * needs it powered off, and idle stop runs last (it boots from powered off,
 * shortens the idle window in host.json and leaves the machine powered off). A new scenario is a file in
 * this directory and one line here.
 */
export const SCENARIOS: readonly Scenario[] = [
  firstBoot,
  faults,
  volumePulled,
  stop,
  secondBoot,
  missingVolume,
  idleStop,
];

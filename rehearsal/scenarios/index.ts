import type { Scenario } from '../context.ts';
import { backupRestore } from './backup-restore.ts';
import { faults } from './faults.ts';
import { firstBoot } from './first-boot.ts';
import { missingVolume } from './missing-volume.ts';
import { secondBoot } from './second-boot.ts';
import { stop } from './stop.ts';
import { volumePulled } from './volume-pulled.ts';

/**
 * The scenarios in the order they run. Each may rely on the state the one
 * before left: faults and stop use the machine the first boot left running,
 * volume-pulled leaves it running and healthy again, backup/restore needs it
 * so and leaves it so (the second boot then reads the first boot's rows back
 * through a restored database), the missing-volume boot
 * needs it powered off. A new scenario is a file in
 * this directory and one line here.
 */
export const SCENARIOS: readonly Scenario[] = [
  firstBoot,
  faults,
  volumePulled,
  backupRestore,
  stop,
  secondBoot,
  missingVolume,
];

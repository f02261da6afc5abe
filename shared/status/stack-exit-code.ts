import { ExitCode } from '../errors.ts';
import type { StackState } from './snapshot.ts';

/**
 * The exit code of a status command for the stack state a current heartbeat reports. `dalston-host
 * status` (on the host) and `dalston-aws status` (from the laptop) both end through it, so a script
 * gets the same answer wherever it asks: only a healthy stack is 0.
 */
export function stackExitCode(state: StackState): number {
  return state === 'healthy' ? ExitCode.ok : ExitCode.failure;
}

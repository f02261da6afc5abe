import { acquireLock } from '../backup/lock.ts';
import { runSync } from '../converge/sync-runner.ts';
import { runBundle, wireSync } from '../converge/sync-wiring.ts';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';
import { syncLockFile } from '../shared/desired/convergence-record.ts';
import { createLogger } from '../shared/logger.ts';
import { systemClock } from '../shared/time/clock.ts';
import { hostVersion } from '../shared/version.ts';

/**
 * `dalston-host sync [--config FILE]`: converge this host to its desired state
 * (converge/sync-runner.ts), one step at a time. dalston-sync.service runs it
 * when the agent sees the desired state change. Exit 0 converged, 1 a step
 * rolled back or failed (not retried until the desired state changes), 69 the
 * desired state could not be read, 75 another sync is running, 78 bad config or
 * an invalid desired state.
 */
export async function syncCommand(
  args: string[],
  io: { stdout: { write(s: string): unknown } } = { stdout: process.stdout },
): Promise<number> {
  const { values } = parseCommandArgs(args, { ...configFlag });
  const configPath = values.config ?? DEFAULT_CONFIG_PATH;
  const { config } = await loadConfig(configPath, { mustExist: true });
  const logger = createLogger({ name: 'dalston-sync' });
  const release = hostVersion().version;
  const deps = wireSync({
    config,
    configPath,
    release,
    clock: systemClock,
    logger,
    say: (line) => io.stdout.write(`sync: ${line}\n`),
  });
  const lock = await acquireLock(syncLockFile(config.backup.runDir), 'sync');
  let outcome: Awaited<ReturnType<typeof runSync>>;
  try {
    outcome = await runSync(deps);
  } finally {
    await lock.release();
  }
  if (!outcome.reexec) return outcome.exitCode;
  // The new release's own sync applies the rest (it knows the desired state's newer keys).
  return (await runBundle(['sync', '--config', configPath], { inherit: true })).exitCode;
}

/**
 * Reading how a Postgres cluster last stopped and started, from the tools'
 * own output: `pg_controldata` (the state in pg_control) and the server log.
 * Used by the integration tests and by the rehearsal's stop/second-boot checks.
 */

/** Pure: `pg_controldata` output as a map ("Database cluster state" → "shut down"). */
export function parseControlData(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line.trim());
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

/** Pure: the cluster state pg_control records: "shut down" after a clean stop, "in production" while running or after a crash. */
export function clusterState(controlData: string): string | undefined {
  return parseControlData(controlData)['Database cluster state'];
}

/**
 * Pure: the log of the server's last start: from the last "starting PostgreSQL"
 * line to the end (a container's log holds every start, and the entrypoint's
 * temporary init server logs one too).
 */
export function lastStartLog(log: string): string {
  const lines = log.split('\n');
  let start = -1;
  lines.forEach((l, i) => {
    if (/LOG:\s+starting PostgreSQL/.test(l)) start = i;
  });
  return start < 0 ? '' : lines.slice(start).join('\n');
}

/** Lines Postgres logs only when it starts from a cluster that was not shut down cleanly. */
const CRASH_RECOVERY =
  /database system was interrupted|was not properly shut down|automatic recovery in progress|redo starts at|crash recovery/;

/** Pure: the crash-recovery lines in a start's log (none after a clean shutdown). */
export function crashRecoveryLines(startLog: string): string[] {
  return startLog.split('\n').filter((l) => CRASH_RECOVERY.test(l));
}

/** Pure: the start found a cleanly shut down cluster ("database system was shut down at …"). */
export function startedFromCleanShutdown(startLog: string): boolean {
  return /database system was shut down at /.test(startLog) && crashRecoveryLines(startLog).length === 0;
}

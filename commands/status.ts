import { summarizeBackup } from '../shared/backup/backup-summary.ts';
import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';
import { HostError } from '../shared/errors.ts';
import { formatBytes } from '../shared/format-bytes.ts';
import { parseSnapshot, type StatusSnapshot } from '../shared/status/snapshot.ts';
import { stackExitCode } from '../shared/status/stack-exit-code.ts';

/** Asks the local agent for its snapshot; the agent is the only source of truth on the host. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { ...configFlag, json: { type: 'boolean' } });
  const { config } = await loadConfig(values.config ?? DEFAULT_CONFIG_PATH, {
    mustExist: values.config !== undefined,
  });
  const url = `http://${config.agent.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/status`;
  let body: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.text();
  } catch (err) {
    throw new HostError(
      'failure',
      `the agent does not answer at ${url} (${(err as Error).message}); see: systemctl status dalston`,
    );
  }
  // Checked, not cast: an agent of another version (or something else on the port) says so plainly.
  const parsed = parseSnapshot(body);
  if (parsed.kind !== 'ok') {
    throw new HostError(
      'failure',
      `the agent at ${url} answered with a status this dalston-host cannot read (${parsed.reason}); compare \`dalston-host version\` with the running agent's (journalctl -u dalston)`,
    );
  }
  const snapshot: StatusSnapshot = parsed.snapshot;
  process.stdout.write(values.json ? `${JSON.stringify(snapshot, null, 2)}\n` : formatStatus(snapshot));
  return stackExitCode(snapshot.state);
}

/** Plain-text view of a snapshot: one header line, one line per service. */
export function formatStatus(s: StatusSnapshot): string {
  const data = s.host.dataVolume;
  const lines = [
    `${s.project}: ${s.state} · agent ${s.version} · gateway ${s.gateway.ok ? 'ok' : 'failing'}`,
    `data: ${data.mountPoint} ${data.mounted ? `mounted from ${data.device ?? '?'}` : 'NOT MOUNTED'}${
      data.usedPercent === null ? '' : ` · ${data.usedPercent.toFixed(0)}% used`
    }`,
  ];
  lines.push(...backupLines(s));
  const width = Math.max(7, ...s.services.map((x) => x.name.length));
  lines.push(`${'SERVICE'.padEnd(width)}  STATE       HEALTH     RESTARTS  CIRCUIT`);
  for (const svc of s.services) {
    lines.push(
      `${svc.name.padEnd(width)}  ${svc.state.padEnd(10)}  ${svc.health.padEnd(9)}  ${`${svc.agentRestarts}/${svc.dockerRestarts}`.padEnd(8)}  ${svc.circuitOpen ? 'OPEN' : 'closed'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const when = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
function ago(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  return h >= 1 ? `${h}h ${Math.floor((seconds % 3600) / 60)}m ago` : `${Math.floor(seconds / 60)}m ago`;
}

/** The backup and maintenance lines of the status (none from an agent that does not report them). */
export function backupLines(s: StatusSnapshot): string[] {
  const lines: string[] = [];
  if (s.maintenance) {
    const m = s.maintenance;
    lines.push(`maintenance: ${m.reason} since ${when(m.since)} (the agent holds ${m.services.join(', ')})`);
  }
  const b = summarizeBackup(s.backup, Date.parse(s.generatedAt));
  if (!b) return lines;
  const last =
    b.lastSuccessAt === null
      ? 'no successful backup yet'
      : `last ${when(b.lastSuccessAt)} (${ago(b.ageSeconds ?? 0)}) · ${formatBytes(b.sizeBytes ?? 0)} · revision ${b.alembicRevision ?? 'none'}`;
  if (b.verdict === 'unknown') lines.push(`backup: UNKNOWN (${b.problem})`);
  else if (b.verdict === 'failed' && b.failure) {
    const streak = b.consecutiveFailures > 1 ? ` (${b.consecutiveFailures} in a row)` : '';
    lines.push(`backup: FAILED ${when(b.failure.at)}${streak}: ${b.failure.error}`, `        ${last}`);
  } else if (b.verdict === 'overdue') lines.push(`backup: OVERDUE · ${last}`);
  else if (b.verdict === 'none') lines.push('backup: none yet');
  else lines.push(`backup: ok · ${last}`);
  return lines;
}

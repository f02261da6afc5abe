import { parseSnapshot, type StatusSnapshot } from '../../shared/status/snapshot.ts';
import type { Machine } from '../machine/nspawn.ts';

/**
 * Reading the product's state from inside the machine: the agent's /status,
 * the bootstrap's JSON step records, compose containers (systemd units and
 * journals: machine/systemd.ts).
 */
export const AGENT_STATUS_URL = 'http://127.0.0.1:9190/status';

const FETCH_JSON = `fetch(process.argv[1]).then(async (r) => { if (!r.ok) { console.error('HTTP ' + r.status); process.exit(1); } process.stdout.write(await r.text()); }).catch((e) => { console.error(e.cause?.code || e.message); process.exit(1); })`;

/** GET /status from the agent inside the machine (the machine's own Node, its own network). */
export async function agentStatus(m: Machine): Promise<StatusSnapshot | { error: string }> {
  const r = await m.exec('node', ['-e', FETCH_JSON, AGENT_STATUS_URL], { timeoutMs: 15_000 });
  if (r.exitCode !== 0) return { error: (r.stderr || r.stdout).trim() || `exit ${r.exitCode}` };
  // Checked against the shared contract: the rehearsal reads /status as dalston-aws would.
  const parsed = parseSnapshot(r.stdout);
  return parsed.kind === 'ok' ? parsed.snapshot : { error: `not a status snapshot: ${parsed.reason}` };
}

export function isSnapshot(s: StatusSnapshot | { error: string }): s is StatusSnapshot {
  return !('error' in s);
}

/** Pure: a short description of a snapshot ("healthy: postgres healthy, redis healthy, …"). */
export function describeSnapshot(s: StatusSnapshot): string {
  return `${s.state}: ${s.services.map((x) => `${x.name} ${x.state}/${x.health}`).join(', ')}`;
}

export interface StepLine {
  step: string;
  result: string;
  detail: string;
}

/** Pure: the bootstrap's step records from its pino JSON log lines (others are ignored). */
export function parseBootstrapSteps(journal: string): StepLine[] {
  const out: StepLine[] = [];
  for (const line of journal.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      if (typeof o.step === 'string' && typeof o.result === 'string') {
        out.push({ step: o.step, result: o.result, detail: typeof o.detail === 'string' ? o.detail : '' });
      }
    } catch {
      // not a record
    }
  }
  return out;
}

export interface ContainerInfo {
  id: string;
  service: string;
  startedAt: string;
  running: boolean;
}

/** The compose project's containers inside the machine, by service. */
export async function projectContainers(m: Machine, project: string): Promise<ContainerInfo[]> {
  const ids = (
    await m.execChecked('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])
  )
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) return [];
  const fmt =
    '{{.Id}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.StartedAt}} {{.State.Running}}';
  const out = await m.execChecked('docker', ['inspect', '--format', fmt, ...ids]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id = '', service = '', startedAt = '', running = ''] = l.split(' ');
      return { id, service, startedAt, running: running === 'true' };
    });
}

export async function containerOf(m: Machine, project: string, service: string): Promise<ContainerInfo> {
  const c = (await projectContainers(m, project)).find((x) => x.service === service);
  if (!c) throw new Error(`no container for service ${service} in compose project ${project}`);
  return c;
}

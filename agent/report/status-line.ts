/**
 * The one-line STATUS= text systemd shows in `systemctl status dalston`, e.g.
 *   healthy 6/6 · /data 12% · gateway ok
 *   degraded 5/6 · stt-transcribe-faster-whisper unhealthy (circuit open) · /data 12%
 *   degraded 2/6 · data volume missing: /data is not a mount point
 *   healthy 6/6 · backup failed · /data 12% · gateway ok
 *   degraded 4/6 · maintenance: restore 20260501T041503.123Z.dump · …
 *   healthy 6/6 · idle 55 min — stopping in 5 min · /data 12% · gateway ok
 *   stopping… · idle stop
 *   healthy 6/6 · converging dalston v1.3.0 · /data 12% · gateway ok
 *   healthy 6/6 · ROLLED BACK dalston v1.3.0 · /data 12% · gateway ok
 * Pure; at most 80 characters.
 */

import type { HostVersions } from '../../shared/desired/desired-state.ts';
import { serviceIsUp } from '../../shared/status/service-up.ts';
import type { ServiceStatus, StatusSnapshot } from '../../shared/status/snapshot.ts';

export const STATUS_LINE_MAX = 80;
const SEP = ' · ';

/** What is wrong with a service, in a few words; null when it is up. */
function problemOf(s: ServiceStatus): string | null {
  if (serviceIsUp(s)) return null;
  let what: string;
  if (s.state === 'missing') what = 'missing';
  else if (s.state !== 'running') what = s.state;
  else what = s.health; // running but unhealthy or still starting
  return s.circuitOpen ? `${what} (circuit open)` : what;
}

/** Worse problems first: an open circuit needs a human, a starting container does not. */
function severity(s: ServiceStatus): number {
  if (s.circuitOpen) return 0;
  if (s.state === 'running' && s.health === 'unhealthy') return 1;
  if (s.state !== 'running') return 2;
  return 3;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Maintenance, or a last backup that failed: what the operator must know beside the stack's state. */
function backupNote(s: StatusSnapshot): string | null {
  if (s.maintenance) return `maintenance: ${s.maintenance.reason.replace(/ \S*\//, ' ')}`;
  if (s.backup?.lastRun?.result === 'failure') return 'backup failed';
  if (s.backup?.problem) return 'backup state unreadable';
  return null;
}

/** The idle countdown, once there is one to see: `idle 55 min — stopping in 5 min`. */
function idleNote(s: StatusSnapshot): string | null {
  if (s.shutdown?.reason === 'idle') return 'idle stop';
  const st = s.idle?.state;
  return st === 'idle' || st === 'announce' || st === 'stopping' ? s.idle!.summary : null;
}

/** What a change is about, in two words: `dalston v1.3.0`, `release 0.3.0`, `host settings`. */
function changeTarget(kind: string, d: HostVersions | null): string {
  if (kind === 'release') return `release ${d?.release ?? ''}`.trim();
  if (kind === 'dalston') return `dalston ${d?.dalstonRef ?? d?.imageTag ?? ''}`.trim();
  return 'host settings';
}

/** A convergence in progress or a step that did not succeed: `converging dalston v1.3.0`, `ROLLED BACK …`. */
function convergenceNote(s: StatusSnapshot): string | null {
  const c = s.convergence;
  if (!c) return null;
  if (c.state === 'converging')
    return c.step ? `converging ${changeTarget(c.step, c.desired)}` : 'converging';
  const kind = c.lastResult?.kind ?? c.step ?? '';
  if (c.state === 'rolled-back') return `ROLLED BACK ${changeTarget(kind, c.desired)}`;
  if (c.state === 'failed') return `${changeTarget(kind, c.desired)} FAILED`;
  return null;
}

export function statusLine(s: StatusSnapshot): string {
  const base = stackLine(s);
  const note = [backupNote(s), convergenceNote(s), idleNote(s)].filter(Boolean).join(SEP);
  if (!note) return base;
  // Right after the state and count, where truncation does not reach it.
  const i = base.indexOf(SEP);
  const line = i === -1 ? `${base}${SEP}${note}` : `${base.slice(0, i)}${SEP}${note}${base.slice(i)}`;
  return truncate(line, STATUS_LINE_MAX);
}

function stackLine(s: StatusSnapshot): string {
  if (s.state === 'stopping') return 'stopping…';
  // A stack-wide cause (the data volume went missing while running) says more than any one service.
  if (s.reason && s.state !== 'healthy') {
    const up = s.services.filter(serviceIsUp).length;
    return truncate(`${s.state} ${up}/${s.services.length}${SEP}${s.reason}`, STATUS_LINE_MAX);
  }

  const vol = s.host.dataVolume;
  const anyContainer = s.services.some((x) => x.containerId !== null);
  if (!vol.mounted && !anyContainer) {
    return truncate(
      `${s.state} · data volume not mounted at ${vol.mountPoint}: stack not started`,
      STATUS_LINE_MAX,
    );
  }

  const up = s.services.filter(serviceIsUp).length;
  const head = `${s.state} ${up}/${s.services.length}`;
  // Not mounted but running: agent.requireDataMount is off and data lands on the root disk.
  const disk = !vol.mounted
    ? `${vol.mountPoint} not mounted`
    : vol.usedPercent === null
      ? `${vol.mountPoint} mounted`
      : `${vol.mountPoint} ${Math.round(vol.usedPercent)}%`;

  if (!s.docker.connected) return truncate([head, 'docker not answering', disk].join(SEP), STATUS_LINE_MAX);

  const broken = s.services.filter((x) => !serviceIsUp(x)).sort((a, b) => severity(a) - severity(b));
  const gateway = s.gateway.ok ? 'gateway ok' : 'gateway down';

  if (broken.length === 0) return truncate([head, disk, gateway].join(SEP), STATUS_LINE_MAX);

  const first = broken[0]!;
  const more = broken.length > 1 ? ` +${broken.length - 1} more` : '';
  const problem = ` ${problemOf(first)}${more}`;
  const tail = [disk, ...(s.gateway.ok ? [] : [gateway])].join(SEP);
  // Shorten the service name (not the problem) when the line is too long.
  const room = STATUS_LINE_MAX - head.length - SEP.length * 2 - tail.length - problem.length;
  const name = truncate(first.name, Math.max(8, room));
  return truncate([head, `${name}${problem}`, tail].join(SEP), STATUS_LINE_MAX);
}

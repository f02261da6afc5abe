import { formatBytes } from '../../shared/format-bytes.ts';
import type { ConvergenceReport } from '../rollout.ts';
import type { IdleReport, StatusReport } from '../status-report.ts';
import { formatDuration, formatTime, formatUsd, type Styler } from './format.ts';

function pad(s: string, width: number, visible = s.length): string {
  return s + ' '.repeat(Math.max(0, width - visible));
}

/** The one-screen text view of a StatusReport; `style` is ANSI on a terminal, identity otherwise. */
export function renderStatus(r: StatusReport, style: Styler): string {
  const out: string[] = [];
  const row = (label: string, value: string) => out.push(`  ${pad(label, 10)} ${value}`);
  const i = r.instance;
  out.push(`${style.bold(i.name ?? 'dalston')}  ${i.id}  (${i.region})`);

  const stateColor = i.state === 'running' ? style.green : i.state === 'stopped' ? style.dim : style.yellow;
  let inst = `${stateColor(i.state)}  ${i.type}`;
  if (i.uptimeSeconds !== null) inst += `  up ${formatDuration(i.uptimeSeconds)}`;
  if (i.launchTime) inst += `  (started ${formatTime(i.launchTime)})`;
  row('instance', inst);

  const c = r.cost;
  const storage = c.volumes.map((v) => `${v.sizeGiB} GiB ${v.type}`).join(' + ');
  row(
    'cost',
    `~${formatUsd(c.monthlyRunningUsd)}/month running, ~${formatUsd(c.monthlyStoppedUsd)}/month stopped` +
      `  ${style.dim(`(estimate: ${c.basis}${storage ? `; ${storage}` : ''})`)}`,
  );
  for (const n of c.notes) row('', style.dim(`note: ${n}`));

  const h = r.heartbeat;
  if (h.status === 'fresh' && h.at && h.ageSeconds !== null) {
    row('heartbeat', `${style.green('fresh')}  ${formatDuration(h.ageSeconds)} ago (${formatTime(h.at)})`);
  } else if (h.status === 'stale' && h.at && h.ageSeconds !== null) {
    row(
      'heartbeat',
      `${style.red('STALE')}  last seen ${formatDuration(h.ageSeconds)} ago (${formatTime(h.at)}), ` +
        `expected every ${formatDuration(h.heartbeatSeconds ?? 0)} — what follows is not current`,
    );
  } else if (h.status === 'stopped' && h.at && h.ageSeconds !== null) {
    row(
      'heartbeat',
      `${style.dim('last')}  ${formatDuration(h.ageSeconds)} ago (${formatTime(h.at)}), from before the stop — not current`,
    );
  } else if (h.status === 'missing') {
    row('heartbeat', `${style.yellow('none yet')}  no snapshot at ${h.location}`);
  } else {
    row(
      'heartbeat',
      `${style.red(h.status === 'malformed' ? 'unreadable' : 'unavailable')}  ${h.problem ?? ''}`,
    );
  }

  renderBootstrap(r, style, row);
  if (r.stop) row('stopped', r.stop.kind === 'other' ? style.yellow(r.stop.text) : r.stop.text);

  const s = r.stack;
  if (s) {
    const stColor = s.state === 'healthy' ? style.green : s.state === 'degraded' ? style.red : style.yellow;
    const counts = `${s.servicesUp}/${s.servicesTotal} services up`;
    row(
      'stack',
      s.current
        ? `${stColor(s.state)}  ${counts}  agent ${s.agentVersion}`
        : h.status === 'stopped'
          ? `${style.dim('not running')} (before the stop: ${s.state}, ${counts})  agent ${s.agentVersion}`
          : `${style.dim('unknown')} (last known: ${s.state}, ${counts})  agent ${s.agentVersion}`,
    );
  }
  if (r.convergence) renderConvergence(r.convergence, style, row);
  if (r.idle) row('idle', renderIdle(r.idle, style));
  if (r.lease) {
    const l = r.lease;
    if (l.kind === 'active')
      row('awake', `${style.green('kept awake')} until ${formatTime(l.until)}  by ${l.by}`);
    else if (l.kind === 'expired')
      row('awake', style.dim(`lease expired ${formatTime(l.until)} (by ${l.by})`));
    else if (l.kind === 'malformed')
      row('awake', `${style.red('lease unreadable')}: ${l.reason} — it holds nothing`);
  }
  const lastKnown = s && !s.current ? style.dim('  (last known)') : '';
  if (r.data) {
    const d = r.data;
    const used = d.usedPercent === null ? 'usage unknown' : `${Math.round(d.usedPercent)}% used`;
    const mounted = d.mounted ? style.green('mounted') : style.red('NOT MOUNTED');
    row(d.mountPoint, `${mounted}  ${d.device ?? 'no device'}  ${used}${lastKnown}`);
  }
  if (r.gateway) {
    const g = r.gateway;
    const when = g.checkedAt ? ` (checked ${formatTime(g.checkedAt)})` : '';
    row('gateway', `${g.ok ? style.green('ok') : style.red('failing')}  ${g.url}${when}${lastKnown}`);
  }

  if (r.maintenance) {
    const m = r.maintenance;
    row(
      'holding',
      `${style.yellow(m.services.join(', '))} for ${m.reason} (since ${formatTime(m.since)})${lastKnown}`,
    );
  }
  if (r.backup) {
    const b = r.backup;
    const last =
      b.lastSuccessAt === null
        ? 'no successful backup yet'
        : `last ${formatTime(b.lastSuccessAt)} (${formatDuration(b.ageSeconds ?? 0)} ago)  ${formatBytes(b.sizeBytes ?? 0)}  revision ${b.alembicRevision ?? 'none'}`;
    if (b.verdict === 'ok') row('backup', `${style.green('ok')}  ${last}${lastKnown}`);
    else if (b.verdict === 'none') row('backup', `${style.yellow('none yet')}${lastKnown}`);
    else if (b.verdict === 'overdue')
      row('backup', `${style.red('OVERDUE')}  ${last}, older than 26h${lastKnown}`);
    else if (b.verdict === 'unknown')
      row('backup', `${style.red('unknown')}  ${b.problem ?? ''}${lastKnown}`);
    else {
      const streak = b.consecutiveFailures > 1 ? ` (${b.consecutiveFailures} in a row)` : '';
      row(
        'backup',
        `${style.red('FAILED')}  ${formatTime(b.failure?.at ?? '')}${streak}: ${b.failure?.error ?? ''}${lastKnown}`,
      );
      row('', style.dim(last));
    }
  }

  if (r.services.length > 0) {
    out.push('');
    if (s && !s.current) out.push(style.yellow('  services as last reported (stale snapshot, not current):'));
    const widths = [
      Math.max(7, ...r.services.map((x) => x.name.length)),
      Math.max(5, ...r.services.map((x) => x.state.length)),
      9,
      19,
    ];
    out.push(
      style.dim(
        `  ${pad('SERVICE', widths[0]!)}  ${pad('STATE', widths[1]!)}  ${pad('HEALTH', widths[2]!)}  ${pad('RESTARTS agent/dkr', widths[3]!)}  CIRCUIT`,
      ),
    );
    for (const x of r.services) {
      const healthColor =
        x.health === 'healthy' ? style.green : x.health === 'unhealthy' ? style.red : style.yellow;
      const restarts = `${x.agentRestarts}/${x.dockerRestarts}`;
      const circuit = x.circuitOpen ? style.red('open') : 'closed';
      out.push(
        `  ${pad(x.name, widths[0]!)}  ${pad(x.state, widths[1]!)}  ${pad(healthColor(x.health), widths[2]!, x.health.length)}  ${pad(restarts, widths[3]!)}  ${circuit}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

function renderBootstrap(r: StatusReport, style: Styler, row: (label: string, value: string) => void): void {
  const b = r.bootstrap;
  const when = b.finishedAt ? formatTime(b.finishedAt) : '';
  const run = b.path === 'quick' ? 'quick run' : b.path === 'steps' ? 'chosen steps' : 'full run';
  if (b.status === 'ok' && b.current) {
    row('bootstrap', `${style.green('ok')}  ${run}, ${when}`);
  } else if (b.status === 'failed' && b.current) {
    row('bootstrap', `${style.red('FAILED')}  at step ${b.failedStep ?? '?'}, ${when} (${run})`);
    row('', b.message ?? '');
    if (b.blocked.length > 0) row('', `not run because of it: ${b.blocked.join(', ')}`);
    if (b.stackStarted === false) row('', style.yellow('the stack was not started by this run'));
  } else if (b.status === 'ok' || b.status === 'failed') {
    const what = b.status === 'ok' ? 'ok' : `failed at step ${b.failedStep ?? '?'}`;
    row('bootstrap', style.dim(`none since this start (before it: ${what}, ${when})`));
  } else if (b.status === 'running' && b.running) {
    const { step, done, total } = b.running;
    const count = done !== null && total !== null ? ` (${step ? done + 1 : done}/${total})` : '';
    const what = step ? `step ${step}${count}` : `between steps${count}`;
    const since = `started ${formatTime(b.running.startedAt)}`;
    row(
      'bootstrap',
      `${style.yellow('running')}  ${what}, ${since}${b.current ? '' : ' (before this start)'}`,
    );
  } else if (b.status === 'missing') {
    if (b.next.length > 0) row('bootstrap', `${style.yellow('none yet')}  no result at ${b.location}`);
  } else {
    row('bootstrap', `${style.red('unreadable')}  ${b.problem ?? ''}`);
  }
  for (const [i, n] of b.next.entries()) row(i === 0 ? 'next' : '', n);
}

/** One line: in sync, or the drift / the failed step, and the next step. */
function renderConvergence(
  c: ConvergenceReport,
  style: Styler,
  row: (label: string, value: string) => void,
): void {
  const word =
    c.state === 'converged'
      ? c.drift.length > 0
        ? style.yellow('DRIFT')
        : style.green('in sync')
      : c.state === 'converging'
        ? style.yellow('converging')
        : c.state === 'rolled-back'
          ? style.red('ROLLED BACK')
          : c.state === 'failed'
            ? style.red('FAILED')
            : c.state === 'unknown'
              ? style.yellow('unknown')
              : style.dim('not reported');
  row('converge', `${word}  ${c.text}${c.current ? '' : style.dim('  (last known)')}`);
  if (c.next) row('', `next: ${c.next}`);
}

/** `idle 12m 00s — stops 2026-… (in 48m 00s); held by: boot grace`, or why it is busy. */
export function renderIdle(idle: IdleReport, style: Styler): string {
  const reasons = idle.reasons.length > 0 ? idle.reasons.join('; ') : '';
  const countdown =
    idle.stopAt === null
      ? ''
      : ` — stops at ${formatTime(idle.stopAt)} (in ${formatDuration(idle.stopInSeconds ?? 0)})`;
  const since = idle.since ? `idle since ${formatTime(idle.since)}` : 'idle';
  switch (idle.state) {
    case 'disabled':
      return style.dim('idle stop off (idle_stop_after_minutes = 0)');
    case 'busy':
      return `${style.green('busy')}  ${reasons || idle.summary}`;
    case 'idle':
      return `${since}${countdown}${reasons ? `  held by: ${reasons}` : ''}`;
    case 'announce':
      return `${style.yellow('STOP ANNOUNCED')}  ${since}${countdown}`;
    case 'stopping':
      return `${style.yellow('stopping now')}  ${since}`;
  }
}

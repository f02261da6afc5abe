/**
 * What `dalston-aws status` and `wait` make of the host's bootstrap result:
 * whether it belongs to this start of the instance, the failed step and its
 * message, and what the operator can do next. Pure.
 */
import { firstFailure, isRunning, stackStartedBy } from '../shared/status/bootstrap-report.ts';
import type { BootstrapRead } from './aws/bootstrap-reports.ts';
import { formatDuration } from './render/format.ts';

export interface BootstrapView {
  /** `running`: a progress report of a run still going (no result yet). */
  status: 'ok' | 'failed' | 'running' | 'missing' | 'malformed' | 'error';
  location: string;
  /** From the instance's current start (its last one, when stopped); null without a result. */
  current: boolean | null;
  finishedAt: string | null;
  /** full, quick or steps (see shared/status/bootstrap-report.ts). */
  path: string | null;
  failedStep: string | null;
  message: string | null;
  /** Steps that did not run because of the failure. */
  blocked: string[];
  /** False when this run left the stack unstarted: no heartbeat will come until someone acts. */
  stackStarted: boolean | null;
  /** What to do next, when it failed. */
  next: string[];
  /** Why the result could not be read. */
  problem: string | null;
  /** While running: when the run started, its current step (null between steps), steps ended/total. */
  running: {
    startedAt: string;
    step: string | null;
    done: number | null;
    total: number | null;
  } | null;
}

/** What each step's failure usually means, for the first line of advice. */
const STEP_HINT: Record<string, string> = {
  config: 'fix /etc/dalston/host.json on the host (the message names the key)',
  os: 'this OS is not supported for installing packages (Amazon Linux 2023, Ubuntu 22.04/24.04, Debian 12 are)',
  units: 'systemd refused the units: see the message',
  disk: 'is the data volume attached to this instance? (`aws ec2 describe-volumes`, Terraform output data_volume_id)',
  mount: 'the data volume could not be mounted at dataDir: see the message',
  fstab: 'the fstab line for the data volume could not be written: see the message',
  dirs: 'the data directories could not be created on the data volume: see the message',
  packages: 'a package or plugin download failed (mirror or network): it is retried at the next boot',
  dalston: 'fetching Dalston failed: check dalston.repo and dalston.ref and the instance’s outbound network',
  images: 'building the local images failed: see the build output in the journal',
  stack: 'dalston.service could not be started: `systemctl status dalston` on the host',
  tailscale:
    'joining the tailnet failed: is the auth key in SSM (tailscale.authKeyParameter) expired or already used? Store a new one; the stack itself is not affected',
};

/** Pure: the next steps after a failed bootstrap, the step's own hint first. */
export function nextSteps(step: string): string[] {
  return [
    STEP_HINT[step] ?? 'see the message',
    'look on the host: `dalston-aws ssh --ssm`, then `sudo journalctl -b -u dalston-bootstrap` ' +
      '(first boot: `sudo cat /var/log/dalston-user-data.log`)',
    'run it again: `sudo dalston-host bootstrap` on the host, or restart the instance ' +
      '(`dalston-aws down && dalston-aws up`): every boot runs the whole bootstrap until one run succeeds',
  ];
}

/** Pure: the read result (or its error), placed against the instance's last start. */
export function bootstrapView(
  read: BootstrapRead | { kind: 'error'; key: string; reason: string },
  location: string,
  launchTime: Date | null,
): BootstrapView {
  const view: BootstrapView = {
    status: 'missing',
    location,
    current: null,
    finishedAt: null,
    path: null,
    failedStep: null,
    message: null,
    blocked: [],
    stackStarted: null,
    next: [],
    problem: null,
    running: null,
  };
  if (read.kind === 'missing') return view;
  if (read.kind !== 'ok') {
    view.status = read.kind;
    view.problem = read.kind === 'malformed' ? `${location} is malformed: ${read.reason}` : read.reason;
    return view;
  }
  const r = read.report;
  if (isRunning(r)) {
    view.status = 'running';
    view.current = launchTime === null || Date.parse(r.startedAt) >= launchTime.getTime();
    view.path = r.path ?? null;
    view.running = {
      startedAt: r.startedAt,
      step: r.currentStep?.name ?? null,
      done: r.stepsDone ?? null,
      total: r.stepsTotal ?? null,
    };
    return view;
  }
  const failed = firstFailure(r);
  view.status = r.ok ? 'ok' : 'failed';
  // EC2's LaunchTime is the last start: a result from before it belongs to an earlier boot.
  view.current = launchTime === null || Date.parse(r.finishedAt) >= launchTime.getTime();
  view.finishedAt = r.finishedAt;
  view.path = r.path ?? null;
  view.stackStarted = stackStartedBy(r);
  if (!r.ok) {
    view.failedStep = failed?.name ?? null;
    view.message = failed?.detail ?? `exit ${r.exitCode}`;
    view.blocked = r.steps.filter((s) => s.result === 'blocked').map((s) => s.name);
    // Advice only for this start's result: an older failure may long be fixed.
    if (view.current) view.next = nextSteps(failed?.name ?? '');
  }
  return view;
}

/** Pure: one line for progress and error messages: `bootstrap failed at tailscale: …`. */
export function describeFailure(v: BootstrapView): string {
  const blocked = v.blocked.length > 0 ? ` (not run because of it: ${v.blocked.join(', ')})` : '';
  return `bootstrap failed at step ${v.failedStep ?? '?'}: ${v.message ?? ''}${blocked}`;
}

/**
 * Pure: one progress line for a bootstrap still running, e.g.
 * `bootstrap: step images (9/14), 3m 10s` (the step is counted from 1; the
 * time is since the run started). Null for any other view.
 */
export function describeRunning(v: BootstrapView, nowMs: number): string | null {
  const r = v.running;
  if (v.status !== 'running' || !r) return null;
  const elapsed = formatDuration((nowMs - Date.parse(r.startedAt)) / 1000);
  const of = (n: number) => (r.total !== null ? ` (${n}/${r.total})` : '');
  if (r.step) return `bootstrap: step ${r.step}${r.done !== null ? of(r.done + 1) : ''}, ${elapsed}`;
  return `bootstrap: between steps${r.done !== null ? of(r.done) : ''}, ${elapsed}`;
}

/** Pure: where to look when no heartbeat came: the serial console, the bootstrap report, a shell. */
export function whereToLook(consoleCommand: string, bucket: string, reportKey: string): string[] {
  return [
    `the boot log on the serial console: \`${consoleCommand}\``,
    `the bootstrap's progress or result: s3://${bucket}/${reportKey}`,
    'a shell on the host: `dalston-aws ssh --ssm`, then `sudo journalctl -b -u dalston-bootstrap`',
  ];
}

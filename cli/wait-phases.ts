import { HostError } from '../shared/errors.ts';
import { bootstrapReportKey } from '../shared/status/bootstrap-report.ts';
import { snapshotFreshness } from '../shared/status/heartbeat.ts';
import { serviceIsUp } from '../shared/status/service-up.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import type { Clock } from '../shared/time/clock.ts';
import { readBootstrapReport } from './aws/bootstrap-reports.ts';
import type { Ec2Api, InstanceInfo } from './aws/ec2.ts';
import { type ObjectReader, readSnapshot } from './aws/snapshots.ts';
import {
  type BootstrapView,
  bootstrapView,
  describeFailure,
  describeRunning,
  whereToLook,
} from './bootstrap-view.ts';
import type { GatewayProbe } from './context.ts';
import { formatDuration } from './render/format.ts';
import type { Progress } from './render/progress.ts';
import { consoleOutputCommand } from './status-report.ts';

export interface WaitOptions {
  instanceId: string;
  bucket: string;
  statusPrefix: string;
  /** The instance's region, for the console-output command named on a timeout. */
  region: string;
  timeoutMs: number;
  /** Gateway health URL to probe at the end, or null to skip that phase. */
  gatewayUrl: string | null;
  /** Set by `up`: right after StartInstances EC2 may still report `stopped` for a moment. */
  justStarted?: boolean;
  instancePollMs?: number;
  snapshotPollMs?: number;
  /**
   * After a failed bootstrap that left the stack unstarted is seen, how long a
   * heartbeat may still take (the agent may already be starting) before waiting
   * is given up as pointless.
   */
  bootstrapGraceMs?: number;
}

export interface WaitResult {
  /** This start's bootstrap failed (the stack may still be healthy, e.g. only Tailscale failed). */
  bootstrapFailure: BootstrapView | null;
}

export interface WaitDeps {
  ec2: Ec2Api;
  objects: ObjectReader;
  clock: Clock;
  progress: Progress;
  gateway: GatewayProbe;
}

/** How long a `stopped` answer is believed to be stale after we started the instance ourselves. */
const START_CONSISTENCY_GRACE_MS = 60_000;

function unhealthyList(s: StatusSnapshot | null): string {
  if (!s) return '';
  const bad = s.services.filter((x) => !serviceIsUp(x));
  if (bad.length === 0) return '';
  const items = bad.map((x) => {
    const bits = [x.health === 'none' ? x.state : x.health];
    if (x.circuitOpen) bits.push('circuit open');
    return `${x.name} (${bits.join(', ')})`;
  });
  return `; unhealthy in the last snapshot: ${items.join(', ')}`;
}

function servicesSummary(s: StatusSnapshot): string {
  return `${s.state}, services ${s.services.filter(serviceIsUp).length}/${s.services.length} up`;
}

/** What each phase waits for, as named in the timeout message. */
const GOAL: Record<string, string> = {
  instance: 'the instance to run',
  heartbeat: 'the agent heartbeat',
  stack: 'a healthy stack',
  gateway: 'the gateway',
};

/**
 * Waits through the phases of a start: instance running → a heartbeat newer
 * than the start → stack healthy → (optionally) gateway answering. Resolves
 * when all are reached; throws a HostError naming the phase it was stuck in.
 */
export async function waitUntilHealthy(opts: WaitOptions, deps: WaitDeps): Promise<WaitResult> {
  const { clock, progress } = deps;
  const begin = clock.now();
  const deadline = begin + opts.timeoutMs;
  const instancePoll = opts.instancePollMs ?? 5_000;
  const snapshotPoll = opts.snapshotPollMs ?? 10_000;
  let phase = 'instance';
  let detail = 'checking';
  let lastSnapshot: StatusSnapshot | null = null;
  // Set inside checkBootstrap (a closure), so typed by hand: TS would narrow it to null here.
  let bootFailure = null as { view: BootstrapView; seenAt: number } | null;
  // This start's bootstrap, while it runs and publishes its progress (no heartbeat before it ends).
  let bootRunning = null as BootstrapView | null;
  let heartbeatSeen = false;

  const report = (p: string, d: string) => {
    phase = p;
    detail = d;
    progress.update(p, d);
  };
  const pause = async (ms: number) => {
    const left = deadline - clock.now();
    if (left <= 0) {
      progress.stop();
      // No heartbeat at all: the host's own traces are all there is to go on.
      const look =
        phase === 'heartbeat' && !heartbeatSeen
          ? `. Look at: ${whereToLook(
              consoleOutputCommand(opts.instanceId, opts.region),
              opts.bucket,
              bootstrapReportKey(opts.statusPrefix, opts.instanceId),
            ).join('; ')}`
          : '';
      throw new HostError(
        'failure',
        `timed out after ${formatDuration(opts.timeoutMs / 1000)} waiting for ${GOAL[phase] ?? phase} (${phase}: ${detail})${unhealthyList(lastSnapshot)}${bootFailure ? `; ${describeFailure(bootFailure.view)}` : ''}${look}`,
      );
    }
    await clock.sleep(Math.min(ms, left));
  };

  // Phase 1: EC2 says running.
  let inst: InstanceInfo;
  for (;;) {
    inst = await deps.ec2.describeInstance(opts.instanceId);
    if (inst.state === 'running') break;
    const graceful =
      opts.justStarted && inst.state === 'stopped' && clock.now() - begin < START_CONSISTENCY_GRACE_MS;
    if (inst.state !== 'pending' && !graceful) {
      progress.stop();
      if (inst.state === 'stopped' || inst.state === 'stopping') {
        throw new HostError(
          'failure',
          `instance ${opts.instanceId} is ${inst.state}: start it with \`dalston-aws up\``,
        );
      }
      throw new HostError('failure', `instance ${opts.instanceId} is ${inst.state}: it cannot come up`);
    }
    report('instance', `${inst.state} → running`);
    await pause(instancePoll);
  }
  progress.done(`instance running (${inst.type})`);

  // The start time: a heartbeat from before it belongs to the previous run.
  const since = inst.launchTime?.getTime() ?? begin;

  // The host's bootstrap result: a failure of this start is shown once, with what to do next.
  const grace = opts.bootstrapGraceMs ?? 60_000;
  const checkBootstrap = async (): Promise<void> => {
    if (bootFailure) return;
    let read: Awaited<ReturnType<typeof readBootstrapReport>>;
    try {
      read = await readBootstrapReport(deps.objects, opts.bucket, opts.statusPrefix, opts.instanceId);
    } catch (err) {
      // Auxiliary: the snapshot read right before reports S3 trouble itself.
      if (err instanceof HostError) return;
      throw err;
    }
    const v = bootstrapView(read, `s3://${opts.bucket}/${read.key}`, new Date(since));
    bootRunning = v.status === 'running' && v.current ? v : null;
    if (v.status !== 'failed' || !v.current) return;
    bootFailure = { view: v, seenAt: clock.now() };
    progress.note(`✘ ${describeFailure(v)}`);
    for (const n of v.next) progress.note(`  next: ${n}`);
  };

  // Phases 2 and 3: a heartbeat newer than the start, then a healthy stack.
  // Before the first heartbeat, the bootstrap's own progress says more than "no heartbeat yet".
  const running = () => (bootRunning ? describeRunning(bootRunning, clock.now()) : null);
  report('heartbeat', 'waiting for the agent’s first snapshot since the start');
  for (;;) {
    let read: Awaited<ReturnType<typeof readSnapshot>> | null = null;
    try {
      read = await readSnapshot(deps.objects, opts.bucket, opts.statusPrefix, opts.instanceId);
    } catch (err) {
      // A network hiccup may pass; a missing bucket or a denied read will not.
      if (!(err instanceof HostError) || err.exitCode !== 69) {
        progress.stop();
        throw err;
      }
      report(phase, `S3 not answering (${err.message})`);
    }
    // Before the healthy check, so a healthy stack whose bootstrap partly failed is still said.
    await checkBootstrap();
    if (read?.kind === 'ok') {
      const snap = read.snapshot;
      const at = Date.parse(snap.generatedAt);
      const fresh = snapshotFreshness(snap, clock.now());
      if (at >= since && fresh.stale) {
        // Newer than the start but the agent stopped reporting since: not evidence of anything now.
        report(
          'heartbeat',
          `last heartbeat is stale (${formatDuration(fresh.ageSeconds)} old): agent not reporting`,
        );
      } else if (at >= since) {
        lastSnapshot = snap;
        if (!heartbeatSeen) {
          heartbeatSeen = true;
          progress.done(`agent heartbeat (agent ${snap.version})`);
        }
        if (snap.state === 'healthy') {
          progress.done(`stack healthy: ${snap.services.length}/${snap.services.length} services up`);
          break;
        }
        report(
          'stack',
          `${servicesSummary(snap)}${unhealthyList(snap).replace('; unhealthy in the last snapshot', ', waiting on')}`,
        );
      } else if (!heartbeatSeen) {
        report(
          'heartbeat',
          running() ??
            `last snapshot is from before the start (${formatDuration((since - at) / 1000)} earlier)`,
        );
      }
    } else if (read?.kind === 'missing' && !heartbeatSeen) {
      report('heartbeat', running() ?? `no heartbeat yet at s3://${opts.bucket}/${read.key}`);
    } else if (read?.kind === 'malformed') {
      report(phase, `snapshot unreadable: ${read.reason}`);
    }
    if (
      bootFailure &&
      bootFailure.view.stackStarted === false &&
      !heartbeatSeen &&
      clock.now() - bootFailure.seenAt >= grace
    ) {
      progress.stop();
      throw new HostError(
        'failure',
        `${describeFailure(bootFailure.view)}; the stack was not started, so no heartbeat is coming. Next: ${bootFailure.view.next.join('; ')}`,
      );
    }
    await pause(snapshotPoll);
  }

  // Phase 4: the gateway itself, over Tailscale.
  if (opts.gatewayUrl) {
    for (;;) {
      const r = await deps.gateway.check(opts.gatewayUrl);
      if (r.ok) break;
      report('gateway', `${opts.gatewayUrl}: ${r.detail}`);
      await pause(instancePoll);
    }
    progress.done(`gateway answers at ${opts.gatewayUrl}`);
  }
  progress.stop();
  return { bootstrapFailure: bootFailure?.view ?? null };
}

/** Waits until EC2 reports `stopped` (or another target state). */
export async function waitForInstanceState(
  ec2: Ec2Api,
  instanceId: string,
  target: string,
  opts: { timeoutMs: number; pollMs?: number },
  clock: Clock,
  progress: Progress,
): Promise<InstanceInfo> {
  const deadline = clock.now() + opts.timeoutMs;
  let last = 'unknown';
  for (;;) {
    const inst = await ec2.describeInstance(instanceId);
    last = inst.state;
    if (inst.state === target) {
      progress.done(`instance ${target}`);
      return inst;
    }
    if (inst.state === 'terminated') {
      progress.stop();
      throw new HostError('failure', `instance ${instanceId} is terminated`);
    }
    progress.update('instance', `${inst.state} → ${target}`);
    const left = deadline - clock.now();
    if (left <= 0) {
      progress.stop();
      throw new HostError(
        'failure',
        `timed out after ${formatDuration(opts.timeoutMs / 1000)} waiting for instance ${target} (still ${last})`,
      );
    }
    await clock.sleep(Math.min(opts.pollMs ?? 5_000, left));
  }
}

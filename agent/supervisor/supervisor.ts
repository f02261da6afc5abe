import { ComposeError } from '../../shared/engine/compose-cli.ts';
import { healthOf } from '../../shared/engine/docker/events.ts';
import {
  type ContainerInfo,
  type DockerClient,
  DockerError,
  type DockerEvent,
} from '../../shared/engine/docker/types.ts';
import type { Logger } from '../../shared/logger.ts';
import type { ServiceStatus } from '../../shared/status/snapshot.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';
import type { DataGuard } from '../data-guard.ts';
import { ActionQueue } from './action-queue.ts';
import {
  bindKey,
  checkDataVolume,
  DATA_VOLUME_MISSING,
  type DataVolumeCheck,
  dataBinds,
  holdsDataBinds,
} from './data-binds.ts';
import { stopOrder } from './graph.ts';
import type { MemoryStore } from './heal-memory-store.ts';
import { ancestors, type Condition, containerCondition, type Decision, type Note, plan } from './planner.ts';
import {
  BRING_UP_NOT_STARTED,
  type BringUpState,
  bringUpRetry,
  GUARD_CALM,
  type GuardState,
  guardResumeAt,
  guardTripped,
  type HealPolicy,
  healBackoff,
  refundAction,
  type ServiceMemory,
  settleAction,
} from './policy.ts';

/** Docker states in which a container is up (a restarting one will be again at once). */
const HOLDING_STATES = new Set(['running', 'restarting', 'paused']);
/** What the supervisor needs from compose (the real one is ComposeCli). */
export interface ComposeActions {
  /** Aborting the signal kills the compose run (shutdown must not race a bring-up). */
  up(services: readonly string[], signal?: AbortSignal): Promise<void>;
  stop(services: readonly string[], graceSeconds: number): Promise<void>;
}

export interface SupervisorOptions {
  docker: DockerClient;
  compose: ComposeActions;
  project: string;
  /** compose.services: empty = every service of the project. */
  services: readonly string[];
  policy: HealPolicy;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Coalesces bursts of events into one inspect round. */
  eventDebounceMs?: number;
  /** Called after every action (metrics). */
  onAction?: (service: string, action: string) => void;
  /** Called whenever the view or the decisions changed (status publishing). */
  onChange?: () => void;
  /** Called after the containers touched by events were inspected again (benchmarks, tests). */
  onRefreshed?: (inspected: number) => void;
  /**
   * The data guard's IO (agent/data-guard.ts); null when agent.requireDataMount is off. With it,
   * every reconcile checks that the binds under dataDir are on the data volume, and every
   * `compose up` and restart re-checks the mount first.
   */
  dataGuard?: DataGuard | null;
  /** Grace for the guard's stops (agent.stopGraceSeconds). */
  stopGraceSeconds?: number;
  /** Keeps the healing memory across agent restarts (heal-memory-store.ts); null = memory only. */
  memoryStore?: MemoryStore | null;
  /** Actions on unrelated services that may run at once. */
  actionConcurrency?: number;
  /**
   * Services held for maintenance right now (a restore's lease, agent/status/backup-watch.ts):
   * asked right before every action; no action is taken on them, and no bring-up runs while any is held.
   */
  held?: () => ReadonlySet<string>;
}

/** The supervisor's state as plain data, for the status snapshot and /healthz. */
export interface SupervisorView {
  stopping: boolean;
  /** When the last full list from Docker succeeded (null = none yet). */
  lastReconcileAt: number | null;
  dockerConnected: boolean;
  bringUp: BringUpState;
  services: ServiceStatus[];
  conditions: ReadonlyMap<string, Condition>;
  circuitOpen: ReadonlySet<string>;
  busy: ReadonlySet<string>;
  /** The data guard: tripped (a bind under dataDir is off the data volume, or the volume is gone) and why. */
  dataVolume: { missing: boolean; reason: string | null };
}

const BRING_UP = '(bring-up)';
/** Four at once: enough for the stack's independent services, few enough for a 2-core host's dockerd. */
const DEFAULT_ACTION_CONCURRENCY = 4;
/** While services are held, a pending bring-up looks again this often. */
const HELD_RECHECK_MS = 5_000;
/** An in-flight action has a bounded deadline, but shutdown waits for it at most this long. */
const ACTION_DRAIN_MS = 5_000;

/**
 * Keeps the view of the project's containers (from list + events), runs the
 * planner over it and executes its decisions through the action queue
 * (unrelated services at once, related ones in order). The view is always
 * rebuilt from Docker, so a crashed or restarted agent starts from the truth;
 * only the healing memory (budgets, backoff, circuits) is kept across restarts
 * (memoryStore). It also runs the data guard: binds under dataDir that are not
 * on the data volume get their services stopped and nothing is healed or
 * brought up until the volume is back. It owns its queue, its timers and its
 * stopping state: others read it through getters and view(), and end it with
 * halt() or stop().
 */
export class Supervisor {
  private readonly containers = new Map<string, ContainerInfo>();
  /** service → dependencies, remembered even while a service has no container. */
  private readonly graph = new Map<string, string[]>();
  private mem = new Map<string, ServiceMemory>();
  private conds = new Map<string, Condition>();
  private connected = true;
  private reconciledAt: number | null = null;
  private bringUpState: BringUpState = BRING_UP_NOT_STARTED;
  private nextBringUpAt: number | null = null;
  private retrying: Promise<void> | null = null;
  private stopped = false;
  /** Aborted by halt(): cancels waits (bring-up retry) that must not outlive the supervisor. */
  private readonly halted = new AbortController();
  private readonly queue: ActionQueue;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly dirty = new Set<string>();
  /**
   * Events counted as they arrive, and the count at each container's last one.
   * A list or inspect answers with what Docker held when it was asked; applied
   * after a newer event it would bring back what the event changed (a dead
   * dependency seen running again, and its dependents healed while it is down).
   * So answers never overwrite a container with an event newer than the question.
   */
  private eventCount = 0;
  private readonly lastEventOf = new Map<string, number>();
  private flushTimer: TimerHandle | null = null;
  private wakeTimer: TimerHandle | null = null;
  private lastNotes = new Map<string, string>();
  /** Services whose held action was logged (once per hold). */
  private heldLogged = new Set<string>();
  private planScheduled = false;
  /** The data guard's last check; null before the first one or without a guard. */
  private dataCheck: DataVolumeCheck | null = null;
  /**
   * Services the guard stopped and no bring-up has started again yet → resumable: their binds were
   * on the data volume (it was pulled), so they come back with it. The others wrote to another
   * disk: they are held stopped, and no `compose up` runs, until the operator restarts the agent.
   */
  private readonly guardStopped = new Map<string, boolean>();
  /** Why services are held (the first held service's story), for /status while they are. */
  private heldReason: string | null = null;
  /** The data volume's `major:minor` when it was last seen mounted at dataDir. */
  private lastVolumeDevice: string | null = null;
  private guardState: GuardState = GUARD_CALM;
  /** Since when the last check has been ok again after a trip. */
  private volumeOkAt: number | null = null;
  private resumeTimer: TimerHandle | null = null;
  /** realpath(dataDir) at the last check: binds may name either path. */
  private dataResolved: string | null = null;

  constructor(private readonly o: SupervisorOptions) {
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.queue = new ActionQueue(
      (key, err) => o.logger.error({ service: key, err: (err as Error).message }, 'action failed'),
      {
        concurrency: o.actionConcurrency ?? DEFAULT_ACTION_CONCURRENCY,
        related: (a, b) => this.related(a, b),
      },
    );
  }

  get stopping(): boolean {
    return this.stopped;
  }
  get dockerConnected(): boolean {
    return this.connected;
  }
  get lastReconcileAt(): number | null {
    return this.reconciledAt;
  }
  get bringUpDone(): boolean {
    return this.bringUpState.done;
  }
  get bringUpFailing(): boolean {
    return this.bringUpState.failing;
  }
  get memory(): ReadonlyMap<string, ServiceMemory> {
    return this.mem;
  }
  get conditions(): ReadonlyMap<string, Condition> {
    return this.conds;
  }

  view(): SupervisorView {
    return {
      stopping: this.stopped,
      lastReconcileAt: this.reconciledAt,
      dockerConnected: this.connected,
      bringUp: { ...this.bringUpState },
      services: this.serviceStatuses(),
      conditions: new Map(this.conds),
      circuitOpen: this.circuitOpen(),
      busy: this.busy(),
      dataVolume: {
        missing: (this.dataCheck !== null && !this.dataCheck.ok) || this.heldReason !== null,
        reason: (this.dataCheck?.ok === false ? this.dataCheck.reason : null) ?? this.heldReason,
      },
    };
  }

  /** Reads the healing memory a previous agent left (before the first reconcile). */
  async restoreMemory(): Promise<void> {
    if (!this.o.memoryStore) return;
    this.mem = await this.o.memoryStore.load();
  }

  /**
   * Configured services, or (config lists none) every service seen since the
   * agent started: a service whose container was removed is still ours.
   */
  services(): string[] {
    if (this.o.services.length > 0) return [...this.o.services];
    const seen = new Set<string>(this.graph.keys());
    for (const c of this.containers.values()) seen.add(c.service);
    return [...seen].sort();
  }

  /** Full list from Docker, then plan. Throws (and marks Docker disconnected) when Docker fails. */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    let list: ContainerInfo[];
    const asked = this.eventCount;
    try {
      list = await this.o.docker.listProjectContainers(this.o.project);
      this.connected = true;
    } catch (err) {
      this.markDockerError(err);
      throw err;
    }
    this.replaceView(list, asked);
    await this.refreshDataCheck();
    this.reconciledAt = this.clock.now();
    this.planAndAct();
  }

  /** One Docker event: update the view at once (fast path), confirm by inspect shortly after. */
  handleEvent(e: DockerEvent): void {
    if (this.stopped) return;
    this.eventCount += 1;
    this.lastEventOf.set(e.containerId, this.eventCount);
    if (this.lastEventOf.size > 4096) this.forgetOldEvents();
    const known = this.containers.get(e.containerId);
    const base = e.action.split(':')[0];
    if (base === 'destroy') {
      this.containers.delete(e.containerId);
    } else if (known) {
      if (base === 'health_status') {
        const h = healthOf(e);
        if (h === 'healthy' || h === 'unhealthy' || h === 'starting') known.health = h;
      } else if (base === 'die' || base === 'oom') {
        known.state = 'exited';
      } else if (base === 'start') {
        known.state = 'running';
        // Docker resets a healthcheck to starting on every start.
        if (known.health !== 'none') known.health = 'starting';
      }
      this.dirty.add(e.containerId);
    } else {
      this.dirty.add(e.containerId);
    }
    this.schedulePlan();
    this.scheduleFlush();
  }

  /** Resolves when no action is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** One `compose up` of the stack (one action in the queue); throws when it fails. */
  async bringUp(): Promise<void> {
    try {
      await this.queue.run(BRING_UP, async (signal) => {
        await this.assertMayStart('compose up');
        // Everything the guard stopped comes back with this `up`.
        const resumed = [...this.guardStopped.keys()];
        await this.o.compose.up(this.o.services, signal);
        for (const s of resumed) this.guardStopped.delete(s);
      });
      this.recordBringUp('up');
    } catch (err) {
      if (!this.stopped) this.recordBringUp('failed');
      throw err;
    } finally {
      this.o.onChange?.();
    }
    await this.reconcile().catch(() => {});
  }

  /**
   * Brings the stack up: the first attempt is awaited; when it fails the agent
   * stays up (degraded) and retries in the background at bringUpRetry's times
   * until it works or the supervisor halts.
   */
  async bringUpWithRetry(): Promise<void> {
    if (await this.attemptBringUp()) return;
    this.retrying ??= (async () => {
      while (!this.stopped && this.bringUpState.failing && this.nextBringUpAt !== null) {
        const wait = Math.max(0, this.nextBringUpAt - this.clock.now());
        this.o.logger.info({ retryInSeconds: Math.round(wait / 1000) }, 'retrying compose up');
        await this.clock.sleep(wait, this.halted.signal);
        if (this.stopped) return;
        await this.attemptBringUp();
      }
    })().finally(() => {
      this.retrying = null;
    });
  }

  /** Stops acting at once: drops queued actions, aborts the running one, cancels timers and retries. */
  halt(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.close();
    this.halted.abort();
    for (const t of [this.flushTimer, this.wakeTimer, this.resumeTimer]) {
      if (t !== null) this.clock.clearTimeout(t);
    }
    this.flushTimer = null;
    this.wakeTimer = null;
    this.resumeTimer = null;
  }

  /** Shutdown: halt, let an in-flight action finish (bounded), then stop the stack dependents-first. */
  async stop(graceSeconds: number): Promise<void> {
    this.halt();
    const drained = new AbortController();
    await Promise.race([
      this.queue.idle().finally(() => drained.abort()),
      this.clock.sleep(ACTION_DRAIN_MS, drained.signal),
    ]);
    drained.abort();
    await this.retrying;
    try {
      for (const level of stopOrder(this.services(), this.graph)) {
        this.o.logger.info({ services: level, graceSeconds }, 'stopping services');
        await this.o.compose.stop(level, graceSeconds);
      }
    } finally {
      await this.o.memoryStore?.flush();
    }
  }

  circuitOpen(): Set<string> {
    const out = new Set<string>();
    for (const [s, m] of this.mem) if (m.circuitOpenedAt !== null) out.add(s);
    return out;
  }

  busy(): Set<string> {
    const keys = this.queue.keys();
    if (keys.has(BRING_UP)) for (const s of this.services()) keys.add(s);
    return keys;
  }

  serviceStatuses(): ServiceStatus[] {
    return this.services().map((name) => {
      const cs = [...this.containers.values()].filter((c) => c.service === name);
      const c = cs.find((x) => x.state === 'running' && x.health === 'unhealthy') ?? cs[0];
      const m = this.mem.get(name);
      return {
        name,
        containerId: c?.id ?? null,
        state: c?.state ?? 'missing',
        health: c?.health ?? 'none',
        agentRestarts: m?.agentRestarts ?? 0,
        dockerRestarts: c?.restartCount ?? 0,
        circuitOpen: m?.circuitOpenedAt != null,
        lastAction: m?.lastAction
          ? {
              action: m.lastAction.action,
              reason: m.lastAction.reason,
              at: new Date(m.lastAction.at).toISOString(),
            }
          : null,
      };
    });
  }

  /** The policy decides the bring-up state and the next attempt's time (bringUpRetry). */
  private recordBringUp(outcome: 'up' | 'failed'): void {
    const r = bringUpRetry(
      this.bringUpState,
      outcome,
      this.clock.now(),
      healBackoff(this.o.policy),
      this.random,
    );
    this.bringUpState = r.state;
    this.nextBringUpAt = r.retryAt;
  }

  /** One attempt with its log lines; true when the stack came up. */
  private async attemptBringUp(): Promise<boolean> {
    const held = this.o.held?.() ?? new Set<string>();
    if (held.size > 0) {
      // `compose up` would start what a restore has stopped: wait for the hold to end (not a failure).
      if (!this.heldLogged.has(BRING_UP)) {
        this.heldLogged.add(BRING_UP);
        this.o.logger.warn({ held: [...held] }, 'compose up waits: services are held for maintenance');
      }
      this.nextBringUpAt = this.clock.now() + HELD_RECHECK_MS;
      return false;
    }
    this.heldLogged.delete(BRING_UP);
    try {
      await this.bringUp();
      this.o.logger.info({ services: this.o.services }, 'compose up done');
      return true;
    } catch (err) {
      if (!this.stopped) logComposeFailure(this.o.logger, err);
      return false;
    }
  }

  private observe(c: ContainerInfo): void {
    this.containers.set(c.id, c);
    if (c.dependsOn.length > 0 || !this.graph.has(c.service)) this.graph.set(c.service, c.dependsOn);
  }

  /** An event about `id` arrived after the question counted `asked` was put to Docker. */
  private changedSince(id: string, asked: number): boolean {
    return (this.lastEventOf.get(id) ?? 0) > asked;
  }

  /** An inspect's answer, unless an event about the container came after it was asked (see eventCount). */
  private observeAnswer(c: ContainerInfo, asked: number): void {
    if (!this.changedSince(c.id, asked)) this.observe(c);
  }

  /**
   * The view becomes Docker's list, except for containers an event touched
   * after the list was asked for: they keep what the event made of them (a
   * destroyed one stays gone) and are inspected again.
   */
  private replaceView(list: readonly ContainerInfo[], asked: number): void {
    const newer = new Map<string, ContainerInfo | undefined>();
    for (const [id, n] of this.lastEventOf) if (n > asked) newer.set(id, this.containers.get(id));
    this.containers.clear();
    for (const c of list) if (!newer.has(c.id)) this.observe(c);
    for (const [id, c] of newer) {
      if (c) this.containers.set(id, c);
      this.dirty.add(id);
    }
    if (newer.size > 0) this.scheduleFlush();
  }

  /** Only the last events matter (a question is never thousands of events old): keep the map small. */
  private forgetOldEvents(): void {
    const floor = this.eventCount - 1024;
    for (const [id, n] of this.lastEventOf) if (n < floor) this.lastEventOf.delete(id);
  }

  private markDockerError(err: unknown): void {
    if (err instanceof DockerError && (err.kind === 'unavailable' || err.kind === 'timeout')) {
      this.connected = false;
    }
  }

  /** One plan per turn of the event loop: a burst of events in one chunk is planned once. */
  private schedulePlan(): void {
    if (this.planScheduled) return;
    this.planScheduled = true;
    setImmediate(() => {
      this.planScheduled = false;
      this.planAndAct();
    });
  }

  private planAndAct(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const p = plan({
      now,
      services: this.services(),
      containers: [...this.containers.values()],
      graph: this.graph,
      memory: this.mem,
      busy: this.busy(),
      policy: this.o.policy,
      random: this.random,
      allowRecreate: this.bringUpState.done,
      dataVolume: this.dataCheck,
    });
    // Until the first full list, services not seen yet keep what a previous agent remembered.
    if (this.reconciledAt === null) for (const [s, m] of this.mem) if (!p.memory.has(s)) p.memory.set(s, m);
    this.mem = p.memory;
    this.o.memoryStore?.save(this.mem);
    this.conds = p.conditions;
    this.logNotes(p.notes);
    for (const d of p.decisions) this.enqueue(d);
    if (this.wakeTimer !== null) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (p.wakeAt !== null) {
      this.wakeTimer = this.clock.setTimeout(() => this.planAndAct(), Math.max(0, p.wakeAt - now) + 5);
    }
    this.o.onChange?.();
  }

  /** Logs a note only when it differs from the service's previous one (no log storm). */
  private logNotes(notes: Note[]): void {
    for (const n of notes) {
      if (this.lastNotes.get(n.service) === n.message) continue;
      this.lastNotes.set(n.service, n.message);
      const level = n.kind === 'circuit-opened' ? 'error' : n.kind === 'circuit-closed' ? 'info' : 'warn';
      this.o.logger[level]({ service: n.service, note: n.kind }, n.message);
    }
  }

  private updateMemory(service: string, f: (m: ServiceMemory) => ServiceMemory): void {
    const m = this.mem.get(service);
    if (m) this.mem.set(service, f(m));
    this.o.memoryStore?.save(this.mem);
  }

  /** Two services whose actions must not overlap: one depends on the other; a bring-up touches all. */
  private related(a: string, b: string): boolean {
    if (a === BRING_UP || b === BRING_UP) return true;
    return ancestors(a, this.graph).includes(b) || ancestors(b, this.graph).includes(a);
  }

  private enqueue(d: Decision): void {
    if (d.kind === 'stop') {
      // The data guard's stop comes before any maintenance hold: data safety first.
      this.queue.enqueue(d.service, async () => {
        if (!this.stopped) await this.guardStop(d);
      });
      return;
    }
    if (this.o.held?.().has(d.service)) {
      // Maintenance: the decision costs nothing and waits for the hold to end.
      this.updateMemory(d.service, (m) => refundAction(m, d));
      if (!this.heldLogged.has(d.service)) {
        this.heldLogged.add(d.service);
        this.o.logger.warn(
          { service: d.service, action: 'held', wanted: d.kind, reason: d.reason },
          `not acting on ${d.service} (${d.kind}: ${d.reason}): held for maintenance`,
        );
      }
      return;
    }
    this.heldLogged.delete(d.service);
    const queued = this.queue.enqueue(d.service, async (signal) => {
      if (this.stopped) return;
      let taken = true;
      try {
        // The charge is on disk before Docker acts: an agent killed mid-action still paid for it.
        await this.o.memoryStore?.flush();
        // Held since it was queued: checked again right before acting.
        if (this.o.held?.().has(d.service)) taken = false;
        else if (d.kind === 'restart') taken = await this.restart(d);
        else taken = await this.recreate(d, signal);
        if (taken) this.o.onAction?.(d.service, d.kind);
      } finally {
        this.updateMemory(d.service, (m) => (taken ? settleAction(m, d) : refundAction(m, d)));
        // Plan again on the refreshed view once this action has left the queue.
        setImmediate(() => this.planAndAct());
      }
    });
    // Never run (the queue is closed): it costs nothing.
    if (!queued) this.updateMemory(d.service, (m) => refundAction(m, d));
  }

  /**
   * The data guard's stop of one service: its containers, through the Docker API with the
   * service's grace. Not `compose stop`: the compose files live under dataDir (the checkout), so
   * with the volume pulled compose cannot even read them. Docker counts the stop as deliberate,
   * so the restart policy leaves them down; they come back only with a bring-up once the volume is.
   */
  private async guardStop(d: Extract<Decision, { kind: 'stop' }>): Promise<void> {
    const grace = this.o.stopGraceSeconds ?? 60;
    this.o.logger.warn(
      { service: d.service, container: null, action: 'stop', reason: d.reason, graceSeconds: grace },
      `stopping ${d.service}: ${d.reason}`,
    );
    try {
      const holding = [...this.containers.values()].filter(
        (c) => c.service === d.service && HOLDING_STATES.has(c.state),
      );
      await Promise.all(holding.map((c) => this.o.docker.stop(c.id, grace)));
      this.guardStopped.set(d.service, d.onVolume && this.guardStopped.get(d.service) !== false);
      if (!d.onVolume && this.heldReason === null) {
        this.heldReason =
          `${DATA_VOLUME_MISSING}: ${d.reason}; ${d.service} is held stopped, because what it wrote ` +
          'since it started is not on the data volume; after checking, `systemctl restart dalston` ' +
          'starts it on the volume';
        this.o.logger.error({ service: d.service, reason: d.reason }, this.heldReason);
      }
      this.o.onAction?.(d.service, 'stop');
    } finally {
      // The view and the check again: the next plan stops whatever still holds a bind off the volume.
      try {
        const asked = this.eventCount;
        const list = await this.o.docker.listProjectContainers(this.o.project);
        this.replaceView(list, asked);
      } catch (err) {
        this.markDockerError(err);
      }
      await this.refreshDataCheck();
      setImmediate(() => this.planAndAct());
    }
  }

  /**
   * The data guard's check over the current view (IO through the guard, the
   * decision in data-binds.ts). A trip is logged once; the volume's return
   * schedules the bring-up that starts what the guard stopped.
   */
  private async refreshDataCheck(): Promise<void> {
    const g = this.o.dataGuard;
    if (!g || this.stopped) return;
    const mount = await g.mount();
    this.dataResolved = mount.resolved;
    if (mount.mounted) this.lastVolumeDevice = mount.majorMinor;
    const containers = [...this.containers.values()];
    const devices = new Map<string, string | null>();
    await Promise.all(
      containers
        .filter((c) => holdsDataBinds(c, g.dataDir, mount.resolved))
        .map(async (c) => {
          const binds = dataBinds(c, g.dataDir, mount.resolved);
          const devs = await g.bindDevices(c, binds);
          for (const [i, b] of binds.entries()) devices.set(bindKey(c.id, b.destination), devs[i] ?? null);
        }),
    );
    const check = checkDataVolume({
      dataDir: g.dataDir,
      mount,
      lastVolumeDevice: this.lastVolumeDevice,
      containers,
      bindDevices: devices,
    });
    // A held service running again on the volume: the operator started it deliberately.
    if (check.ok) {
      for (const [service, resumable] of this.guardStopped) {
        if (!resumable && containers.some((c) => c.service === service && c.state === 'running')) {
          this.guardStopped.delete(service);
        }
      }
      if (![...this.guardStopped.values()].includes(false)) this.heldReason = null;
    }
    const was = this.dataCheck;
    this.dataCheck = check;
    const now = this.clock.now();
    if (!check.ok && (was === null || was.ok)) {
      this.guardState = guardTripped(this.guardState, now, this.o.policy);
      this.volumeOkAt = null;
      if (this.resumeTimer !== null) this.clock.clearTimeout(this.resumeTimer);
      this.resumeTimer = null;
      this.o.logger.error(
        { reason: check.reason, services: [...check.offenders.keys()], trips: this.guardState.trips },
        `${check.reason}; stopping the services that hold binds under ${g.dataDir}, ` +
          'no healing and no compose up until the data volume is back',
      );
    } else if (check.ok && was !== null && !was.ok) {
      this.volumeOkAt = now;
      this.o.logger.info({ dataDir: g.dataDir, device: mount.device }, 'data volume is back');
    }
    this.scheduleResume();
  }

  /**
   * Once the volume is back, the services the guard stopped come up again (guardResumeAt says
   * when), unless one is held: then nothing starts until the operator restarts the agent.
   */
  private scheduleResume(): void {
    if (this.stopped || this.resumeTimer !== null || this.guardStopped.size === 0) return;
    if (!this.dataCheck?.ok || this.heldReason !== null) return;
    const now = this.clock.now();
    const at = guardResumeAt(this.guardState, this.volumeOkAt ?? now, this.o.policy, this.random);
    this.resumeTimer = this.clock.setTimeout(
      () => {
        this.resumeTimer = null;
        if (this.stopped || !this.dataCheck?.ok || this.heldReason !== null || this.guardStopped.size === 0)
          return;
        this.o.logger.info(
          { services: [...this.guardStopped.keys()] },
          'bringing up the services the data guard stopped',
        );
        void this.bringUpWithRetry();
      },
      Math.max(0, at - now),
    );
  }

  /**
   * Before `compose up` (which may start any service and its dependencies): no service is held
   * and the data volume is mounted at dataDir right now.
   */
  private async assertMayStart(what: string): Promise<void> {
    if (this.heldReason !== null) throw new Error(`${this.heldReason}; not running ${what}`);
    await this.assertDataMounted(what);
  }

  /** Before anything starts a container: the data volume must be mounted at dataDir right now. */
  private async assertDataMounted(what: string): Promise<void> {
    const g = this.o.dataGuard;
    if (!g) return;
    const mount = await g.mount();
    if (!mount.mounted) {
      void this.refreshDataCheck();
      throw new Error(`data volume missing: ${mount.reason}; not running ${what}`);
    }
  }

  /** False when the action was not taken (Docker had moved on): refunded by the caller. */
  private async restart(d: Extract<Decision, { kind: 'restart' }>): Promise<boolean> {
    // Re-check right before acting: Docker may have moved on since the plan.
    const asked = this.eventCount;
    const current = await this.o.docker.inspect(d.containerId);
    // The guard tripped since the plan: a restart would bind the root disk again.
    if (this.dataCheck && !this.dataCheck.ok) {
      this.o.logger.info(
        {
          service: d.service,
          container: d.containerName,
          action: 'skip-restart',
          reason: this.dataCheck.reason,
        },
        'data volume missing; not restarting',
      );
      return false;
    }
    if (current?.state !== 'running' || current.health !== 'unhealthy') {
      this.o.logger.info(
        {
          service: d.service,
          container: d.containerName,
          action: 'skip-restart',
          state: current?.state ?? 'gone',
        },
        'container no longer running-unhealthy; not restarting',
      );
      if (current) this.observeAnswer(current, asked);
      else if (!this.changedSince(d.containerId, asked)) this.containers.delete(d.containerId);
      return false;
    }
    const downDependency = await this.dependencyNotUp(d.service);
    if (downDependency !== null) {
      this.o.logger.info(
        {
          service: d.service,
          container: d.containerName,
          action: 'skip-restart',
          dependency: downDependency,
        },
        `${d.service} waits for its dependency ${downDependency}; not restarting`,
      );
      return false;
    }
    this.o.logger.info(
      {
        service: d.service,
        container: d.containerName,
        containerId: d.containerId,
        action: 'restart',
        reason: d.reason,
      },
      `restarting ${d.service}: ${d.reason}`,
    );
    const g = this.o.dataGuard;
    if (g && dataBinds(current, g.dataDir, this.dataResolved).length > 0) {
      try {
        await this.assertDataMounted(`a restart of ${d.service}`);
      } catch (err) {
        this.o.logger.warn({ service: d.service, action: 'skip-restart' }, (err as Error).message);
        return false;
      }
    }
    try {
      await this.o.docker.restart(d.containerId, d.stopTimeoutSeconds);
    } catch (err) {
      this.markDockerError(err);
      if (err instanceof DockerError && err.kind === 'gone') {
        this.containers.delete(d.containerId);
        return true;
      }
      throw err;
    }
    const askedAfter = this.eventCount;
    const after = await this.o.docker.inspect(d.containerId).catch(() => null);
    if (after) this.observeAnswer(after, askedAfter);
    return true;
  }

  /**
   * The planner judged the dependencies from the view; a restart is asked of
   * Docker itself, so both must agree: the first dependency (with its
   * condition) that Docker does not show running and healthy, else null. A
   * dependent restarted while what it needs is down turns unhealthy again and
   * spends its budget for nothing.
   */
  private async dependencyNotUp(service: string): Promise<string | null> {
    for (const dep of ancestors(service, this.graph)) {
      const ids = [...this.containers.values()].filter((c) => c.service === dep).map((c) => c.id);
      for (const id of ids) {
        const asked = this.eventCount;
        const fresh = await this.o.docker.inspect(id).catch(() => null);
        if (fresh === null) continue; // gone: the next plan sees the service as missing
        this.observeAnswer(fresh, asked);
        const cond = containerCondition(fresh);
        if (cond !== 'ok') return `${dep} (${cond})`;
      }
    }
    return null;
  }

  /** False when not taken (the data volume is missing): refunded by the caller. */
  private async recreate(d: Extract<Decision, { kind: 'recreate' }>, signal: AbortSignal): Promise<boolean> {
    try {
      await this.assertMayStart(`compose up ${d.service}`);
    } catch (err) {
      this.o.logger.warn({ service: d.service, action: 'skip-recreate' }, (err as Error).message);
      return false;
    }
    this.o.logger.info(
      { service: d.service, container: null, action: 'recreate', reason: d.reason },
      `recreating ${d.service}: ${d.reason}`,
    );
    await this.o.compose.up([d.service], signal);
    const asked = this.eventCount;
    const list = await this.o.docker.listProjectContainers(this.o.project);
    this.replaceView(list, asked);
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      void this.flushDirty();
    }, this.o.eventDebounceMs ?? 50);
  }

  /** Inspects the containers events touched, then plans again. */
  private async flushDirty(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    const asked = this.eventCount;
    let bindHolders = 0;
    for (let i = 0; i < ids.length && !this.stopped; i += 16) {
      const batch = ids.slice(i, i + 16);
      const results = await Promise.allSettled(batch.map((id) => this.o.docker.inspect(id)));
      for (const [j, r] of results.entries()) {
        const id = batch[j]!;
        if (r.status === 'rejected') this.markDockerError(r.reason);
        else if (this.changedSince(id, asked))
          continue; // dirty again: inspected at the next flush
        else if (r.value === null) this.containers.delete(id);
        else if (r.value.project === this.o.project) {
          this.observe(r.value);
          const g = this.o.dataGuard;
          if (g && holdsDataBinds(r.value, g.dataDir, this.dataResolved)) bindHolders++;
        }
      }
    }
    // A container that just started with a bind under dataDir is checked now, not at the next reconcile.
    if (bindHolders > 0) await this.refreshDataCheck();
    this.planAndAct();
    this.o.onRefreshed?.(ids.length);
  }
}

/** compose's own last stderr line in the message, the tail in a field. */
export function logComposeFailure(logger: Logger, err: unknown): void {
  if (err instanceof ComposeError) {
    const lines = err.stderr.trim().split('\n');
    logger.error(
      { exitCode: err.exitCode, args: err.args.join(' '), stderr: lines.slice(-20).join('\n') },
      `docker compose failed (exit ${err.exitCode}): ${lines.at(-1) ?? ''}`,
    );
  } else {
    logger.error({ err: (err as Error).message }, 'compose failed');
  }
}

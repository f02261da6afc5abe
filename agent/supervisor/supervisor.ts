import { healthOf } from '../../shared/engine/docker/events.ts';
import {
  type ContainerInfo,
  type DockerClient,
  DockerError,
  type DockerEvent,
} from '../../shared/engine/docker/types.ts';
import type { Logger } from '../../shared/logger.ts';
import type { ServiceStatus } from '../../shared/status/snapshot.ts';
import { ActionQueue } from './action-queue.ts';
import { stopOrder } from './graph.ts';
import { type Condition, type Decision, type Note, plan } from './planner.ts';
import type { HealPolicy, ServiceMemory } from './policy.ts';

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
  now?: () => number;
  random?: () => number;
  /** Coalesces bursts of events into one inspect round. */
  eventDebounceMs?: number;
  /** Called after every action (metrics). */
  onAction?: (service: string, action: string) => void;
  /** Called whenever the view or the decisions changed (status publishing). */
  onChange?: () => void;
  /** Called after the containers touched by events were inspected again (benchmarks, tests). */
  onRefreshed?: (inspected: number) => void;
}

const BRING_UP = '(bring-up)';

/**
 * Keeps the view of the project's containers (from list + events), runs the
 * planner over it and executes its decisions through the single action queue.
 * The view is always rebuilt from Docker: nothing is persisted, so a crashed
 * or restarted agent starts from the truth.
 */
export class Supervisor {
  readonly containers = new Map<string, ContainerInfo>();
  /** service → dependencies, remembered even while a service has no container. */
  readonly graph = new Map<string, string[]>();
  memory = new Map<string, ServiceMemory>();
  conditions = new Map<string, Condition>();
  dockerConnected = true;
  lastReconcileAt: number | null = null;
  bringUpDone = false;
  bringUpFailing = false;
  stopping = false;
  readonly queue: ActionQueue;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly dirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private lastNotes = new Map<string, string>();
  private planScheduled = false;

  constructor(private readonly o: SupervisorOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.queue = new ActionQueue((key, err) =>
      o.logger.error({ service: key, err: (err as Error).message }, 'action failed'),
    );
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
    if (this.stopping) return;
    let list: ContainerInfo[];
    try {
      list = await this.o.docker.listProjectContainers(this.o.project);
      this.dockerConnected = true;
    } catch (err) {
      this.markDockerError(err);
      throw err;
    }
    this.containers.clear();
    for (const c of list) this.observe(c);
    this.lastReconcileAt = this.now();
    this.planAndAct();
  }

  /** One Docker event: update the view at once (fast path), confirm by inspect shortly after. */
  handleEvent(e: DockerEvent): void {
    if (this.stopping) return;
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

  /** One plan per turn of the event loop: a burst of events in one chunk is planned once. */
  private schedulePlan(): void {
    if (this.planScheduled) return;
    this.planScheduled = true;
    setImmediate(() => {
      this.planScheduled = false;
      this.planAndAct();
    });
  }

  /** Brings the stack up through compose (one action in the queue). */
  async bringUp(): Promise<void> {
    await this.queue.run(BRING_UP, async (signal) => {
      try {
        await this.o.compose.up(this.o.services, signal);
        this.bringUpDone = true;
        this.bringUpFailing = false;
      } catch (err) {
        this.bringUpFailing = true;
        throw err;
      }
    });
    await this.reconcile().catch(() => {});
  }

  /** Shutdown: no more actions; stop the stack dependents-first with the grace period. */
  async shutdown(graceSeconds: number): Promise<void> {
    this.stopping = true;
    this.queue.close();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    // An in-flight restart has a bounded deadline; do not stop the stack under it.
    await Promise.race([this.queue.idle(), new Promise((r) => setTimeout(r, 5_000).unref())]);
    for (const level of stopOrder(this.services(), this.graph)) {
      this.o.logger.info({ services: level, graceSeconds }, 'stopping services');
      await this.o.compose.stop(level, graceSeconds);
    }
  }

  circuitOpen(): Set<string> {
    const out = new Set<string>();
    for (const [s, m] of this.memory) if (m.circuitOpenedAt !== null) out.add(s);
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
      const m = this.memory.get(name);
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

  private observe(c: ContainerInfo): void {
    this.containers.set(c.id, c);
    if (c.dependsOn.length > 0 || !this.graph.has(c.service)) this.graph.set(c.service, c.dependsOn);
  }

  private markDockerError(err: unknown): void {
    if (err instanceof DockerError && (err.kind === 'unavailable' || err.kind === 'timeout')) {
      this.dockerConnected = false;
    }
  }

  private planAndAct(): void {
    if (this.stopping) return;
    const now = this.now();
    const p = plan({
      now,
      services: this.services(),
      containers: [...this.containers.values()],
      graph: this.graph,
      memory: this.memory,
      busy: this.busy(),
      policy: this.o.policy,
      random: this.random,
      allowRecreate: this.bringUpDone,
    });
    this.memory = p.memory;
    this.conditions = p.conditions;
    this.logNotes(p.notes);
    for (const d of p.decisions) this.enqueue(d);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    if (p.wakeAt !== null) {
      this.wakeTimer = setTimeout(() => this.planAndAct(), Math.max(0, p.wakeAt - now) + 5);
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

  private enqueue(d: Decision): void {
    this.queue.enqueue(d.service, async (signal) => {
      if (this.stopping) return;
      try {
        if (d.kind === 'restart') await this.restart(d);
        else await this.recreate(d, signal);
        this.o.onAction?.(d.service, d.kind);
      } finally {
        // Plan again on the refreshed view once this action has left the queue.
        setImmediate(() => this.planAndAct());
      }
    });
  }

  private async restart(d: Extract<Decision, { kind: 'restart' }>): Promise<void> {
    // Re-check right before acting: Docker may have moved on since the plan.
    const current = await this.o.docker.inspect(d.containerId);
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
      if (current) this.observe(current);
      else this.containers.delete(d.containerId);
      this.refund(d.service);
      return;
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
    try {
      await this.o.docker.restart(d.containerId, d.stopTimeoutSeconds);
    } catch (err) {
      this.markDockerError(err);
      if (err instanceof DockerError && err.kind === 'gone') {
        this.containers.delete(d.containerId);
        return;
      }
      throw err;
    }
    const after = await this.o.docker.inspect(d.containerId).catch(() => null);
    if (after) this.observe(after);
  }

  /** An action planned but not taken (Docker had moved on) costs no budget and no backoff. */
  private refund(service: string): void {
    const m = this.memory.get(service);
    if (!m || m.actionTimes.length === 0) return;
    this.memory.set(service, {
      ...m,
      actionTimes: m.actionTimes.slice(0, -1),
      agentRestarts: Math.max(0, m.agentRestarts - 1),
      backoffMs: Math.max(this.o.policy.backoffInitialMs, m.backoffMs / 2),
      notBefore: 0,
      lastAction: null,
    });
  }

  private async recreate(d: Extract<Decision, { kind: 'recreate' }>, signal: AbortSignal): Promise<void> {
    this.o.logger.info(
      { service: d.service, container: null, action: 'recreate', reason: d.reason },
      `recreating ${d.service}: ${d.reason}`,
    );
    await this.o.compose.up([d.service], signal);
    const list = await this.o.docker.listProjectContainers(this.o.project);
    this.containers.clear();
    for (const c of list) this.observe(c);
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushDirty();
    }, this.o.eventDebounceMs ?? 50);
  }

  /** Inspects the containers events touched, then plans again. */
  private async flushDirty(): Promise<void> {
    const ids = [...this.dirty];
    this.dirty.clear();
    for (let i = 0; i < ids.length && !this.stopping; i += 16) {
      const batch = ids.slice(i, i + 16);
      const results = await Promise.allSettled(batch.map((id) => this.o.docker.inspect(id)));
      for (const [j, r] of results.entries()) {
        const id = batch[j]!;
        if (r.status === 'rejected') this.markDockerError(r.reason);
        else if (r.value === null) this.containers.delete(id);
        else if (r.value.project === this.o.project) this.observe(r.value);
      }
    }
    this.planAndAct();
    this.o.onRefreshed?.(ids.length);
  }
}

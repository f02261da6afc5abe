import { Writable } from 'node:stream';
import type { MemoryStore } from '../../../agent/supervisor/heal-memory-store.ts';
import type { HealPolicy, ServiceMemory } from '../../../agent/supervisor/policy.ts';
import type {
  ContainerInfo,
  DockerClient,
  DockerEvent,
  EngineVersion,
  EventSubscription,
} from '../../../shared/engine/docker/types.ts';
import { DockerError } from '../../../shared/engine/docker/types.ts';
import { createLogger, type Logger } from '../../../shared/logger.ts';

/** A logger whose JSON lines are kept in memory. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'debug', destination: dest }), lines };
}

export function container(over: Partial<ContainerInfo> & { service: string }): ContainerInfo {
  return {
    id: `id-${over.service}`,
    name: `proj-${over.service}-1`,
    project: 'proj',
    state: 'running',
    health: 'healthy',
    restartCount: 0,
    stopTimeoutSeconds: null,
    dependsOn: [],
    mounts: [],
    pid: null,
    ...over,
  };
}

export const testPolicy: HealPolicy = {
  budgetMax: 3,
  budgetWindowMs: 900_000,
  backoffInitialMs: 10_000,
  backoffMaxMs: 300_000,
  resetAfterHealthyMs: 600_000,
  jitter: 0.2,
};

export { FakeClock } from '../../helpers/fake-clock.ts';

/** An in-memory daemon behind the project's DockerClient interface. */
export class FakeDocker implements DockerClient {
  readonly containers = new Map<string, ContainerInfo>();
  readonly calls: string[] = [];
  failWith: DockerError | null = null;
  private listeners: Array<(e: DockerEvent) => void> = [];

  add(c: ContainerInfo): void {
    this.containers.set(c.id, { ...c });
  }

  async version(): Promise<EngineVersion> {
    if (this.failWith) throw this.failWith;
    return { engineVersion: '20.10.24', apiVersion: '1.41' };
  }

  /**
   * When set, a list or inspect answers only once it resolves, with what Docker
   * held when the call was made: a slow daemon's answer can be older than an
   * event the agent has already seen.
   */
  readGate: (() => Promise<void>) | null = null;

  async listProjectContainers(project: string): Promise<ContainerInfo[]> {
    this.calls.push('list');
    if (this.failWith) throw this.failWith;
    const answer = [...this.containers.values()].filter((c) => c.project === project).map((c) => ({ ...c }));
    await this.readGate?.();
    return answer;
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    if (this.failWith) throw this.failWith;
    const c = this.containers.get(id);
    const answer = c ? { ...c } : null;
    await this.readGate?.();
    return answer;
  }

  /** When set, a restart lasts until it resolves (a container's stop timeout). */
  restartGate: ((id: string) => Promise<void>) | null = null;

  async stop(id: string, stopTimeoutSeconds: number | null): Promise<void> {
    this.calls.push(`stop ${id} t=${stopTimeoutSeconds}`);
    const c = this.containers.get(id);
    if (c) c.state = 'exited';
  }

  async restart(id: string, stopTimeoutSeconds: number | null): Promise<void> {
    this.calls.push(`restart ${id} t=${stopTimeoutSeconds}`);
    await this.restartGate?.(id);
    const c = this.containers.get(id);
    if (!c) throw new DockerError('gone', `no such container ${id}`);
    c.state = 'running';
    c.health = 'starting';
  }

  async subscribe(
    _project: string,
    opts: { since?: bigint; onEvent: (e: DockerEvent) => void },
  ): Promise<EventSubscription> {
    this.listeners.push(opts.onEvent);
    let end: (r: { error: Error | null }) => void = () => {};
    const done = new Promise<{ error: Error | null }>((resolve) => {
      end = resolve;
    });
    return { done, close: () => end({ error: null }) };
  }

  emit(e: DockerEvent): void {
    for (const l of this.listeners) l(e);
  }
}

export class FakeCompose {
  readonly calls: string[] = [];
  failUp: Error | null = null;
  constructor(private readonly docker?: FakeDocker) {}
  async up(services: readonly string[]): Promise<void> {
    this.calls.push(`up ${services.join(' ')}`.trim());
    if (this.failUp) throw this.failUp;
    for (const s of services) this.docker?.add(container({ service: s, id: `id-${s}-new` }));
  }
  async stop(services: readonly string[], grace: number): Promise<void> {
    this.calls.push(`stop -t ${grace} ${services.join(' ')}`);
  }
}

/** The healing memory kept in memory only: what the agent would have written, and how often. */
export class MemoryOnlyStore implements MemoryStore {
  saved: Map<string, ServiceMemory> | null = null;
  writes = 0;
  flushes = 0;
  private latest: ReadonlyMap<string, ServiceMemory> | null = null;
  constructor(private readonly initial: ReadonlyMap<string, ServiceMemory> = new Map()) {}
  async load(): Promise<Map<string, ServiceMemory>> {
    return new Map(this.initial);
  }
  save(memory: ReadonlyMap<string, ServiceMemory>): void {
    this.latest = memory;
  }
  async flush(): Promise<void> {
    this.flushes++;
    if (!this.latest) return;
    this.saved = new Map([...this.latest].map(([k, v]) => [k, { ...v }]));
    this.writes++;
  }
}

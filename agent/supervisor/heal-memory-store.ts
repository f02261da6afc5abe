/**
 * The per-service healing memory (restart budget, backoff, open circuit) kept
 * across agent restarts: a watchdog kill, an OOM or a crash must not hand a
 * failing service a fresh budget exactly when it matters. One JSON file under
 * `agent.stateDir` (default /var/lib/dalston), written atomically (temporary
 * file, fsync, rename) soon after every change and before every action is
 * taken; a missing, corrupt, foreign or older-format file is logged and the
 * agent starts fresh. Entries are by service name, so a recreated container
 * keeps its service's budget; services the stack no longer has drop out with
 * the planner's first plan (it keeps memory for the current services only).
 */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.ts';
import { type Clock, systemClock, type TimerHandle } from '../../shared/time/clock.ts';
import type { HealPolicy, ServiceMemory } from './policy.ts';

export const HEAL_MEMORY_FILE = 'agent-heal-memory.json';
/** Bumped when the meaning of a field changes: an older file is then ignored, never misread. */
export const HEAL_MEMORY_FORMAT = 1;

const lastActionSchema = z.object({ action: z.string(), reason: z.string(), at: z.number() }).nullable();
const savedServiceSchema = z.object({
  actionTimes: z.array(z.number()),
  backoffMs: z.number().nonnegative(),
  notBefore: z.number(),
  circuitOpenedAt: z.number().nullable(),
  agentRestarts: z.number().int().nonnegative(),
  lastAction: lastActionSchema,
});
const fileSchema = z.object({
  format: z.number().int(),
  project: z.string(),
  savedAt: z.string(),
  services: z.record(z.string(), savedServiceSchema),
});

type SavedService = z.infer<typeof savedServiceSchema>;

/** Pure: what is kept of one service. okSince and an action in flight are not (see restoreMemory). */
function savedOf(m: ServiceMemory): SavedService {
  return {
    actionTimes: m.actionTimes,
    backoffMs: m.backoffMs,
    notBefore: m.notBefore,
    circuitOpenedAt: m.circuitOpenedAt,
    agentRestarts: m.agentRestarts,
    lastAction: m.lastAction,
  };
}

/** Pure: the services part of the file, in a stable order (equal memory → equal text). */
export function memoryBody(memory: ReadonlyMap<string, ServiceMemory>): Record<string, SavedService> {
  const out: Record<string, SavedService> = {};
  for (const name of [...memory.keys()].sort()) out[name] = savedOf(memory.get(name)!);
  return out;
}

/** Pure: the file's text. */
export function serializeMemory(
  project: string,
  memory: ReadonlyMap<string, ServiceMemory>,
  now: number,
): string {
  const file = {
    format: HEAL_MEMORY_FORMAT,
    project,
    savedAt: new Date(now).toISOString(),
    services: memoryBody(memory),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

export type ParsedMemory =
  | { kind: 'ok'; memory: Map<string, ServiceMemory> }
  | { kind: 'unusable'; reason: string };

/**
 * Pure: the file's text back into memory, made safe to act on now. An action
 * that was in flight when the agent died stays charged (it is in actionTimes)
 * and is no longer in flight; okSince starts again (the agent did not see the
 * healthy time); times a wrong clock put in the future are brought back to
 * now, so a clock jump cannot hold healing off for longer than the policy's
 * own limits.
 */
export function parseMemory(text: string, project: string, now: number, policy: HealPolicy): ParsedMemory {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'unusable', reason: `not JSON (${(err as Error).message})` };
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== HEAL_MEMORY_FORMAT) {
    return {
      kind: 'unusable',
      reason: `format ${JSON.stringify(format)}, this agent reads ${HEAL_MEMORY_FORMAT}`,
    };
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      kind: 'unusable',
      reason: `wrong shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    };
  }
  if (parsed.data.project !== project) {
    return { kind: 'unusable', reason: `written for compose project ${parsed.data.project}, not ${project}` };
  }
  const memory = new Map<string, ServiceMemory>();
  for (const [name, s] of Object.entries(parsed.data.services)) {
    memory.set(name, {
      actionTimes: s.actionTimes.map((t) => Math.min(t, now)),
      backoffMs: Math.min(Math.max(s.backoffMs, policy.backoffInitialMs), policy.backoffMaxMs),
      notBefore: Math.min(s.notBefore, now + policy.backoffMaxMs),
      okSince: null,
      circuitOpenedAt: s.circuitOpenedAt === null ? null : Math.min(s.circuitOpenedAt, now),
      agentRestarts: s.agentRestarts,
      lastAction: s.lastAction,
      inFlight: null,
    });
  }
  return { kind: 'ok', memory };
}

/** What the supervisor needs from the store (unit tests pass an in-memory one). */
export interface MemoryStore {
  load(): Promise<Map<string, ServiceMemory>>;
  /** The memory changed: written soon (debounced) when its content differs from what is on disk. */
  save(memory: ReadonlyMap<string, ServiceMemory>): void;
  /** Writes what save() was last given, now, if it differs; never throws. */
  flush(): Promise<void>;
}

export interface HealMemoryStoreOptions {
  /** agent.stateDir */
  dir: string;
  project: string;
  policy: HealPolicy;
  logger: Logger;
  clock?: Clock;
  debounceMs?: number;
}

export class HealMemoryStore implements MemoryStore {
  readonly file: string;
  private readonly clock: Clock;
  private latest: ReadonlyMap<string, ServiceMemory> | null = null;
  /** The services part last written (or read), to skip writes that change nothing. */
  private written = '';
  private timer: TimerHandle | null = null;
  private writing: Promise<void> = Promise.resolve();
  private failing = false;

  constructor(private readonly o: HealMemoryStoreOptions) {
    this.file = join(o.dir, HEAL_MEMORY_FILE);
    this.clock = o.clock ?? systemClock;
  }

  async load(): Promise<Map<string, ServiceMemory>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        this.o.logger.warn(
          { file: this.file, err: code ?? String(err) },
          'cannot read the healing memory; starting fresh',
        );
      }
      return new Map();
    }
    const r = parseMemory(text, this.o.project, this.clock.now(), this.o.policy);
    if (r.kind === 'unusable') {
      this.o.logger.warn({ file: this.file, reason: r.reason }, 'healing memory not usable; starting fresh');
      return new Map();
    }
    this.written = JSON.stringify(memoryBody(r.memory));
    const openCircuits = [...r.memory].filter(([, m]) => m.circuitOpenedAt !== null).map(([s]) => s);
    this.o.logger.info(
      { file: this.file, services: r.memory.size, circuitOpen: openCircuits },
      'healing memory restored (restart budgets, backoff, open circuits)',
    );
    return r.memory;
  }

  save(memory: ReadonlyMap<string, ServiceMemory>): void {
    this.latest = memory;
    if (this.timer !== null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.o.debounceMs ?? 500);
  }

  flush(): Promise<void> {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    // One write at a time, in order: the last one carries the latest memory.
    this.writing = this.writing.then(() => this.writeIfChanged());
    return this.writing;
  }

  private async writeIfChanged(): Promise<void> {
    const memory = this.latest;
    if (!memory) return;
    const body = JSON.stringify(memoryBody(memory));
    if (body === this.written) return;
    const tmp = `${this.file}.tmp-${process.pid}`;
    try {
      await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(serializeMemory(this.o.project, memory, this.clock.now()));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      this.written = body;
      if (this.failing) this.o.logger.info({ file: this.file }, 'healing memory written again');
      this.failing = false;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      // One warning per failure streak: a read-only disk must not flood the journal.
      if (!this.failing) {
        this.o.logger.warn(
          { file: this.file, err: (err as Error).message },
          'cannot write the healing memory; budgets would reset if the agent restarted',
        );
      }
      this.failing = true;
    }
  }
}

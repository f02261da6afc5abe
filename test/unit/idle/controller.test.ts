import { describe, expect, it } from 'vitest';
import { IdleController, type IdleHolds } from '../../../agent/idle/controller.ts';
import type { IdleSignalSource } from '../../../agent/idle/redis-signals.ts';
import type { SignalReading } from '../../../agent/idle/signals.ts';
import { idleStatusSchema } from '../../../shared/idle/idle-status.ts';
import { FakeClock, settle } from '../../helpers/fake-clock.ts';
import { memoryLogger } from '../agent/fakes.ts';

/** A signal source whose answer the test sets; `hang` makes it never answer. */
class ScriptedSource implements IdleSignalSource {
  readings: SignalReading[] = [{ name: 'queue x', state: 'idle', detail: '0 waiting' }];
  hang = false;
  reads = 0;
  read(): Promise<SignalReading[]> {
    this.reads++;
    return this.hang ? new Promise(() => {}) : Promise.resolve(this.readings);
  }
}

const busy = (name = 'queue x'): SignalReading => ({ name, state: 'busy', detail: '1 waiting' });
const MIN = 60_000;

function setup(over: { holds?: () => Promise<IdleHolds>; sourceTimeoutMs?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2026, 11, 1, 3, 0, 0));
  const source = new ScriptedSource();
  const { logger, lines } = memoryLogger();
  const events: string[] = [];
  const controller = new IdleController({
    settings: { stopAfterMinutes: 10, bootGraceMinutes: 0, announceMinutes: 2, maxGapSeconds: 120 },
    pollSeconds: 30,
    sources: [{ name: 'redis', source }],
    holds: over.holds ?? (async () => ({ holds: [], lease: null })),
    bootedAt: clock.now(),
    logger,
    clock,
    sourceTimeoutMs: over.sourceTimeoutMs ?? 1_000,
    onChange: () => events.push('change'),
    onAnnounce: () => events.push('announce'),
    onStop: (detail) => events.push(`stop: ${detail}`),
  });
  return { clock, source, controller, lines, events };
}

describe('the idle controller', () => {
  it('polls every pollSeconds, announces once, then stops once with the idle time', async () => {
    const { clock, source, controller, events } = setup();
    expect(controller.status().state).toBe('busy');
    controller.start();
    await settle();
    expect(controller.status()).toMatchObject({ state: 'idle', since: '2026-12-01T03:00:00.000Z' });
    expect(controller.status().stopAt).toBe('2026-12-01T03:10:00.000Z');
    await clock.advance(8 * MIN);
    expect(events.filter((e) => e === 'announce')).toEqual(['announce']);
    expect(controller.status()).toMatchObject({
      state: 'announce',
      summary: 'idle 8 min — stopping in 2 min',
    });
    await clock.advance(2 * MIN);
    expect(events.filter((e) => e.startsWith('stop'))).toEqual([
      'stop: idle since 2026-12-01T03:00:00.000Z (10 min)',
    ]);
    expect(controller.status().state).toBe('stopping');
    // No more polls once the stop is asked for.
    const reads = source.reads;
    await clock.advance(5 * MIN);
    expect(source.reads).toBe(reads);
    expect(events.filter((e) => e.startsWith('stop'))).toHaveLength(1);
    expect(idleStatusSchema.safeParse(controller.status()).success).toBe(true);
  });

  it('a job arriving during the announcement cancels the stop and says why', async () => {
    const { clock, source, controller, events, lines } = setup();
    controller.start();
    await clock.advance(8.5 * MIN);
    expect(controller.status().state).toBe('announce');
    source.readings = [busy()];
    await clock.advance(30_000);
    expect(controller.status()).toMatchObject({ state: 'busy', reasons: ['queue x: 1 waiting'] });
    expect(lines.some((l) => l.msg === 'stop cancelled: queue x: 1 waiting' && l.level === 'warn')).toBe(
      true,
    );
    source.readings = [{ name: 'queue x', state: 'idle', detail: '0 waiting' }];
    await clock.advance(5 * MIN);
    expect(events.some((e) => e.startsWith('stop'))).toBe(false);
    expect(controller.status().state).toBe('idle');
  });

  it('a source that hangs reads unreadable (busy), is reported, and does not hold the next polls back', async () => {
    const { clock, source, controller, lines } = setup({ sourceTimeoutMs: 20 });
    source.hang = true;
    await controller.poll();
    expect(controller.status()).toMatchObject({
      state: 'busy',
      reasons: ['redis: unreadable (no answer within 20 ms)'],
    });
    expect(
      lines.some((l) => String(l.msg).startsWith('idle signal unreadable (counts as busy): redis')),
    ).toBe(true);
    source.hang = false;
    await clock.advance(1);
    await controller.poll();
    expect(controller.status().state).toBe('idle');
  });

  it('a maintenance hold is busy; a keep-awake lease holds the stop back until it ends', async () => {
    let holds: IdleHolds = {
      holds: [{ kind: 'maintenance', detail: 'backup running (pid 7)' }],
      lease: null,
    };
    const { clock, controller, events } = setup({ holds: async () => holds });
    controller.start();
    await settle();
    expect(controller.status()).toMatchObject({ state: 'busy', reasons: ['backup running (pid 7)'] });
    const until = clock.now() + 30 * MIN;
    const lease = {
      until: new Date(until).toISOString(),
      by: 'test',
      createdAt: new Date(clock.now()).toISOString(),
    };
    holds = { holds: [{ kind: 'lease', detail: 'keep-awake', until }], lease };
    await clock.advance(30_000);
    expect(controller.status()).toMatchObject({ state: 'idle', lease, stopAt: lease.until });
    await clock.advance(27 * MIN);
    expect(events.some((e) => e.startsWith('stop'))).toBe(false);
    holds = { holds: [], lease: null };
    await clock.advance(4 * MIN);
    expect(events.filter((e) => e.startsWith('stop'))).toHaveLength(1);
  });

  it('does nothing at all when idle stop is off', async () => {
    const clock = new FakeClock(0);
    const source = new ScriptedSource();
    const c = new IdleController({
      settings: { stopAfterMinutes: 0, bootGraceMinutes: 0, announceMinutes: 2, maxGapSeconds: 120 },
      pollSeconds: 30,
      sources: [{ name: 'redis', source }],
      holds: async () => ({ holds: [], lease: null }),
      bootedAt: 0,
      logger: memoryLogger().logger,
      clock,
      onChange: () => {},
      onAnnounce: () => {},
      onStop: () => {},
    });
    c.start();
    await clock.advance(10 * MIN);
    expect(source.reads).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(c.status()).toMatchObject({ state: 'disabled', summary: 'idle stop off' });
  });
});

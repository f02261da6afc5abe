import { describe, expect, it } from 'vitest';
import { createS3StatusReporter, snapshotFingerprint } from '../../../../agent/report/s3-status.ts';
import type { ObjectStore } from '../../../../shared/aws/s3-object-store.ts';
import type { StatusSnapshot } from '../../../../shared/status/snapshot.ts';
import { FakeClock, settle } from '../../../helpers/fake-clock.ts';
import { memoryLogger, service, snapshot } from './fixtures.ts';

/** In-memory ObjectStore that records puts and can be made to fail or hang. */
class MemoryStore implements ObjectStore {
  puts: Array<{ key: string; body: StatusSnapshot; contentType: string; at: number }> = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  aborted = 0;
  calls = 0;
  constructor(private clock: FakeClock) {}
  putObject(
    key: string,
    body: string,
    contentType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<void> {
    this.calls++;
    if (this.mode === 'fail')
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' }));
    if (this.mode === 'hang') {
      return new Promise((_, reject) =>
        opts.signal?.addEventListener('abort', () => {
          this.aborted++;
          reject(new Error('aborted'));
        }),
      );
    }
    this.puts.push({ key, body: JSON.parse(body), contentType, at: this.clock.now() });
    return Promise.resolve();
  }
}

function setup(over: { minIntervalMs?: number; heartbeatMs?: number; backoffMaxMs?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const store = new MemoryStore(clock);
  const { logger, lines } = memoryLogger();
  const reporter = createS3StatusReporter({
    store,
    prefix: 'status/',
    instance: 'i-0abc12345',
    logger,
    clock,
    ...over,
  });
  return { clock, store, reporter, lines, t0: clock.now() };
}

describe('S3 status reporter', () => {
  it('uploads the first snapshot at once under <prefix><instance>/latest.json', async () => {
    const { store, reporter, clock } = setup();
    expect(reporter.key).toBe('status/i-0abc12345/latest.json');
    reporter.update(snapshot());
    await clock.advance(0);
    expect(store.puts).toHaveLength(1);
    expect(store.puts[0]!.key).toBe('status/i-0abc12345/latest.json');
    expect(store.puts[0]!.contentType).toBe('application/json');
    expect(store.puts[0]!.body.state).toBe('healthy');
    expect(reporter.state()).toEqual({ lastUploadAt: new Date(clock.now()).toISOString(), lastError: null });
  });

  it('throttles changes to one upload per 10 s, sending the newest', async () => {
    const { store, reporter, clock, t0 } = setup();
    reporter.update(snapshot());
    await clock.advance(0);
    reporter.update(snapshot({ state: 'degraded' }));
    await clock.advance(3_000);
    reporter.update(snapshot({ state: 'starting' }));
    await clock.advance(6_999);
    expect(store.puts).toHaveLength(1);
    await clock.advance(1);
    expect(store.puts).toHaveLength(2);
    expect(store.puts[1]!.at - t0).toBe(10_000);
    expect(store.puts[1]!.body.state).toBe('starting');
  });

  it('ignores volatile fields: no upload for CPU, memory, timestamps or its own s3 block', async () => {
    const { store, reporter, clock } = setup();
    reporter.update(snapshot());
    await clock.advance(0);
    const s = snapshot({
      generatedAt: '2026-01-01T00:00:05.000Z',
      s3: { lastUploadAt: 'x', lastError: null },
    });
    s.host.cpuLoadPercent = 99;
    s.host.memory = { totalBytes: 8 * 2 ** 30, usedBytes: 7 * 2 ** 30 };
    s.host.dataVolume.usedPercent = 12.4; // rounds to the same 12 %
    s.gateway.checkedAt = '2026-01-01T00:00:05.000Z';
    s.docker.lastEventAt = '2026-01-01T00:00:05.000Z';
    expect(snapshotFingerprint(s)).toBe(snapshotFingerprint(snapshot()));
    reporter.update(s);
    await clock.advance(60_000);
    expect(store.puts).toHaveLength(1);
  });

  it('uploads a meaningful change: a service turning unhealthy', async () => {
    const { store, reporter, clock } = setup();
    reporter.update(snapshot());
    await clock.advance(20_000);
    reporter.update(snapshot({ services: [service('postgres', { health: 'unhealthy' })] }));
    await clock.advance(0);
    expect(store.puts).toHaveLength(2);
  });

  it('uploads a convergence change (rolled back, converged), not a mere re-check of the desired state', async () => {
    // dalston-aws deploy waits on this object: the end of a rollout must not wait for the 5-min heartbeat.
    const versions = { release: '0.1.0', dalstonRef: 'v1.0.0', imageTag: '1.0.0', services: [] };
    const convergence = (over: Partial<NonNullable<StatusSnapshot['convergence']>> = {}) => ({
      state: 'converging' as const,
      running: versions,
      desired: { ...versions, imageTag: '1.1.0' },
      desiredVersion: 'v2',
      checkedAt: '2026-01-01T00:00:00.000Z',
      step: 'dalston' as const,
      summary: 'converging: dalston image 1.0.0 → 1.1.0',
      lastResult: null,
      problem: null,
      ...over,
    });
    const { store, reporter, clock } = setup();
    reporter.update(snapshot({ convergence: convergence() }));
    await clock.advance(20_000);
    reporter.update(snapshot({ convergence: convergence({ checkedAt: '2026-01-01T00:00:20.000Z' }) }));
    await clock.advance(0);
    expect(store.puts).toHaveLength(1);
    reporter.update(
      snapshot({
        convergence: convergence({ state: 'rolled-back', step: null, summary: 'rolled back to 1.0.0' }),
      }),
    );
    await clock.advance(0);
    expect(store.puts).toHaveLength(2);
    expect(store.puts[1]!.body.convergence?.state).toBe('rolled-back');
  });

  it('sends a heartbeat every 5 min without changes', async () => {
    const { store, reporter, clock, t0 } = setup();
    reporter.update(snapshot());
    await clock.advance(0);
    await clock.advance(299_999);
    expect(store.puts).toHaveLength(1);
    await clock.advance(1);
    expect(store.puts).toHaveLength(2);
    await clock.advance(300_000);
    expect(store.puts.map((p) => p.at - t0)).toEqual([0, 300_000, 600_000]);
  });

  it('backs off on errors (doubling, capped), records lastError, and recovers', async () => {
    const { store, reporter, clock, t0, lines } = setup({ backoffMaxMs: 40_000 });
    store.mode = 'fail';
    const attempts: number[] = [];
    const orig = store.putObject.bind(store);
    store.putObject = (...a) => {
      attempts.push(clock.now() - t0);
      return orig(...a);
    };
    expect(() => reporter.update(snapshot())).not.toThrow();
    await clock.advance(200_000);
    // 0, +10 s, +20 s, +40 s, then capped at 40 s.
    expect(attempts.slice(0, 7)).toEqual([0, 10_000, 30_000, 70_000, 110_000, 150_000, 190_000]);
    expect(reporter.state()).toEqual({ lastUploadAt: null, lastError: 'connect ECONNREFUSED' });
    // One warning for the streak, not one per retry.
    expect(lines.filter((l) => l.msg === 'S3 status upload failed; will retry')).toHaveLength(1);

    store.mode = 'ok';
    await clock.advance(40_000);
    expect(store.puts).toHaveLength(1);
    expect(reporter.state().lastError).toBeNull();
    expect(reporter.state().lastUploadAt).not.toBeNull();
    expect(lines.some((l) => l.msg === 'S3 status upload works again')).toBe(true);
    // Back to normal cadence: a change is uploaded within 10 s.
    reporter.update(snapshot({ state: 'degraded' }));
    await clock.advance(10_000);
    expect(store.puts).toHaveLength(2);
  });

  it('flush uploads the newest snapshot at once, ignoring the throttle', async () => {
    const { store, reporter, clock } = setup();
    reporter.update(snapshot());
    await clock.advance(0);
    reporter.update(snapshot({ state: 'stopping' }));
    await reporter.flush(2_000);
    expect(store.puts.map((p) => p.body.state)).toEqual(['healthy', 'stopping']);
  });

  it('flush gives up after its timeout and aborts the upload, without throwing', async () => {
    const { store, reporter, clock } = setup();
    store.mode = 'hang';
    reporter.update(snapshot({ state: 'stopping' }));
    await settle();
    const done = reporter.flush(3_000);
    await clock.advance(3_000);
    await expect(done).resolves.toBeUndefined();
    expect(store.aborted).toBeGreaterThanOrEqual(1);
    expect(reporter.state().lastError).toMatch(/did not finish within 3000 ms/);
  });

  it('flush behind a hanging upload gives up and starts nothing after its timeout', async () => {
    const { store, reporter, clock } = setup();
    store.mode = 'hang';
    reporter.update(snapshot());
    await clock.advance(0);
    expect(store.calls).toBe(1);
    reporter.update(snapshot({ state: 'stopping' }));
    const done = reporter.flush(1_000);
    await clock.advance(1_000);
    await done;
    await settle();
    expect(store.calls).toBe(1);
    expect(store.aborted).toBe(1);
    expect(reporter.state().lastError).toMatch(/did not finish within 1000 ms/);
  });

  it('stop ends all uploads and timers', async () => {
    const { store, reporter, clock } = setup();
    reporter.update(snapshot());
    await clock.advance(0);
    reporter.stop();
    reporter.update(snapshot({ state: 'degraded' }));
    await clock.advance(600_000);
    expect(store.puts).toHaveLength(1);
    expect(clock.pending()).toBe(0);
    await expect(reporter.flush(100)).resolves.toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { Publisher } from '../../../../agent/report/publisher.ts';
import type { StatusSnapshot } from '../../../../shared/status/snapshot.ts';
import { FakeClock } from '../../../helpers/fake-clock.ts';
import { memoryLogger, snapshot } from './fixtures.ts';

function setup() {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let next: StatusSnapshot = snapshot({ state: 'starting' });
  let builds = 0;
  const observed: string[] = [];
  const uploads: string[] = [];
  const lines: string[] = [];
  const { logger, lines: log } = memoryLogger();
  const p = new Publisher({
    build: () => {
      builds++;
      return next;
    },
    metrics: { observeSnapshot: (s) => observed.push(s.state) },
    s3: { update: (s) => uploads.push(s.state) },
    notifier: { status: (l) => lines.push(l) },
    statusLine: (s) => `${s.state} ${s.services.length}`,
    logger,
    clock,
  });
  return {
    p,
    clock,
    set: (s: StatusSnapshot) => (next = s),
    builds: () => builds,
    observed,
    uploads,
    lines,
    log,
  };
}

describe('Publisher', () => {
  it('hands each snapshot to metrics and S3, sends STATUS= only when the line changes, logs state changes', () => {
    const t = setup();
    expect(t.p.current().state).toBe('starting'); // built, not published
    expect(t.lines).toEqual([]);
    t.p.publish();
    t.p.publish();
    t.set(snapshot({ state: 'healthy' }));
    t.p.publish();
    expect(t.observed).toEqual(['starting', 'starting', 'healthy']);
    expect(t.uploads).toEqual(['starting', 'starting', 'healthy']);
    expect(t.lines).toEqual(['starting 6', 'healthy 6']);
    expect(t.log.map((l) => [l.msg, l.from])).toEqual([
      ['stack is starting', null],
      ['stack is healthy', 'starting'],
    ]);
    expect(t.p.current().state).toBe('healthy');
  });

  it('coalesces a burst of changes into one publish after the debounce', async () => {
    const t = setup();
    for (let i = 0; i < 5; i++) t.p.schedule();
    await t.clock.advance(99);
    expect(t.observed).toEqual([]);
    await t.clock.advance(1);
    expect(t.observed).toEqual(['starting']);
    t.p.schedule();
    t.p.cancel();
    await t.clock.advance(1_000);
    expect(t.observed).toEqual(['starting']);
    expect(t.clock.pending()).toBe(0);
  });
});

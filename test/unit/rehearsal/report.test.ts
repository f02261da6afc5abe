import { describe, expect, it } from 'vitest';
import { CheckFailed, Checks, fail, formatCheck, summaryLine } from '../../../rehearsal/checks.ts';
import { Cleanup } from '../../../rehearsal/cleanup.ts';
import { formatTimeline, Timeline } from '../../../rehearsal/timeline.ts';

describe('checks', () => {
  it('prints one line per check and records failures with their message', async () => {
    const lines: string[] = [];
    const c = new Checks((l) => lines.push(l));
    expect(await c.check('a passes', () => 'detail one')).toBe(true);
    expect(await c.check('b fails', () => fail('because\nof this'))).toBe(false);
    expect(
      await c.check('c throws', async () => {
        throw new Error('boom');
      }),
    ).toBe(false);
    c.blocked('d', 'b failed');
    expect(lines).toEqual([
      'ok   a passes — detail one',
      'FAIL b fails — because | of this',
      'FAIL c throws — boom',
      'FAIL d — not run: b failed',
    ]);
    expect(c.failed).toBe(3);
  });

  it('fail() throws a CheckFailed', () => {
    expect(() => fail('x')).toThrow(CheckFailed);
  });

  it('formats a check without detail', () => {
    expect(formatCheck({ name: 'n', ok: true, detail: '', seconds: 0 })).toBe('ok   n');
  });

  it('ends with the one-line summary', () => {
    const results = [
      { name: 'a', ok: true, detail: '', seconds: 1 },
      { name: 'b', ok: true, detail: '', seconds: 1 },
      { name: 'c', ok: false, detail: '', seconds: 1 },
    ];
    expect(summaryLine(results, 9.84)).toBe('rehearsal: 2 checks passed, 1 failed · boot→healthy 9.8 s');
    expect(summaryLine([], undefined)).toBe('rehearsal: 0 checks passed, 0 failed · boot→healthy n/a');
  });
});

describe('timeline', () => {
  it('keeps milestones per boot, rounded, in milestone order whatever the measuring order', () => {
    const t = new Timeline();
    t.mark('first boot', 'stackHealthy', 23.456);
    t.mark('first boot', 'systemUp', 0.5);
    t.mark('first boot', 'agentReady', undefined);
    t.mark('second boot', 'bootstrapDone', Number.NaN);
    expect(t.ordered()).toEqual({ 'first boot': { systemUp: 0.5, stackHealthy: 23.46 } });
    expect(Object.keys(t.ordered()['first boot']!)).toEqual(['systemUp', 'stackHealthy']);
    expect(t.get('first boot', 'stackHealthy')).toBe(23.46);
  });

  it('prints one line per boot', () => {
    expect(
      formatTimeline({
        'first boot': { systemUp: 0.5, bootstrapDone: 13.2, agentReady: 13.2, stackHealthy: 23.6 },
        'missing volume': {},
      }),
    ).toEqual([
      'first boot: systemd up 0.5 s → bootstrap done 13.2 s → agent ready 13.2 s → stack healthy 23.6 s',
      'missing volume: no milestone reached',
    ]);
  });
});

describe('cleanup', () => {
  it('runs actions once, last registered first, and goes on after a failing one', async () => {
    const log: string[] = [];
    const order: string[] = [];
    const c = new Cleanup((l) => log.push(l));
    c.add('loop', async () => {
      order.push('loop');
    });
    c.add('netns', async () => {
      throw new Error('busy');
    });
    const drop = c.add('dropped', async () => {
      order.push('dropped');
    });
    c.add('machine', async () => {
      order.push('machine');
    });
    drop();
    await Promise.all([c.run(), c.run()]);
    await c.run();
    expect(order).toEqual(['machine', 'loop']);
    expect(log).toEqual(['clean-up: netns failed: busy']);
  });
});

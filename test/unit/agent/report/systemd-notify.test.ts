import { describe, expect, it } from 'vitest';
import {
  createNotifier,
  type NotifyTransport,
  sanitizeStatus,
  watchdogInterval,
} from '../../../../agent/report/systemd-notify.ts';
import { memoryLogger } from './fixtures.ts';

class FakeTransport implements NotifyTransport {
  sent: Array<{ assignments: string[]; socket: string; pid: number }> = [];
  fail = false;
  hold: Array<() => void> = [];
  holdNext = false;
  send(assignments: string[], ctx: { socket: string; pid: number }): Promise<void> {
    if (this.fail) return Promise.reject(new Error('systemd-notify exited 1: boom'));
    this.sent.push({ assignments, ...ctx });
    if (this.holdNext) return new Promise((r) => this.hold.push(r));
    return Promise.resolve();
  }
}

const env = { NOTIFY_SOCKET: '/run/systemd/notify' };

describe('createNotifier', () => {
  it('is disabled without NOTIFY_SOCKET and sends nothing', async () => {
    const t = new FakeTransport();
    const n = createNotifier({}, t);
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeNull();
    await n.ready();
    await n.status('x');
    await n.watchdog();
    await n.stopping();
    expect(t.sent).toEqual([]);
  });

  it('formats READY, STATUS, WATCHDOG and STOPPING in order, with socket and pid', async () => {
    const t = new FakeTransport();
    const n = createNotifier(env, t, { pid: 4242 });
    expect(n.enabled).toBe(true);
    void n.ready();
    void n.status('healthy 6/6 · /data 12% · gateway ok');
    void n.watchdog();
    await n.stopping();
    expect(t.sent).toEqual([
      { assignments: ['READY=1'], socket: '/run/systemd/notify', pid: 4242 },
      {
        assignments: ['STATUS=healthy 6/6 · /data 12% · gateway ok'],
        socket: '/run/systemd/notify',
        pid: 4242,
      },
      { assignments: ['WATCHDOG=1'], socket: '/run/systemd/notify', pid: 4242 },
      { assignments: ['STOPPING=1'], socket: '/run/systemd/notify', pid: 4242 },
    ]);
  });

  it('keeps a STATUS text on one line', async () => {
    expect(sanitizeStatus('a\nb\r\nc ')).toBe('a b c');
    const t = new FakeTransport();
    await createNotifier(env, t).status('line one\nREADY=1');
    expect(t.sent[0]!.assignments).toEqual(['STATUS=line one READY=1']);
  });

  it('never rejects on transport errors and logs only once', async () => {
    const t = new FakeTransport();
    t.fail = true;
    const { logger, lines } = memoryLogger();
    const n = createNotifier(env, t, { logger });
    await expect(n.ready()).resolves.toBeUndefined();
    await expect(n.watchdog()).resolves.toBeUndefined();
    await expect(n.status('x')).resolves.toBeUndefined();
    const warnings = lines.filter((l) => String(l.msg).startsWith('systemd notification failed'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toContain('boom');
  });

  it('drops messages instead of piling up when the transport is stuck', async () => {
    const t = new FakeTransport();
    t.holdNext = true;
    const { logger, lines } = memoryLogger();
    const n = createNotifier(env, t, { logger });
    for (let i = 0; i < 40; i++) void n.watchdog();
    await new Promise((r) => setImmediate(r));
    expect(t.sent).toHaveLength(1); // the rest wait behind the stuck one
    expect(lines.some((l) => String(l.msg).includes('queue full'))).toBe(true);
    t.holdNext = false;
    while (t.hold.length) {
      t.hold.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await n.flush();
    expect(t.sent).toHaveLength(16);
  });
});

describe('watchdogInterval', () => {
  it('is half of WATCHDOG_USEC in ms', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '120000000' }, 1)).toBe(60_000);
  });
  it('is null without a watchdog or with a bad value', () => {
    expect(watchdogInterval({}, 1)).toBeNull();
    expect(watchdogInterval({ WATCHDOG_USEC: 'abc' }, 1)).toBeNull();
    expect(watchdogInterval({ WATCHDOG_USEC: '0' }, 1)).toBeNull();
  });
  it('respects WATCHDOG_PID: only the named process pings', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '77' }, 77)).toBe(1000);
    expect(watchdogInterval({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '78' }, 77)).toBeNull();
  });
  it('is reported by the notifier only when enabled', () => {
    const w = { WATCHDOG_USEC: '120000000' };
    expect(createNotifier({ ...env, ...w }, new FakeTransport()).watchdogIntervalMs).toBe(60_000);
    expect(createNotifier(w, new FakeTransport()).watchdogIntervalMs).toBeNull();
  });
});

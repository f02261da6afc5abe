import { describe, expect, it } from 'vitest';
import { EventWatcher } from '../../../agent/supervisor/event-watcher.ts';
import {
  DockerError,
  type DockerEvent,
  type EventSubscription,
} from '../../../shared/engine/docker/types.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { FakeDocker, memoryLogger } from './fakes.ts';

/** A DockerClient whose event streams the test ends at will. */
class StreamControl extends FakeDocker {
  subscribes: Array<bigint | undefined> = [];
  refuse = 0;
  private enders: Array<(r: { error: Error | null }) => void> = [];
  private sink: ((e: DockerEvent) => void) | null = null;
  override async subscribe(
    _p: string,
    opts: { since?: bigint; onEvent: (e: DockerEvent) => void },
  ): Promise<EventSubscription> {
    this.subscribes.push(opts.since);
    if (this.refuse > 0) {
      this.refuse--;
      throw new DockerError('unavailable', 'daemon not reachable (ECONNREFUSED)');
    }
    this.sink = opts.onEvent;
    return {
      done: new Promise((resolve) => this.enders.push(resolve)),
      close: () => this.endStream(null),
    };
  }
  send(timeNano: bigint) {
    this.sink?.({ action: 'start', containerId: 'c', attributes: {}, timeNano });
  }
  endStream(error: Error | null) {
    for (const e of this.enders.splice(0)) e({ error });
  }
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('EventWatcher', () => {
  it('reconnects with since = last event time, after failed attempts, and asks for a reconcile', async () => {
    const client = new StreamControl();
    const reconciles: number[] = [];
    const states: boolean[] = [];
    const got: bigint[] = [];
    const w = new EventWatcher({
      client,
      project: 'p',
      logger: memoryLogger().logger,
      onEvent: (e) => got.push(e.timeNano),
      onReconnected: () => reconciles.push(1),
      onStateChange: (c) => states.push(c),
      minDelayMs: 1,
      maxDelayMs: 4,
      random: () => 1,
    });
    await w.start();
    expect(client.subscribes).toEqual([undefined]);
    client.send(111n);
    client.send(222n);
    client.refuse = 2;
    client.endStream(new DockerError('unavailable', 'event stream ended'));
    await until(() => reconciles.length === 1);
    expect(client.subscribes).toEqual([undefined, 222n, 222n, 222n]);
    expect(states).toEqual([true, false, true]);
    expect(w.connected).toBe(true);
    expect(w.reconnects).toBe(1);
    expect(got).toEqual([111n, 222n]);
    await w.stop();
    expect(w.connected).toBe(true); // a deliberate stop is not a lost stream
  });

  it('records when the stream was lost while reconnecting', async () => {
    const client = new StreamControl();
    let t = 1_000;
    const w = new EventWatcher({
      client,
      project: 'p',
      logger: memoryLogger().logger,
      onEvent: () => {},
      onReconnected: () => {},
      clock: { ...systemClock, now: () => t },
      minDelayMs: 10_000,
    });
    await w.start();
    t = 5_000;
    client.endStream(new DockerError('unavailable', 'gone'));
    await until(() => !w.connected);
    expect(w.disconnectedSince).toBe(5_000);
    await w.stop();
  });

  it('waits the shared backoff between reconnect attempts, jitter drawn from the injected random', async () => {
    const client = new StreamControl();
    const clock = new FakeClock(0);
    const w = new EventWatcher({
      client,
      project: 'p',
      logger: memoryLogger().logger,
      onEvent: () => {},
      onReconnected: () => {},
      clock,
      random: () => 0.5,
      minDelayMs: 400,
      maxDelayMs: 1_600,
    });
    await w.start();
    client.refuse = 3;
    client.endStream(new DockerError('unavailable', 'gone'));
    await until(() => w.reconnects === 1);
    // 400, 800, 1600, 1600 (capped), each · (1 − 0.5 · 0.5)
    expect(clock.sleeps).toEqual([300, 600, 1_200, 1_200]);
    await w.stop();
  });

  it('start fails when Docker refuses the first subscription', async () => {
    const client = new StreamControl();
    client.refuse = 1;
    const w = new EventWatcher({
      client,
      project: 'p',
      logger: memoryLogger().logger,
      onEvent: () => {},
      onReconnected: () => {},
    });
    await expect(w.start()).rejects.toThrow(/ECONNREFUSED/);
  });
});

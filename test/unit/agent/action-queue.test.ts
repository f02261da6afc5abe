import { describe, expect, it } from 'vitest';
import { ActionQueue } from '../../../agent/supervisor/action-queue.ts';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('ActionQueue', () => {
  it('runs actions one at a time in order and refuses duplicates', async () => {
    const log: string[] = [];
    const q = new ActionQueue(() => {});
    let running = 0;
    let maxRunning = 0;
    const act = (name: string) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running--;
    };
    expect(q.enqueue('a', act('a'))).toBe(true);
    expect(q.enqueue('b', act('b'))).toBe(true);
    expect(q.enqueue('a', act('a2'))).toBe(false);
    expect(q.keys()).toEqual(new Set(['a', 'b']));
    await q.idle();
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(maxRunning).toBe(1);
    expect(q.size).toBe(0);
  });

  it('reports errors and keeps going', async () => {
    const errors: string[] = [];
    const q = new ActionQueue((key, err) => errors.push(`${key}: ${(err as Error).message}`));
    let ran = false;
    q.enqueue('x', async () => {
      throw new Error('boom');
    });
    q.enqueue('y', async () => {
      ran = true;
    });
    await q.idle();
    expect(errors).toEqual(['x: boom']);
    expect(ran).toBe(true);
  });

  it('close drops pending actions, aborts the running one and refuses new ones', async () => {
    const q = new ActionQueue(() => {});
    let aborted = false;
    let secondRan = false;
    q.enqueue(
      'a',
      (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          }),
        ),
    );
    q.enqueue('b', async () => {
      secondRan = true;
    });
    await tick();
    q.close();
    await q.idle();
    expect(aborted).toBe(true);
    expect(secondRan).toBe(false);
    expect(q.enqueue('c', async () => {})).toBe(false);
    await expect(q.run('d', async () => {})).rejects.toThrow(/closed/);
  });

  it('runs unrelated actions at the same time, up to the concurrency limit', async () => {
    const q = new ActionQueue(() => {}, { concurrency: 4, related: () => false });
    let running = 0;
    let maxRunning = 0;
    const started: string[] = [];
    const gates = new Map<string, () => void>();
    const act = (name: string) => () =>
      new Promise<void>((resolve) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        started.push(name);
        gates.set(name, () => {
          running--;
          resolve();
        });
      });
    for (const k of ['a', 'b', 'c', 'd', 'e']) q.enqueue(k, act(k));
    // Four start at once, without waiting for one another; the fifth waits for a slot.
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    gates.get('b')!();
    await tick();
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const k of ['a', 'c', 'd', 'e']) gates.get(k)!();
    await q.idle();
    expect(maxRunning).toBe(4);
  });

  it('never overlaps related actions and runs them in the order queued', async () => {
    // db ← api ← web (web depends on api, api on db); cache stands alone.
    const deps: Record<string, string[]> = { web: ['api', 'db'], api: ['db'], db: [], cache: [] };
    const related = (a: string, b: string) => deps[a]!.includes(b) || deps[b]!.includes(a);
    const q = new ActionQueue(() => {}, { concurrency: 4, related });
    const log: string[] = [];
    const active = new Set<string>();
    const overlaps: string[] = [];
    const act = (name: string, ms: number) => async () => {
      for (const other of active) if (related(name, other)) overlaps.push(`${name}+${other}`);
      active.add(name);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      active.delete(name);
    };
    q.enqueue('db', act('db', 20));
    q.enqueue('web', act('web', 5));
    q.enqueue('cache', act('cache', 5));
    q.enqueue('api', act('api', 5));
    await q.idle();
    expect(overlaps).toEqual([]);
    // cache does not wait for db; web waits for db; api (related to web) waits for web, queued before it.
    expect(log.indexOf('start cache')).toBeLessThan(log.indexOf('end db'));
    expect(log.indexOf('start web')).toBeGreaterThan(log.indexOf('end db'));
    expect(log.indexOf('start api')).toBeGreaterThan(log.indexOf('end web'));
  });

  it('close aborts every running action', async () => {
    const q = new ActionQueue(() => {}, { concurrency: 4, related: () => false });
    const aborted: string[] = [];
    for (const k of ['a', 'b']) {
      q.enqueue(
        k,
        (signal) =>
          new Promise<void>((resolve) =>
            signal.addEventListener('abort', () => {
              aborted.push(k);
              resolve();
            }),
          ),
      );
    }
    expect(q.runningKeys()).toEqual(new Set(['a', 'b']));
    q.close();
    await q.idle();
    expect(aborted).toEqual(['a', 'b']);
  });

  it('run resolves when the action has run and rejects with its error', async () => {
    const q = new ActionQueue(() => {});
    await expect(q.run('a', async () => {})).resolves.toBeUndefined();
    await expect(q.run('b', async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
  });
});

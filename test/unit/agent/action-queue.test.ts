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

  it('run resolves when the action has run and rejects with its error', async () => {
    const q = new ActionQueue(() => {});
    await expect(q.run('a', async () => {})).resolves.toBeUndefined();
    await expect(q.run('b', async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
  });
});

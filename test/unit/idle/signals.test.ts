import { describe, expect, it } from 'vitest';
import { countReading, engineReading, streamReading } from '../../../agent/idle/signals.ts';

const group = (pending: number, lag: number | null) => ({ pending, lag, lastDeliveredId: '5-0' });

describe('idle signal rules (agent/idle/signals.ts)', () => {
  it('a stream is idle only with nothing waiting and nothing in progress', () => {
    const r = (g: ReturnType<typeof group>, undelivered: number | null = null, stuckPending = 0) =>
      streamReading('queue faster-whisper', { group: g, groupName: 'engines', undelivered, stuckPending })
        .state;
    expect(r(group(0, 0))).toBe('idle');
    expect(r(group(0, 3))).toBe('busy');
    expect(r(group(1, 0))).toBe('busy');
    // lag unknown: the entries after the last delivered id decide, never the stream length.
    expect(r(group(0, null), 0)).toBe('idle');
    expect(r(group(0, null), 1)).toBe('busy');
    expect(r(group(0, null), null)).toBe('unreadable');
  });

  it('pending entries older than the stuck limit are reported but do not keep the host awake', () => {
    const s = streamReading('queue audio-prepare', {
      group: group(2, 0),
      groupName: 'engines',
      undelivered: null,
      stuckPending: 2,
    });
    expect(s).toMatchObject({ state: 'idle', detail: '0 waiting, 0 in progress, 2 stuck pending (ignored)' });
    expect(
      streamReading('q', { group: group(3, 0), groupName: 'engines', undelivered: null, stuckPending: 2 })
        .state,
    ).toBe('busy');
  });

  it('a stream without its consumer group is busy while it holds entries', () => {
    const r = (undelivered: number | null) =>
      streamReading('q', { group: null, groupName: 'engines', undelivered, stuckPending: 0 });
    expect(r(0).state).toBe('idle');
    expect(r(2)).toMatchObject({ state: 'busy', detail: '2 waiting, no consumer group engines yet' });
    expect(r(null).state).toBe('unreadable');
  });

  it('sets count work; an unreadable count is unreadable, not idle', () => {
    expect(countReading('realtime sessions', 0).state).toBe('idle');
    expect(countReading('realtime sessions', 1).state).toBe('busy');
    expect(countReading('realtime sessions', null).state).toBe('unreadable');
  });

  it('an engine heartbeat is busy while it holds batch or realtime work', () => {
    expect(engineReading('w1', { active_batch: '0', active_realtime: '0', status: 'idle' })).toMatchObject({
      name: 'engine w1',
      state: 'idle',
      detail: '0 batch, 0 realtime, idle',
    });
    expect(engineReading('w1', { active_batch: '1', active_realtime: '0' }).state).toBe('busy');
    expect(engineReading('w1', { active_batch: '0', active_realtime: '2' }).state).toBe('busy');
    expect(engineReading('w1', { active_batch: 'many' }).state).toBe('unreadable');
  });
});

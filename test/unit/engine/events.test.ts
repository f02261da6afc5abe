import { describe, expect, it } from 'vitest';
import { eventFilters, healthOf, sinceParam, toDockerEvent } from '../../../shared/engine/docker/events.ts';

const attrs = { 'com.docker.compose.project': 'dalston', 'com.docker.compose.service': 'gateway', name: 'g' };

describe('toDockerEvent', () => {
  it('reads Action, Actor.ID, Actor.Attributes and timeNano only', () => {
    const e = toDockerEvent({
      Type: 'container',
      Action: 'health_status: unhealthy',
      Actor: { ID: 'c1', Attributes: attrs },
      time: 1700000000,
      // As Docker sends it: more digits than a double keeps.
      timeNano: Number('1700000000123456789'),
      status: 'ignored',
      id: 'ignored-too',
    });
    expect(e).toMatchObject({ action: 'health_status: unhealthy', containerId: 'c1', attributes: attrs });
    // timeNano as parsed by JSON.parse keeps ~microsecond precision.
    expect(Number(e!.timeNano / 1000n)).toBeCloseTo(1700000000123456, -3);
    expect(healthOf(e!)).toBe('unhealthy');
  });

  it('works without the legacy status/id fields (Engine 29) and falls back to time', () => {
    const e = toDockerEvent({
      Type: 'container',
      Action: 'die',
      Actor: { ID: 'c2', Attributes: {} },
      time: 5,
    });
    expect(e).toEqual({ action: 'die', containerId: 'c2', attributes: {}, timeNano: 5_000_000_000n });
    expect(healthOf(e!)).toBeNull();
  });

  it('ignores events that are not watched container events or lack an actor', () => {
    expect(toDockerEvent({ Type: 'container', Action: 'exec_start: sh', Actor: { ID: 'x' } })).toBeNull();
    expect(toDockerEvent({ Type: 'network', Action: 'connect', Actor: { ID: 'x' } })).toBeNull();
    expect(toDockerEvent({ Type: 'container', Action: 'start' })).toBeNull();
    expect(toDockerEvent({ status: 'start', id: 'legacy-only' })).toBeNull();
    expect(toDockerEvent('nope')).toBeNull();
    expect(toDockerEvent(null)).toBeNull();
  });

  it('drops non-string attribute values', () => {
    const e = toDockerEvent({ Action: 'oom', Actor: { ID: 'c', Attributes: { a: 'x', b: 3 } }, time: 1 });
    expect(e!.attributes).toEqual({ a: 'x' });
  });
});

describe('event helpers', () => {
  it('filters the daemon side to the project and the watched actions', () => {
    expect(eventFilters('dalston')).toEqual({
      type: ['container'],
      label: ['com.docker.compose.project=dalston'],
      event: ['start', 'die', 'oom', 'destroy', 'health_status'],
    });
  });

  it('formats since as seconds.nanoseconds', () => {
    expect(sinceParam(1700000000000000042n)).toBe('1700000000.000000042');
    expect(sinceParam(5_500_000_000n)).toBe('5.500000000');
  });
});

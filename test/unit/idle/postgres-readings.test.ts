import { describe, expect, it } from 'vitest';
import { ACTIVE_WORK_SQL, postgresReadings } from '../../../agent/idle/postgres-signals.ts';

describe('the Postgres work signal, from psql output', () => {
  it('counts only the active states, per table', () => {
    expect(ACTIVE_WORK_SQL).toContain("IN ('pending', 'running', 'cancelling')");
    expect(ACTIVE_WORK_SQL).toContain("IN ('pending', 'ready', 'running')");
    expect(postgresReadings('jobs|pending|2\njobs|running|1\ntasks|ready|4\n')).toEqual([
      { name: 'database jobs', state: 'busy', detail: '2 pending, 1 running' },
      { name: 'database tasks', state: 'busy', detail: '4 ready' },
    ]);
    expect(postgresReadings('').map((r) => r.state)).toEqual(['idle', 'idle']);
  });

  it('refuses output it does not understand rather than reading it as idle', () => {
    expect(() => postgresReadings('jobs|pending|two')).toThrow('unexpected psql line "jobs|pending|two"');
    expect(() => postgresReadings('users|active|3')).toThrow(/unexpected psql line/);
  });
});

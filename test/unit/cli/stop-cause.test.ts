import { describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../../cli/aws/ec2.ts';
import { parseStopScheduleEnv } from '../../../cli/deployment.ts';
import { explainStop, matchesSchedule, transitionTime } from '../../../cli/stop-cause.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { fixtureSnapshot, INSTANCE } from './helpers.ts';

const LAUNCH = new Date('2026-12-01T08:00:00.000Z');

const instance = (over: Partial<InstanceInfo> = {}): InstanceInfo => ({
  id: INSTANCE,
  state: 'stopped',
  type: 't3.xlarge',
  launchTime: LAUNCH,
  volumeIds: [],
  name: 'dalston-dev',
  stateTransitionReason: 'User initiated (2026-12-01 11:05:00 GMT)',
  stateReasonCode: 'Client.UserInitiatedShutdown',
  ...over,
});

const idleFinal = (at: string): StatusSnapshot => ({
  ...fixtureSnapshot('snapshot-healthy.json'),
  state: 'stopping',
  generatedAt: at,
  idle: {
    state: 'stopping',
    summary: 'idle 60 min — stopping now',
    since: '2026-12-01T10:00:00.000Z',
    stopAt: at,
    reasons: [],
    lease: null,
    checkedAt: at,
  },
  shutdown: { reason: 'idle', at, detail: 'idle since 2026-12-01T10:00:00.000Z (60 min)' },
});

const LONDON_2AM = { expression: 'cron(0 2 * * ? *)', timezone: 'Europe/London' };

describe('why a stopped instance stopped', () => {
  it('running: no stop cause', () => {
    expect(
      explainStop({
        instance: instance({ state: 'running' }),
        snapshot: null,
        lastStop: null,
        schedule: null,
      }),
    ).toBeNull();
  });

  it("the agent's final heartbeat says idle → stopped: idle since …", () => {
    const c = explainStop({
      instance: instance({
        stateReasonCode: 'Client.InstanceInitiatedShutdown',
        stateTransitionReason: 'Client.InstanceInitiatedShutdown',
      }),
      snapshot: idleFinal('2026-12-01T11:00:00.000Z'),
      lastStop: null,
      schedule: null,
    });
    expect(c).toEqual({
      kind: 'idle',
      text: "stopped: idle since 2026-12-01 10:00:00 UTC (the agent's idle stop at 2026-12-01 11:00:00 UTC)",
      at: '2026-12-01T11:00:00.000Z',
    });
  });

  it('an idle shutdown from before the last start belongs to an earlier run', () => {
    const c = explainStop({
      instance: instance(),
      snapshot: idleFinal('2026-11-30T20:00:00.000Z'),
      lastStop: null,
      schedule: null,
    });
    expect(c?.kind).toBe('other');
  });

  it('the record `down` left → stopped by dalston-aws down', () => {
    const c = explainStop({
      instance: instance(),
      snapshot: null,
      lastStop: { by: 'dalston-aws down', operator: 'alice@laptop', at: '2026-12-01T11:04:58.000Z' },
      schedule: LONDON_2AM,
    });
    expect(c).toMatchObject({
      kind: 'down',
      text: 'stopped by `dalston-aws down` (alice@laptop) at 2026-12-01 11:04:58 UTC',
    });
  });

  it('a `down` record older than the last start does not explain this stop', () => {
    const c = explainStop({
      instance: instance(),
      snapshot: null,
      lastStop: { by: 'dalston-aws down', operator: 'alice@laptop', at: '2026-11-30T18:00:00.000Z' },
      schedule: null,
    });
    expect(c?.kind).toBe('other');
  });

  it('a power-off from inside without an idle shutdown is named as such', () => {
    const c = explainStop({
      instance: instance({
        stateReasonCode: 'Client.InstanceInitiatedShutdown',
        stateTransitionReason: 'Client.InstanceInitiatedShutdown (2026-12-01 11:05:00 GMT)',
      }),
      snapshot: {
        ...fixtureSnapshot('snapshot-healthy.json'),
        generatedAt: '2026-12-01T11:04:59.000Z',
        shutdown: { reason: 'system', at: '2026-12-01T11:04:59.000Z', detail: 'SIGTERM' },
      },
      lastStop: null,
      schedule: null,
    });
    expect(c).toMatchObject({
      kind: 'host',
      text: expect.stringMatching(
        /^stopped: powered off from inside the host, not by the idle stop \(agent: SIGTERM\)/,
      ),
    });
  });

  it('a user-initiated stop at the backstop time (local, summer time) → the schedule', () => {
    // 02:00 in London in July is 01:00 UTC.
    const summer = instance({
      stateTransitionReason: 'User initiated (2026-07-01 01:00:04 GMT)',
      launchTime: new Date('2026-06-30T08:00:00Z'),
    });
    expect(
      explainStop({ instance: summer, snapshot: null, lastStop: null, schedule: LONDON_2AM }),
    ).toMatchObject({
      kind: 'schedule',
      text: 'stopped by the scheduled backstop (cron(0 2 * * ? *) Europe/London) at 2026-07-01 01:00:04 UTC',
    });
    // The same UTC time in winter is 01:00 local: not the schedule.
    const winter = instance({
      stateTransitionReason: 'User initiated (2026-12-01 01:00:04 GMT)',
      launchTime: new Date('2026-11-30T08:00:00Z'),
    });
    expect(
      explainStop({ instance: winter, snapshot: null, lastStop: null, schedule: LONDON_2AM })?.kind,
    ).toBe('other');
  });

  it('anything else → "something else" with EC2\'s own words', () => {
    const c = explainStop({ instance: instance(), snapshot: null, lastStop: null, schedule: LONDON_2AM });
    expect(c).toEqual({
      kind: 'other',
      text: 'stopped by something else (not idle, not `down`, not the schedule): EC2 says "User initiated (2026-12-01 11:05:00 GMT)"',
      at: '2026-12-01T11:05:00.000Z',
    });
  });
});

describe('schedule matching', () => {
  it('matches within the hour after a fire time (Scheduler retries), across midnight too', () => {
    const utc = (expression: string) => ({ expression, timezone: 'UTC' });
    expect(matchesSchedule(utc('cron(0 2 * * ? *)'), Date.parse('2026-12-01T02:00:00Z'))).toBe(true);
    expect(matchesSchedule(utc('cron(0 2 * * ? *)'), Date.parse('2026-12-01T02:59:00Z'))).toBe(true);
    expect(matchesSchedule(utc('cron(0 2 * * ? *)'), Date.parse('2026-12-01T03:00:00Z'))).toBe(false);
    expect(matchesSchedule(utc('cron(0 2 * * ? *)'), Date.parse('2026-12-01T01:59:00Z'))).toBe(false);
    expect(matchesSchedule(utc('cron(30 23 * * ? *)'), Date.parse('2026-12-02T00:10:00Z'))).toBe(true);
    expect(matchesSchedule(utc('cron(0 2,14 * * ? *)'), Date.parse('2026-12-01T14:20:00Z'))).toBe(true);
  });

  it('makes no claim for what it does not understand', () => {
    expect(matchesSchedule({ expression: 'cron(0/15 * * * ? *)', timezone: 'UTC' }, 0)).toBe(false);
    expect(matchesSchedule({ expression: 'rate(1 day)', timezone: 'UTC' }, 0)).toBe(false);
    expect(
      matchesSchedule(
        { expression: 'cron(0 2 * * ? *)', timezone: 'Not/AZone' },
        Date.parse('2026-12-01T02:00:00Z'),
      ),
    ).toBe(false);
  });

  it("reads EC2's transition time", () => {
    expect(transitionTime('User initiated (2026-12-01 02:00:03 GMT)')).toBe(
      Date.parse('2026-12-01T02:00:03Z'),
    );
    expect(transitionTime('')).toBeNull();
    expect(transitionTime(null)).toBeNull();
  });

  it('DALSTON_STOP_SCHEDULE: expression and zone, or a config error naming the variable', () => {
    expect(parseStopScheduleEnv('cron(0 2 * * ? *) Europe/London')).toEqual(LONDON_2AM);
    expect(parseStopScheduleEnv('cron(0 2 * * ? *)')).toEqual({
      expression: 'cron(0 2 * * ? *)',
      timezone: 'UTC',
    });
    expect(() => parseStopScheduleEnv('at 2am')).toThrow(/DALSTON_STOP_SCHEDULE="at 2am" is not a schedule/);
  });
});

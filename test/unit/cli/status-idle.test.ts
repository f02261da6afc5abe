import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { dalstonAwsMain } from '../../../cli/main.ts';
import type { IdleStatus } from '../../../shared/idle/idle-status.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import {
  DEPLOY,
  describedInstance,
  FakeClock,
  FakeObjects,
  fixtureSnapshot,
  INSTANCE,
  SNAPSHOT_KEY,
  testContext,
} from './helpers.ts';

const ec2Mock = mockClient(EC2Client);
const NOW = Date.parse('2026-12-01T11:00:00.000Z');
const LEASE_KEY = `status/${INSTANCE}/keep-awake.json`;
const LAST_STOP_KEY = `status/${INSTANCE}/last-stop.json`;

function mockInstance(state: string, extra: Record<string, unknown> = {}) {
  ec2Mock.on(DescribeInstancesCommand).resolves(
    describedInstance(state, {
      LaunchTime: new Date('2026-12-01T08:00:00.000Z'),
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0root0000000000a' } }],
      Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
      ...extra,
    }),
  );
  ec2Mock.on(DescribeVolumesCommand).resolves({
    Volumes: [{ VolumeId: 'vol-0root0000000000a', Size: 30, VolumeType: 'gp3' }],
  });
}

const idle = (over: Partial<IdleStatus>): IdleStatus => ({
  state: 'idle',
  summary: 'idle 20 min',
  since: '2026-12-01T10:40:00.000Z',
  stopAt: '2026-12-01T11:40:00.000Z',
  reasons: [],
  lease: null,
  checkedAt: '2026-12-01T10:59:30.000Z',
  ...over,
});

const snapshot = (over: Partial<StatusSnapshot>): string =>
  JSON.stringify({
    ...fixtureSnapshot('snapshot-healthy.json'),
    generatedAt: '2026-12-01T10:59:30.000Z',
    ...over,
  });

async function status(
  objects: Record<string, string | null>,
  env: Record<string, string> = {},
  json = false,
) {
  const ctx = testContext({ clock: new FakeClock(NOW), objects: () => new FakeObjects(objects), env });
  const code = await dalstonAwsMain(['status', ...DEPLOY, ...(json ? ['--json'] : [])], ctx);
  return { code, out: ctx.stdout.text, err: ctx.stderr.text };
}

beforeEach(() => ec2Mock.reset());

describe('status: the idle line on a running host', () => {
  beforeEach(() => mockInstance('running'));

  it('idle: since when, and the countdown to the stop', async () => {
    const r = await status({ [SNAPSHOT_KEY]: snapshot({ idle: idle({}) }) });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /\n {2}idle {7}idle since 2026-12-01 10:40:00 UTC — stops at 2026-12-01 11:40:00 UTC \(in 40m 00s\)\n/,
    );
  });

  it('held by the lease and the boot grace: says so, and shows the lease object', async () => {
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({
        idle: idle({
          stopAt: '2026-12-01T13:00:00.000Z',
          reasons: ['keep-awake until 2026-12-01T13:00:00Z'],
        }),
      }),
      [LEASE_KEY]: JSON.stringify({
        until: '2026-12-01T13:00:00.000Z',
        by: 'dalston-aws up --for 4h (alice@laptop)',
        createdAt: '2026-12-01T09:00:00.000Z',
      }),
    });
    expect(r.out).toMatch(/\(in 2h 00m\) {2}held by: keep-awake until 2026-12-01T13:00:00Z\n/);
    expect(r.out).toMatch(
      /\n {2}awake {6}kept awake until 2026-12-01 13:00:00 UTC {2}by dalston-aws up --for 4h \(alice@laptop\)\n/,
    );
  });

  it('busy: the reasons', async () => {
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({
        idle: idle({
          state: 'busy',
          since: null,
          stopAt: null,
          reasons: ['stream faster-whisper: 3 pending', 'realtime: 1 session'],
        }),
      }),
    });
    expect(r.out).toMatch(/\n {2}idle {7}busy {2}stream faster-whisper: 3 pending; realtime: 1 session\n/);
  });

  it('announced: the stop is shown as imminent', async () => {
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({ idle: idle({ state: 'announce', stopAt: '2026-12-01T11:04:00.000Z' }) }),
    });
    expect(r.out).toMatch(/idle {7}STOP ANNOUNCED {2}idle since .* \(in 4m 00s\)/);
  });

  it('a malformed lease is reported as holding nothing; an expired one is shown dim', async () => {
    const bad = await status({
      [SNAPSHOT_KEY]: snapshot({ idle: idle({}) }),
      [LEASE_KEY]: '{"until":"soon"}',
    });
    expect(bad.out).toMatch(/awake {6}lease unreadable: wrong shape at until — it holds nothing/);
    const old = await status({
      [SNAPSHOT_KEY]: snapshot({ idle: idle({}) }),
      [LEASE_KEY]: JSON.stringify({
        until: '2026-12-01T10:00:00.000Z',
        by: 'x',
        createdAt: '2026-12-01T09:00:00.000Z',
      }),
    });
    expect(old.out).toMatch(/awake {6}lease expired 2026-12-01 10:00:00 UTC \(by x\)/);
  });

  it('a stale snapshot gives no idle line (its countdown would be fiction)', async () => {
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({ generatedAt: '2026-12-01T10:30:00.000Z', idle: idle({}) }),
    });
    expect(r.out).not.toMatch(/\n {2}idle /);
  });
});

describe('status: a stopped instance', () => {
  it('after an idle stop: why, no fresh heartbeat, no services', async () => {
    mockInstance('stopped', {
      StateTransitionReason: 'Client.InstanceInitiatedShutdown',
      StateReason: { Code: 'Client.InstanceInitiatedShutdown', Message: 'x' },
    });
    // Two minutes old: fresh by age, but the instance is stopped.
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({
        state: 'stopping',
        generatedAt: '2026-12-01T10:58:00.000Z',
        idle: idle({ state: 'stopping', stopAt: '2026-12-01T10:58:00.000Z' }),
        shutdown: {
          reason: 'idle',
          at: '2026-12-01T10:58:00.000Z',
          detail: 'idle since 2026-12-01T10:40:00Z (18 min)',
        },
      }),
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /\n {2}stopped {4}stopped: idle since 2026-12-01 10:40:00 UTC \(the agent's idle stop at 2026-12-01 10:58:00 UTC\)\n/,
    );
    expect(r.out).toMatch(/heartbeat +last {2}2m 00s ago .*from before the stop — not current/);
    expect(r.out).not.toMatch(/fresh/);
    expect(r.out).toMatch(/stack +not running \(before the stop: stopping/);
    expect(r.out).not.toMatch(/SERVICE|gateway +ok|\/data +mounted/);
    const j = JSON.parse((await status({ [SNAPSHOT_KEY]: snapshot({}) }, {}, true)).out);
    expect(j.heartbeat.status).toBe('stopped');
    expect(j.services).toEqual([]);
    expect(j.idle).toBeNull();
  });

  it('after `dalston-aws down`: names it, from the record down left', async () => {
    mockInstance('stopped', { StateTransitionReason: 'User initiated (2026-12-01 10:50:01 GMT)' });
    const r = await status({
      [SNAPSHOT_KEY]: snapshot({ generatedAt: '2026-12-01T10:50:00.000Z' }),
      [LAST_STOP_KEY]: JSON.stringify({
        by: 'dalston-aws down',
        operator: 'alice@laptop',
        at: '2026-12-01T10:49:59.000Z',
      }),
    });
    expect(r.out).toMatch(
      /stopped {4}stopped by `dalston-aws down` \(alice@laptop\) at 2026-12-01 10:49:59 UTC/,
    );
  });

  it('at the backstop time: the schedule (from DALSTON_STOP_SCHEDULE); otherwise something else', async () => {
    mockInstance('stopped', { StateTransitionReason: 'User initiated (2026-12-01 10:30:05 GMT)' });
    const sched = await status(
      { [SNAPSHOT_KEY]: snapshot({}) },
      { DALSTON_STOP_SCHEDULE: 'cron(30 10 * * ? *) UTC' },
    );
    expect(sched.out).toMatch(
      /stopped {4}stopped by the scheduled backstop \(cron\(30 10 \* \* \? \*\) UTC\)/,
    );
    const other = await status({ [SNAPSHOT_KEY]: snapshot({}) });
    expect(other.out).toMatch(
      /stopped {4}stopped by something else .*EC2 says "User initiated \(2026-12-01 10:30:05 GMT\)"/,
    );
  });
});

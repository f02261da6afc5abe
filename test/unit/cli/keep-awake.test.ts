import { DescribeInstancesCommand, EC2Client, StartInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_LEASE_MS, parseLeaseDuration } from '../../../cli/keep-awake.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { HostError } from '../../../shared/errors.ts';
import { judgeKeepAwake } from '../../../shared/idle/keep-awake.ts';
import { DEPLOY, describedInstance, FakeClock, FakeObjects, INSTANCE, testContext } from './helpers.ts';

const ec2Mock = mockClient(EC2Client);
const T0 = Date.parse('2026-12-01T09:00:00.000Z');
const LEASE_KEY = `status/${INSTANCE}/keep-awake.json`;

const described = (state: string) =>
  describedInstance(state, {
    LaunchTime: new Date(T0 - 86_400_000),
    BlockDeviceMappings: [],
    Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
  });

beforeEach(() => ec2Mock.reset());

describe('lease durations are parsed strictly', () => {
  it.each([
    ['30m', 30],
    ['4h', 240],
    ['1h30m', 90],
    ['0h5m', 5],
    ['168h', 168 * 60],
  ])('%s → %i min', (text, minutes) => {
    expect(parseLeaseDuration(text, '--for')).toBe(minutes * 60_000);
  });

  it.each([
    ['2', /not a duration/],
    ['90s', /not a duration/],
    ['1.5h', /not a duration/],
    ['h', /not a duration/],
    ['', /not a duration/],
    ['-1h', /not a duration/],
    ['30m1h', /not a duration/],
    ['0m', /is zero/],
    ['169h', /longer than 7 days: .*idle_stop_after_minutes = 0/],
  ])('%j is refused: %s', (text, message) => {
    expect(() => parseLeaseDuration(text, '--for')).toThrow(message);
  });

  it('the limit is 7 days', () => {
    expect(MAX_LEASE_MS).toBe(7 * 24 * 3_600_000);
  });
});

describe('dalston-aws up --for', () => {
  it('writes the lease before StartInstances and says what it is waking', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    const objects = new FakeObjects();
    let leaseWrittenBeforeStart = false;
    ec2Mock.on(StartInstancesCommand).callsFake(() => {
      leaseWrittenBeforeStart = objects.writes.some((w) => w.key === LEASE_KEY);
      return { StartingInstances: [{ CurrentState: { Name: 'pending' } }] };
    });
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects, env: { USER: 'alice' } });
    expect(await dalstonAwsMain(['up', '--for', '4h', '--no-wait', ...DEPLOY], ctx)).toBe(0);
    expect(leaseWrittenBeforeStart).toBe(true);
    const lease = JSON.parse(objects.writes[0]!.body!);
    expect(lease).toEqual({
      until: '2026-12-01T13:00:00.000Z',
      by: expect.stringMatching(/^dalston-aws up --for 4h \(alice@.+\)$/),
      createdAt: '2026-12-01T09:00:00.000Z',
    });
    // The agent's own judgement of what was written: a valid, active lease.
    expect(judgeKeepAwake(objects.writes[0]!.body!, T0 + 3_600_000).kind).toBe('active');
    expect(judgeKeepAwake(objects.writes[0]!.body!, T0 + 4 * 3_600_000).kind).toBe('expired');
    expect(ctx.stderr.text).toContain(
      `waking ${INSTANCE} (dalston-dev), t3.xlarge, kept awake until 2026-12-01 13:00:00 UTC (s3://dalston-test-bucket/${LEASE_KEY}): pending`,
    );
  });

  it('on a running host the lease is written and nothing is started', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const objects = new FakeObjects();
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects });
    expect(await dalstonAwsMain(['up', '--for', '30m', '--no-wait', ...DEPLOY], ctx)).toBe(0);
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(0);
    expect(objects.writes.map((w) => w.key)).toEqual([LEASE_KEY]);
    expect(ctx.stderr.text).toMatch(/already running, kept awake until 2026-12-01 09:30:00 UTC/);
  });

  it('a bad duration is a usage error before any AWS call', async () => {
    const objects = new FakeObjects();
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects });
    expect(await dalstonAwsMain(['up', '--for', '4 hours', ...DEPLOY], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(
      /^dalston-aws: --for "4 hours" is not a duration: use hours and\/or minutes, e\.g\. 30m, 4h, 1h30m\n/,
    );
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(objects.writes).toHaveLength(0);
  });

  it('a lease that cannot be written stops `up` before the instance is started', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    const objects = new FakeObjects();
    objects.failWrites = new HostError('failure', 'access denied: s3:PutObject on s3://b/k');
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects });
    expect(await dalstonAwsMain(['up', '--for', '2h', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toBe('dalston-aws: access denied: s3:PutObject on s3://b/k\n');
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(0);
  });
});

describe('dalston-aws keep-awake', () => {
  it('2h on a running host writes a lease until now + 2h', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const objects = new FakeObjects();
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects, env: { USER: 'bob' } });
    expect(await dalstonAwsMain(['keep-awake', '2h', ...DEPLOY], ctx)).toBe(0);
    expect(JSON.parse(objects.writes[0]!.body!)).toMatchObject({
      until: '2026-12-01T11:00:00.000Z',
      by: expect.stringMatching(/^dalston-aws keep-awake 2h \(bob@/),
    });
    expect(ctx.stdout.text).toBe(
      `${INSTANCE} kept awake until 2026-12-01 11:00:00 UTC (s3://dalston-test-bucket/${LEASE_KEY}); the agent sees it at its next poll\n`,
    );
  });

  it('on a stopped host it refuses and points at up --for', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    const objects = new FakeObjects();
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects });
    expect(await dalstonAwsMain(['keep-awake', '2h', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toMatch(
      /is stopped: keep-awake is for a running host — use `dalston-aws up --for 2h`/,
    );
    expect(objects.writes).toHaveLength(0);
  });

  it('--clear deletes the lease without asking EC2', async () => {
    const objects = new FakeObjects({ [LEASE_KEY]: '{}' });
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => objects });
    expect(await dalstonAwsMain(['keep-awake', '--clear', ...DEPLOY], ctx)).toBe(0);
    expect(objects.writes).toEqual([{ op: 'delete', key: LEASE_KEY }]);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(ctx.stdout.text).toMatch(/lease cleared/);
  });

  it.each([
    [['keep-awake', ...DEPLOY], /give a duration \(e\.g\. 2h\) or --clear/],
    [['keep-awake', '2h', '--clear', ...DEPLOY], /not both/],
    [['keep-awake', '2h', '3h', ...DEPLOY], /one duration expected/],
    [['keep-awake', '2 h', ...DEPLOY], /duration "2 h" is not a duration/],
  ])('%j → usage error, exit 2', async (args, message) => {
    const ctx = testContext({ clock: new FakeClock(T0), objects: () => new FakeObjects() });
    expect(await dalstonAwsMain(args, ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(message);
  });
});

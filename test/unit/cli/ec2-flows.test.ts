import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  EC2ServiceException,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SdkEc2 } from '../../../cli/aws/ec2.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { runningReport } from '../../../shared/status/bootstrap-report.ts';
import {
  Capture,
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
const T0 = Date.parse('2026-11-28T06:00:00.000Z');

const described = (state: string, launchTime = new Date(T0)) =>
  describedInstance(state, {
    LaunchTime: launchTime,
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0aaaaaaaaaaaaaaaa' } }],
    Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
  });

function awsError(name: string, message: string, status = 400) {
  return new EC2ServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: status } });
}

const snapshotAt = (iso: string, state: 'healthy' | 'degraded' | 'starting' = 'healthy') =>
  JSON.stringify({
    ...fixtureSnapshot(state === 'healthy' ? 'snapshot-healthy.json' : 'snapshot-degraded.json'),
    state,
    generatedAt: iso,
  });

beforeEach(() => ec2Mock.reset());
afterEach(() => ec2Mock.reset());

describe('SdkEc2 over a mocked EC2Client', () => {
  const ec2 = () => new SdkEc2(new EC2Client({ region: 'eu-west-2' }), { profile: 'ops' });

  it('describes an instance: state, type, launch time, volumes, name', async () => {
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: [INSTANCE] }).resolves(described('running'));
    const i = await ec2().describeInstance(INSTANCE);
    expect(i).toEqual({
      id: INSTANCE,
      state: 'running',
      type: 't3.xlarge',
      launchTime: new Date(T0),
      volumeIds: ['vol-0aaaaaaaaaaaaaaaa'],
      name: 'dalston-dev',
      stateTransitionReason: null,
      stateReasonCode: null,
    });
  });

  it('reads why EC2 last changed the state; an old DalstonHostRelease tag is not taken for what runs', async () => {
    const d = described('stopped');
    Object.assign(d.Reservations[0]!.Instances[0]!, {
      StateTransitionReason: 'User initiated (2026-12-01 02:00:03 GMT)',
      StateReason: {
        Code: 'Client.UserInitiatedShutdown',
        Message: 'Client.UserInitiatedShutdown: User initiated shutdown',
      },
    });
    d.Reservations[0]!.Instances[0]!.Tags!.push({
      Key: 'DalstonHostRelease',
      Value: 'releases/dalston-host-0.3.1.tgz@"0a1b2c"',
    });
    ec2Mock.on(DescribeInstancesCommand).resolves(d);
    const i = await ec2().describeInstance(INSTANCE);
    expect(i).not.toHaveProperty('release');
    expect(i).toMatchObject({
      stateTransitionReason: 'User initiated (2026-12-01 02:00:03 GMT)',
      stateReasonCode: 'Client.UserInitiatedShutdown',
    });
  });

  it('unknown instance id → one line, exit 78', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejects(awsError('InvalidInstanceID.NotFound', `The instance ID '${INSTANCE}' does not exist`));
    await expect(ec2().describeInstance(INSTANCE)).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/^unknown instance id i-0123456789abcdef0: no such instance/),
    });
  });

  it('an empty reservation list is also "unknown instance id"', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await expect(ec2().describeInstance(INSTANCE)).rejects.toMatchObject({
      exitCode: 78,
      message: /unknown instance id/,
    });
  });

  it('access denied names the action, the instance and the profile', async () => {
    ec2Mock
      .on(StartInstancesCommand)
      .rejects(
        awsError(
          'UnauthorizedOperation',
          'You are not authorized to perform this operation. Encoded authorization failure message: xyz',
          403,
        ),
      );
    await expect(ec2().startInstance(INSTANCE)).rejects.toMatchObject({
      exitCode: 1,
      message: `access denied: ec2:StartInstances on ${INSTANCE} is not allowed for profile "ops"`,
    });
  });

  it('no credentials → says how to provide them', async () => {
    const err = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    ec2Mock.on(DescribeInstancesCommand).rejects(err);
    await expect(ec2().describeInstance(INSTANCE)).rejects.toMatchObject({
      exitCode: 78,
      message:
        'no AWS credentials found: set AWS_PROFILE (or pass --profile) or run `aws configure` / `aws sso login`',
    });
  });

  it('reads volume sizes for the cost line', async () => {
    ec2Mock.on(DescribeVolumesCommand).resolves({
      Volumes: [{ VolumeId: 'vol-1', Size: 100, VolumeType: 'gp3', Iops: 3000, Throughput: 125 }],
    });
    expect(await ec2().describeVolumes(['vol-1'])).toEqual([
      { id: 'vol-1', sizeGiB: 100, type: 'gp3', iops: 3000, throughputMBps: 125 },
    ]);
    expect(await ec2().describeVolumes([])).toEqual([]);
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
  });
});

describe('dalston-aws up / down / wait (EC2 mocked, fake clock, non-TTY progress)', () => {
  it('up on a stopped instance: starts it, then waits running → heartbeat → healthy', async () => {
    const clock = new FakeClock(T0);
    const launch = new Date(T0 + 5_000);
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('stopped', new Date(T0 - 86_400_000)))
      .resolvesOnce(described('pending', launch))
      .resolvesOnce(described('pending', launch))
      .resolves(described('running', launch));
    ec2Mock
      .on(StartInstancesCommand)
      .resolves({ StartingInstances: [{ InstanceId: INSTANCE, CurrentState: { Name: 'pending' } }] });
    // Old snapshot from yesterday, then none (agent not up), then a starting one, then healthy.
    const answers = [
      snapshotAt('2026-11-27T06:00:00.000Z'),
      null,
      snapshotAt('2026-11-28T06:01:10.000Z', 'degraded'),
      snapshotAt('2026-11-28T06:01:20.000Z', 'healthy'),
    ];
    let n = 0;
    const objects = new FakeObjects({
      [SNAPSHOT_KEY]: () => answers[Math.min(n++, answers.length - 1)] ?? null,
    });
    const ctx = testContext({ clock, objects: () => objects });

    const code = await dalstonAwsMain(['up', ...DEPLOY], ctx);
    expect(ctx.stderr.text).not.toMatch(/dalston-aws:/);
    expect(code).toBe(0);
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(1);
    expect(ec2Mock.commandCalls(StartInstancesCommand)[0]!.args[0].input).toEqual({
      InstanceIds: [INSTANCE],
    });
    expect(ctx.stdout.text).toBe(`dalston is up on ${INSTANCE}\n`);
    // Non-TTY progress: plain lines with elapsed time, no escape codes, one per change.
    expect(ctx.stderr.text).not.toContain('\x1b');
    expect(ctx.stderr.text).not.toContain('\r');
    expect(ctx.stderr.text.split('\n')).toEqual([
      `[0:00] waking ${INSTANCE} (dalston-dev), t3.xlarge: pending`,
      '[0:00] instance: pending → running',
      '[0:10] ✔ instance running (t3.xlarge)',
      '[0:10] heartbeat: waiting for the agent’s first snapshot since the start',
      '[0:10] heartbeat: last snapshot is from before the start (24h 00m earlier)',
      `[0:20] heartbeat: no heartbeat yet at s3://dalston-test-bucket/${SNAPSHOT_KEY}`,
      '[0:30] ✔ agent heartbeat (agent 0.1.0)',
      '[0:30] stack: degraded, services 3/4 up, waiting on: stt-batch-transcribe-whisper (unhealthy, circuit open)',
      '[0:40] ✔ stack healthy: 4/4 services up',
      '',
    ]);
  });

  it('up on a running instance: no StartInstances, waits for a fresh heartbeat only', async () => {
    const clock = new FakeClock(T0 + 600_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const objects = new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:09:00.000Z') });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['up', ...DEPLOY], ctx)).toBe(0);
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(0);
    expect(ctx.stderr.text).toMatch(/is already running/);
    expect(clock.sleeps).toEqual([]);
  });

  it('up while stopping: waits for stopped, then starts', async () => {
    const clock = new FakeClock(T0);
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('stopping'))
      .resolvesOnce(described('stopping'))
      .resolvesOnce(described('stopped'))
      .resolves(described('running', new Date(T0 + 20_000)));
    ec2Mock
      .on(StartInstancesCommand)
      .resolves({ StartingInstances: [{ CurrentState: { Name: 'pending' } }] });
    const ctx = testContext({
      clock,
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:00:30.000Z') }),
    });
    expect(await dalstonAwsMain(['up', ...DEPLOY], ctx)).toBe(0);
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(1);
    expect(ctx.stderr.text).toMatch(/instance: stopping → stopped/);
  });

  it('up --no-wait needs no bucket and returns after StartInstances', async () => {
    const clock = new FakeClock(T0);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    ec2Mock
      .on(StartInstancesCommand)
      .resolves({ StartingInstances: [{ CurrentState: { Name: 'pending' } }] });
    const ctx = testContext({ clock });
    expect(
      await dalstonAwsMain(['up', '--no-wait', '--instance-id', INSTANCE, '--region', 'eu-west-2'], ctx),
    ).toBe(0);
    expect(ec2Mock.commandCalls(StartInstancesCommand)).toHaveLength(1);
  });

  it('up with StartInstances denied → one line naming the action, exit 1', async () => {
    const clock = new FakeClock(T0);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    ec2Mock
      .on(StartInstancesCommand)
      .rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['up', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toBe(
      `dalston-aws: access denied: ec2:StartInstances on ${INSTANCE} is not allowed for the current AWS credentials\n`,
    );
  });

  it('down: stops and waits until stopped', async () => {
    const clock = new FakeClock(T0);
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('running'))
      .resolvesOnce(described('stopping'))
      .resolvesOnce(described('stopping'))
      .resolves(described('stopped'));
    ec2Mock
      .on(StopInstancesCommand)
      .resolves({ StoppingInstances: [{ CurrentState: { Name: 'stopping' } }] });
    const objects = new FakeObjects();
    let writesBeforeStop = -1;
    ec2Mock.on(StopInstancesCommand).callsFake(() => {
      writesBeforeStop = objects.writes.length;
      return { StoppingInstances: [{ CurrentState: { Name: 'stopping' } }] };
    });
    const ctx = testContext({ clock, objects: () => objects, env: { USER: 'alice' } });
    expect(await dalstonAwsMain(['down', ...DEPLOY], ctx)).toBe(0);
    expect(ec2Mock.commandCalls(StopInstancesCommand)[0]!.args[0].input).toEqual({ InstanceIds: [INSTANCE] });
    // The record of the stop is written first, so status can name `down` even after Ctrl-C.
    expect(writesBeforeStop).toBe(1);
    expect(objects.writes[0]!.key).toBe(`status/${INSTANCE}/last-stop.json`);
    expect(JSON.parse(objects.writes[0]!.body!)).toEqual({
      by: 'dalston-aws down',
      operator: expect.stringMatching(/^alice@/),
      at: new Date(T0).toISOString(),
    });
    expect(ctx.stderr.text.split('\n')).toEqual([
      `[0:00] stopping ${INSTANCE}: stopping`,
      '[0:00] instance: stopping → stopped',
      '[0:10] ✔ instance stopped',
      '',
    ]);
    expect(ctx.stdout.text).toBe(`${INSTANCE} is stopped\n`);
  });

  it('down on a stopped instance is a no-op; --no-wait does not poll', async () => {
    const clock = new FakeClock(T0);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['down', '--instance-id', INSTANCE, '--region', 'eu-west-2'], ctx)).toBe(0);
    expect(ec2Mock.commandCalls(StopInstancesCommand)).toHaveLength(0);
    expect(ctx.stdout.text).toMatch(/already stopped/);

    ec2Mock.reset();
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    ec2Mock
      .on(StopInstancesCommand)
      .resolves({ StoppingInstances: [{ CurrentState: { Name: 'stopping' } }] });
    const ctx2 = testContext({ clock });
    expect(
      await dalstonAwsMain(['down', '--no-wait', '--instance-id', INSTANCE, '--region', 'eu-west-2'], ctx2),
    ).toBe(0);
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
  });

  it('down on an unknown instance → exit 78 with the id', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound', 'does not exist'));
    const ctx = testContext({ clock: new FakeClock(T0) });
    expect(await dalstonAwsMain(['down', '--instance-id', INSTANCE, '--region', 'eu-west-2'], ctx)).toBe(78);
    expect(ctx.stderr.text).toMatch(/^dalston-aws: unknown instance id i-0123456789abcdef0/);
    expect(ctx.stderr.text.split('\n')).toHaveLength(2);
  });

  it('wait times out naming the phase and the unhealthy services of the last snapshot', async () => {
    const clock = new FakeClock(T0 + 60_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const objects = new FakeObjects({
      [SNAPSHOT_KEY]: () => snapshotAt(new Date(clock.now()).toISOString(), 'degraded'),
    });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', '--timeout', '2m', ...DEPLOY], ctx)).toBe(1);
    const last = ctx.stderr.text.trim().split('\n').at(-1);
    expect(last).toBe(
      'dalston-aws: timed out after 2m 00s waiting for a healthy stack (stack: degraded, services 3/4 up, ' +
        'waiting on: stt-batch-transcribe-whisper (unhealthy, circuit open)); unhealthy in the last snapshot: ' +
        'stt-batch-transcribe-whisper (unhealthy, circuit open)',
    );
    expect(clock.t - (T0 + 60_000)).toBe(120_000);
  });

  it('wait with no heartbeat ever → times out in the heartbeat phase', async () => {
    const clock = new FakeClock(T0 + 60_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const ctx = testContext({ clock, objects: () => new FakeObjects() });
    expect(await dalstonAwsMain(['wait', '--timeout', '30s', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toMatch(
      /timed out after 30s waiting for the agent heartbeat \(heartbeat: no heartbeat yet at s3:\/\/dalston-test-bucket\/status\/i-0123456789abcdef0\/latest.json\)\. Look at: /,
    );
    // Where to look, when no heartbeat ever came: the serial console, the bootstrap report, a shell.
    expect(ctx.stderr.text.trim().split('\n').at(-1)!.split('. Look at: ')[1]).toBe(
      'the boot log on the serial console: `aws ec2 get-console-output --region eu-west-2 ' +
        '--instance-id i-0123456789abcdef0 --latest --output text`; ' +
        "the bootstrap's progress or result: s3://dalston-test-bucket/status/i-0123456789abcdef0/bootstrap.json; " +
        'a shell on the host: `dalston-aws ssh --ssm`, then `sudo journalctl -b -u dalston-bootstrap`',
    );
  });

  it('up/wait show the bootstrap\u2019s progress while there is no heartbeat yet, then the heartbeat', async () => {
    const clock = new FakeClock(T0 + 60_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const BOOT_KEY = `status/${INSTANCE}/bootstrap.json`;
    const progress = (step: string, done: number) =>
      JSON.stringify(
        runningReport({
          version: '0.1.0',
          startedAt: '2026-11-28T06:00:40.000Z',
          now: new Date(clock.now()),
          dryRun: false,
          path: 'full',
          steps: [],
          current: { name: step, startedAt: new Date(clock.now()).toISOString() },
          stepsDone: done,
          stepsTotal: 14,
        }),
      );
    // Two progress reads (packages, then images), then the heartbeat of the started stack.
    const boots = [progress('packages', 4), progress('images', 8)];
    let b = 0;
    let s = 0;
    const objects = new FakeObjects({
      [BOOT_KEY]: () => boots[Math.min(b++, boots.length - 1)]!,
      [SNAPSHOT_KEY]: () => (s++ < 2 ? null : snapshotAt(new Date(clock.now()).toISOString())),
    });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stderr.text.split('\n')).toEqual([
      '[0:00] ✔ instance running (t3.xlarge)',
      '[0:00] heartbeat: waiting for the agent’s first snapshot since the start',
      '[0:00] heartbeat: bootstrap: step packages (5/14), 20s',
      '[0:10] heartbeat: bootstrap: step images (9/14), 30s',
      '[0:20] ✔ agent heartbeat (agent 0.1.0)',
      '[0:20] ✔ stack healthy: 4/4 services up',
      '',
    ]);
  });

  it('wait: a bootstrap stuck on a step is named on timeout, with where to look', async () => {
    const clock = new FakeClock(T0 + 60_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const objects = new FakeObjects({
      [`status/${INSTANCE}/bootstrap.json`]: JSON.stringify(
        runningReport({
          version: '0.1.0',
          startedAt: '2026-11-28T06:00:30.000Z',
          now: new Date(T0 + 50_000),
          dryRun: false,
          path: 'full',
          steps: [],
          current: { name: 'images', startedAt: '2026-11-28T06:00:50.000Z' },
          stepsDone: 8,
          stepsTotal: 14,
        }),
      ),
    });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['up', '--timeout', '3m', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text.trim().split('\n').at(-1)).toMatch(
      /^dalston-aws: timed out after 3m 00s waiting for the agent heartbeat \(heartbeat: bootstrap: step images \(9\/14\), 3m 30s\)\. Look at: the boot log on the serial console: `aws ec2 get-console-output --region eu-west-2 --instance-id i-0123456789abcdef0 --latest --output text`; the bootstrap's progress or result: s3:\/\/dalston-test-bucket\/status\/i-0123456789abcdef0\/bootstrap\.json; a shell on the host: `dalston-aws ssh --ssm`/,
    );
  });

  it('wait does not accept a stale snapshot even if it is newer than the start', async () => {
    const clock = new FakeClock(T0 + 3 * 3_600_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    // Healthy, taken an hour after the start, but two hours old now: the agent stopped reporting.
    const objects = new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T07:00:00.000Z') });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', '--timeout', '1m', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toMatch(
      /timed out after 1m 00s waiting for the agent heartbeat \(heartbeat: last heartbeat is stale \(2h 01m old\): agent not reporting\)\. Look at: .*get-console-output/,
    );
  });

  it('up: a `stopped` answer right after StartInstances is read as not-yet-pending', async () => {
    const clock = new FakeClock(T0);
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('stopped', new Date(T0 - 86_400_000)))
      .resolvesOnce(described('stopped', new Date(T0 - 86_400_000)))
      .resolves(described('running', new Date(T0 + 3_000)));
    ec2Mock
      .on(StartInstancesCommand)
      .resolves({ StartingInstances: [{ CurrentState: { Name: 'pending' } }] });
    const ctx = testContext({
      clock,
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:00:04.000Z') }),
    });
    expect(await dalstonAwsMain(['up', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stderr.text).toMatch(/instance: stopped → running/);
  });

  it('wait on a stopped instance says to run up, without polling', async () => {
    const clock = new FakeClock(T0);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('stopped'));
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['wait', ...DEPLOY], ctx)).toBe(1);
    expect(ctx.stderr.text).toBe(
      `dalston-aws: instance ${INSTANCE} is stopped: start it with \`dalston-aws up\`\n`,
    );
    expect(clock.sleeps).toEqual([]);
  });

  it('wait --check-gateway probes the gateway URL on the Tailscale host last', async () => {
    const clock = new FakeClock(T0 + 60_000);
    ec2Mock.on(DescribeInstancesCommand).resolves(described('running'));
    const probed: string[] = [];
    const ctx = testContext({
      clock,
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:00:50.000Z') }),
      gateway: {
        check: async (url) => {
          probed.push(url);
          return probed.length < 3 ? { ok: false, detail: 'ECONNREFUSED' } : { ok: true, detail: 'HTTP 200' };
        },
      },
    });
    expect(
      await dalstonAwsMain(['wait', '--check-gateway', '--host', 'dalston.tail1234.ts.net', ...DEPLOY], ctx),
    ).toBe(0);
    expect(probed).toEqual(Array(3).fill('http://dalston.tail1234.ts.net:8000/health'));
    expect(ctx.stderr.text).toMatch(/gateway: http:\/\/dalston.tail1234.ts.net:8000\/health: ECONNREFUSED\n/);
    expect(ctx.stderr.text).toMatch(/✔ gateway answers at/);
  });

  it('TTY progress uses a rewritten spinner line', async () => {
    const clock = new FakeClock(T0);
    ec2Mock.on(DescribeInstancesCommand).resolvesOnce(described('pending')).resolves(described('running'));
    const ctx = testContext({
      clock,
      stderr: new Capture(true),
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:00:50.000Z') }),
    });
    expect(await dalstonAwsMain(['wait', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stderr.text).toContain('\r\x1b[2K⠋ instance: pending → running');
    expect(ctx.stderr.text).toContain('\x1b[32m✔\x1b[39m instance running (t3.xlarge)');
  });

  it('rejects a bad --timeout with exit 2 and the command usage', async () => {
    const ctx = testContext({ clock: new FakeClock(T0) });
    expect(await dalstonAwsMain(['wait', '--timeout', 'soon', ...DEPLOY], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(/^dalston-aws: --timeout "soon" is not a duration/);
    expect(ctx.stderr.text).toMatch(/Usage: dalston-aws wait/);
  });
});

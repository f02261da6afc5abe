import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { bootstrapView, describeRunning, nextSteps } from '../../../cli/bootstrap-view.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { type BootstrapReport, runningReport } from '../../../shared/status/bootstrap-report.ts';
import {
  Capture,
  DEPLOY,
  describedInstance,
  FakeClock,
  FakeObjects,
  fixtureSnapshot,
  fixtureText,
  INSTANCE,
  SNAPSHOT_KEY,
  testContext,
} from './helpers.ts';

const ec2Mock = mockClient(EC2Client);
const LAUNCH = Date.parse('2026-11-28T06:00:00.000Z');
const BOOT_KEY = `status/${INSTANCE}/bootstrap.json`;

const described = (state = 'running') =>
  describedInstance(state, {
    LaunchTime: new Date(LAUNCH),
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0aaaaaaaaaaaaaaaa' } }],
    Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
  });

const step = (name: string, result: BootstrapReport['steps'][number]['result'], detail = '') => ({
  name,
  result,
  detail,
  durationMs: 10,
});

/** A first boot whose Tailscale step failed after the stack was started. */
const tailscaleFailed = (finishedAt = '2026-11-28T06:01:30.000Z'): BootstrapReport => ({
  version: '0.1.0',
  startedAt: '2026-11-28T06:00:40.000Z',
  finishedAt,
  ok: false,
  dryRun: false,
  exitCode: 1,
  path: 'full',
  instance: INSTANCE,
  steps: [
    step('config', 'unchanged'),
    step('units', 'done'),
    step('images', 'unchanged'),
    step('stack', 'done', 'dalston.service started'),
    step(
      'tailscale',
      'failed',
      'tailscale up failed (exit 1): backend error: invalid key: API key not valid',
    ),
  ],
});

/** A boot without its data volume: the stack could not be started. */
const diskFailed: BootstrapReport = {
  ...tailscaleFailed(),
  exitCode: 69,
  steps: [
    step('units', 'unchanged'),
    step('disk', 'failed', 'data volume not found: vol-0123 did not appear within 300 s'),
    step('mount', 'blocked', 'not run: it needs disk, which failed'),
    step('stack', 'blocked', 'not run: it needs dalston, which did not run'),
    step('tailscale', 'unchanged'),
  ],
};

const snapshotAt = (iso: string, state: 'healthy' | 'degraded' = 'healthy') =>
  JSON.stringify({
    ...fixtureSnapshot(state === 'healthy' ? 'snapshot-healthy.json' : 'snapshot-degraded.json'),
    state,
    generatedAt: iso,
  });

beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(DescribeInstancesCommand).resolves(described());
  ec2Mock.on(DescribeVolumesCommand).resolves({ Volumes: [] });
});

async function status(objects: Record<string, string | null>, opts: { json?: boolean; now?: number } = {}) {
  const ctx = testContext({
    clock: new FakeClock(opts.now ?? LAUNCH + 3 * 60_000),
    stdout: new Capture(false),
    objects: () => new FakeObjects(objects),
  });
  const code = await dalstonAwsMain(['status', ...DEPLOY, ...(opts.json ? ['--json'] : [])], ctx);
  return { code, out: ctx.stdout.text, err: ctx.stderr.text };
}

describe('dalston-aws status: the bootstrap result', () => {
  it('a failed step of this start: the step, its message, and what to do next', async () => {
    const r = await status({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:02:50.000Z'),
      [BOOT_KEY]: JSON.stringify(tailscaleFailed()),
    });
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const at = lines.findIndex((l) => l.startsWith('  bootstrap'));
    expect(lines.slice(at, at + 5)).toEqual([
      '  bootstrap  FAILED  at step tailscale, 2026-11-28 06:01:30 UTC (full run)',
      '             tailscale up failed (exit 1): backend error: invalid key: API key not valid',
      `  next       ${nextSteps('tailscale')[0]}`,
      `             ${nextSteps('tailscale')[1]}`,
      `             ${nextSteps('tailscale')[2]}`,
    ]);
    expect(nextSteps('tailscale')[0]).toMatch(
      /auth key in SSM .* expired .*the stack itself is not affected/,
    );
    expect(nextSteps('tailscale')[1]).toContain('dalston-aws ssh --ssm');
    expect(nextSteps('tailscale')[1]).toContain('journalctl -b -u dalston-bootstrap');
    expect(nextSteps('tailscale')[2]).toContain('sudo dalston-host bootstrap');
  });

  it('a bootstrap still running (no heartbeat yet): its current step, not a result', async () => {
    const running = runningReport({
      version: '0.1.0',
      startedAt: '2026-11-28T06:00:40.000Z',
      now: new Date('2026-11-28T06:02:40.000Z'),
      dryRun: false,
      path: 'full',
      steps: [step('config', 'unchanged')],
      current: { name: 'images', startedAt: '2026-11-28T06:01:40.000Z' },
      stepsDone: 8,
      stepsTotal: 14,
    });
    const r = await status({ [BOOT_KEY]: JSON.stringify(running) });
    const line = r.out.split('\n').find((l) => l.startsWith('  bootstrap'));
    expect(line).toBe('  bootstrap  running  step images (9/14), started 2026-11-28 06:00:40 UTC');
    const v = bootstrapView(
      { kind: 'ok', report: running, key: BOOT_KEY },
      `s3://b/${BOOT_KEY}`,
      new Date(LAUNCH),
    );
    expect(v).toMatchObject({ status: 'running', current: true, failedStep: null, next: [] });
    expect(describeRunning(v, Date.parse('2026-11-28T06:03:50.000Z'))).toBe(
      'bootstrap: step images (9/14), 3m 10s',
    );
    const between = bootstrapView(
      { kind: 'ok', report: { ...running, currentStep: undefined, stepsDone: 9 }, key: BOOT_KEY },
      '',
      new Date(LAUNCH),
    );
    expect(describeRunning(between, Date.parse('2026-11-28T06:00:45.000Z'))).toBe(
      'bootstrap: between steps (9/14), 5s',
    );
    // A finished result is not described as running.
    const done = bootstrapView(
      { kind: 'ok', report: tailscaleFailed(), key: BOOT_KEY },
      '',
      new Date(LAUNCH),
    );
    expect(describeRunning(done, LAUNCH)).toBeNull();
  });

  it('--json carries it for scripts', async () => {
    const r = await status(
      { [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:02:50.000Z'), [BOOT_KEY]: JSON.stringify(diskFailed) },
      { json: true },
    );
    expect(JSON.parse(r.out).bootstrap).toEqual({
      status: 'failed',
      location: `s3://dalston-test-bucket/${BOOT_KEY}`,
      current: true,
      finishedAt: '2026-11-28T06:01:30.000Z',
      path: 'full',
      failedStep: 'disk',
      message: 'data volume not found: vol-0123 did not appear within 300 s',
      blocked: ['mount', 'stack'],
      stackStarted: false,
      next: nextSteps('disk'),
      problem: null,
      running: null,
    });
  });

  it('a result from before this start is shown as such, without advice; a success in one line', async () => {
    const old = await status({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:02:50.000Z'),
      [BOOT_KEY]: JSON.stringify(tailscaleFailed('2026-11-27T22:00:00.000Z')),
    });
    expect(old.out).toContain(
      '  bootstrap  none since this start (before it: failed at step tailscale, 2026-11-27 22:00:00 UTC)',
    );
    expect(old.out).not.toContain('next');
    const ok = await status({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:02:50.000Z'),
      [BOOT_KEY]: JSON.stringify({ ...tailscaleFailed(), ok: true, exitCode: 0, path: 'quick', steps: [] }),
    });
    expect(ok.out).toContain('  bootstrap  ok  quick run, 2026-11-28 06:01:30 UTC\n');
  });

  it('nothing from the host at all: points at the serial console', async () => {
    const r = await status({});
    expect(r.out).toContain(`  bootstrap  none yet  no result at s3://dalston-test-bucket/${BOOT_KEY}`);
    expect(r.out).toContain(
      `  next       no bootstrap result either; the first-boot script's output is on the serial console: aws ec2 get-console-output --region eu-west-2 --instance-id ${INSTANCE} --latest --output text`,
    );
  });

  it('an unreadable result is said, and the rest of the screen is unchanged', async () => {
    const r = await status({ [SNAPSHOT_KEY]: fixtureText('snapshot-degraded.json'), [BOOT_KEY]: '{"ok":' });
    expect(r.out).toMatch(/ {2}bootstrap {2}unreadable {2}s3:\/\/\S+bootstrap\.json is malformed: not JSON/);
    // The exit code and stderr are the degraded stack's alone.
    expect(r.code).toBe(1);
    expect(r.err).toBe('dalston-aws: the stack is degraded (not healthy)\n');
  });

  it("bootstrapView: a report is this start's when it finished at or after the launch time", () => {
    const read = { kind: 'ok' as const, report: tailscaleFailed(), key: BOOT_KEY };
    expect(bootstrapView(read, 'loc', new Date('2026-11-28T06:01:30.000Z')).current).toBe(true);
    expect(bootstrapView(read, 'loc', new Date('2026-11-28T06:01:31.000Z')).current).toBe(false);
    expect(bootstrapView(read, 'loc', null).current).toBe(true);
    expect(bootstrapView(read, 'loc', null).stackStarted).toBe(true);
    expect(bootstrapView({ kind: 'ok', report: diskFailed, key: BOOT_KEY }, 'loc', null).stackStarted).toBe(
      false,
    );
  });
});

describe('dalston-aws wait / up: the bootstrap result', () => {
  it('healthy although Tailscale failed: shows the failure with its advice, exits 0, warns last', async () => {
    const clock = new FakeClock(LAUNCH + 60_000);
    const answers = [
      null,
      snapshotAt('2026-11-28T06:01:40.000Z', 'degraded'),
      snapshotAt('2026-11-28T06:01:50.000Z'),
    ];
    let n = 0;
    const objects = new FakeObjects({
      [SNAPSHOT_KEY]: () => answers[Math.min(n++, answers.length - 1)] ?? null,
      [BOOT_KEY]: JSON.stringify(tailscaleFailed()),
    });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', ...DEPLOY], ctx)).toBe(0);
    const err = ctx.stderr.text.split('\n');
    expect(err.filter((l) => l.includes('bootstrap failed'))).toHaveLength(2);
    expect(err).toContain(
      '[0:00] ✘ bootstrap failed at step tailscale: tailscale up failed (exit 1): backend error: invalid key: API key not valid',
    );
    expect(err).toContain(`[0:00]   next: ${nextSteps('tailscale')[0]}`);
    expect(err.at(-2)).toBe(
      `dalston-aws: warning: the stack is healthy, but this start's bootstrap failed at step tailscale: tailscale up failed (exit 1): backend error: invalid key: API key not valid; next: ${nextSteps('tailscale')[0]}`,
    );
    expect(ctx.stdout.text).toBe(`dalston is healthy on ${INSTANCE}\n`);
  });

  it('healthy at the first look: the failure is still said', async () => {
    const objects = new FakeObjects({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:01:50.000Z'),
      [BOOT_KEY]: JSON.stringify(tailscaleFailed()),
    });
    const ctx = testContext({ clock: new FakeClock(LAUNCH + 120_000), objects: () => objects });
    expect(await dalstonAwsMain(['up', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stderr.text).toContain('✘ bootstrap failed at step tailscale');
    expect(ctx.stderr.text.trim().split('\n').at(-1)).toMatch(
      /^dalston-aws: warning: the stack is healthy, but/,
    );
  });

  it('a failure that left the stack unstarted ends the wait after a grace, naming step, message and next steps', async () => {
    const clock = new FakeClock(LAUNCH + 60_000);
    const objects = new FakeObjects({ [SNAPSHOT_KEY]: null, [BOOT_KEY]: JSON.stringify(diskFailed) });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', ...DEPLOY, '--timeout', '10m'], ctx)).toBe(1);
    const last = ctx.stderr.text.trim().split('\n').at(-1)!;
    expect(last).toBe(
      `dalston-aws: bootstrap failed at step disk: data volume not found: vol-0123 did not appear within 300 s (not run because of it: mount, stack); the stack was not started, so no heartbeat is coming. Next: ${nextSteps('disk').join('; ')}`,
    );
    // After the 60 s grace, long before the 10 min timeout.
    expect(clock.now() - (LAUNCH + 60_000)).toBeLessThanOrEqual(70_000);
  });

  it("a timeout names the bootstrap failure too; an old failure is not this start's", async () => {
    const clock = new FakeClock(LAUNCH + 60_000);
    const objects = new FakeObjects({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:01:40.000Z', 'degraded'),
      [BOOT_KEY]: JSON.stringify(tailscaleFailed()),
    });
    const ctx = testContext({ clock, objects: () => objects });
    expect(await dalstonAwsMain(['wait', ...DEPLOY, '--timeout', '30s'], ctx)).toBe(1);
    expect(ctx.stderr.text.trim().split('\n').at(-1)).toMatch(
      /^dalston-aws: timed out after 30s waiting for a healthy stack .*; bootstrap failed at step tailscale: tailscale up failed/,
    );

    const old = new FakeObjects({
      [SNAPSHOT_KEY]: snapshotAt('2026-11-28T06:01:40.000Z'),
      [BOOT_KEY]: JSON.stringify(tailscaleFailed('2026-11-27T22:00:00.000Z')),
    });
    const ctx2 = testContext({ clock: new FakeClock(LAUNCH + 60_000), objects: () => old });
    expect(await dalstonAwsMain(['wait', ...DEPLOY], ctx2)).toBe(0);
    expect(ctx2.stderr.text).not.toContain('bootstrap failed');
  });
});

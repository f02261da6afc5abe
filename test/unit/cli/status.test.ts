import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { HostError } from '../../../shared/errors.ts';
import {
  Capture,
  DEPLOY,
  describedInstance,
  FakeClock,
  FakeObjects,
  fixtureText,
  SNAPSHOT_KEY,
  testContext,
} from './helpers.ts';

const ec2Mock = mockClient(EC2Client);
// Frozen clock: two minutes after the fixture snapshot's generatedAt (06:10:00Z).
const NOW = Date.parse('2026-11-28T06:12:00.000Z');

function mockRunningInstance(state = 'running') {
  ec2Mock.on(DescribeInstancesCommand).resolves(
    describedInstance(state, {
      LaunchTime: new Date('2026-11-28T04:00:00.000Z'),
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0root0000000000a' } },
        { DeviceName: '/dev/sdf', Ebs: { VolumeId: 'vol-0data0000000000b' } },
      ],
      Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
    }),
  );
  ec2Mock.on(DescribeVolumesCommand).resolves({
    Volumes: [
      { VolumeId: 'vol-0root0000000000a', Size: 30, VolumeType: 'gp3', Iops: 3000, Throughput: 125 },
      { VolumeId: 'vol-0data0000000000b', Size: 100, VolumeType: 'gp3', Iops: 3000, Throughput: 125 },
    ],
  });
}

async function runStatus(
  snapshot: string | null,
  opts: { tty?: boolean; json?: boolean; now?: number } = {},
) {
  const ctx = testContext({
    clock: new FakeClock(opts.now ?? NOW),
    stdout: new Capture(opts.tty ?? false),
    objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshot }),
  });
  const code = await dalstonAwsMain(['status', ...DEPLOY, ...(opts.json ? ['--json'] : [])], ctx);
  return { code, out: ctx.stdout.text, err: ctx.stderr.text };
}

beforeEach(() => {
  ec2Mock.reset();
  mockRunningInstance();
});

describe('dalston-aws status against fixtures (frozen clock)', () => {
  it('plain text (not a TTY): no escape codes', async () => {
    const r = await runStatus(fixtureText('snapshot-degraded.json'));
    // Degraded: the screen, then the same exit code as `dalston-host status` gives on the host.
    expect(r.err).toBe('dalston-aws: the stack is degraded (not healthy)\n');
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('\x1b');
    expect(r.out).toBe(fixtureText('status-degraded.txt'));
  });

  it('on a TTY: the same screen with colours', async () => {
    const r = await runStatus(fixtureText('snapshot-degraded.json'), { tty: true });
    expect(r.code).toBe(1);
    expect(r.out).toBe(fixtureText('status-degraded.tty.txt'));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI colours on purpose
    expect(r.out.replace(/\x1b\[\d+m/g, '')).toBe(fixtureText('status-degraded.txt'));
  });

  it('--json prints one object for scripts', async () => {
    const r = await runStatus(fixtureText('snapshot-degraded.json'), { json: true });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(fixtureText('status-degraded.json')));
  });

  it('a snapshot older than two heartbeat intervals is shown as stale, never as current', async () => {
    // 10 min 01 s after generatedAt with a 300 s heartbeat: stale.
    const now = Date.parse('2026-11-28T06:20:01.000Z');
    const r = await runStatus(fixtureText('snapshot-healthy.json'), { now });
    expect(r.code).toBe(1);
    expect(r.out).toBe(fixtureText('status-stale.txt'));
    expect(r.out).not.toMatch(/stack\s+healthy/);
    const j = JSON.parse((await runStatus(fixtureText('snapshot-healthy.json'), { now, json: true })).out);
    expect(j.heartbeat).toMatchObject({ status: 'stale', ageSeconds: 601, staleAfterSeconds: 600 });
    expect(j.stack).toMatchObject({ current: false, state: 'healthy' });
    // Exactly two intervals old is still fresh.
    const edge = JSON.parse(
      (await runStatus(fixtureText('snapshot-healthy.json'), { now: now - 1000, json: true })).out,
    );
    expect(edge.heartbeat.status).toBe('fresh');
  });

  it('no heartbeat yet: instance and cost shown, heartbeat says none yet, exit 0', async () => {
    const r = await runStatus(null);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /heartbeat +none yet {2}no snapshot at s3:\/\/dalston-test-bucket\/status\/i-0123456789abcdef0\/latest.json\n/,
    );
    const j = JSON.parse((await runStatus(null, { json: true })).out);
    expect(j.heartbeat).toMatchObject({
      status: 'missing',
      at: null,
      problem: expect.stringMatching(/^no heartbeat yet/),
    });
    expect(j.services).toEqual([]);
  });

  it('malformed snapshot: clear one-line error on stderr, exit 1, no crash', async () => {
    const r = await runStatus('{"state": "healthy", ');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/heartbeat +unreadable {2}snapshot at s3:\/\/.* is malformed: not JSON/);
    expect(r.err).toMatch(
      /^dalston-aws: snapshot at s3:\/\/dalston-test-bucket\/.* is malformed: not JSON \(.*\)\n$/,
    );

    const wrong = await runStatus(
      JSON.stringify({ ...JSON.parse(fixtureText('snapshot-healthy.json')), services: 'all good' }),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/is malformed: wrong shape at services: /);
  });

  it('an unreadable bucket is reported after the screen with its own exit code', async () => {
    const ctx = testContext({
      clock: new FakeClock(NOW),
      objects: () => {
        const missing = async (): Promise<never> => {
          throw new HostError(
            'config',
            'bucket missing: dalston-test-bucket does not exist (check --bucket / DALSTON_BUCKET)',
          );
        };
        return {
          getText: missing,
          list: missing,
          metadata: missing,
          putText: missing,
          delete: missing,
          getVersioned: missing,
          headVersion: missing,
          putTextIfMatch: missing,
        };
      },
    });
    expect(await dalstonAwsMain(['status', ...DEPLOY], ctx)).toBe(78);
    expect(ctx.stdout.text).toMatch(/instance +running/);
    expect(ctx.stderr.text).toBe(
      'dalston-aws: bucket missing: dalston-test-bucket does not exist (check --bucket / DALSTON_BUCKET)\n',
    );
  });

  it('DescribeVolumes denied: cost shows compute only as unknown, with the reason', async () => {
    ec2Mock.on(DescribeVolumesCommand).rejects(
      new EC2ServiceException({
        name: 'UnauthorizedOperation',
        message: 'no',
        $fault: 'client',
        $metadata: {},
      }),
    );
    const j = JSON.parse((await runStatus(fixtureText('snapshot-healthy.json'), { json: true })).out);
    expect(j.cost.monthlyRunningUsd).toBeNull();
    expect(j.cost.hourlyUsd).toBe(0.1664);
    expect(j.cost.notes[0]).toMatch(/^volume sizes unknown: access denied: ec2:DescribeVolumes/);
  });

  it('a stopped instance has no uptime and a storage-only cost', async () => {
    ec2Mock.reset();
    mockRunningInstance('stopped');
    const j = JSON.parse(
      (await runStatus(fixtureText('snapshot-healthy.json'), { json: true, now: NOW + 86_400_000 })).out,
    );
    expect(j.instance).toMatchObject({ state: 'stopped', uptimeSeconds: null });
    expect(j.cost.monthlyStoppedUsd).toBe(10.4);
    expect(j.heartbeat.status).toBe('stopped');
  });
});

describe('dalston-aws status: the last backup', () => {
  const withBackup = (backup: unknown) => {
    const snap = JSON.parse(fixtureText('snapshot-healthy.json'));
    return JSON.stringify({ ...snap, backup });
  };
  const ok = {
    at: '2026-11-27T04:16:00.000Z',
    key: 'backups/postgres/20261127T041500.000Z.dump',
    sizeBytes: 3 * 1024 * 1024,
    sha256: 'f'.repeat(64),
    alembicRevision: '0008_add_task_ready_at',
    durationSeconds: 40,
  };
  const state = { lastRun: null, lastSuccess: ok, failuresTotal: 0, consecutiveFailures: 0, problem: null };

  it('shows its time, age, size and revision; warns once it is older than 26 h', async () => {
    const fresh = await runStatus(withBackup(state));
    expect(fresh.out).toMatch(
      /backup +ok {2}last .*\(25h 56m ago\) {2}3\.0 MiB {2}revision 0008_add_task_ready_at/,
    );
    const later = await runStatus(withBackup(state), { now: Date.parse('2026-11-28T06:17:00.000Z') });
    expect(later.out).toMatch(/backup +OVERDUE {2}last .*older than 26h/);
  });

  it('a failed last run is shown with its reason; an agent from before backups shows no row', async () => {
    const failed = await runStatus(
      withBackup({
        ...state,
        consecutiveFailures: 2,
        lastRun: {
          startedAt: '2026-11-28T04:15:00.000Z',
          finishedAt: '2026-11-28T04:16:00.000Z',
          result: 'failure',
          trigger: 'timer',
          key: null,
          sizeBytes: null,
          durationSeconds: null,
          error: 'S3 unreachable',
        },
      }),
    );
    expect(failed.out).toMatch(/backup +FAILED .*\(2 in a row\): S3 unreachable/);
    const snap = JSON.parse(fixtureText('snapshot-healthy.json'));
    delete snap.backup;
    expect((await runStatus(JSON.stringify(snap))).out).not.toMatch(/^\s*backup/m);
  });
});

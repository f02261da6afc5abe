import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { STACK_STATES, type StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { DEPLOY, FakeClock, FakeObjects, fixtureSnapshot, SNAPSHOT_KEY, testContext } from './helpers.ts';

// The same table test/integration/host-cli/status-command.test.ts holds `dalston-host status` to.
const EXPECTED: Record<StatusSnapshot['state'], number> = {
  healthy: 0,
  starting: 1,
  degraded: 1,
  stopping: 1,
};

const ec2Mock = mockClient(EC2Client);
const NOW = Date.parse('2026-12-01T11:00:00.000Z');

function mockInstance(state: string) {
  ec2Mock.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0123456789abcdef0',
            InstanceType: 't3.xlarge',
            State: { Name: state as 'running' },
            LaunchTime: new Date('2026-12-01T08:00:00.000Z'),
            BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0root0000000000a' } }],
          },
        ],
      },
    ],
  });
  ec2Mock.on(DescribeVolumesCommand).resolves({
    Volumes: [{ VolumeId: 'vol-0root0000000000a', Size: 30, VolumeType: 'gp3' }],
  });
}

async function status(snapshot: Partial<StatusSnapshot> | null) {
  const body =
    snapshot === null
      ? null
      : JSON.stringify({
          ...fixtureSnapshot('snapshot-healthy.json'),
          generatedAt: '2026-12-01T10:59:00.000Z',
          ...snapshot,
        });
  const ctx = testContext({
    clock: new FakeClock(NOW),
    objects: () => new FakeObjects({ [SNAPSHOT_KEY]: body }),
  });
  const code = await dalstonAwsMain(['status', ...DEPLOY], ctx);
  return { code, out: ctx.stdout.text, err: ctx.stderr.text };
}

beforeEach(() => ec2Mock.reset());

describe('dalston-aws status exit code: the same as dalston-host status for the same stack state', () => {
  for (const state of STACK_STATES) {
    it(`a fresh heartbeat saying ${state} → exit ${EXPECTED[state]}`, async () => {
      mockInstance('running');
      const r = await status({ state });
      expect(r.code).toBe(EXPECTED[state]);
      // The screen is shown either way; a failing code says why on stderr, one line.
      expect(r.out).toMatch(/heartbeat +fresh/);
      if (EXPECTED[state] !== 0) expect(r.err).toBe(`dalston-aws: the stack is ${state} (not healthy)\n`);
      else expect(r.err).toBe('');
    });
  }

  it('a stale heartbeat of a running instance → exit 1: the agent is silent, nothing is known healthy', async () => {
    mockInstance('running');
    const r = await status({ generatedAt: '2026-12-01T10:40:00.000Z' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^dalston-aws: the last heartbeat is 20m 00s old .*not current/);
  });

  for (const ec2State of ['stopped', 'stopping']) {
    it(`a ${ec2State} instance → exit 0 and the young heartbeat shown as history, never current`, async () => {
      mockInstance(ec2State);
      const r = await status({ state: 'healthy', generatedAt: '2026-12-01T10:58:00.000Z' });
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toMatch(/heartbeat +last {2}2m 00s ago .*from before the stop — not current/);
      expect(r.out).not.toMatch(/fresh|SERVICE|running {2}healthy/);
    });
  }

  it('no heartbeat yet → exit 0 (a host that is still booting is not failing)', async () => {
    mockInstance('running');
    expect((await status(null)).code).toBe(0);
  });
});

import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { createProgress, fitLine } from '../../../cli/render/progress.ts';
import {
  Capture,
  DEPLOY,
  FakeClock,
  FakeObjects,
  fixtureText,
  SNAPSHOT_KEY,
  testContext,
} from './helpers.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for escape codes on purpose
const SGR = /\x1b\[\d+m/;

/** A terminal of a given width, as process.stderr is on a TTY. */
class Terminal extends Capture {
  constructor(public columns: number | undefined) {
    super(true);
  }
}

const ec2Mock = mockClient(EC2Client);
beforeEach(() => {
  ec2Mock.reset();
  ec2Mock.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0123456789abcdef0',
            InstanceType: 't3.xlarge',
            State: { Name: 'running' },
            LaunchTime: new Date('2026-11-28T04:00:00.000Z'),
            BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-0root0000000000a' } }],
          },
        ],
      },
    ],
  });
  ec2Mock.on(DescribeVolumesCommand).resolves({ Volumes: [{ VolumeId: 'vol-0root0000000000a', Size: 30 }] });
});

describe('NO_COLOR and non-TTY output', () => {
  const statusOn = async (tty: boolean, env: Record<string, string>) => {
    const ctx = testContext({
      clock: new FakeClock(Date.parse('2026-11-28T06:12:00.000Z')),
      stdout: new Capture(tty),
      env,
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: fixtureText('snapshot-degraded.json') }),
    });
    await dalstonAwsMain(['status', ...DEPLOY], ctx);
    return ctx.stdout.text;
  };

  it('status: colours on a terminal, none with NO_COLOR set, none when piped', async () => {
    expect(await statusOn(true, {})).toMatch(SGR);
    expect(await statusOn(true, { NO_COLOR: '1' })).not.toMatch(SGR);
    expect(await statusOn(false, {})).not.toMatch(SGR);
    // The same screen either way, only without colours.
    expect(await statusOn(true, { NO_COLOR: '1' })).toBe(await statusOn(false, {}));
    // no-color.org: an empty NO_COLOR does not count.
    expect(await statusOn(true, { NO_COLOR: '' })).toMatch(SGR);
  });

  it('progress: a live line on a terminal; plain lines when piped; no colour with NO_COLOR', () => {
    const clock = new FakeClock(0);
    const tty = new Terminal(80);
    const live = createProgress(tty, clock, {});
    live.update('instance', 'pending');
    live.done('instance running');
    expect(tty.text).toContain('\r');
    expect(tty.text).toMatch(SGR);

    const noColour = new Terminal(80);
    const p = createProgress(noColour, clock, { NO_COLOR: '1' });
    p.update('instance', 'pending');
    p.done('instance running');
    p.stop();
    expect(noColour.text).not.toMatch(SGR);
    expect(noColour.text).toContain('✔ instance running');

    const piped = new Capture(false);
    const q = createProgress(piped, clock, {});
    q.update('instance', 'pending');
    q.done('instance running');
    expect(piped.text).toBe('[0:00] instance: pending\n[0:00] ✔ instance running\n');
  });
});

describe('the live line never wraps (a wrapped line cannot be rewritten in place)', () => {
  const visible = (s: string) =>
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping escape codes on purpose
    s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');

  it('fitLine: cuts below the width (never the last column) with an ellipsis, counting characters', () => {
    expect(fitLine('short', 40)).toBe('short');
    expect(fitLine('stack healthy: 4/6 services up, waiting for gateway', 20)).toBe('stack healthy: 4/6…');
    expect([...fitLine('⠋ déjà vu ✔ ünïcödé and more text here', 12)]).toHaveLength(11);
    expect(fitLine('anything', undefined)).toBe('anything');
    expect(fitLine('anything', 1)).toBe('…');
  });

  for (const columns of [20, 40, 80]) {
    it(`every rewrite of the live line fits ${columns} columns`, () => {
      const out = new Terminal(columns);
      const p = createProgress(out, new FakeClock(0), {});
      p.update('stack', `waiting for the first heartbeat since the start: ${'x'.repeat(200)}`);
      p.update(
        'stack',
        'degraded: gateway unhealthy, stt-transcribe-faster-whisper starting (model download)',
      );
      p.stop();
      const rewrites = out.text.split('\r').filter((s) => visible(s) !== '');
      expect(rewrites.length).toBeGreaterThan(0);
      for (const r of rewrites) expect([...visible(r)].length).toBeLessThan(columns);
    });
  }
});

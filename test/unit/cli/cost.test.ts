import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { estimateMonthCost, monthBounds } from '../../../cli/cost-report.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { DEPLOY, describedInstance, FakeClock, FakeObjects, INSTANCE, testContext } from './helpers.ts';

const ec2Mock = mockClient(EC2Client);
const GP3_30 = [{ id: 'vol-1', sizeGiB: 30, type: 'gp3' }]; // $2.40/month
const DEC_11 = Date.parse('2026-12-11T00:00:00Z'); // 240 h into a 744 h month

describe('month cost arithmetic', () => {
  it('calendar hours of the month', () => {
    const h = (m: string) => (monthBounds(m).end - monthBounds(m).start) / 3_600_000;
    expect([h('2026-12'), h('2026-11'), h('2026-02'), h('2028-02')]).toEqual([744, 720, 672, 696]);
  });

  it('so far, projected and always on, from merged intervals (overlaps counted once)', () => {
    const r = estimateMonthCost({
      month: '2026-12',
      nowMs: DEC_11,
      instanceType: 't3.xlarge',
      volumes: GP3_30,
      running: {
        month: '2026-12',
        intervals: [
          { from: '2026-12-01T08:00:00Z', to: '2026-12-01T18:00:00Z' }, // 10 h
          { from: '2026-12-01T16:00:00Z', to: '2026-12-01T21:00:00Z' }, // +3 h beyond the overlap
        ],
      },
      runningSince: null,
    });
    expect(r.hoursInMonth).toBe(744);
    expect(r.elapsedHours).toBe(240);
    expect(r.storageMonthlyUsd).toBe(2.4);
    // 13 h × $0.1664 = $2.1632; storage 2.40 × 240/744 = $0.7742
    expect(r.soFar).toEqual({ runningHours: 13, computeUsd: 2.16, storageUsd: 0.77, totalUsd: 2.94 });
    // 13/240 × 744 = 40.3 h → $6.7059 + $2.40
    expect(r.projected).toEqual({ runningHours: 40.3, computeUsd: 6.71, storageUsd: 2.4, totalUsd: 9.11 });
    // 744 h × $0.1664 = $123.8016 + $2.40
    expect(r.alwaysOn).toEqual({ runningHours: 744, computeUsd: 123.8, storageUsd: 2.4, totalUsd: 126.2 });
  });

  it('the current run counts up to now, once, and nothing outside the month counts', () => {
    const r = estimateMonthCost({
      month: '2026-12',
      nowMs: DEC_11,
      instanceType: 't3.xlarge',
      volumes: GP3_30,
      running: {
        month: '2026-12',
        intervals: [
          { from: '2026-11-30T22:00:00Z', to: '2026-12-01T01:00:00Z' }, // 1 h in December
          { from: '2026-12-10T22:00:00Z', to: '2026-12-10T23:30:00Z' }, // the agent's last write
        ],
      },
      runningSince: Date.parse('2026-12-10T22:00:00Z'),
    });
    expect(r.soFar.runningHours).toBe(3); // 1 h + 22:00 → 24:00
    expect(r.assumptions).toContain('the current run counts up to now');
  });

  it('no record: zero running hours, storage only, and it says so', () => {
    const r = estimateMonthCost({
      month: '2026-12',
      nowMs: DEC_11,
      instanceType: 't3.xlarge',
      volumes: GP3_30,
      running: null,
      runningSince: null,
    });
    expect(r.soFar).toMatchObject({ runningHours: 0, computeUsd: 0, totalUsd: 0.77 });
    expect(r.projected.totalUsd).toBe(2.4);
    expect(r.assumptions.join('\n')).toMatch(/no running-hours record for 2026-12/);
  });

  it('a past month is complete: the projection equals what accrued', () => {
    const r = estimateMonthCost({
      month: '2026-11',
      nowMs: DEC_11,
      instanceType: 't3.xlarge',
      volumes: GP3_30,
      running: {
        month: '2026-11',
        intervals: [{ from: '2026-11-02T00:00:00Z', to: '2026-11-02T10:00:00Z' }],
      },
      runningSince: null,
    });
    expect(r.elapsedHours).toBe(720);
    expect(r.soFar).toEqual(r.projected);
    expect(r.soFar.totalUsd).toBe(4.06); // 10 × 0.1664 + 2.40
  });

  it('an unknown instance type leaves compute unknown rather than guessing', () => {
    const r = estimateMonthCost({
      month: '2026-12',
      nowMs: DEC_11,
      instanceType: 'x9.mega',
      volumes: GP3_30,
      running: null,
      runningSince: null,
    });
    expect(r.alwaysOn).toMatchObject({ computeUsd: null, totalUsd: null, storageUsd: 2.4 });
    expect(r.assumptions.join('\n')).toMatch(/x9\.mega is not in the price table/);
  });
});

describe('dalston-aws cost', () => {
  const KEY = `status/${INSTANCE}/running/2026-12.json`;
  beforeEach(() => {
    ec2Mock.reset();
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves(describedInstance('stopped', { BlockDeviceMappings: [{ Ebs: { VolumeId: 'vol-1' } }] }));
    ec2Mock
      .on(DescribeVolumesCommand)
      .resolves({ Volumes: [{ VolumeId: 'vol-1', Size: 30, VolumeType: 'gp3' }] });
  });

  it('reads the month record and prints so far, projected, always on and the stopped floor', async () => {
    const body = JSON.stringify({
      month: '2026-12',
      intervals: [{ from: '2026-12-01T08:00:00Z', to: '2026-12-01T21:00:00Z' }],
    });
    const ctx = testContext({
      clock: new FakeClock(DEC_11),
      objects: () => new FakeObjects({ [KEY]: body }),
    });
    expect(await dalstonAwsMain(['cost', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stdout.text).toMatch(/so far +\$2\.94 {2}13\.0 h running of 240\.0 h elapsed/);
    expect(ctx.stdout.text).toMatch(/always on +\$126\.20 {2}744 h running/);
    expect(ctx.stdout.text).toMatch(/stopped +\$2\.40 {2}storage only/);
    const json = testContext({
      clock: new FakeClock(DEC_11),
      objects: () => new FakeObjects({ [KEY]: body }),
    });
    expect(await dalstonAwsMain(['cost', '--json', ...DEPLOY], json)).toBe(0);
    expect(JSON.parse(json.stdout.text).projected.totalUsd).toBe(9.11);
  });

  it('a malformed record is a config error naming the object; a bad --month a usage error', async () => {
    const ctx = testContext({
      clock: new FakeClock(DEC_11),
      objects: () => new FakeObjects({ [KEY]: '{"month":"2026-12"}' }),
    });
    expect(await dalstonAwsMain(['cost', ...DEPLOY], ctx)).toBe(78);
    expect(ctx.stderr.text).toMatch(/running\/2026-12\.json has the wrong shape at intervals/);
    const bad = testContext({ clock: new FakeClock(DEC_11) });
    expect(await dalstonAwsMain(['cost', '--month', '2026-13', ...DEPLOY], bad)).toBe(2);
    expect(bad.stderr.text).toMatch(/--month "2026-13" is not a month/);
  });
});

import { createHash } from 'node:crypto';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ObjectVersion } from '../../../cli/aws/snapshots.ts';
import {
  checkImageTag,
  checkRef,
  driftWarning,
  editDesiredState,
  listDiff,
  parseServicesFlag,
  pinWarnings,
} from '../../../cli/desired-edit.ts';
import { publishDesiredState, readDesiredState, sameVersion } from '../../../cli/desired-object.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { convergenceReport, judgeRollout, renderVersions, versionDiffs } from '../../../cli/rollout.ts';
import type { ConvergenceStatus } from '../../../shared/desired/convergence-status.ts';
import { DESIRED_STATE_KEY, parseDesiredState } from '../../../shared/desired/desired-state.ts';
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
const NOW = Date.parse('2026-11-28T06:12:00.000Z');
const BUCKET = 'dalston-test-bucket';

const DOC = {
  schemaVersion: 1,
  release: { version: '0.2.0', key: 'releases/dalston-host-0.2.0.tgz', sha256: 'a'.repeat(64) },
  host: {
    dataDir: '/data',
    dalston: { ref: 'v1.2.3', imageTag: '1.2.3' },
    compose: { services: ['gateway', 'orchestrator', 'redis'] },
  },
  publishedBy: 'terraform',
};
const DOC_TEXT = JSON.stringify(DOC);

const V_OLD = {
  release: '0.2.0',
  dalstonRef: 'v1.2.3',
  imageTag: '1.2.3',
  services: ['gateway', 'orchestrator', 'redis'],
};
const V_NEW = { ...V_OLD, dalstonRef: 'v1.3.0', imageTag: '1.3.0' };

function convergence(over: Partial<ConvergenceStatus> = {}): ConvergenceStatus {
  return {
    state: 'converged',
    running: V_OLD,
    desired: V_OLD,
    desiredVersion: '"etag-1"',
    checkedAt: '2026-11-28T06:11:30.000Z',
    step: null,
    summary: 'converged',
    lastResult: null,
    problem: null,
    ...over,
  };
}

function snapshotWith(c: ConvergenceStatus | undefined, generatedAt = new Date(NOW - 10_000).toISOString()) {
  const base = fixtureSnapshot('snapshot-healthy.json') as StatusSnapshot;
  const { convergence: _drop, ...rest } = base;
  return JSON.stringify({ ...rest, instance: INSTANCE, generatedAt, ...(c ? { convergence: c } : {}) });
}

const ok = (c: ConvergenceStatus | undefined) =>
  ({ kind: 'ok', key: SNAPSHOT_KEY, snapshot: JSON.parse(snapshotWith(c)) }) as const;
const PUBLISHED: ObjectVersion = { etag: '"etag-2"', versionId: null };

describe('pins are checked before anything is published', () => {
  it('image tags: only latest and X.Y.Z, the flag named', () => {
    expect(checkImageTag('1.3.0')).toBe('1.3.0');
    expect(checkImageTag('latest')).toBe('latest');
    expect(() => checkImageTag('v1.3.0')).toThrow(/--image-tag "v1.3.0" .*no "v": 1.3.0/);
    for (const bad of ['1.3', 'main', '1.3.0-rc1', 'sha-abc', ''])
      expect(() => checkImageTag(bad)).toThrow(/^--image-tag ".*" is not a tag Dalston publishes/);
  });

  it('refs: tags and commits pass; spaces, leading dash, .. are refused', () => {
    expect(checkRef('v1.3.0')).toBe('v1.3.0');
    expect(checkRef('0123abc')).toBe('0123abc');
    for (const bad of ['v1 3', '-x', 'a..b', 'a:b', ''])
      expect(() => checkRef(bad)).toThrow(/^--ref ".*" is not a git tag/);
  });

  it('services: trimmed, each once; empty or odd names refused', () => {
    expect(parseServicesFlag(' gateway, redis,gateway ')).toEqual(['gateway', 'redis']);
    expect(() => parseServicesFlag(' , ')).toThrow(/--services needs at least one/);
    expect(() => parseServicesFlag('gate way')).toThrow(/--services: "gate way"/);
  });

  it('warnings: latest is not a pin; ref and tag of different versions', () => {
    expect(pinWarnings({ imageTag: 'latest' })).toEqual([expect.stringMatching(/latest is not a pin/)]);
    expect(pinWarnings({ ref: 'v1.3.0', imageTag: '1.2.0' })).toEqual([
      '--ref v1.3.0 and --image-tag 1.2.0 name different Dalston versions',
    ]);
    expect(pinWarnings({ ref: 'v1.3.0', imageTag: '1.3.0' })).toEqual([]);
    expect(driftWarning({ ref: 'v1', imageTag: '1.0.0' })).toMatch(
      /next `terraform apply` publishes dalston_ref, dalston_image_tag from Terraform again/,
    );
  });

  it('a bad tag through the command: exit 2 and no S3 read at all', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    const ctx = testContext({ clock: new FakeClock(NOW), objects: () => objects });
    expect(await dalstonAwsMain(['deploy', ...DEPLOY, '--image-tag', 'main'], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(/^dalston-aws: --image-tag "main" is not a tag Dalston publishes/);
    expect(objects.reads).toBe(0);
    const poll = testContext({ clock: new FakeClock(NOW), objects: () => objects });
    expect(await dalstonAwsMain(['deploy', ...DEPLOY, '--poll', 'often'], poll)).toBe(2);
    expect(poll.stderr.text).toMatch(/^dalston-aws: --poll "often" is not a duration/);
    expect(objects.reads).toBe(0);
  });
});

describe('the edit of the desired state', () => {
  const parsed = parseDesiredState(DOC_TEXT);
  if (parsed.kind !== 'ok') throw new Error(parsed.reason);
  const doc = parsed.state.document;

  it('changes only the pinned values, stamps who and when, and stays valid', () => {
    const r = editDesiredState(doc, { ref: 'v1.3.0', imageTag: '1.3.0' }, new Date(NOW));
    expect(r.kind).toBe('edited');
    if (r.kind !== 'edited') return;
    expect(r.changes).toEqual(['dalston ref v1.2.3 → v1.3.0', 'image tag 1.2.3 → 1.3.0']);
    const written = JSON.parse(r.body);
    expect(written).toEqual({
      ...DOC,
      host: { ...DOC.host, dalston: { ref: 'v1.3.0', imageTag: '1.3.0' } },
      publishedBy: 'dalston-aws deploy',
      publishedAt: '2026-11-28T06:12:00.000Z',
    });
    // Defaults the schema fills in are not written into Terraform's document.
    expect(written.host.compose).toEqual({ services: ['gateway', 'orchestrator', 'redis'] });
    expect(parseDesiredState(r.body).kind).toBe('ok');
    expect(r.state.host.dalston.imageTag).toBe('1.3.0');
  });

  it('services replaced; the same values are no change', () => {
    const r = editDesiredState(doc, { services: ['gateway', 'redis', 'stt'] }, new Date(NOW));
    expect(r.kind === 'edited' && r.changes).toEqual(['services +stt −orchestrator']);
    expect(editDesiredState(doc, { ref: 'v1.2.3', imageTag: '1.2.3' }, new Date(NOW))).toEqual({
      kind: 'unchanged',
    });
    expect(listDiff([], ['a'])).toBe('all → a');
    expect(listDiff(['b', 'a'], ['a', 'b'])).toBeNull();
  });
});

describe('reading and publishing the object', () => {
  it('missing or invalid object → exit 78 naming it (and the key at fault)', async () => {
    await expect(readDesiredState(new FakeObjects(), BUCKET)).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/^no desired state at s3:\/\/dalston-test-bucket\/config\/host.json/),
    });
    const bad = new FakeObjects({
      [DESIRED_STATE_KEY]: JSON.stringify({ ...DOC, host: { ...DOC.host, dataDir: 'relative' } }),
    });
    await expect(readDesiredState(bad, BUCKET)).rejects.toMatchObject({
      exitCode: 78,
      message: expect.stringMatching(/config\/host.json is invalid: host.dataDir: /),
    });
  });

  it('a change since the read is caught before writing (server without If-Match): exit 75, nothing written', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    objects.honoursIfMatch = false;
    const read = await readDesiredState(objects, BUCKET);
    objects.objects[DESIRED_STATE_KEY] = JSON.stringify({ ...DOC, publishedAt: 'terraform again' });
    await expect(publishDesiredState(objects, BUCKET, '{}', read.version)).rejects.toMatchObject({
      exitCode: 75,
      message: expect.stringMatching(/config\/host.json changed since it was read .*nothing written/),
    });
    expect(objects.writes).toEqual([]);
  });

  it('a change between the check and the write is refused by If-Match: exit 75, nothing written', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    const read = await readDesiredState(objects, BUCKET);
    objects.beforeConditionalPut = () => {
      objects.objects[DESIRED_STATE_KEY] = `${DOC_TEXT} `;
    };
    await expect(publishDesiredState(objects, BUCKET, '{}', read.version)).rejects.toMatchObject({
      exitCode: 75,
    });
    expect(objects.writes).toEqual([]);
  });

  it('versions: VersionId when both have one, else the ETag without quotes', () => {
    expect(sameVersion({ etag: '"a"', versionId: 'v1' }, { etag: '"a"', versionId: 'v2' })).toBe(false);
    expect(sameVersion({ etag: '"a"', versionId: null }, { etag: 'a', versionId: 'v2' })).toBe(true);
    expect(sameVersion({ etag: null, versionId: null }, { etag: null, versionId: null })).toBe(false);
  });
});

/** The waiting detail of a verdict ('' for any other verdict). */
const detailOf = (v: ReturnType<typeof judgeRollout>) => (v.kind === 'waiting' ? v.detail : '');

describe('judging the rollout from the heartbeat', () => {
  it('converged only at the published version', () => {
    const c = convergence({ desiredVersion: '"etag-2"', running: V_NEW, desired: V_NEW });
    expect(judgeRollout(ok(c), PUBLISHED, NOW).kind).toBe('converged');
    // The VersionId counts too (a host may record either); quotes do not matter.
    expect(judgeRollout(ok({ ...c, desiredVersion: 'etag-2' }), PUBLISHED, NOW).kind).toBe('converged');
    expect(
      judgeRollout(ok({ ...c, desiredVersion: 'ver-9' }), { etag: '"x"', versionId: 'ver-9' }, NOW).kind,
    ).toBe('converged');
    // Converged, but to the previous version: the host has not picked this one up.
    expect(judgeRollout(ok(convergence()), PUBLISHED, NOW)).toEqual({
      kind: 'waiting',
      phase: 'pickup',
      detail:
        'host has not read this version yet (last checked 2026-11-28 06:11:30 UTC; it checks every 60 s)',
    });
  });

  it('converging shows the step; rolled-back and failed stop with the host’s message', () => {
    const busy = convergence({
      desiredVersion: '"etag-2"',
      state: 'converging',
      step: 'dalston',
      summary: 'pulling images 1.3.0',
    });
    expect(judgeRollout(ok(busy), PUBLISHED, NOW)).toEqual({
      kind: 'waiting',
      phase: 'converging',
      detail: 'dalston: pulling images 1.3.0',
    });
    const result = {
      kind: 'dalston' as const,
      outcome: 'rolled-back' as const,
      message: 'dalston v1.3.0 failed health (gateway unhealthy after 300 s); rolled back to v1.2.3',
      startedAt: '2026-11-28T06:05:00.000Z',
      finishedAt: '2026-11-28T06:11:00.000Z',
    };
    const back = convergence({
      desiredVersion: '"etag-2"',
      state: 'rolled-back',
      desired: V_NEW,
      lastResult: result,
    });
    expect(judgeRollout(ok(back), PUBLISHED, NOW)).toEqual({
      kind: 'failed',
      message: `the host rolled back: ${result.message}`,
    });
    const migrated = convergence({
      desiredVersion: '"etag-2"',
      state: 'failed',
      desired: V_NEW,
      lastResult: {
        ...result,
        outcome: 'failed',
        message: 'dalston v1.3.0 failed health after migrating the database',
        migrated: true,
        backupKey: 'backups/x.dump',
        restoreCommand: 'sudo dalston-host restore backups/x.dump',
      },
    });
    expect(judgeRollout(ok(migrated), PUBLISHED, NOW)).toEqual({
      kind: 'failed',
      message:
        'the host failed to converge: dalston v1.3.0 failed health after migrating the database; the failed version had migrated the database — restore the pre-upgrade backup: sudo dalston-host restore backups/x.dump',
    });
  });

  it('no heartbeat, a stale heartbeat: waiting, saying which; an old agent: failed', () => {
    expect(detailOf(judgeRollout({ kind: 'missing', key: SNAPSHOT_KEY }, PUBLISHED, NOW))).toBe(
      'no heartbeat yet',
    );
    expect(detailOf(judgeRollout(null, PUBLISHED, NOW))).toBe('S3 not answering');
    // An agent from before convergence never converges: said at once, not after the timeout.
    expect(judgeRollout(ok(undefined), PUBLISHED, NOW)).toEqual({
      kind: 'failed',
      message: expect.stringMatching(
        /^the host's agent 0.1.0 predates convergence: .* Replace the instance once/,
      ),
    });
    const stale = JSON.parse(snapshotWith(convergence(), new Date(NOW - 3_600_000).toISOString()));
    expect(
      detailOf(judgeRollout({ kind: 'ok', key: SNAPSHOT_KEY, snapshot: stale }, PUBLISHED, NOW)),
    ).toMatch(/stale \(1h 00m old\): agent not reporting/);
  });

  it('desired vs running: the differences, and the table marks them', () => {
    expect(versionDiffs(V_NEW, V_OLD)).toEqual(['dalston ref v1.2.3 → v1.3.0', 'image tag 1.2.3 → 1.3.0']);
    expect(renderVersions(V_NEW, V_OLD)).toBe(
      [
        '               desired                       running',
        '  release      0.2.0                         0.2.0',
        '  dalston ref  v1.3.0                        v1.2.3   ≠',
        '  image tag    1.3.0                         1.2.3   ≠',
        '  services     gateway, orchestrator, redis  gateway, orchestrator, redis',
        '',
      ].join('\n'),
    );
    expect(renderVersions(V_NEW, null)).toContain('  release      0.2.0                         unknown\n');
  });
});

describe('the drift line of status', () => {
  it('in sync, drift, rolled back with a restore command, and an agent from before convergence', () => {
    expect(convergenceReport(convergence(), '0.2.0', true)).toMatchObject({
      state: 'converged',
      drift: [],
      next: null,
    });
    const drift = convergenceReport(convergence({ desired: V_NEW }), '0.2.0', true);
    expect(drift.text).toBe('running ≠ desired: dalston ref v1.2.3 → v1.3.0, image tag 1.2.3 → 1.3.0');
    expect(drift.next).toMatch(/dalston-aws deploy/);
    const failed = convergenceReport(
      convergence({
        state: 'failed',
        desired: V_NEW,
        lastResult: {
          kind: 'dalston',
          outcome: 'failed',
          message: 'v1.3.0 unhealthy after migrating',
          startedAt: '2026-11-28T06:05:00.000Z',
          finishedAt: '2026-11-28T06:11:00.000Z',
          migrated: true,
          restoreCommand: 'sudo dalston-host restore backups/x.dump',
        },
      }),
      '0.2.0',
      true,
    );
    expect(failed.text).toMatch(/^v1.3.0 unhealthy after migrating; running ≠ desired: dalston ref/);
    expect(failed.next).toBe(
      'the failed version had migrated the database; restore the pre-upgrade backup: sudo dalston-host restore backups/x.dump',
    );
    expect(convergenceReport(undefined, '0.1.0', true)).toMatchObject({
      state: 'not-reported',
      text: 'agent 0.1.0 predates convergence: this host does not follow config/host.json',
    });
  });

  it('status prints one line with the next step; exit code unchanged', async () => {
    const back = convergence({
      state: 'rolled-back',
      desired: V_NEW,
      lastResult: {
        kind: 'dalston',
        outcome: 'rolled-back',
        message: 'dalston v1.3.0 failed health; rolled back to v1.2.3',
        startedAt: '2026-11-28T06:05:00.000Z',
        finishedAt: '2026-11-28T06:11:00.000Z',
      },
    });
    mockInstance('running');
    const ctx = testContext({
      clock: new FakeClock(NOW),
      objects: () => new FakeObjects({ [SNAPSHOT_KEY]: snapshotWith(back) }),
    });
    expect(await dalstonAwsMain(['status', ...DEPLOY], ctx)).toBe(0);
    expect(ctx.stdout.text).toContain(
      '  converge   ROLLED BACK  dalston v1.3.0 failed health; rolled back to v1.2.3; running ≠ desired: dalston ref v1.2.3 → v1.3.0, image tag 1.2.3 → 1.3.0\n' +
        '             next: fix the version in Terraform and `terraform apply` (or `dalston-aws deploy --ref … --image-tag …`)\n',
    );
  });
});

function mockInstance(state: string) {
  ec2Mock.on(DescribeInstancesCommand).resolves(
    describedInstance(state, {
      LaunchTime: new Date('2026-11-28T04:00:00.000Z'),
      BlockDeviceMappings: [],
      Tags: [{ Key: 'Name', Value: 'dalston-dev' }],
    }),
  );
}

describe('dalston-aws deploy (fake S3 and clock)', () => {
  beforeEach(() => {
    ec2Mock.reset();
    mockInstance('running');
  });

  async function deploy(objects: FakeObjects, args: string[] = [], clock = new FakeClock(NOW)) {
    const ctx = testContext({ clock, objects: () => objects });
    const code = await dalstonAwsMain(['deploy', ...DEPLOY, '--poll', '10s', ...args], ctx);
    return { code, out: ctx.stdout.text, err: ctx.stderr.text, clock };
  }

  it('--ref/--image-tag publishes, then waits until the host reports that version converged', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    let polls = 0;
    // The host picks the new object up on the third read of the heartbeat.
    objects.objects[SNAPSHOT_KEY] = () => {
      polls++;
      if (polls < 3) return snapshotWith(convergence());
      return snapshotWith(
        convergence({
          desiredVersion: publishedEtag(objects),
          running: V_NEW,
          desired: V_NEW,
          lastResult: {
            kind: 'dalston',
            outcome: 'applied',
            message: 'dalston v1.2.3 → v1.3.0 (image 1.3.0): healthy in 84 s',
            startedAt: '2026-11-28T06:12:05.000Z',
            finishedAt: '2026-11-28T06:13:30.000Z',
            downtimeSeconds: 12,
          },
        }),
        new Date(NOW + 20_000).toISOString(),
      );
    };
    const r = await deploy(objects, ['--ref', 'v1.3.0', '--image-tag', '1.3.0']);
    expect(r.err).toMatch(/warning: this edits config\/host.json outside Terraform/);
    expect(r.code).toBe(0);
    const written = JSON.parse(objects.writes[0]!.body!);
    expect(written.host.dalston).toEqual({ ref: 'v1.3.0', imageTag: '1.3.0' });
    expect(written.publishedBy).toBe('dalston-aws deploy');
    expect(r.out).toMatch(
      /^published s3:\/\/dalston-test-bucket\/config\/host.json \(dalston ref v1.2.3 → v1.3.0, image tag 1.2.3 → 1.3.0\), version [0-9a-f]{32}\n/,
    );
    expect(r.out).toContain('  dalston ref  v1.3.0                        v1.2.3   ≠\n');
    expect(r.err).toMatch(/pickup: host has not read this version yet/);
    expect(r.err).toMatch(/✔ converged to version/);
    expect(r.out).toMatch(
      /runs release 0.2.0, dalston v1.3.0 \(image 1.3.0\) — last change: .*healthy in 84 s; gateway down 12s\n$/,
    );
    expect(r.clock.sleeps).toEqual([10_000, 10_000]);
  });

  it('rolled back → exit 1 with the host’s message', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    objects.objects[SNAPSHOT_KEY] = () =>
      snapshotWith(
        convergence({
          state: 'rolled-back',
          desiredVersion: publishedEtag(objects),
          desired: { ...V_OLD, imageTag: '9.9.9' },
          lastResult: {
            kind: 'dalston',
            outcome: 'rolled-back',
            message: 'image 9.9.9 never became healthy; rolled back to 1.2.3',
            startedAt: '2026-11-28T06:05:00.000Z',
            finishedAt: '2026-11-28T06:11:00.000Z',
          },
        }),
      );
    const r = await deploy(objects);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /dalston-aws: the host rolled back: image 9.9.9 never became healthy; rolled back to 1.2.3\n$/,
    );
  });

  it('bounded: on timeout exit 1 naming the phase and the next step', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT, [SNAPSHOT_KEY]: null });
    const r = await deploy(objects, ['--timeout', '1m']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /timed out after 1m 00s waiting for the host to converge to s3:\/\/dalston-test-bucket\/config\/host.json version [0-9a-f]+ \(heartbeat: no heartbeat yet\)\. Next: `dalston-aws status`/,
    );
    expect(r.clock.sleeps.reduce((a, b) => a + b, 0)).toBe(60_000);
  });

  it('a stopped instance: said, `up` offered, nothing started, exit 1', async () => {
    mockInstance('stopped');
    const objects = new FakeObjects({
      [DESIRED_STATE_KEY]: DOC_TEXT,
      [SNAPSHOT_KEY]: snapshotWith(convergence()),
    });
    const r = await deploy(objects);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /instance i-0123456789abcdef0 is stopped: it applies the desired state at its next boot\. Start it with `dalston-aws up`/,
    );
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    expect(ec2Mock.calls()).toHaveLength(1);
  });

  it('already converged to the published version: exit 0 without waiting', async () => {
    const objects = new FakeObjects({ [DESIRED_STATE_KEY]: DOC_TEXT });
    objects.objects[SNAPSHOT_KEY] = () =>
      snapshotWith(convergence({ desiredVersion: publishedEtag(objects) }));
    const r = await deploy(objects);
    expect(r.code).toBe(0);
    expect(r.clock.sleeps).toEqual([]);
  });
});

/** The ETag the fake gives the desired-state object as it is now. */
function publishedEtag(objects: FakeObjects): string {
  const v = objects.objects[DESIRED_STATE_KEY];
  const body = typeof v === 'function' ? v() : v;
  return `"${createHash('md5').update(body!).digest('hex')}"`;
}

import { parseCommandArgs } from '../../shared/cli-args.ts';
import { versionsOf } from '../../shared/desired/desired-state.ts';
import { HostError, UsageError } from '../../shared/errors.ts';
import { type ObjectReader, readSnapshot, type SnapshotRead } from '../aws/snapshots.ts';
import type { CliContext } from '../context.ts';
import {
  checkImageTag,
  checkRef,
  driftWarning,
  editDesiredState,
  hasPins,
  type Pins,
  parseServicesFlag,
  pinWarnings,
} from '../desired-edit.ts';
import { type PublishedDesiredState, publishDesiredState, readDesiredState } from '../desired-object.ts';
import { formatDuration, formatTime, parseDuration } from '../render/format.ts';
import { createProgress } from '../render/progress.ts';
import { judgeRollout, renderVersions, showVersion } from '../rollout.ts';
import { deploymentFlags, deploymentFrom, timeoutFlag } from './common.ts';
import { deployHelp } from './help-texts.ts';

export async function deployCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    ref: { type: 'string' },
    'image-tag': { type: 'string' },
    services: { type: 'string' },
    timeout: { type: 'string' },
    poll: { type: 'string' },
    'no-wait': { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(deployHelp);
    return 0;
  }
  // Every flag is checked before any AWS call: nothing is published from a typo.
  const timeoutMs = timeoutFlag(values.timeout, 20 * 60_000);
  const pollMs = values.poll === undefined ? 10_000 : parseDuration(values.poll);
  if (pollMs === null || pollMs <= 0)
    throw new UsageError(`--poll "${values.poll}" is not a duration (e.g. 5s, 30s, 1m)`);
  const pins: Pins = {
    ref: values.ref === undefined ? undefined : checkRef(values.ref),
    imageTag: values['image-tag'] === undefined ? undefined : checkImageTag(values['image-tag']),
    services: values.services === undefined ? undefined : parseServicesFlag(values.services),
  };

  const d = await deploymentFrom(values, ctx, ['instanceId', 'region', 'bucket']);
  const bucket = d.bucket!;
  const objects = ctx.objects(d);
  let published: PublishedDesiredState = await readDesiredState(objects, bucket);

  if (hasPins(pins)) {
    for (const w of pinWarnings(pins)) ctx.stderr.write(`dalston-aws: warning: ${w}\n`);
    const edit = editDesiredState(published.state.document, pins, new Date(ctx.clock.now()));
    if (edit.kind === 'unchanged') {
      ctx.stderr.write(`dalston-aws: ${published.location} already pins these values: nothing to publish\n`);
    } else {
      ctx.stderr.write(`dalston-aws: warning: ${driftWarning(pins)}\n`);
      const version = await publishDesiredState(objects, bucket, edit.body, published.version);
      published = { state: edit.state, version, location: published.location };
      ctx.stdout.write(
        `published ${published.location} (${edit.changes.join(', ')}), version ${showVersion(version)}\n`,
      );
    }
  }

  const doc = published.state.document;
  const desired = versionsOf(doc.release.version, published.state.host);
  const instance = await ctx.ec2(d).describeInstance(d.instanceId);
  const first = await readHeartbeat(objects, bucket, d.statusPrefix, d.instanceId);
  const by = doc.publishedBy
    ? `, by ${doc.publishedBy}${doc.publishedAt ? ` at ${formatTime(doc.publishedAt)}` : ''}`
    : '';
  ctx.stdout.write(`desired state ${published.location} version ${showVersion(published.version)}${by}\n`);
  const running = first?.kind === 'ok' ? (first.snapshot.convergence?.running ?? null) : null;
  ctx.stdout.write(renderVersions(desired, running));

  if (instance.state === 'stopped' || instance.state === 'stopping') {
    ctx.stderr.write(
      `dalston-aws: instance ${d.instanceId} is ${instance.state}: it applies the desired state at its next boot. ` +
        'Start it with `dalston-aws up`, then `dalston-aws deploy` to watch\n',
    );
    return 1;
  }
  if (instance.state !== 'running' && instance.state !== 'pending') {
    throw new HostError('failure', `instance ${d.instanceId} is ${instance.state}: it cannot converge`);
  }
  if (values['no-wait']) return 0;

  const progress = createProgress(ctx.stderr, ctx.clock, ctx.env);
  const deadline = ctx.clock.now() + timeoutMs;
  let read = first;
  let last = { phase: 'heartbeat', detail: 'checking' };
  for (;;) {
    const v = judgeRollout(read, published.version, ctx.clock.now());
    if (v.kind === 'converged') {
      progress.done(`converged to version ${showVersion(published.version)}`);
      progress.stop();
      // What the host says it runs, not what was asked for.
      const now = v.convergence.running;
      const r = v.convergence.lastResult;
      const downtime =
        r?.downtimeSeconds != null ? `; gateway down ${formatDuration(r.downtimeSeconds)}` : '';
      ctx.stdout.write(
        `${d.instanceId} runs release ${now.release}, dalston ${now.dalstonRef ?? '(no ref)'} (image ${now.imageTag ?? 'none'})` +
          `${r ? ` — last change: ${r.message}` : ''}${downtime}\n`,
      );
      return 0;
    }
    if (v.kind === 'failed') {
      progress.stop();
      throw new HostError('failure', v.message);
    }
    last = { phase: v.phase, detail: v.detail };
    progress.update(v.phase, v.detail);
    const left = deadline - ctx.clock.now();
    if (left <= 0) {
      progress.stop();
      throw new HostError(
        'failure',
        `timed out after ${formatDuration(timeoutMs / 1000)} waiting for the host to converge to ${published.location} ` +
          `version ${showVersion(published.version)} (${last.phase}: ${last.detail}). Next: \`dalston-aws status\` for what ` +
          'it reports, `dalston-aws ssh -- journalctl -u dalston-sync` for its log, `dalston-aws deploy` to keep watching',
      );
    }
    await ctx.clock.sleep(Math.min(pollMs, left));
    read = await readHeartbeat(objects, bucket, d.statusPrefix, d.instanceId, () => progress.stop());
  }
}

/** The heartbeat, or null when S3 did not answer this time (a hiccup may pass; a denied read will not). */
async function readHeartbeat(
  objects: ObjectReader,
  bucket: string,
  statusPrefix: string,
  instanceId: string,
  beforeThrow: () => void = () => {},
): Promise<SnapshotRead | null> {
  try {
    return await readSnapshot(objects, bucket, statusPrefix, instanceId);
  } catch (err) {
    if (err instanceof HostError && err.exitCode === 69) return null;
    beforeThrow();
    throw err;
  }
}

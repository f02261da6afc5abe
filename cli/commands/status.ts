import { parseCommandArgs } from '../../shared/cli-args.ts';
import { HostError } from '../../shared/errors.ts';
import { judgeKeepAwake, type KeepAwakeRead, keepAwakeKey } from '../../shared/idle/keep-awake.ts';
import { bootstrapReportKey } from '../../shared/status/bootstrap-report.ts';
import { statusKey } from '../../shared/status/s3-key.ts';
import { readBootstrapReport } from '../aws/bootstrap-reports.ts';
import { readSnapshot } from '../aws/snapshots.ts';
import type { CliContext } from '../context.ts';
import { gatewayUrl } from '../gateway-url.ts';
import { type LastStop, readLastStop } from '../last-stop.ts';
import type { VolumeSpec } from '../pricing.ts';
import { stylerFor } from '../render/format.ts';
import { renderStatus } from '../render/status.ts';
import { buildStatusReport, type StatusInputs, statusExit } from '../status-report.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { statusHelp } from './help-texts.ts';

export async function statusCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, { ...deploymentFlags, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(statusHelp);
    return 0;
  }
  const d = await deploymentFrom(values, ctx, ['instanceId', 'region', 'bucket']);
  const ec2 = ctx.ec2(d);
  const instance = await ec2.describeInstance(d.instanceId);

  let volumes: VolumeSpec[] | null = null;
  let volumeProblem: string | undefined;
  try {
    volumes = await ec2.describeVolumes(instance.volumeIds);
  } catch (err) {
    // The cost line degrades; the rest of the screen is still worth showing.
    if (!(err instanceof HostError)) throw err;
    volumeProblem = err.message;
  }

  const bucket = d.bucket!;
  const key = statusKey(d.statusPrefix, d.instanceId);
  let snapshot: StatusInputs['snapshot'];
  let snapshotError: HostError | null = null;
  try {
    snapshot = await readSnapshot(ctx.objects(d), bucket, d.statusPrefix, d.instanceId);
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    snapshotError = err;
    snapshot = { kind: 'error', key, reason: err.message };
  }

  const bootstrapKey = bootstrapReportKey(d.statusPrefix, d.instanceId);
  let bootstrap: StatusInputs['bootstrap'];
  try {
    bootstrap = await readBootstrapReport(ctx.objects(d), bucket, d.statusPrefix, d.instanceId);
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
    // The snapshot's read reports the same problem (and sets the exit code); this row just says so.
    bootstrap = { kind: 'error', key: bootstrapKey, reason: err.message };
  }

  // The lease and the record of a `down` are extras: the screen is worth showing without them.
  const objects = ctx.objects(d);
  let lease: KeepAwakeRead | null = null;
  try {
    const obj = await objects.getText(bucket, keepAwakeKey(d.statusPrefix, d.instanceId));
    lease = judgeKeepAwake(obj?.body ?? null, ctx.clock.now());
  } catch (err) {
    if (!(err instanceof HostError)) throw err;
  }
  let lastStop: LastStop | null = null;
  if (instance.state === 'stopped' || instance.state === 'stopping') {
    lastStop = await readLastStop(objects, bucket, d.statusPrefix, d.instanceId).catch((err) => {
      if (err instanceof HostError) return null;
      throw err;
    });
  }

  const report = buildStatusReport({
    nowMs: ctx.clock.now(),
    region: d.region,
    instance,
    volumes,
    volumeProblem,
    location: `s3://${bucket}/${key}`,
    snapshot,
    bootstrap,
    bootstrapLocation: `s3://${bucket}/${bootstrapKey}`,
    lease,
    lastStop,
    stopSchedule: d.stopSchedule,
    gatewayUrl: d.tailscaleHostname ? gatewayUrl(d.tailscaleHostname) : null,
  });
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    ctx.stdout.write(renderStatus(report, stylerFor(ctx.stdout, ctx.env)));
  }
  // The screen is shown either way; a snapshot that cannot be read is still an error for scripts.
  if (snapshotError) {
    ctx.stderr.write(`dalston-aws: ${snapshotError.message}\n`);
    return snapshotError.exitCode;
  }
  const exit = statusExit(report);
  if (exit.problem) ctx.stderr.write(`dalston-aws: ${exit.problem}\n`);
  return exit.code;
}

import { parseCommandArgs } from '../../shared/cli-args.ts';
import { UsageError } from '../../shared/errors.ts';
import { statusKey } from '../../shared/status/s3-key.ts';
import { readSnapshot } from '../aws/snapshots.ts';
import type { CliContext } from '../context.ts';
import { fetchDalstonApi } from '../dalston-api.ts';
import { gatewayUrl } from '../gateway-url.ts';
import { ansi, parseDuration, plain } from '../render/format.ts';
import { CheckFailed, renderVerify, runVerify } from '../verify.ts';
import { toneWav, VERIFY_AUDIO_NAME } from '../verify-audio.ts';
import { missingKeyMessage } from './api-key.ts';
import { deploymentFlags, deploymentFrom, timeoutFlag } from './common.ts';
import { verifyHelp } from './help-texts.ts';

export async function verifyCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    'gateway-url': { type: 'string' },
    parameter: { type: 'string' },
    model: { type: 'string' },
    timeout: { type: 'string' },
    poll: { type: 'string' },
    host: { type: 'string' },
  });
  if (values.help) {
    ctx.stdout.write(verifyHelp);
    return 0;
  }
  const envKey = ctx.env.DALSTON_API_KEY?.trim() || null;
  const d = await deploymentFrom(values, ctx, [
    'instanceId',
    'region',
    'bucket',
    ...(values['gateway-url'] ? [] : (['tailscaleHostname'] as const)),
    ...(envKey ? [] : (['apiKeyParameter'] as const)),
  ]);
  const base = values['gateway-url'] ?? gatewayUrl(d.tailscaleHostname!);
  if (!/^https?:\/\/[^/\s]+/.test(base))
    throw new UsageError(`--gateway-url "${base}" is not an http(s) URL`);
  const pollMs = values.poll === undefined ? 2000 : parseDuration(values.poll);
  if (pollMs === null || pollMs <= 0)
    throw new UsageError(`--poll "${values.poll}" is not a duration (e.g. 2s)`);
  const timeoutMs = timeoutFlag(values.timeout, 10 * 60_000);
  const bucket = d.bucket!;
  const objects = ctx.objects(d);
  const statusObject = statusKey(d.statusPrefix, d.instanceId);

  const result = await runVerify({
    instanceState: async () => (await ctx.ec2(d).describeInstance(d.instanceId)).state,
    heartbeat: () => readSnapshot(objects, bucket, d.statusPrefix, d.instanceId),
    heartbeatLocation: `s3://${bucket}/${statusObject}`,
    gatewayBase: base,
    apiKey: async () => {
      if (envKey) return envKey;
      const key = await ctx.parameters(d).getSecure(d.apiKeyParameter!);
      if (key === null) throw new CheckFailed(`no API key to use`, missingKeyMessage(d.apiKeyParameter!));
      return key;
    },
    api: (key) => fetchDalstonApi(base, key || null),
    jobObjects: async (id) => (await objects.list(bucket, `jobs/${id}/`)).map((o) => o.key),
    bucket,
    audio: { bytes: toneWav(), name: VERIFY_AUDIO_NAME },
    model: values.model ?? 'faster-whisper',
    pollMs,
    timeoutMs,
    now: () => ctx.clock.now(),
    sleep: (ms) => ctx.clock.sleep(ms),
    progress: (line) => ctx.stderr.write(`  transcription: ${line}\n`),
  });
  const head = `dalston-aws verify  ${base}  (instance ${d.instanceId}, ${d.region})`;
  ctx.stdout.write(renderVerify(result, head, ctx.stdout.isTTY ? ansi : plain));
  return result.failed ? 1 : 0;
}

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
import { DEPLOYMENT_HELP, deploymentFlags, deploymentFrom, timeoutFlag } from './common.ts';

export const verifyHelp = `Usage: dalston-aws verify [flags] [deployment flags]

From the laptop, end to end, in order; stops at the first check that fails,
names it and says what to do (exit 1):

  instance       the EC2 instance is running
  heartbeat      the agent's last S3 heartbeat is fresh
  gateway        GET /health on the gateway over Tailscale (http://<tailscale host>:8000)
  api key        an authenticated request is accepted
  transcription  a short test recording (${VERIFY_AUDIO_NAME}, 0.8 s tone) submitted with
                 model=faster-whisper, polled until completed, with progress
  artifacts      its objects under s3://<bucket>/jobs/<id>/: audio/original.<ext>, transcript.json

The API key is DALSTON_API_KEY if set, else the SSM parameter the host stored it in
(output api_key_parameter; \`dalston-aws api-key\`). One screen with timings at the end.

  --gateway-url URL  the gateway's base URL (default http://<tailscale host>:8000)
  --parameter NAME   SSM parameter of the API key (DALSTON_API_KEY_PARAMETER; output api_key_parameter)
  --model NAME       model to transcribe with (default faster-whisper)
  --timeout DUR      how long the job may take (default 10m)
  --poll DUR         how often the job is polled (default 2s)
  --host NAME        Tailscale host name (DALSTON_TAILSCALE_HOST; output tailscale_hostname)

${DEPLOYMENT_HELP}
`;

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

// Every command's --help text, apart from the commands themselves: `dalston-aws <cmd> --help`
// answers from here without loading the command or the AWS SDK (start-up time).
import { DEFAULT_BACKUP_PREFIX } from '../backups-report.ts';
import { VERIFY_AUDIO_NAME } from '../verify-audio.ts';

export const DEPLOYMENT_HELP = `Deployment (flags, then environment, then \`terraform output -json\`):
  --instance-id ID   EC2 instance (DALSTON_INSTANCE_ID; output instance_id)
  --region REGION    AWS region (AWS_REGION; output region)
  --bucket NAME      artifacts bucket with the status snapshots (DALSTON_BUCKET; output bucket_name)
  --profile NAME     AWS profile (AWS_PROFILE; default credential chain otherwise)
  --tf-dir DIR       Terraform environment to read outputs from (default infra/terraform/environments/dev)
  -h, --help         this help`;

export const apiKeyHelp = `Usage: dalston-aws api-key [--parameter NAME] [deployment flags]

Prints the Dalston admin API key the host generated at its first boot and
stored as an SSM SecureString (read with your AWS credentials, decrypted).
Only the key goes to stdout:

  export DALSTON_API_KEY=$(dalston-aws api-key)
  curl -H "Authorization: Bearer $DALSTON_API_KEY" …

  --parameter NAME   the SSM parameter (DALSTON_API_KEY_PARAMETER; output api_key_parameter)

${DEPLOYMENT_HELP}
`;

export const backupsHelp = `Usage: dalston-aws backups [--prefix P] [--json] [deployment flags]

The host's Postgres backups in the bucket, newest first: time, age, size and
Alembic revision of each dump. An upload that never completed is marked
incomplete (dalston-host restore refuses it).

  --prefix P         key prefix of the dumps (host.json backup.prefix; default ${DEFAULT_BACKUP_PREFIX})
  --json             print a JSON array instead (for scripts)

${DEPLOYMENT_HELP}
`;

export const costHelp = `Usage: dalston-aws cost [--month YYYY-MM] [--json] [deployment flags]

This month's cost estimate from the running hours the agent records in the
bucket (status/<instance-id>/running/<YYYY-MM>.json): running hours × the
instance price + EBS storage (billed all month), so far and projected to the
month's end, next to the same month always on. List prices from a small table
(cli/pricing.ts), so an estimate, not a bill.

  --month YYYY-MM    another month (UTC) instead of the current one
  --json             print one JSON object instead (for scripts)

${DEPLOYMENT_HELP}
`;

export const deployHelp = `Usage: dalston-aws deploy [--ref REF --image-tag TAG] [--services a,b] [--timeout 20m] [deployment flags]

Run after \`terraform apply\`: reads the desired state Terraform published
(s3://<bucket>/config/host.json), shows desired vs running (release, Dalston
ref, image tag, services) and waits until the host reports it has converged
to that version (the agent checks every 60 s; each change is health-gated and
rolled back automatically). Exit 0 when converged; 1 when the host rolled back
or failed (with its message, and the restore command when the failed version
had migrated the database), on timeout, or when the instance is stopped.

With --ref/--image-tag/--services it edits the desired state itself first
(only over the version it read: a concurrent \`terraform apply\` is not
overwritten). The next \`terraform apply\` puts Terraform's values back, so set
them in terraform.tfvars too.

  --ref REF          Dalston git tag or commit to run (e.g. v1.3.0)
  --image-tag TAG    Dalston image tag: X.Y.Z or latest (the tags Dalston publishes)
  --services a,b     the services this host runs
  --timeout DUR      how long to wait (default 20m; 90s, 10m, 1h)
  --poll DUR         how often to read the heartbeat (default 10s)
  --no-wait          publish (when editing) and show, without waiting

${DEPLOYMENT_HELP}
`;

export const downHelp = `Usage: dalston-aws down [--no-wait] [--timeout 10m] [deployment flags]

Stops the instance (the agent on it stops the stack gracefully first) and
waits until EC2 reports it stopped. The data volume stays; only storage is
billed while stopped. Leaves status/<instance-id>/last-stop.json in the bucket
so \`dalston-aws status\` can say the stop was yours.

  --no-wait          return once StopInstances is accepted
  --timeout DUR      how long to wait for \`stopped\` (default 10m)

${DEPLOYMENT_HELP}
`;

export const keepAwakeHelp = `Usage: dalston-aws keep-awake DUR | --clear [deployment flags]

Keeps a running host from stopping itself for at least DUR (30m, 4h, 1h30m) by
writing the keep-awake lease (s3://<bucket>/status/<instance-id>/keep-awake.json)
that the agent honours; a new lease replaces the old one. --clear removes it, so
the idle stop applies again at once.

  --clear            remove the lease

${DEPLOYMENT_HELP}
`;

export const sshHelp = `Usage: dalston-aws ssh [--user NAME] [--host NAME] [--ssm] [deployment flags] [-- ARGS...]

Opens a shell on the host: \`ssh <user>@<tailscale host> ARGS...\` over
Tailscale, or with --ssm an AWS Session Manager session (no SSH at all; needs
the aws CLI v2 and its session-manager-plugin).

  --user NAME        login user (DALSTON_SSH_USER; output ssh_user; default ec2-user)
  --host NAME        Tailscale host name (DALSTON_TAILSCALE_HOST; output tailscale_hostname)
  --ssm              use \`aws ssm start-session\` instead of ssh
  -- ARGS...         passed on to ssh (options or a remote command) or to aws ssm

${DEPLOYMENT_HELP}
`;

export const statusHelp = `Usage: dalston-aws status [--json] [deployment flags]

One screen: instance state, type and uptime, an estimated monthly cost running
vs stopped, the agent's last heartbeat from S3 and its age (stale after two
heartbeat intervals), the host's last bootstrap result (a failed step, its
message and what to do next), the idle stop (idle time, countdown, what holds
it), the keep-awake lease, whether the host runs its desired state (in sync,
drift, a change rolled back or failed, and the next step), the services, /data
usage and the agent version. For a stopped instance: why it stopped (idle,
\`down\`, the backstop schedule, or something else).

  --json             print one JSON object instead (for scripts)

Exit code: 0 when a current heartbeat says the stack is healthy, the instance is
stopped, or the host has not reported yet; 1 when a current heartbeat says
starting, degraded or stopping (as \`dalston-host status\` on the host), or the
heartbeat is stale (one line on stderr says which).

${DEPLOYMENT_HELP}
`;

export const upHelp = `Usage: dalston-aws up [--for 4h] [--timeout 10m] [--check-gateway] [--no-wait] [deployment flags]

Starts the instance (nothing to do when it is running), then waits like
\`dalston-aws wait\`: instance running, agent heartbeat, stack healthy.

  --for DUR          keep the host awake at least this long (30m, 4h, 1h30m): writes the
                     keep-awake lease before starting, so the idle stop waits for it
  --timeout DUR      how long to wait for a healthy stack (default 10m)
  --check-gateway    also wait for the gateway's /health over Tailscale
  --host NAME        Tailscale host name (DALSTON_TAILSCALE_HOST; output tailscale_hostname)
  --gateway-url URL  gateway health URL (default http://<host>:8000/health)
  --no-wait          return once StartInstances is accepted

${DEPLOYMENT_HELP}
`;

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

export const waitHelp = `Usage: dalston-aws wait [--timeout 10m] [--check-gateway] [deployment flags]

Waits until the host is ready, showing the phase it is in: instance
pending → running, an agent heartbeat in S3 newer than the start (until then
the bootstrap's progress: step N/M), the stack healthy (services N/M), and
with --check-gateway the gateway's /health over Tailscale. Exit 0 when
healthy; 1 on timeout, naming the phase and the services the last snapshot
reported unhealthy (with no heartbeat: the serial console, the bootstrap
report in S3 and \`dalston-aws ssh --ssm\` to look at).

  --timeout DUR      give up after this long (default 10m; 90s, 10m, 1h)
  --check-gateway    also wait for the gateway's /health over Tailscale
  --host NAME        Tailscale host name (DALSTON_TAILSCALE_HOST; output tailscale_hostname)
  --gateway-url URL  gateway health URL (default http://<host>:8000/health)

${DEPLOYMENT_HELP}
`;

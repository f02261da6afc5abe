/**
 * The real bootstrap command with stand-in steps, reporting to and reading its
 * desired state from an s3rver (test/helpers/s3rver.ts) under a fixed instance name.
 */
import { pino } from 'pino';
import { bootstrapCommand } from '../../bootstrap/command.ts';
import type { Step, StepName } from '../../bootstrap/steps/step.ts';
import { S3ObjectStore } from '../../shared/aws/s3-object-store.ts';
import { ZxShell } from '../../shared/shell.ts';
import { S3RVER_CREDENTIALS } from './s3rver.ts';

export function bootstrapAgainstS3rver(
  root: string,
  steps: Partial<Record<StepName, Step>>,
  instance: string,
): Promise<number> {
  const quiet = { write: () => true };
  return bootstrapCommand(['--root', root], {
    shell: new ZxShell(),
    log: pino({ level: 'silent' }),
    stdout: quiet,
    stderr: quiet,
    steps,
    upload: {
      store: async (c) =>
        new S3ObjectStore({
          bucket: c.s3.bucket!,
          endpoint: c.s3.endpoint,
          region: 'us-east-1',
          credentials: S3RVER_CREDENTIALS,
        }),
      instanceName: async () => instance,
    },
    // The desired state is read from the same server (nothing published there: host.json is kept).
    desiredStore: async (loc) =>
      new S3ObjectStore({ ...loc, region: 'us-east-1', credentials: S3RVER_CREDENTIALS }),
  });
}

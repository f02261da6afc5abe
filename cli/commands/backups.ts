import { parseCommandArgs } from '../../shared/cli-args.ts';
import { UsageError } from '../../shared/errors.ts';
import { DEFAULT_BACKUP_PREFIX, listBackups } from '../backups-report.ts';
import type { CliContext } from '../context.ts';
import { renderBackups } from '../render/backups.ts';
import { stylerFor } from '../render/format.ts';
import { deploymentFlags, deploymentFrom } from './common.ts';
import { backupsHelp } from './help-texts.ts';

export async function backupsCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    ...deploymentFlags,
    json: { type: 'boolean' },
    prefix: { type: 'string' },
  });
  if (values.help) {
    ctx.stdout.write(backupsHelp);
    return 0;
  }
  const prefix = values.prefix ?? DEFAULT_BACKUP_PREFIX;
  if (!/^backups\/([A-Za-z0-9._-]+\/)*$/.test(prefix)) {
    throw new UsageError(`--prefix must start with backups/ and end with / (got "${prefix}")`);
  }
  const d = await deploymentFrom(values, ctx, ['region', 'bucket']);
  const bucket = d.bucket!;
  const rows = await listBackups(ctx.objects(d), bucket, prefix, ctx.clock.now());
  if (values.json) ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else ctx.stdout.write(renderBackups(rows, `s3://${bucket}/${prefix}`, stylerFor(ctx.stdout, ctx.env)));
  return 0;
}

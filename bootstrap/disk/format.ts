import { HostError } from '../../shared/errors.ts';
import { runChecked, type Shell } from '../../shared/shell.ts';
import type { BootstrapContext } from '../context.ts';

/** mkfs argv; never a force flag (a blank device needs none, anything else is refused earlier). */
export function mkfsCommand(fsType: string, label: string, device: string): [string, string[]] {
  if (fsType === 'ext4') {
    return ['mkfs.ext4', ['-q', '-L', label, '-E', 'lazy_itable_init=1,lazy_journal_init=1', device]];
  }
  if (fsType === 'xfs') return ['mkfs.xfs', ['-q', '-L', label, device]];
  throw new Error(`internal: unsupported fsType ${fsType}`);
}

/** `udevadm settle` when udev runs; a no-op otherwise (containers, the test machine). */
export async function settleUdev(ctx: BootstrapContext, timeoutSeconds = 10): Promise<void> {
  if (!ctx.host.udevRunning()) return;
  await ctx.shell.run('udevadm', ['settle', `--timeout=${timeoutSeconds}`]);
}

/** Reads the UUID straight from the device (`-p`: no cache). */
export async function readUuid(shell: Shell, device: string): Promise<string> {
  const out = (await runChecked(shell, 'blkid', ['-p', '-s', 'UUID', '-o', 'value', device])).trim();
  if (!out) throw new HostError('failure', `${device}: blkid reports no filesystem UUID`);
  return out;
}

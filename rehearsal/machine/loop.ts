import { open } from 'node:fs/promises';
import { runChecked, type Shell } from '../../shared/shell.ts';

/** The machine's "EBS volume": a sparse file on a loop device. */
export interface LoopVolume {
  file: string;
  device: string;
}

export async function createLoopVolume(shell: Shell, file: string, sizeBytes: number): Promise<LoopVolume> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(sizeBytes); // sparse: costs no disk until written
  } finally {
    await fh.close();
  }
  const r = await shell.run('losetup', ['--find', '--show', file]);
  if (r.exitCode !== 0) {
    throw new Error(
      `no free loop device for the data volume (losetup: ${r.stderr.trim()}); ` +
        'detach unused ones with `losetup -D` or `losetup -d /dev/loopN`',
    );
  }
  return { file, device: r.stdout.trim() };
}

export async function detachLoop(shell: Shell, device: string): Promise<void> {
  await runChecked(shell, 'losetup', ['-d', device]);
}

/** Pure: "major:minor" of a block device from `stat -c %t:%T` (hex) output. */
export function majorMinorFromStat(hex: string): string {
  const [maj, min] = hex.trim().split(':');
  if (!maj || !min) throw new Error(`unexpected stat output "${hex}"`);
  return `${Number.parseInt(maj, 16)}:${Number.parseInt(min, 16)}`;
}

export async function majorMinor(shell: Shell, device: string): Promise<string> {
  return majorMinorFromStat(await runChecked(shell, 'stat', ['-L', '-c', '%t:%T', device]));
}

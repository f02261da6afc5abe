import type { Shell, ShellResult } from '../../shared/shell.ts';

/** What is on a device, as far as the bootstrap is concerned. */
export type DiskContents =
  | { kind: 'blank' }
  | { kind: 'ours'; uuid: string; label: string | undefined }
  | { kind: 'foreign'; what: string };

/** `blkid -o export` output → key/value map. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function firstLine(r: ShellResult): string {
  return (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
}

/** 'an ext4', 'an xfs', 'a btrfs': by sound, for the types one meets. */
function article(word: string): string {
  return /^(?:[aeio]|x|ntfs|iso|f|hfs|lvm)/i.test(word) ? 'an' : 'a';
}

function describeSignature(tags: Record<string, string>): string {
  const type = tags.TYPE;
  const label = tags.LABEL ? ` labelled "${tags.LABEL}"` : '';
  if (type === 'crypto_LUKS') return `a LUKS encrypted volume (crypto_LUKS)${label}`;
  if (type === 'swap') return `swap space${label}`;
  if (type === 'LVM2_member') return 'an LVM physical volume (LVM2_member)';
  if (type && /raid/i.test(type)) return `a RAID member (${type})`;
  if (type)
    return `${article(type)} ${type} ${tags.USAGE === 'filesystem' || !tags.USAGE ? 'filesystem' : `signature (${tags.USAGE})`}${label}`;
  return `an unrecognised signature (${Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')})`;
}

/**
 * The blank-disk rule, as a pure decision over the three probes:
 * blank only if `blkid -p` exits 2 (no signature; any other failure is not
 * blank), `lsblk` lists no children and `wipefs --no-act` lists no signature.
 * Ours only if the whole device carries exactly our filesystem type.
 */
export function classifyDisk(
  probes: { blkid: ShellResult; lsblk: ShellResult; wipefs?: ShellResult },
  fsType: string,
): DiskContents {
  const { blkid, lsblk, wipefs } = probes;
  if (lsblk.exitCode !== 0)
    return { kind: 'foreign', what: `an unreadable device (lsblk: ${firstLine(lsblk)})` };
  const children = lsblk.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .slice(1);
  if (children.length > 0) return { kind: 'foreign', what: `partitions or holders (${children.join(', ')})` };

  if (blkid.exitCode === 0) {
    const tags = parseBlkidExport(blkid.stdout);
    if (tags.PTTYPE) return { kind: 'foreign', what: `a ${tags.PTTYPE} partition table` };
    if (tags.TYPE === fsType && tags.UUID) return { kind: 'ours', uuid: tags.UUID, label: tags.LABEL };
    return { kind: 'foreign', what: describeSignature(tags) };
  }
  if (blkid.exitCode === 8) return { kind: 'foreign', what: 'ambivalent signatures (blkid -p exit 8)' };
  if (blkid.exitCode !== 2) {
    return {
      kind: 'foreign',
      what: `an unreadable device (blkid -p exit ${blkid.exitCode}: ${firstLine(blkid)})`,
    };
  }
  // blkid found nothing: wipefs must agree before we call it blank.
  if (!wipefs) return { kind: 'foreign', what: 'an unverified device (wipefs not run)' };
  if (wipefs.exitCode !== 0)
    return { kind: 'foreign', what: `an unreadable device (wipefs: ${firstLine(wipefs)})` };
  const sigs = wipefs.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (sigs.length > 0) return { kind: 'foreign', what: `signatures found by wipefs (${sigs.join(', ')})` };
  return { kind: 'blank' };
}

/** Runs the probes (read-only) and classifies the device. */
export async function inspectDisk(shell: Shell, device: string, fsType: string): Promise<DiskContents> {
  const blkid = await shell.run('blkid', ['-p', '-o', 'export', device]);
  const lsblk = await shell.run('lsblk', ['-n', '-r', '-o', 'NAME', device]);
  const wipefs =
    blkid.exitCode === 2
      ? await shell.run('wipefs', ['--no-act', '--noheadings', '--output', 'TYPE,OFFSET', device])
      : undefined;
  return classifyDisk({ blkid, lsblk, wipefs }, fsType);
}

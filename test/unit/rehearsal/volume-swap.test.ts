import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fstabLinesFor, superblockFingerprint } from '../../../rehearsal/scenarios/volume-swap.ts';
import { expectedMarksDigest, markValues, parseClusterFiles } from '../../../rehearsal/world/db-images.ts';

const DUMPE2FS = `dumpe2fs 1.47.0 (5-Feb-2023)
Filesystem volume name:   dalston-data
Filesystem UUID:          0b5c3c4e-6f53-4d0a-9a43-1b1d2f7b1c11
Filesystem state:         clean
Mount count:              4
Last mount time:          Wed Dec  2 16:20:01 2026
Last write time:          Wed Dec  2 16:24:13 2026
`;

describe('rehearsal: volume swap', () => {
  it('fingerprints the superblock fields a mount or mkfs changes', () => {
    expect(superblockFingerprint(DUMPE2FS)).toBe(
      'Filesystem UUID: 0b5c3c4e-6f53-4d0a-9a43-1b1d2f7b1c11, Mount count: 4, ' +
        'Last mount time: Wed Dec  2 16:20:01 2026, Last write time: Wed Dec  2 16:24:13 2026',
    );
    expect(superblockFingerprint(DUMPE2FS.replace('Mount count:              4', 'Mount count: 5'))).not.toBe(
      superblockFingerprint(DUMPE2FS),
    );
    expect(() => superblockFingerprint('Filesystem UUID: x\n')).toThrow(/lacks "Mount count"/);
  });

  it("finds fstab's lines for the data directory only", () => {
    const fstab = [
      '# /data UUID=old /data ext4 defaults 0 2',
      'UUID=root / ext4 defaults 0 1',
      'UUID=new /data ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2',
      'UUID=other /data2 ext4 defaults 0 2',
      '',
    ].join('\n');
    expect(fstabLinesFor(fstab, '/data')).toEqual([
      'UUID=new /data ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2',
    ]);
  });

  it('reads the digest script output and refuses anything else', () => {
    const digest = 'a'.repeat(64);
    expect(parseClusterFiles(`${digest}  -\n1234\n1000\n`)).toEqual({
      digest,
      files: 1234,
      marksFound: 1000,
    });
    expect(() => parseClusterFiles('mount: permission denied\n')).toThrow(/unexpected output/);
  });

  it('the row values are the ones the marks digest is computed over', () => {
    const values = markValues('00ff');
    expect(values).toHaveLength(1000);
    expect(values[0]).toBe(createHash('md5').update('00ff:1').digest('hex'));
    expect(createHash('md5').update(values.join(',')).digest('hex')).toBe(expectedMarksDigest('00ff'));
  });
});

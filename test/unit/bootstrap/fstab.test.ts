import { describe, expect, it } from 'vitest';
import { FSTAB_MARKER, fstabEntry, mergeFstab, parseVerify, splitLines } from '../../../bootstrap/fstab.ts';
import { HostError } from '../../../shared/errors.ts';

const vol = { source: 'UUID=11111111-2222-3333-4444-555555555555', dataDir: '/data', fsType: 'ext4' };
const LINE =
  'UUID=11111111-2222-3333-4444-555555555555 /data ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2';

describe('fstab merge', () => {
  it('renders the owned line exactly', () => {
    expect(fstabEntry(vol)).toBe(LINE);
    expect(fstabEntry({ ...vol, dataDir: '/mnt/my data' })).toContain(' /mnt/my\\040data ext4 ');
    // On AWS the source is the volume's by-id link, which a snapshot copy cannot carry.
    expect(
      fstabEntry({ ...vol, source: '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0' }),
    ).toBe(
      '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0 /data ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2',
    );
  });

  it('appends marker + line, keeps other lines byte-for-byte, and is a no-op the second time', () => {
    const current =
      'UUID=aaaa /         ext4  defaults,discard 0 1\n#  comment\tkept  \n\n/swap none swap sw 0 0\n';
    const first = mergeFstab(current, vol);
    expect(first.action).toBe('added');
    expect(first.text).toBe(`${current}${FSTAB_MARKER}\n${LINE}\n`);
    const second = mergeFstab(first.text, vol);
    expect(second).toEqual({ action: 'unchanged', text: first.text });
  });

  it('adds a newline to a last line without one, and keeps CRLF files CRLF', () => {
    expect(mergeFstab('proc /proc proc defaults 0 0', vol).text).toBe(
      `proc /proc proc defaults 0 0\n${FSTAB_MARKER}\n${LINE}\n`,
    );
    const crlf = 'proc /proc proc defaults 0 0\r\n# x\r\n';
    const merged = mergeFstab(crlf, vol);
    expect(merged.text).toBe(`${crlf}${FSTAB_MARKER}\r\n${LINE}\r\n`);
    expect(mergeFstab(merged.text, vol).action).toBe('unchanged');
  });

  it('handles an empty or missing file', () => {
    expect(mergeFstab('', vol).text).toBe(`${FSTAB_MARKER}\n${LINE}\n`);
  });

  it('updates the owned line in place (new UUID) and leaves its neighbours alone', () => {
    const current = `a b c d 0 0\n${FSTAB_MARKER}\nUUID=old /data ext4 defaults 0 2\nz y x w 0 0\n`;
    const merged = mergeFstab(current, vol);
    expect(merged).toMatchObject({ action: 'updated', previous: 'UUID=old /data ext4 defaults 0 2' });
    expect(merged.text).toBe(`a b c d 0 0\n${FSTAB_MARKER}\n${LINE}\nz y x w 0 0\n`);
  });

  it('re-inserts the line under a marker whose line was deleted, and drops duplicate pairs', () => {
    const lonely = `${FSTAB_MARKER}\n# something else\n`;
    expect(mergeFstab(lonely, vol).text).toBe(`${FSTAB_MARKER}\n${LINE}\n# something else\n`);
    const dup = `${FSTAB_MARKER}\n${LINE}\nx /x ext4 defaults 0 0\n${FSTAB_MARKER}\nUUID=zzz /data ext4 defaults 0 2\n`;
    const merged = mergeFstab(dup, vol);
    expect(merged.text).toBe(`${FSTAB_MARKER}\n${LINE}\nx /x ext4 defaults 0 0\n`);
    expect(splitLines(merged.text).filter((l) => l.content.includes('/data')).length).toBe(1);
  });

  it('keeps a foreign line next to the marker byte-for-byte: only marker + our mount point is ours', () => {
    // Someone added their own line right under our marker (or deleted ours and kept the marker).
    const foreign = '/dev/xvdg\t/srv/scratch  xfs   noatime,nofail 0 0  ';
    const current = `proc /proc proc defaults 0 0\n${FSTAB_MARKER}\n${foreign}\n# tail\n`;
    const merged = mergeFstab(current, vol);
    expect(merged.action).toBe('added');
    expect(merged.text).toBe(`proc /proc proc defaults 0 0\n${FSTAB_MARKER}\n${LINE}\n${foreign}\n# tail\n`);
    expect(mergeFstab(merged.text, vol)).toEqual({ action: 'unchanged', text: merged.text });
    // The same under a duplicate marker: the marker goes, the foreign line stays.
    const dup = `${FSTAB_MARKER}\n${LINE}\n${FSTAB_MARKER}\n${foreign}`;
    expect(mergeFstab(dup, vol).text).toBe(`${FSTAB_MARKER}\n${LINE}\n${foreign}`);
    // A marker on the last line without a newline, foreign line above it: nothing of it is lost.
    expect(mergeFstab(`${foreign}\n${FSTAB_MARKER}`, vol).text).toBe(
      `${foreign}\n${FSTAB_MARKER}\n${LINE}\n`,
    );
  });

  it('refuses (exit 65) when an unmanaged line already mounts dataDir, instead of adding a duplicate', () => {
    for (const other of ['/dev/xvdf /data ext4 defaults,nofail 0 2', 'UUID=x\t/data/\txfs\tdefaults 0 0']) {
      let err: unknown;
      try {
        mergeFstab(`proc /proc proc defaults 0 0\n${other}\n`, vol);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HostError);
      expect((err as HostError).exitCode).toBe(65);
      expect((err as Error).message).toContain('fstab line 2 already mounts /data');
    }
    // a commented-out line or another mount point is no conflict
    expect(mergeFstab('# /dev/xvdf /data ext4 defaults 0 2\n/dev/x /data2 ext4 d 0 0\n', vol).action).toBe(
      'added',
    );
  });
});

describe('findmnt --verify output', () => {
  it('attributes problems to targets', () => {
    const out =
      '/data\n   [E] unreachable on boot required source: UUID=0000\n   [W] hmm\n/\n   [W] x\n\n0 parse errors, 1 error, 2 warnings\n';
    expect(parseVerify(out)).toEqual([
      { target: '/data', level: 'E', text: 'unreachable on boot required source: UUID=0000' },
      { target: '/data', level: 'W', text: 'hmm' },
      { target: '/', level: 'W', text: 'x' },
    ]);
  });
});

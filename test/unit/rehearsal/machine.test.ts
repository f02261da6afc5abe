import { describe, expect, it } from 'vitest';
import { missingPackages } from '../../../rehearsal/machine/host-prereqs.ts';
import { majorMinorFromStat } from '../../../rehearsal/machine/loop.ts';
import { nsenterArgs, nspawnArgs, parentPidFromStat } from '../../../rehearsal/machine/nspawn.ts';
import { debootstrapArgs, ROOTFS_RECIPE, recipeHash } from '../../../rehearsal/machine/recipe.ts';
import { udevDbRecord } from '../../../rehearsal/machine/udev-standin.ts';
import { staleEntries } from '../../harness/cache-entries.ts';

describe('rootfs recipe', () => {
  it('hashes the same recipe the same way whatever the package order', () => {
    const shuffled = { ...ROOTFS_RECIPE, packages: [...ROOTFS_RECIPE.packages].reverse() };
    expect(recipeHash(shuffled)).toBe(recipeHash(ROOTFS_RECIPE));
    expect(recipeHash(ROOTFS_RECIPE)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('changes the hash when a package, the suite or the layout changes', () => {
    const h = recipeHash(ROOTFS_RECIPE);
    expect(recipeHash({ ...ROOTFS_RECIPE, packages: [...ROOTFS_RECIPE.packages, 'curl'] })).not.toBe(h);
    expect(recipeHash({ ...ROOTFS_RECIPE, suite: 'trixie' })).not.toBe(h);
    expect(recipeHash({ ...ROOTFS_RECIPE, layout: ROOTFS_RECIPE.layout + 1 })).not.toBe(h);
  });

  it('keeps the mirror out of the hash: a cache built from one mirror is reused with another', () => {
    // A recipe carrying a mirror (as it once did) must hash like one without.
    const withMirror = { ...ROOTFS_RECIPE, mirror: 'http://a.example/debian' } as typeof ROOTFS_RECIPE;
    expect(recipeHash(withMirror)).toBe(recipeHash(ROOTFS_RECIPE));
    expect(Object.keys(ROOTFS_RECIPE)).not.toContain('mirror');
  });

  it('builds the debootstrap argv with the machine essentials and the given mirror', () => {
    const args = debootstrapArgs(ROOTFS_RECIPE, '/cache/rootfs-x.partial-1', 'http://mirror.example/debian');
    expect(args[0]).toBe('--variant=minbase');
    const include = args[1]!.replace('--include=', '').split(',');
    for (const p of ['systemd', 'systemd-sysv', 'dbus', 'docker.io', 'e2fsprogs', 'util-linux', 'git']) {
      expect(include).toContain(p);
    }
    expect(args.slice(2)).toEqual(['bookworm', '/cache/rootfs-x.partial-1', 'http://mirror.example/debian']);
  });

  it('finds stale cache entries: other recipes and dead partial builds, not live ones', () => {
    const names = [
      'rootfs-aaaa',
      'rootfs-bbbb',
      'rootfs-aaaa.partial-11',
      'rootfs-aaaa.partial-22',
      'compose',
    ];
    const alive = (pid: number) => pid === 22;
    expect(staleEntries(names, 'aaaa', alive)).toEqual(['rootfs-bbbb', 'rootfs-aaaa.partial-11']);
  });
});

describe('nspawn and nsenter argv', () => {
  it("uses LAB.md's recipe: no registration, keyring syscalls, writable cgroups, binds, own netns", () => {
    const args = nspawnArgs({
      rootfs: '/r',
      netnsPath: '/run/netns/n1',
      binds: [
        { host: '/dev/loop3' },
        { host: '/h/udev', machine: '/run/udev' },
        { host: '/h/x', readOnly: true },
      ],
      consoleLog: '/c.log',
    });
    expect(args).toContain('--register=no');
    expect(args).toContain('--system-call-filter=@keyring bpf');
    expect(args).toContain('--bind=/sys/fs/cgroup');
    expect(args).toContain('--network-namespace-path=/run/netns/n1');
    expect(args).toContain('--bind=/dev/loop3');
    expect(args).toContain('--bind=/h/udev:/run/udev');
    expect(args).toContain('--bind-ro=/h/x');
    expect(args.slice(-4)).toEqual(['-b', '-D', '/r', '--console=pipe']);
  });

  it('leaves out the netns option when the machine shares the host network', () => {
    expect(nspawnArgs({ rootfs: '/r', binds: [], consoleLog: '/c' }).join(' ')).not.toContain(
      'network-namespace',
    );
  });

  it('enters every namespace of the leader, chrooted, with a clean environment', () => {
    const args = nsenterArgs(4242, 'systemctl', ['is-active', 'dalston']);
    expect(args.slice(0, 2)).toEqual(['-t', '4242']);
    for (const f of ['-m', '-u', '-i', '-n', '-p', '-C', '-r', '-w']) expect(args).toContain(f);
    const sep = args.indexOf('--');
    expect(args.slice(sep + 1, sep + 3)).toEqual(['env', '-i']);
    expect(args.slice(-3)).toEqual(['systemctl', 'is-active', 'dalston']);
    expect(args.some((a) => a.startsWith('PATH=') && a.includes('/usr/sbin'))).toBe(true);
  });

  it('limits the time inside the machine when asked', () => {
    const args = nsenterArgs(7, 'docker', ['ps'], 9.5);
    const sep = args.indexOf('--');
    expect(args.slice(sep + 1, sep + 7)).toEqual(['timeout', '-k', '5', '10', 'env', '-i']);
  });

  it('reads the parent pid from /proc/<pid>/stat even when the name has spaces and parentheses', () => {
    expect(parentPidFromStat('1234 (systemd) S 1200 1234 1234 0 -1')).toBe(1200);
    expect(parentPidFromStat('99 (a (b) c) R 7 99 99 0')).toBe(7);
    expect(parentPidFromStat('garbage')).toBeUndefined();
  });
});

describe('udev stand-in', () => {
  it('tags the device for systemd and links it by UUID and label once it has a filesystem', () => {
    const rec = udevDbRecord({
      name: 'loop3',
      majorMinor: '7:3',
      fsUuid: 'u-1',
      fsType: 'ext4',
      fsLabel: 'dalston-data',
    });
    expect(rec.split('\n')).toEqual(
      expect.arrayContaining([
        'S:disk/by-uuid/u-1',
        'S:disk/by-label/dalston-data',
        'I:1',
        'E:ID_FS_UUID=u-1',
        'E:ID_FS_TYPE=ext4',
        'G:systemd',
        'Q:systemd',
      ]),
    );
  });

  it('announces a blank disk without any link', () => {
    const rec = udevDbRecord({ name: 'loop3', majorMinor: '7:3' });
    expect(rec).not.toContain('S:');
    expect(rec).toContain('G:systemd');
  });
});

describe('host helpers', () => {
  it('converts stat hex major:minor to decimal', () => {
    expect(majorMinorFromStat('7:a\n')).toBe('7:10');
    expect(majorMinorFromStat('103:0')).toBe('259:0');
    expect(() => majorMinorFromStat('')).toThrow(/unexpected stat output/);
  });

  it('lists each missing package once', () => {
    const tools = [
      { command: 'losetup', pkg: 'util-linux' },
      { command: 'nsenter', pkg: 'util-linux' },
      { command: 'systemd-nspawn', pkg: 'systemd-container' },
      { command: 'git', pkg: 'git' },
    ];
    expect(missingPackages(tools, (c) => c === 'git')).toEqual(['util-linux', 'systemd-container']);
    expect(missingPackages(tools, () => true)).toEqual([]);
  });
});

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapCommand } from '../../../bootstrap/command.ts';
import { FSTAB_MARKER } from '../../../bootstrap/fstab.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand } from '../../harness/require.ts';
import { fileHash, makeRoot, mountedAt, runBootstrap, sh, sha256, unmountAll } from './bootstrap-process.ts';

/**
 * The data volume's identity and what "refused" means, on real loop devices:
 * a refusal changes nothing (no mkfs, no mount, fstab as it was), a snapshot
 * copy is never taken for the volume, and only our own fstab line is ever
 * replaced.
 */

const MiB = 1024 * 1024;
const STEPS = 'disk,mount,fstab';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function loop(sizeBytes = 64 * MiB): Promise<LoopDevice> {
  const l = await createLoopDevice({ sizeBytes });
  cleanups.push(async () => {
    await l.detach();
    await rm(l.file, { force: true });
  });
  return l;
}

async function scratch(device: string, fstab?: string) {
  const r = await makeRoot((dataDir) => ({ dataDir, volume: { device, waitSeconds: 10 } }), fstab);
  cleanups.push(async () => {
    await unmountAll(r.dir);
    await rm(r.dir, { recursive: true, force: true });
  });
  return r;
}

const uuidOf = async (device: string) =>
  (await sh('blkid', ['-p', '-s', 'UUID', '-o', 'value', device])).trim();
const isBlank = async (device: string) =>
  (await sh('blkid', ['-p', device]).catch(() => 'blank')) === 'blank';

beforeAll(() => {
  for (const [cmd, pkg] of [
    ['blkid', 'util-linux'],
    ['findmnt', 'util-linux'],
    ['mkfs.ext4', 'e2fsprogs'],
  ]) {
    requireCommand(cmd!, `apt-get install -y ${pkg}`);
  }
});

describe('a snapshot copy of the data volume (same filesystem UUID)', () => {
  it('is refused when attached beside the volume: exit 65 naming both, nothing mounted, nothing written', async () => {
    const ours = await loop();
    await sh('mkfs.ext4', ['-q', '-L', 'dalston-data', ours.device]);
    const copy = await loop();
    await sh('dd', [`if=${ours.device}`, `of=${copy.device}`, 'bs=4M', 'conv=fsync', 'status=none']);
    const uuid = await uuidOf(ours.device);
    expect(await uuidOf(copy.device)).toBe(uuid);
    const s = await scratch(ours.device);
    const copyBefore = await sha256(copy.device);
    const fstabBefore = await fileHash(s.fstab);

    const run = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain(`filesystem UUID ${uuid} is on 2 devices: ${ours.device}`);
    expect(run.stderr).toContain(copy.device);
    expect(await mountedAt(s.dataDir)).toBeUndefined();
    expect(await sha256(copy.device)).toBe(copyBefore);
    expect(await fileHash(s.fstab)).toBe(fstabBefore);
  });

  it('mounted at dataDir in the volume\'s place is another device, not "already mounted" (exit 65)', async () => {
    const ours = await loop();
    await sh('mkfs.ext4', ['-q', '-L', 'dalston-data', ours.device]);
    const copy = await loop();
    await sh('dd', [`if=${ours.device}`, `of=${copy.device}`, 'bs=4M', 'conv=fsync', 'status=none']);
    const s = await scratch(ours.device);
    await mkdir(s.dataDir);
    // What a UUID= fstab line may do at boot: mount whichever device udev linked last.
    await sh('mount', [copy.device, s.dataDir]);

    const run = await runBootstrap(['--root', s.root, '--steps', 'mount']);
    expect(run.code).toBe(65);
    expect(run.steps.mount?.result).toBe('failed');
    expect(await mountedAt(s.dataDir)).toBe(copy.device);
    // And once the copy is gone, the volume itself is recognised by its device number.
    await sh('umount', [s.dataDir]);
    await copy.detach();
    await sh('mount', [ours.device, s.dataDir]);
    const again = await runBootstrap(['--root', s.root, '--steps', 'mount']);
    expect(again.code).toBe(0);
    expect(again.steps.mount).toMatchObject({ result: 'unchanged' });
    expect(again.steps.mount?.detail).toContain(`${ours.device} (7:`);
  });
});

describe('refused means nothing changed', () => {
  it('another device at dataDir is refused before the blank volume is formatted', async () => {
    const ours = await loop();
    const other = await loop();
    await sh('mkfs.ext4', ['-q', other.device]);
    const s = await scratch(ours.device);
    await mkdir(s.dataDir);
    await sh('mount', [other.device, s.dataDir]);
    const before = await sha256(ours.device);

    const run = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(run.code).toBe(65);
    expect(run.steps.disk?.result).toBe('failed');
    expect(run.stderr).toContain(`${s.dataDir} already has ${other.device}`);
    expect(run.stderr).toContain(`${ours.device} is blank and was not formatted`);
    expect(await isBlank(ours.device)).toBe(true);
    expect(await sha256(ours.device)).toBe(before);
    expect(await mountedAt(s.dataDir)).toBe(other.device);
  });

  it('content under an unmounted dataDir (the root disk) is refused: no mkfs, no mount over it', async () => {
    const blank = await loop();
    const s = await scratch(blank.device);
    await mkdir(join(s.dataDir, 'postgres'), { recursive: true });
    await writeFile(join(s.dataDir, 'postgres', 'PG_VERSION'), '18\n');

    const run = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(run.code).toBe(65);
    expect(run.stderr).toContain(
      `${s.dataDir} is not mounted but already holds 1 entry on the root disk (postgres)`,
    );
    expect(await isBlank(blank.device)).toBe(true);

    // The same for a volume that already holds our filesystem: it is not mounted over the content.
    await sh('mkfs.ext4', ['-q', '-L', 'dalston-data', blank.device]);
    const again = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(again.code).toBe(65);
    expect(again.steps.disk?.result).toBe('unchanged');
    expect(again.steps.mount?.result).toBe('failed');
    expect(await mountedAt(s.dataDir)).toBeUndefined();
    expect(await readFile(join(s.dataDir, 'postgres', 'PG_VERSION'), 'utf8')).toBe('18\n');
  });
});

describe('fstab', () => {
  it('keeps a foreign line next to our marker byte-for-byte and adds ours between them', async () => {
    const l = await loop();
    const foreign = 'tmpfs\t/mnt  tmpfs   noauto,size=1M 0 0';
    const fstab = `# /etc/fstab\n${FSTAB_MARKER}\n${foreign}\n`;
    const s = await scratch(l.device, fstab);

    const run = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const uuid = await uuidOf(l.device);
    const ours = `UUID=${uuid} ${s.dataDir} ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2`;
    const written = await readFile(s.fstab, 'utf8');
    expect(written).toBe(`# /etc/fstab\n${FSTAB_MARKER}\n${ours}\n${foreign}\n`);
    expect(await sh('findmnt', ['--verify', '--tab-file', s.fstab])).toContain('Success');

    // A re-run is a no-op; the foreign line is still there, byte for byte.
    const second = await runBootstrap(['--root', s.root, '--steps', STEPS]);
    expect(second.code).toBe(0);
    expect(second.steps.fstab?.result).toBe('unchanged');
    expect(await readFile(s.fstab, 'utf8')).toBe(written);
  });
});

describe('fstab on AWS (volume.id)', () => {
  it("names the EBS volume's by-id link, which no snapshot copy carries, instead of the UUID", async () => {
    const l = await loop();
    await sh('mkfs.ext4', ['-q', '-L', 'dalston-data', l.device]);
    const s = await makeRoot((dataDir) => ({
      dataDir,
      volume: { id: 'vol-0123456789abcdef0', waitSeconds: 10 },
    }));
    cleanups.push(async () => {
      await unmountAll(s.dir);
      await rm(s.dir, { recursive: true, force: true });
    });
    // udev's link for the volume (60-persistent-storage: model + serial), in a private /dev tree.
    const devRoot = await mkdtemp(join(s.dir, 'dev-'));
    const name = 'nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0';
    await mkdir(join(devRoot, 'disk/by-id'), { recursive: true });
    await symlink(l.device, join(devRoot, 'disk/by-id', name));
    const sysfsRoot = await mkdtemp(join(s.dir, 'sys-'));
    let out = '';
    const code = await bootstrapCommand(['--root', s.root, '--steps', STEPS], {
      devRoot,
      sysfsRoot,
      stdout: { write: (x: string) => (out += x) },
      stderr: { write: (x: string) => (out += x) },
      log: pino({ level: 'silent' }),
    });
    expect(out).toBe('');
    expect(code).toBe(0);
    expect(await mountedAt(s.dataDir)).toBe(l.device);
    expect(await readFile(s.fstab, 'utf8')).toContain(
      `${FSTAB_MARKER}\n/dev/disk/by-id/${name} ${s.dataDir} ext4 defaults,nofail,x-systemd.device-timeout=90s 0 2\n`,
    );
  });
});

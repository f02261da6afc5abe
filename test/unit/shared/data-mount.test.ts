import { describe, expect, it } from 'vitest';
import { preflight } from '../../../agent/preflight.ts';
import { createHostProbe, type SystemInfo } from '../../../agent/report/host-probe.ts';
import { requireDataMounted } from '../../../bootstrap/steps/dirs.ts';
import { ExitCode, type HostError } from '../../../shared/errors.ts';
import {
  decideDataMount,
  type MountProbe,
  observeDataMount,
  parseMountInfo,
} from '../../../shared/mount/data-mount.ts';
import { FakeDocker, memoryLogger } from '../agent/fakes.ts';
import { fakeContext } from '../bootstrap/fakes.ts';
import { type FakeMount, fakeMounts, ROOT_MOUNT } from './fake-mounts.ts';

const MOUNTINFO = [
  '22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard',
  '23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw',
  '40 22 259:3 / /data rw,noatime shared:20 master:3 - ext4 /dev/nvme1n1 rw',
  '41 22 259:4 / /mnt/with\\040space rw - xfs /dev/nvme2n1 rw',
  '42 22 259:1 /srv/fake /fake\\040data rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw',
  'not a mountinfo line',
].join('\n');

const EBS: FakeMount = { mountPoint: '/data', source: '/dev/nvme1n1', majorMinor: '259:3' };
/** `mount --bind /srv/fake /data`: a directory of the root disk shown at dataDir. */
const BIND_FROM_ROOT: FakeMount = { ...ROOT_MOUNT, mountPoint: '/data', root: '/srv/fake' };

describe('parseMountInfo', () => {
  it('reads maj:min, root, mount point, type and source, skipping optional fields and junk', () => {
    const m = parseMountInfo(MOUNTINFO);
    expect(m).toHaveLength(5);
    expect(m[2]).toEqual({
      majorMinor: '259:3',
      root: '/',
      mountPoint: '/data',
      fsType: 'ext4',
      source: '/dev/nvme1n1',
    });
    expect(m[3]).toMatchObject({ mountPoint: '/mnt/with space', fsType: 'xfs', source: '/dev/nvme2n1' });
    expect(m[4]).toMatchObject({ majorMinor: '259:1', root: '/srv/fake', mountPoint: '/fake data' });
  });
});

describe('decideDataMount', () => {
  const facts = { dataDir: '/data', resolved: '/data', mountInfo: MOUNTINFO, dataDev: 3, rootDev: 1 };

  it('a mount point of its own on another device is the data volume', () => {
    expect(decideDataMount(facts)).toEqual({
      mountPoint: '/data',
      resolved: '/data',
      mounted: true,
      device: '/dev/nvme1n1',
      majorMinor: '259:3',
      reason: null,
    });
  });

  it('keeps the configured dataDir as mountPoint when it resolves elsewhere (a symlink)', () => {
    expect(decideDataMount({ ...facts, dataDir: '/link' })).toMatchObject({
      mountPoint: '/link',
      resolved: '/data',
      mounted: true,
    });
  });

  it('a missing dataDir is not mounted', () => {
    expect(decideDataMount({ ...facts, resolved: null })).toMatchObject({
      mounted: false,
      device: null,
      reason: '/data does not exist',
    });
  });

  it('a directory that is no mount point of its own is not mounted (also below or beside one)', () => {
    for (const dir of ['/srv/data', '/data/sub', '/database']) {
      expect(decideDataMount({ ...facts, dataDir: dir, resolved: dir, dataDev: 1 })).toMatchObject({
        mounted: false,
        device: null,
        reason: `${dir} is not a mount point`,
      });
    }
  });

  it('a bind mount from the root disk is not mounted, naming what sits there', () => {
    const bind = { ...facts, dataDir: '/fake data', resolved: '/fake data', dataDev: 1 };
    expect(decideDataMount(bind)).toEqual({
      mountPoint: '/fake data',
      resolved: '/fake data',
      mounted: false,
      device: '/dev/nvme0n1p1',
      majorMinor: '259:1',
      reason: '/fake data is on the root filesystem (/dev/nvme0n1p1; a bind mount from the root disk?)',
    });
  });

  it('/ itself is never the data volume', () => {
    expect(decideDataMount({ ...facts, dataDir: '/', resolved: '/', dataDev: 1 }).mounted).toBe(false);
  });

  it('the top-most of stacked mounts decides', () => {
    const stacked = `${MOUNTINFO}\n50 40 0:55 / /data rw - tmpfs tmpfs rw`;
    expect(decideDataMount({ ...facts, mountInfo: stacked, dataDev: 55 })).toMatchObject({
      mounted: true,
      device: 'tmpfs',
      majorMinor: '0:55',
    });
  });

  it('unknown facts never count as mounted', () => {
    expect(decideDataMount({ ...facts, mountInfo: null })).toMatchObject({
      mounted: false,
      reason: 'the mount table (/proc/self/mountinfo) could not be read',
    });
    expect(decideDataMount({ ...facts, dataDev: null })).toMatchObject({
      mounted: false,
      device: '/dev/nvme1n1',
      reason: 'the device of /data could not be read',
    });
    expect(decideDataMount({ ...facts, rootDev: null }).reason).toBe('the device of / could not be read');
  });
});

describe('observeDataMount', () => {
  it('resolves dataDir and compares its device with the root filesystem', async () => {
    expect(await observeDataMount('/data', fakeMounts([EBS]))).toMatchObject({
      mounted: true,
      device: '/dev/nvme1n1',
    });
    expect(await observeDataMount('/link', fakeMounts([EBS], { links: { '/link': '/data' } }))).toMatchObject(
      {
        mountPoint: '/link',
        mounted: true,
      },
    );
    expect(await observeDataMount('/data', fakeMounts([BIND_FROM_ROOT]))).toMatchObject({
      mounted: false,
      device: '/dev/nvme0n1p1',
    });
  });

  it('treats a read that throws as an unknown fact', async () => {
    const boom = () => Promise.reject(new Error('EIO'));
    const base = fakeMounts([EBS]);
    expect((await observeDataMount('/data', { ...base, realpath: boom })).reason).toBe(
      '/data does not exist',
    );
    expect((await observeDataMount('/data', { ...base, mountInfo: boom })).mounted).toBe(false);
    expect((await observeDataMount('/data', { ...base, deviceOf: boom })).mounted).toBe(false);
  });
});

/**
 * The three places that ask "is the data volume mounted at dataDir" agree, on
 * the case they used to disagree on: a directory of the root disk bind-mounted
 * at dataDir (the old host probe reported it mounted, the preflight refused it).
 */
describe('agent preflight, host probe and bootstrap agree', () => {
  const idleSi: SystemInfo = {
    currentLoad: async () => ({ currentLoad: 1 }),
    mem: async () => ({ total: 2, available: 1 }),
    fsSize: async () => [],
    graphics: async () => ({ controllers: [] }),
  };

  type Verdict = { mounted: boolean; exitCode?: number; message?: string };

  async function verdicts(mounts: MountProbe) {
    const pre: Verdict = await preflight({
      docker: new FakeDocker(),
      compose: { version: async () => '2.26.1' },
      dataDir: '/data',
      requireDataMount: true,
      composeMinVersion: '2.24.4',
      mounts,
      logger: memoryLogger().logger,
    }).then(
      () => ({ mounted: true }),
      (e: HostError) => ({ mounted: false, exitCode: e.exitCode, message: e.message }),
    );
    const host = (
      await createHostProbe({
        dataDir: '/data',
        si: idleSi,
        mounts,
        hasNvidiaDriver: async () => false,
      }).sample()
    ).dataVolume;
    // The gate the dirs and dalston steps pass before writing under dataDir.
    const boot: Verdict = await requireDataMounted(
      fakeContext({ dataDir: '/data' }, { mounts }),
      'data directories',
    ).then(
      () => ({ mounted: true }),
      (e: HostError) => ({ mounted: false, message: e.message }),
    );
    return { pre, host, boot };
  }

  it('a bind mount from the root disk: not mounted, for all three', async () => {
    const { pre, host, boot } = await verdicts(fakeMounts([BIND_FROM_ROOT]));
    expect(pre).toMatchObject({ mounted: false, exitCode: ExitCode.dataNotMounted });
    expect(pre.message).toContain('/data is on the root filesystem');
    expect(host).toEqual({ mountPoint: '/data', mounted: false, device: null, usedPercent: null });
    expect(boot.mounted).toBe(false);
    expect(boot.message).toMatch(/^\/data is on the root filesystem .*: refusing to create data directories/);
  });

  it('a plain directory on the root disk: not mounted, for all three', async () => {
    const { pre, host, boot } = await verdicts(fakeMounts([], { dirs: ['/data'] }));
    expect(pre).toMatchObject({ mounted: false, exitCode: ExitCode.dataNotMounted });
    expect(host.mounted).toBe(false);
    expect(boot.message).toMatch(/^\/data is not a mount point: refusing/);
  });

  it('the data volume mounted: the preflight passes and the host probe names its device', async () => {
    const { pre, host, boot } = await verdicts(fakeMounts([EBS]));
    expect(pre.mounted).toBe(true);
    expect(boot.mounted).toBe(true);
    expect(host).toMatchObject({ mounted: true, device: '/dev/nvme1n1' });
  });
});

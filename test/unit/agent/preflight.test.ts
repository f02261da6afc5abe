import { describe, expect, it } from 'vitest';
import { preflight } from '../../../agent/preflight.ts';
import { DockerError } from '../../../shared/engine/docker/types.ts';
import { ExitCode, HostError } from '../../../shared/errors.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';
import { FakeDocker, memoryLogger } from './fakes.ts';

// Whether dataDir is the data volume's mount is decided in shared/mount/data-mount.ts
// (tested in test/unit/shared/data-mount.test.ts); here: what the preflight does with it.
/** The data volume at /data; /srv/data a plain directory on the root disk. */
const probe = () =>
  fakeMounts([{ mountPoint: '/data', source: '/dev/nvme1n1', majorMinor: '259:3' }], { dirs: ['/srv/data'] });

describe('preflight', () => {
  const compose = (v: string | Error) => ({
    version: async () => {
      if (v instanceof Error) throw v;
      return v;
    },
  });

  it('passes and logs engine, API and compose versions', async () => {
    const { logger, lines } = memoryLogger();
    const r = await preflight({
      docker: new FakeDocker(),
      compose: compose('2.26.1'),
      dataDir: '/data',
      requireDataMount: true,
      composeMinVersion: '2.24.4',
      mounts: probe(),
      logger,
    });
    expect(r).toEqual({
      engine: { engineVersion: '20.10.24', apiVersion: '1.41' },
      composeVersion: '2.26.1',
    });
    expect(lines).toContainEqual(expect.objectContaining({ engineVersion: '20.10.24', apiVersion: '1.41' }));
    expect(lines).toContainEqual(expect.objectContaining({ composeVersion: '2.26.1' }));
  });

  it('exits 3 naming the data dir when the data volume is not mounted, before touching Docker', async () => {
    const docker = new FakeDocker();
    const err = await preflight({
      docker,
      compose: compose('2.26.1'),
      dataDir: '/srv/data',
      requireDataMount: true,
      composeMinVersion: '2.24.4',
      mounts: probe(),
      logger: memoryLogger().logger,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(HostError);
    expect(err.exitCode).toBe(ExitCode.dataNotMounted);
    expect(err.message).toMatch(
      /^the data volume is not mounted at \/srv\/data \(\/srv\/data is not a mount point\): mount it with `dalston-host bootstrap --steps disk,mount`/,
    );
    expect(docker.calls).toEqual([]);
  });

  it('exits 65 when the bootstrap refused the data volume, even though something is mounted at dataDir', async () => {
    const docker = new FakeDocker();
    const err = await preflight({
      docker,
      compose: compose('2.26.1'),
      dataDir: '/data',
      requireDataMount: true,
      composeMinVersion: '2.24.4',
      mounts: probe(),
      volumeRefusal: async () => ({
        step: 'disk',
        message: 'two disks carry the data filesystem UUID 1234',
        at: '2026-12-02T05:00:00Z',
      }),
      logger: memoryLogger().logger,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(HostError);
    expect(err.exitCode).toBe(ExitCode.unsafeDisk);
    expect(err.message).toMatch(/refused the data volume at this boot \(disk step: two disks carry/);
    expect(docker.calls).toEqual([]);
  });

  it('skips the mount check when requireDataMount is false (and says so)', async () => {
    const { logger, lines } = memoryLogger();
    await preflight({
      docker: new FakeDocker(),
      compose: compose('2.26.1'),
      dataDir: '/srv/data',
      requireDataMount: false,
      composeMinVersion: '2.24.4',
      mounts: probe(),
      logger,
    });
    expect(lines.some((l) => /requireDataMount is false/.test(String(l.msg)))).toBe(true);
  });

  it('fails with exit 69 when Docker does not answer', async () => {
    const docker = new FakeDocker();
    docker.failWith = new DockerError('unavailable', 'docker version: daemon not reachable (ECONNREFUSED)');
    const err = await preflight({
      docker,
      compose: compose('2.26.1'),
      dataDir: '/data',
      requireDataMount: true,
      composeMinVersion: '2.24.4',
      mounts: probe(),
      logger: memoryLogger().logger,
    }).catch((e) => e);
    expect(err.exitCode).toBe(ExitCode.unavailable);
    expect(err.message).toMatch(/Docker does not answer: .*ECONNREFUSED/);
  });

  it('fails with exit 69 when the compose v2 CLI is missing or is v1', async () => {
    for (const [v, msg] of [
      [
        new Error("docker: 'compose' is not a docker command."),
        /compose v2 CLI is not available: .*not a docker command/,
      ],
      ['1.29.2', /docker compose 1\.29\.2 is older than 2\.24\.4 \(docker\.composeMinVersion\)/],
      ['2.20.2', /docker compose 2\.20\.2 is older than 2\.24\.4/],
    ] as const) {
      const err = await preflight({
        docker: new FakeDocker(),
        compose: compose(v),
        dataDir: '/data',
        requireDataMount: true,
        composeMinVersion: '2.24.4',
        mounts: probe(),
        logger: memoryLogger().logger,
      }).catch((e) => e);
      expect(err.exitCode).toBe(ExitCode.unavailable);
      expect(err.message).toMatch(msg);
    }
  });
});

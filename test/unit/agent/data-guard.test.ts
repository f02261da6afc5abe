import { describe, expect, it } from 'vitest';
import { type DataGuard, systemDataGuard } from '../../../agent/data-guard.ts';
import {
  bindKey,
  checkDataVolume,
  type DataVolumeCheck,
  majorMinorOf,
} from '../../../agent/supervisor/data-binds.ts';
import { plan } from '../../../agent/supervisor/planner.ts';
import { GUARD_CALM, guardResumeAt, guardTripped } from '../../../agent/supervisor/policy.ts';
import { stackState } from '../../../agent/supervisor/stack-state.ts';
import { Supervisor } from '../../../agent/supervisor/supervisor.ts';
import type { ContainerInfo, ContainerMount } from '../../../shared/engine/docker/types.ts';
import type { DataMount } from '../../../shared/mount/data-mount.ts';
import { container, FakeClock, FakeCompose, FakeDocker, memoryLogger, testPolicy } from './fakes.ts';

const MOUNTED: DataMount = {
  mountPoint: '/data',
  resolved: '/data',
  mounted: true,
  device: '/dev/nvme1n1',
  majorMinor: '259:3',
  reason: null,
};
const GONE: DataMount = {
  mountPoint: '/data',
  resolved: '/data',
  mounted: false,
  device: null,
  majorMinor: null,
  reason: '/data is not a mount point',
};

const bind = (source: string, destination: string): ContainerMount => ({ type: 'bind', source, destination });
const pg = (over: Partial<ContainerInfo> = {}) =>
  container({
    service: 'postgres',
    pid: 100,
    mounts: [bind('/data/postgres', '/var/lib/postgresql')],
    ...over,
  });
const gw = (over: Partial<ContainerInfo> = {}) =>
  container({
    service: 'gateway',
    pid: 101,
    dependsOn: ['postgres'],
    mounts: [bind('/data/models', '/models'), bind('/etc/dalston/x', '/x')],
    ...over,
  });
const orchestrator = () =>
  container({ service: 'orchestrator', pid: 102, dependsOn: ['postgres'], mounts: [] });

describe('checkDataVolume (pure)', () => {
  it('is ok when every bind under dataDir is on the volume device', () => {
    const devices = new Map([
      [bindKey('id-postgres', '/var/lib/postgresql'), '259:3'],
      [bindKey('id-gateway', '/models'), '259:3'],
    ]);
    expect(
      checkDataVolume({
        dataDir: '/data',
        mount: MOUNTED,
        lastVolumeDevice: '259:3',
        containers: [pg(), gw()],
        bindDevices: devices,
      }),
    ).toEqual({ ok: true, reason: null, offenders: new Map() });
  });

  it('volume not mounted: every container holding a bind under dataDir is an offender', () => {
    const c = checkDataVolume({
      dataDir: '/data',
      mount: GONE,
      lastVolumeDevice: '259:3',
      containers: [pg(), gw(), orchestrator(), gw({ id: 'old', service: 'old', state: 'exited' })],
      bindDevices: new Map(),
    });
    expect(c.ok).toBe(false);
    expect(c.reason).toBe('data volume missing: /data is not a mount point');
    expect([...c.offenders.keys()]).toEqual(['postgres', 'gateway']);
    expect(c.offenders.get('postgres')?.why).toMatch(
      /binds \/data\/postgres while \/data is not the data volume/,
    );
  });

  it('a bind the container sees on another device (a root-disk dir under a later mount) is caught', () => {
    const devices = new Map([
      [bindKey('id-postgres', '/var/lib/postgresql'), '259:1'],
      [bindKey('id-gateway', '/models'), '259:3'],
    ]);
    const c = checkDataVolume({
      dataDir: '/data',
      mount: MOUNTED,
      lastVolumeDevice: '259:3',
      containers: [pg(), gw()],
      bindDevices: devices,
    });
    expect(c.ok).toBe(false);
    expect([...c.offenders.keys()]).toEqual(['postgres']);
    expect(c.reason).toMatch(
      /^data volume missing: .*\/var\/lib\/postgresql \(\/data\/postgres\) is on device 259:1/,
    );
  });

  it('volume gone: a bind still on the last seen volume device was pulled (onVolume), another was not', () => {
    const c = checkDataVolume({
      dataDir: '/data',
      mount: GONE,
      lastVolumeDevice: '259:3',
      containers: [pg(), gw()],
      bindDevices: new Map([
        [bindKey('id-postgres', '/var/lib/postgresql'), '259:3'],
        [bindKey('id-gateway', '/models'), '259:1'],
      ]),
    });
    expect(c.offenders.get('postgres')?.onVolume).toBe(true);
    expect(c.offenders.get('gateway')?.onVolume).toBe(false);
    const never = checkDataVolume({
      dataDir: '/data',
      mount: GONE,
      lastVolumeDevice: null,
      containers: [pg()],
      bindDevices: new Map([[bindKey('id-postgres', '/var/lib/postgresql'), '259:3']]),
    });
    expect(never.offenders.get('postgres')?.onVolume).toBe(false);
  });

  it('an unreadable device (container gone in between) is left for the next check', () => {
    const c = checkDataVolume({
      dataDir: '/data',
      mount: MOUNTED,
      lastVolumeDevice: '259:3',
      containers: [pg()],
      bindDevices: new Map([[bindKey('id-postgres', '/var/lib/postgresql'), null]]),
    });
    expect(c.ok).toBe(true);
  });

  it('binds elsewhere, volumes, and prefixes that only look alike are not data binds', () => {
    const c = checkDataVolume({
      dataDir: '/data',
      mount: GONE,
      lastVolumeDevice: '259:3',
      containers: [
        container({
          service: 'x',
          mounts: [
            bind('/database/x', '/x'),
            { type: 'volume', source: '/data/vol', destination: '/v' },
            bind('/etc/x', '/e'),
          ],
        }),
      ],
      bindDevices: new Map(),
    });
    expect(c.offenders.size).toBe(0);
  });

  it('a bind through the resolved path of a symlinked dataDir counts', () => {
    const c = checkDataVolume({
      dataDir: '/data',
      mount: { ...GONE, resolved: '/mnt/ebs' },
      lastVolumeDevice: '259:3',
      containers: [pg({ mounts: [bind('/mnt/ebs/postgres', '/var/lib/postgresql')] })],
      bindDevices: new Map(),
    });
    expect([...c.offenders.keys()]).toEqual(['postgres']);
  });

  it('majorMinorOf decodes Linux st_dev, large numbers included', () => {
    expect(majorMinorOf(0xfe00n)).toBe('254:0');
    expect(majorMinorOf(0x10301n)).toBe('259:1');
    expect(majorMinorOf(BigInt(7 * 256 + 3))).toBe('7:3');
    // major 4096, minor 256: the high bits live above bit 32 and bit 20.
    expect(majorMinorOf((0x1n << 44n) | (0x1n << 20n))).toBe('4096:256');
  });
});

describe('systemDataGuard (IO behind its seam)', () => {
  const io = (files: Record<string, string>, devs: Record<string, bigint>) => ({
    readText: async (p: string) => files[p] ?? null,
    statDev: async (p: string) => devs[p] ?? null,
  });
  const mounts = { realpath: async () => null, deviceOf: async () => null, mountInfo: async () => null };

  it("reads the bind's device from the container's own mountinfo, not the host path", async () => {
    const g = systemDataGuard(
      '/data',
      mounts,
      io(
        {
          '/proc/100/mountinfo':
            '800 700 0:55 / / rw - overlay overlay rw\n801 800 259:1 /data/postgres /var/lib/postgresql rw - ext4 /dev/nvme0n1p1 rw',
        },
        // The host path now shows the volume (259:3): only the container's table tells the truth.
        { '/data/postgres': 0x10303n },
      ),
    );
    expect(await g.bindDevices(pg(), pg().mounts)).toEqual(['259:1']);
  });

  it('falls back to the host path without a process, and to null when that fails too', async () => {
    const g = systemDataGuard('/data', mounts, io({}, { '/data/postgres': 0x10303n }));
    expect(await g.bindDevices(pg({ pid: null }), pg().mounts)).toEqual(['259:3']);
    expect(await g.bindDevices(pg({ pid: null }), [bind('/data/nope', '/n')])).toEqual([null]);
  });
});

describe('plan with the data guard tripped', () => {
  const graph = new Map([
    ['postgres', []],
    ['gateway', ['postgres']],
    ['orchestrator', ['postgres']],
  ]);
  const tripped = (offenders: string[]): DataVolumeCheck => ({
    ok: false,
    reason: 'data volume missing: /data is not a mount point',
    offenders: new Map(offenders.map((s) => [s, { why: `${s} binds /data/${s}`, onVolume: true }])),
  });
  const base = {
    now: 1_000_000,
    services: ['gateway', 'orchestrator', 'postgres'],
    graph,
    memory: new Map(),
    busy: new Set<string>(),
    policy: testPolicy,
    random: () => 0.5,
    allowRecreate: true,
  };

  it('stops the holders dependents first, and heals nothing (not even an unrelated unhealthy service)', () => {
    const p = plan({
      ...base,
      containers: [pg({ health: 'unhealthy' }), gw(), { ...orchestrator(), health: 'unhealthy' }],
      dataVolume: tripped(['postgres', 'gateway']),
    });
    expect(p.decisions).toEqual([
      { kind: 'stop', service: 'gateway', reason: 'gateway binds /data/gateway', onVolume: true },
      { kind: 'stop', service: 'postgres', reason: 'postgres binds /data/postgres', onVolume: true },
    ]);
    expect(p.notes.filter((n) => n.kind === 'data-volume-missing').map((n) => n.service)).toEqual([
      'gateway',
      'postgres',
    ]);
    // Stops cost no restart budget.
    expect([...p.memory.values()].every((m) => m.agentRestarts === 0)).toBe(true);
  });

  it('no recreate of a missing service, no second stop of a busy or already stopped one', () => {
    const p = plan({
      ...base,
      containers: [pg({ state: 'exited' }), gw()],
      busy: new Set(['gateway']),
      dataVolume: tripped(['postgres', 'gateway']),
    });
    expect(p.decisions).toEqual([]);
  });

  it('an ok check plans as before', () => {
    const p = plan({
      ...base,
      containers: [pg({ health: 'unhealthy' }), gw(), orchestrator()],
      dataVolume: { ok: true, reason: null, offenders: new Map() },
    });
    expect(p.decisions.map((d) => `${d.kind} ${d.service}`)).toEqual(['restart postgres']);
  });

  it('the stack is degraded while the guard is tripped', () => {
    const input = {
      stopping: false,
      reconciled: true,
      bringUpFailing: false,
      dockerConnected: true,
      conditions: new Map([['postgres', 'ok' as const]]),
      services: ['postgres'],
      circuitOpen: new Set<string>(),
      busy: new Set<string>(),
      gatewayOk: true,
    };
    expect(stackState(input)).toBe('healthy');
    expect(stackState({ ...input, dataVolumeMissing: true })).toBe('degraded');
  });
});

describe('guard resume timing (policy)', () => {
  it('resumes at once after a first trip, then backs off while it keeps tripping, and forgets old trips', () => {
    let g = guardTripped(GUARD_CALM, 1_000, testPolicy);
    expect(g).toEqual({ trips: 1, lastTripAt: 1_000 });
    expect(guardResumeAt(g, 5_000, testPolicy, () => 0.5)).toBe(5_000);
    g = guardTripped(g, 60_000, testPolicy);
    expect(guardResumeAt(g, 70_000, testPolicy, () => 0.5)).toBe(70_000 + 9_000);
    g = guardTripped(g, 120_000, testPolicy);
    expect(guardResumeAt(g, 130_000, testPolicy, () => 0.5)).toBe(130_000 + 18_000);
    expect(guardTripped(g, 120_000 + testPolicy.budgetWindowMs, testPolicy).trips).toBe(1);
  });
});

/** A data guard whose mount and bind devices the test sets. */
class FakeGuard implements DataGuard {
  readonly dataDir = '/data';
  mountNow: DataMount = MOUNTED;
  devices = new Map<string, string>();
  /** What a bind is on by default, as its container sees it: the volume, even after it was pulled. */
  volumeDevice = '259:3';
  mountChecks = 0;
  async mount(): Promise<DataMount> {
    this.mountChecks++;
    return this.mountNow;
  }
  async bindDevices(c: ContainerInfo, binds: readonly ContainerMount[]): Promise<Array<string | null>> {
    return binds.map((b) => this.devices.get(bindKey(c.id, b.destination)) ?? this.volumeDevice);
  }
}

function setup() {
  const docker = new FakeDocker();
  const compose = new FakeCompose(docker);
  const clock = new FakeClock(1_000_000);
  const guard = new FakeGuard();
  const { logger, lines } = memoryLogger();
  const sup = new Supervisor({
    docker,
    compose,
    project: 'proj',
    services: [],
    policy: testPolicy,
    logger,
    clock,
    random: () => 0.5,
    eventDebounceMs: 1,
    dataGuard: guard,
    stopGraceSeconds: 33,
  });
  return { docker, compose, clock, guard, sup, lines };
}

const settle = async (sup: Supervisor) => {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    await sup.idle();
  }
};

describe('Supervisor with the data guard', () => {
  it('volume pulled: stops the bind holders dependents first, reports it, and brings them back once it returns', async () => {
    const { docker, compose, clock, guard, sup, lines } = setup();
    docker.add(pg());
    docker.add(gw());
    docker.add(orchestrator());
    await sup.reconcile();
    await sup.bringUp();
    expect(compose.calls).toEqual(['up']);

    guard.mountNow = GONE;
    await sup.reconcile();
    await settle(sup);
    expect(compose.calls.slice(1)).toEqual([]);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual([
      'stop id-gateway t=33',
      'stop id-postgres t=33',
    ]);
    expect(sup.view().dataVolume).toEqual({
      missing: true,
      reason: 'data volume missing: /data is not a mount point',
    });
    expect(lines.filter((l) => /^data volume missing/.test(String(l.msg)))).toHaveLength(1);
    expect(lines.filter((l) => l.action === 'stop').map((l) => l.service)).toEqual(['gateway', 'postgres']);

    // Still gone: an unhealthy service is not healed, nothing is brought up, nothing stopped twice.
    docker.containers.get('id-orchestrator')!.health = 'unhealthy';
    await sup.reconcile();
    await clock.advance(60_000);
    await settle(sup);
    expect(compose.calls.slice(1)).toEqual([]);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toHaveLength(2);
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);

    guard.mountNow = MOUNTED;
    await sup.reconcile();
    await clock.advance(10);
    await settle(sup);
    expect(compose.calls.slice(1)).toEqual(['up']);
    expect(sup.view().dataVolume.missing).toBe(false);
    expect(lines.some((l) => l.msg === 'data volume is back')).toBe(true);
  });

  it('a container that starts holding a root-disk bind while the volume is mounted is stopped at its start event', async () => {
    const { docker, clock, guard, sup } = setup();
    docker.add(pg());
    await sup.reconcile();
    await sup.bringUp();
    guard.devices.set(bindKey('id-postgres', '/var/lib/postgresql'), '259:1');
    sup.handleEvent({ action: 'start', containerId: 'id-postgres', attributes: {}, timeNano: 1n });
    await clock.advance(5); // the event debounce: inspect, then the data check
    await settle(sup);
    expect(docker.calls).toContain('stop id-postgres t=33');
  });

  it('a root-disk holder is held: not brought back, compose up refused, reported until the operator starts it', async () => {
    const { docker, compose, clock, guard, sup } = setup();
    docker.add(pg());
    docker.add(orchestrator());
    await sup.reconcile();
    await sup.bringUp();
    guard.devices.set(bindKey('id-postgres', '/var/lib/postgresql'), '259:1');
    await sup.reconcile();
    await settle(sup);
    expect(compose.calls).toEqual(['up']);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop id-postgres t=33']);
    // The volume is mounted and nothing holds a root-disk bind any more, yet nothing comes back.
    await sup.reconcile();
    await clock.advance(600_000);
    await settle(sup);
    expect(compose.calls).toEqual(['up']);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop id-postgres t=33']);
    expect(sup.view().dataVolume.missing).toBe(true);
    expect(sup.view().dataVolume.reason).toMatch(
      /^data volume missing: .*on device 259:1.*postgres is held stopped.*systemctl restart dalston/,
    );
    await expect(sup.bringUp()).rejects.toThrow(/postgres is held stopped.*not running compose up/);
    expect(compose.calls).toEqual(['up']);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop id-postgres t=33']);

    // The operator starts it (now on the volume): the hold is over.
    guard.devices.delete(bindKey('id-postgres', '/var/lib/postgresql'));
    docker.containers.get('id-postgres')!.state = 'running';
    await sup.reconcile();
    await settle(sup);
    expect(sup.view().dataVolume).toEqual({ missing: false, reason: null });
  });

  it('the agent that never saw the volume mounted treats a pulled bind as off the volume (held)', async () => {
    const { docker, compose, clock, guard, sup } = setup();
    guard.mountNow = GONE;
    docker.add(pg());
    await sup.reconcile();
    await settle(sup);
    expect(compose.calls).toEqual([]);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop id-postgres t=33']);
    guard.mountNow = MOUNTED;
    await sup.reconcile();
    await clock.advance(600_000);
    await settle(sup);
    expect(compose.calls).toEqual([]);
    expect(docker.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop id-postgres t=33']);
    expect(sup.view().dataVolume.missing).toBe(true);
  });

  it('compose up is refused while the volume is missing (re-checked right before it runs)', async () => {
    const { compose, guard, sup } = setup();
    guard.mountNow = GONE;
    await expect(sup.bringUp()).rejects.toThrow(
      /data volume missing: \/data is not a mount point; not running compose up/,
    );
    expect(compose.calls).toEqual([]);
    expect(sup.bringUpFailing).toBe(true);
  });

  it('a restart planned before the volume went away is not taken, and costs nothing', async () => {
    const { docker, guard, sup } = setup();
    docker.add(pg());
    await sup.reconcile();
    await sup.bringUp();
    guard.mountNow = GONE;
    // The event path plans before the next check: the restart's own mount check stops it.
    docker.containers.get('id-postgres')!.health = 'unhealthy';
    sup.handleEvent({
      action: 'health_status: unhealthy',
      containerId: 'id-postgres',
      attributes: {},
      timeNano: 2n,
    });
    await settle(sup);
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
    expect(sup.memory.get('postgres')).toMatchObject({ agentRestarts: 0, actionTimes: [] });
  });
});

import { describe, expect, it } from 'vitest';
import type { MountProbe } from '../../../agent/preflight.ts';
import { type AgentDeps, type Reporting, runAgent } from '../../../agent/run.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { ConvergenceStatus } from '../../../shared/desired/convergence-status.ts';
import { DockerError } from '../../../shared/engine/docker/types.ts';
import { ExitCode } from '../../../shared/errors.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { container, FakeCompose, FakeDocker, MemoryOnlyStore, memoryLogger } from './fakes.ts';

const mounted: MountProbe = {
  realpath: async (p) => p,
  deviceOf: async (p) => (p === '/' ? 1 : 2),
  mountInfo: async () => '1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:2 / /data rw - ext4 /dev/sdb rw',
};
const notMounted: MountProbe = { ...mounted, mountInfo: async () => '1 0 8:1 / / rw - ext4 /dev/sda1 rw' };

function fakeReporting() {
  const calls: string[] = [];
  const snapshots: StatusSnapshot[] = [];
  let getStatus: () => StatusSnapshot = () => {
    throw new Error('no server');
  };
  let getHealth: () => { ok: boolean; failing: string[] } = () => ({ ok: false, failing: ['no server'] });
  const reporting: Reporting = {
    startServer: async (o) => {
      calls.push('server');
      getStatus = o.getStatus;
      getHealth = o.getHealth;
      return { address: '127.0.0.1:1', close: async () => void calls.push('server-closed') };
    },
    metrics: {
      observeSnapshot: () => {},
      incAgentAction: (s, a) => void calls.push(`metric ${a} ${s}`),
      incEventReconnect: () => {},
      observeReconcile: () => {},
    },
    notifier: {
      ready: () => void calls.push('READY'),
      status: (line) => void calls.push(`STATUS ${line}`),
      watchdog: () => void calls.push('WATCHDOG'),
      stopping: () => void calls.push('STOPPING'),
      flush: async () => void calls.push('notify-flushed'),
      watchdogIntervalMs: 20,
    },
    hostProbe: {
      start: async () => {},
      sample: async () => ({
        cpuLoadPercent: 1,
        memory: null,
        dataVolume: { mountPoint: '/data', mounted: true, device: '/dev/sdb', usedPercent: 5 },
        gpus: [],
      }),
    },
    s3: {
      update: (s) => void snapshots.push(s),
      flush: async () => void calls.push('s3-flush'),
      stop: () => void calls.push('s3-stop'),
      state: () => ({ lastUploadAt: null, lastError: null }),
    },
    statusLine: (s) => `${s.state} ${s.services.length}`,
    probeGateway: async () => true,
  };
  return { reporting, calls, snapshots, status: () => getStatus(), health: () => getHealth() };
}

const config = parseConfig({
  compose: { project: 'proj', services: ['api', 'db'] },
  agent: { reconcileIntervalSeconds: 1, stopGraceSeconds: 7 },
});

const waitFor = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

function setup(mounts = mounted, extra: Partial<AgentDeps> = {}, cfg = config) {
  const docker = new FakeDocker();
  docker.add(container({ service: 'db' }));
  docker.add(container({ service: 'api', dependsOn: ['db'] }));
  const compose = Object.assign(new FakeCompose(), { version: async () => '2.26.1' });
  const rep = fakeReporting();
  const ac = new AbortController();
  const { logger, lines } = memoryLogger();
  const run = runAgent({
    config: cfg,
    logger,
    docker,
    compose,
    mounts,
    reporting: rep.reporting,
    instance: 'i-test',
    version: '0.0.0',
    memoryStore: new MemoryOnlyStore(),
    shutdown: ac.signal,
    ...extra,
  });
  return { docker, compose, rep, ac, run, lines };
}

describe('runAgent', () => {
  it('starts in order, reports healthy, pets the watchdog, and shuts down gracefully with exit 0', async () => {
    const { compose, rep, ac, run, lines } = setup();
    await waitFor(() => rep.calls.includes('READY'), 'READY=1').catch((e) => {
      throw new Error(`${e.message} ${JSON.stringify(rep.calls)} ${JSON.stringify(lines.map((l) => l.msg))}`);
    });
    expect(rep.calls.indexOf('server')).toBeLessThan(rep.calls.indexOf('READY'));
    expect(compose.calls).toEqual(['up api db']);
    expect(rep.status()).toMatchObject({ state: 'healthy', project: 'proj', instance: 'i-test' });
    expect(rep.status().services.map((s) => s.name)).toEqual(['api', 'db']);
    expect(rep.calls).toContain('STATUS healthy 2');
    await waitFor(() => rep.calls.includes('WATCHDOG'), 'WATCHDOG=1');
    expect(rep.snapshots.length).toBeGreaterThan(0);
    ac.abort();
    expect(await run).toBe(0);
    const after = rep.calls.slice(rep.calls.indexOf('STOPPING'));
    expect(after).toEqual(expect.arrayContaining(['STOPPING', 's3-flush', 's3-stop', 'server-closed']));
    // The notifier is drained last, so STOPPING=1 reaches systemd before the process exits.
    expect(rep.calls.at(-1)).toBe('notify-flushed');
    expect(compose.calls.slice(1)).toEqual(['stop -t 7 api', 'stop -t 7 db']);
  });

  it('reports the convergence record in /status and refreshes it on a change notice', async () => {
    const running = { release: '0.0.0', dalstonRef: 'v1', imageTag: null, services: [] };
    let status: ConvergenceStatus = {
      state: 'converging',
      running,
      desired: { ...running, dalstonRef: 'v2' },
      desiredVersion: '"e1"',
      checkedAt: null,
      step: 'dalston',
      summary: 'converging: dalston ref v1 → v2',
      lastResult: null,
      problem: null,
    };
    let notify = () => {};
    const stopped: string[] = [];
    const { rep, ac, run } = setup(mounted, {
      convergence: {
        start: async (onChange) => {
          notify = onChange;
        },
        stop: () => void stopped.push('stopped'),
        status: () => status,
      },
    });
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    expect(rep.status().convergence).toEqual(status);
    status = { ...status, state: 'converged', step: null, running: status.desired! };
    notify();
    await waitFor(() => rep.status().convergence?.state === 'converged', 'converged in /status');
    ac.abort();
    expect(await run).toBe(0);
    expect(stopped).toEqual(['stopped']);
  });

  it('a handover on SIGTERM exits 0 and leaves the stack running; without one the stack is stopped', async () => {
    const asked: string[] = [];
    const { compose, rep, ac, run, lines } = setup(mounted, {
      takeHandover: async () => {
        asked.push('asked');
        return { reason: 'release 0.3.0' };
      },
    });
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    ac.abort('SIGTERM');
    expect(await run).toBe(0);
    expect(asked).toEqual(['asked']);
    expect(compose.calls).toEqual(['up api db']);
    expect(lines.some((l) => l.msg === 'handover: exiting with the stack running')).toBe(true);
    expect(rep.calls).toContain('server-closed');

    const plain = setup(mounted, { takeHandover: async () => null });
    await waitFor(() => plain.rep.calls.includes('READY'), 'READY=1');
    plain.ac.abort('SIGTERM');
    expect(await plain.run).toBe(0);
    expect(plain.compose.calls.slice(1)).toEqual(['stop -t 7 api', 'stop -t 7 db']);
  });

  it('stays up and degraded when compose up fails, still sends READY, and exits 0 on shutdown', async () => {
    const docker = new FakeDocker();
    const compose = Object.assign(new FakeCompose(), { version: async () => '2.26.1' });
    compose.failUp = new Error('pull access denied for dalston/gateway');
    const rep = fakeReporting();
    const ac = new AbortController();
    const { logger, lines } = memoryLogger();
    const run = runAgent({
      config,
      logger,
      docker,
      compose,
      mounts: mounted,
      reporting: rep.reporting,
      instance: 'i',
      version: '0',
      memoryStore: new MemoryOnlyStore(),
      shutdown: ac.signal,
    });
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    expect(rep.status().state).toBe('degraded');
    expect(lines.some((l) => /pull access denied/.test(String(l.err)))).toBe(true);
    expect(lines.some((l) => l.msg === 'retrying compose up')).toBe(true);
    ac.abort();
    expect(await run).toBe(0);
  });

  it('a shutdown during a slow first compose up cancels it and exits 0', async () => {
    const docker = new FakeDocker();
    let cancelled = false;
    const compose = Object.assign(new FakeCompose(), {
      version: async () => '2.26.1',
      // Like a first `up` pulling images for minutes; it ends only when its run is aborted.
      up: (_s: readonly string[], signal?: AbortSignal) =>
        new Promise<void>((_, reject) =>
          signal?.addEventListener('abort', () => {
            cancelled = true;
            reject(new Error('cancelled by shutdown'));
          }),
        ),
    });
    const rep = fakeReporting();
    const ac = new AbortController();
    const run = runAgent({
      config,
      logger: memoryLogger().logger,
      docker,
      compose,
      mounts: mounted,
      reporting: rep.reporting,
      instance: 'i',
      version: '0',
      memoryStore: new MemoryOnlyStore(),
      shutdown: ac.signal,
    });
    await waitFor(() => rep.calls.includes('server'), 'server');
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    expect(await run).toBe(0);
    expect(cancelled).toBe(true);
    expect(rep.calls).toContain('STOPPING');
  });

  it('exits 3 without creating anything when the data volume is not mounted', async () => {
    const { compose, rep, run } = setup(notMounted);
    await expect(run).rejects.toMatchObject({ exitCode: ExitCode.dataNotMounted });
    expect(compose.calls).toEqual([]);
    expect(rep.calls).toEqual([]);
  });

  it('stops petting the watchdog while Docker does not answer', async () => {
    const { docker, rep, ac, run } = setup();
    await waitFor(() => rep.calls.includes('WATCHDOG'), 'WATCHDOG=1');
    docker.failWith = new DockerError('unavailable', 'daemon not reachable (ECONNREFUSED)');
    await waitFor(() => !rep.health().ok, 'health failing');
    expect(rep.health().failing.join(' ')).toMatch(/docker/);
    const pets = rep.calls.filter((c) => c === 'WATCHDOG').length;
    await new Promise((r) => setTimeout(r, 100));
    expect(rep.calls.filter((c) => c === 'WATCHDOG').length).toBe(pets);
    expect(rep.status().state).toBe('degraded');
    docker.failWith = null;
    ac.abort();
    expect(await run).toBe(0);
  });

  it('turns healthy as soon as the services are and the gateway answers, not at the next tick', async () => {
    const docker = new FakeDocker();
    docker.add(container({ service: 'db', health: 'starting' }));
    docker.add(container({ service: 'api', dependsOn: ['db'], health: 'starting' }));
    const compose = Object.assign(new FakeCompose(), { version: async () => '2.26.1' });
    const rep = fakeReporting();
    let gatewayUp = false;
    let probes = 0;
    rep.reporting.probeGateway = async () => {
      probes++;
      return gatewayUp;
    };
    const ac = new AbortController();
    const run = runAgent({
      // An hour between ticks: only the prompt probe can make the stack healthy within the test.
      config: parseConfig({
        compose: { project: 'proj', services: ['api', 'db'] },
        agent: { reconcileIntervalSeconds: 3600 },
      }),
      logger: memoryLogger().logger,
      docker,
      compose,
      mounts: mounted,
      reporting: rep.reporting,
      instance: 'i',
      version: '0',
      memoryStore: new MemoryOnlyStore(),
      shutdown: ac.signal,
    });
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    expect(rep.status().state).toBe('starting');
    const healthy = (id: string) => ({
      action: 'health_status: healthy',
      containerId: id,
      attributes: {},
      timeNano: 1n,
    });
    docker.containers.get('id-db')!.health = 'healthy';
    docker.emit(healthy('id-db'));
    // The gateway lags a little behind its container's healthcheck: re-probed shortly, not in an hour.
    await waitFor(() => probes >= 1, 'a gateway probe');
    docker.containers.get('id-api')!.health = 'healthy';
    docker.emit(healthy('id-api'));
    await waitFor(() => probes >= 2, 'a prompt gateway probe');
    gatewayUp = true;
    await waitFor(() => rep.status().state === 'healthy', 'healthy');
    expect(rep.calls).toContain('STATUS healthy 2');
    ac.abort();
    expect(await run).toBe(0);
  });

  it('brings the stack up without waiting for the host probe to warm up', async () => {
    const docker = new FakeDocker();
    const compose = Object.assign(new FakeCompose(), { version: async () => '2.26.1' });
    const rep = fakeReporting();
    let warm: () => void = () => {};
    rep.reporting.hostProbe = {
      ...rep.reporting.hostProbe,
      start: () => new Promise<void>((resolve) => (warm = resolve)),
    };
    const ac = new AbortController();
    const run = runAgent({
      config,
      logger: memoryLogger().logger,
      docker,
      compose,
      mounts: mounted,
      reporting: rep.reporting,
      instance: 'i',
      version: '0',
      memoryStore: new MemoryOnlyStore(),
      shutdown: ac.signal,
    });
    await waitFor(() => compose.calls.length > 0, 'compose up');
    expect(rep.calls).not.toContain('READY'); // the first tick samples the host: it waits for the probe
    warm();
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    ac.abort();
    expect(await run).toBe(0);
  });

  it('logs each component through its own child logger', async () => {
    const { rep, ac, run, lines } = setup();
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    ac.abort();
    expect(await run).toBe(0);
    const component = (msg: string) => lines.find((l) => l.msg === msg)?.component;
    expect(component('docker engine answers')).toBe('preflight');
    expect(component('compose up done')).toBe('supervisor');
    expect(component('agent ready')).toBe('agent');
    expect(component('stack is healthy')).toBe('agent');
    expect(component('stopping services')).toBe('supervisor');
    expect(component('stack stopped')).toBe('agent');
    expect(lines.every((l) => typeof l.component === 'string')).toBe(true);
  });
});

describe('runAgent with idle stop', () => {
  const idleConfig = parseConfig({
    compose: { project: 'proj', services: ['api', 'db'] },
    agent: { reconcileIntervalSeconds: 1, stopGraceSeconds: 7 },
    // A 1.2 s idle window, announced 0.6 s ahead, polled every second.
    idle: { stopAfterMinutes: 0.02, bootGraceMinutes: 0, announceMinutes: 0.01, pollSeconds: 1 },
  });
  const idleSignals = (state: 'idle' | 'busy') => ({
    read: async () => [{ name: 'queue x', state, detail: state === 'busy' ? '1 waiting' : '0 waiting' }],
  });

  it('stops the stack, writes the final heartbeat saying idle, then powers off exactly once', async () => {
    let powerOffs = 0;
    const { compose, rep, run } = setup(
      mounted,
      {
        idle: {
          sources: [{ name: 'redis', source: idleSignals('idle') }],
          objects: null,
          powerOff: async () => {
            powerOffs++;
            rep.calls.push('POWEROFF');
          },
        },
      },
      idleConfig,
    );
    expect(await run).toBe(0);
    expect(powerOffs).toBe(1);
    expect(compose.calls.slice(1)).toEqual(['stop -t 7 api', 'stop -t 7 db']);
    // The final heartbeat was flushed before the power-off.
    expect(rep.calls.indexOf('s3-flush')).toBeLessThan(rep.calls.indexOf('POWEROFF'));
    const last = rep.snapshots.at(-1)!;
    expect(last.state).toBe('stopping');
    expect(last.shutdown).toMatchObject({ reason: 'idle' });
    expect(last.shutdown!.detail).toMatch(/^idle since \S+ \(\d+ min\)$/);
    expect(last.idle?.state).toBe('stopping');
    // Before the stop it was announced.
    expect(rep.snapshots.some((s) => s.idle?.state === 'announce')).toBe(true);
  }, 20_000);

  it('stays up while a signal is busy, and a SIGTERM stop says system in the final snapshot', async () => {
    let powerOffs = 0;
    const { rep, ac, run } = setup(
      mounted,
      {
        idle: {
          sources: [{ name: 'redis', source: idleSignals('busy') }],
          objects: null,
          powerOff: async () => void powerOffs++,
        },
      },
      idleConfig,
    );
    await waitFor(() => rep.calls.includes('READY'), 'READY=1');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(rep.status().idle).toMatchObject({ state: 'busy', reasons: ['queue x: 1 waiting'] });
    ac.abort('SIGTERM');
    expect(await run).toBe(0);
    expect(powerOffs).toBe(0);
    expect(rep.snapshots.at(-1)!.shutdown).toMatchObject({
      reason: 'system',
      detail: 'SIGTERM from systemd (instance shutdown, dalston-aws down or systemctl stop)',
    });
  }, 20_000);
});

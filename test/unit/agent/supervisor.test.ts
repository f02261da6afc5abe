import { describe, expect, it } from 'vitest';
import { Supervisor } from '../../../agent/supervisor/supervisor.ts';
import { DockerError } from '../../../shared/engine/docker/types.ts';
import {
  container,
  FakeClock,
  FakeCompose,
  FakeDocker,
  MemoryOnlyStore,
  memoryLogger,
  testPolicy,
} from './fakes.ts';

function setup(services: string[] = [], policy = testPolicy, memoryStore: MemoryOnlyStore | null = null) {
  const docker = new FakeDocker();
  const compose = new FakeCompose(docker);
  const clock = new FakeClock(1_000_000);
  const { logger, lines } = memoryLogger();
  const actions: string[] = [];
  const sup = new Supervisor({
    docker,
    compose,
    project: 'proj',
    services,
    policy,
    logger,
    clock,
    random: () => 0.5,
    eventDebounceMs: 1,
    onAction: (s, a) => actions.push(`${a} ${s}`),
    memoryStore,
  });
  return { docker, compose, clock, sup, lines, actions };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Events are planned on the next turn of the event loop (bursts coalesce). */
const nextTurn = () => new Promise((r) => setImmediate(r));

const unhealthyEvent = (id: string) => ({
  action: 'health_status: unhealthy',
  containerId: id,
  attributes: {},
  timeNano: 1n,
});

/** db and api (depends on db), both healthy and seen by a first reconcile. */
async function dbAndApi(docker: FakeDocker, sup: Supervisor): Promise<void> {
  docker.add(container({ service: 'db' }));
  docker.add(container({ service: 'api', dependsOn: ['db'] }));
  await sup.reconcile();
}

/** api loses db and turns unhealthy: it waits for db, it is not restarted. */
async function expectApiWaitsForDb(docker: FakeDocker, sup: Supervisor): Promise<void> {
  docker.containers.get('id-api')!.health = 'unhealthy';
  sup.handleEvent(unhealthyEvent('id-api'));
  await nextTurn();
  await sup.idle();
  expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
}

describe('Supervisor over an in-memory Docker', () => {
  it('restarts an unhealthy container once on its health_status event and logs one action line', async () => {
    const { docker, sup, lines, actions } = setup();
    docker.add(container({ service: 'api', stopTimeoutSeconds: 20 }));
    await sup.reconcile();
    docker.containers.get('id-api')!.health = 'unhealthy';
    sup.handleEvent(unhealthyEvent('id-api'));
    await nextTurn();
    await sup.idle();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual(['restart id-api t=20']);
    expect(actions).toEqual(['restart api']);
    const line = lines.find((l) => l.action === 'restart')!;
    expect(line).toMatchObject({ service: 'api', container: 'proj-api-1', reason: 'running but unhealthy' });
    // The restarted container is starting: a second reconcile does nothing.
    await sup.reconcile();
    await sup.idle();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toHaveLength(1);
    expect(sup.serviceStatuses()).toEqual([
      expect.objectContaining({ name: 'api', health: 'starting', agentRestarts: 1, circuitOpen: false }),
    ]);
  });

  it('a container Docker restarts (die, start) is starting again, not a restart candidate', async () => {
    const { docker, sup } = setup();
    docker.add(container({ service: 'api', health: 'unhealthy', state: 'exited' }));
    await sup.reconcile();
    const ev = (action: string) => ({ action, containerId: 'id-api', attributes: {}, timeNano: 5n });
    sup.handleEvent(ev('start'));
    await nextTurn();
    await sup.idle();
    expect(sup.conditions.get('api')).toBe('starting');
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
  });

  it('does not restart when Docker says the container is no longer unhealthy', async () => {
    const { docker, sup, lines } = setup();
    docker.add(container({ service: 'api' }));
    await sup.reconcile();
    // The event says unhealthy, but by the time the action runs Docker reports it restarting.
    docker.containers.get('id-api')!.state = 'restarting';
    sup.handleEvent(unhealthyEvent('id-api'));
    await nextTurn();
    await sup.idle();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
    expect(lines.some((l) => l.action === 'skip-restart')).toBe(true);
    // A skipped action costs nothing: no budget, no backoff, not counted.
    expect(sup.memory.get('api')).toMatchObject({ actionTimes: [], agentRestarts: 0, notBefore: 0 });
  });

  it('a restart not taken gives back exactly what it charged: budget, capped backoff, last action', async () => {
    const { docker, sup, clock, lines } = setup([], { ...testPolicy, backoffMaxMs: 20_000 });
    docker.add(container({ service: 'api', health: 'unhealthy' }));
    await sup.reconcile();
    await sup.idle();
    const first = sup.memory.get('api')!;
    expect(first).toMatchObject({ agentRestarts: 1, backoffMs: 20_000 });
    await clock.advance(30_000);
    // The agent's view says unhealthy again, but Docker has already moved on when the action runs.
    docker.containers.get('id-api')!.state = 'restarting';
    sup.handleEvent(unhealthyEvent('id-api'));
    await nextTurn();
    await sup.idle();
    expect(lines.filter((l) => l.action === 'skip-restart')).toHaveLength(1);
    const { okSince: _a, inFlight: _b, ...charged } = first;
    expect(sup.memory.get('api')).toMatchObject(charged);
  });

  it('opens the circuit for an always-unhealthy service and logs it once', async () => {
    const { docker, sup, clock, lines } = setup();
    docker.add(container({ service: 'bad', health: 'unhealthy' }));
    // 28 reconciles 30 s apart stay inside the 900 s window.
    for (let i = 0; i < 28; i++) {
      await sup.reconcile();
      await sup.idle();
      docker.containers.get('id-bad')!.health = 'unhealthy'; // it never recovers
      await clock.advance(30_000);
    }
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toHaveLength(3);
    expect(sup.circuitOpen()).toEqual(new Set(['bad']));
    expect(lines.filter((l) => l.note === 'circuit-opened')).toHaveLength(1);
    expect(sup.serviceStatuses()[0]).toMatchObject({ circuitOpen: true, agentRestarts: 3 });
  });

  it('recreates a missing configured service through compose only after bring-up', async () => {
    const { docker, compose, sup } = setup(['api', 'db']);
    docker.add(container({ service: 'db' }));
    await sup.reconcile();
    await sup.idle();
    expect(compose.calls).toEqual([]);
    await sup.bringUp();
    expect(compose.calls).toEqual(['up api db']);
    docker.containers.clear();
    docker.add(container({ service: 'db' }));
    sup.handleEvent({ action: 'destroy', containerId: 'id-api-new', attributes: {}, timeNano: 2n });
    await nextTurn();
    await sup.idle();
    expect(compose.calls).toEqual(['up api db', 'up api']);
  });

  it('with no service list, a service whose container was removed is still recreated', async () => {
    const { docker, compose, sup } = setup([]);
    docker.add(container({ service: 'db' }));
    docker.add(container({ service: 'api' }));
    await sup.reconcile();
    await sup.bringUp();
    docker.containers.delete('id-api');
    sup.handleEvent({ action: 'destroy', containerId: 'id-api', attributes: {}, timeNano: 3n });
    await nextTurn();
    await sup.idle();
    expect(compose.calls).toEqual(['up', 'up api']);
    expect(sup.services()).toEqual(['api', 'db']);
  });

  it('marks Docker disconnected when the daemon does not answer, and reconnected after', async () => {
    const { docker, sup } = setup();
    docker.failWith = new DockerError('unavailable', 'daemon not reachable');
    await expect(sup.reconcile()).rejects.toThrow(/daemon not reachable/);
    expect(sup.dockerConnected).toBe(false);
    docker.failWith = null;
    await sup.reconcile();
    expect(sup.dockerConnected).toBe(true);
  });

  it('a failed bring-up is reported and flagged', async () => {
    const { compose, sup } = setup(['api']);
    compose.failUp = new Error('compose exploded');
    await expect(sup.bringUp()).rejects.toThrow('compose exploded');
    expect(sup.bringUpFailing).toBe(true);
    expect(sup.bringUpDone).toBe(false);
  });

  it('shuts down: no more actions, stop dependents first', async () => {
    const { docker, compose, sup } = setup();
    docker.add(container({ service: 'db' }));
    docker.add(container({ service: 'api', dependsOn: ['db'] }));
    docker.add(container({ service: 'web', dependsOn: ['api'] }));
    docker.add(container({ service: 'worker', dependsOn: ['db'] }));
    await sup.reconcile();
    await sup.stop(45);
    expect(compose.calls).toEqual(['stop -t 45 web', 'stop -t 45 api worker', 'stop -t 45 db']);
    docker.containers.get('id-api')!.health = 'unhealthy';
    sup.handleEvent(unhealthyEvent('id-api'));
    await sup.reconcile();
    await sup.idle();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
  });

  it('heals independent services at the same time: no restart waits for another one to finish', async () => {
    const { docker, sup } = setup();
    for (const s of ['a', 'b', 'c']) docker.add(container({ service: s }));
    await sup.reconcile();
    const release: Array<() => void> = [];
    docker.restartGate = () => new Promise<void>((r) => release.push(r));
    for (const s of ['a', 'b', 'c']) {
      docker.containers.get(`id-${s}`)!.health = 'unhealthy';
      sup.handleEvent(unhealthyEvent(`id-${s}`));
    }
    await nextTurn();
    await nextTurn();
    // All three restarts are issued while none has finished (each would block on its stop timeout).
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([
      'restart id-a t=null',
      'restart id-b t=null',
      'restart id-c t=null',
    ]);
    expect(sup.busy()).toEqual(new Set(['a', 'b', 'c']));
    for (const r of release) r();
    await sup.idle();
  });

  it('a dependent still waits for what it depends on', async () => {
    const { docker, sup, clock } = setup();
    docker.add(container({ service: 'db' }));
    docker.add(container({ service: 'api', dependsOn: ['db'] }));
    await sup.reconcile();
    const release: Array<() => void> = [];
    docker.restartGate = () => new Promise<void>((r) => release.push(r));
    for (const s of ['db', 'api']) {
      docker.containers.get(`id-${s}`)!.health = 'unhealthy';
      sup.handleEvent(unhealthyEvent(`id-${s}`));
    }
    await nextTurn();
    await nextTurn();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual(['restart id-db t=null']);
    release.shift()!();
    await sup.idle();
    // db is back (healthy): now api's turn.
    docker.containers.get('id-db')!.health = 'healthy';
    sup.handleEvent({ action: 'health_status: healthy', containerId: 'id-db', attributes: {}, timeNano: 9n });
    await clock.advance(5);
    await nextTurn();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([
      'restart id-db t=null',
      'restart id-api t=null',
    ]);
    for (const r of release) r();
    docker.restartGate = null;
    await sup.idle();
  });

  it('a list answered after an event does not bring back what the event changed (a dead dependency stays dead)', async () => {
    const { docker, sup } = setup();
    await dbAndApi(docker, sup);
    // A periodic reconcile asks for the list; the daemon is slow to answer.
    const gate = deferred();
    docker.readGate = () => gate.promise;
    const reconciling = sup.reconcile();
    // Meanwhile db dies and the agent sees the event.
    docker.containers.get('id-db')!.state = 'exited';
    sup.handleEvent({ action: 'die', containerId: 'id-db', attributes: {}, timeNano: 2n });
    docker.readGate = null;
    gate.resolve();
    await reconciling;
    expect(sup.conditions.get('db')).toBe('down');
    await expectApiWaitsForDb(docker, sup);
  });

  it('an inspect answered after an event does not bring back what the event changed', async () => {
    const { docker, sup, clock } = setup();
    await dbAndApi(docker, sup);
    // An event marks db for a confirming inspect; the daemon is slow to answer it.
    const gate = deferred();
    docker.readGate = () => gate.promise;
    sup.handleEvent({ action: 'health_status: healthy', containerId: 'id-db', attributes: {}, timeNano: 2n });
    await clock.advance(1_000);
    docker.containers.get('id-db')!.state = 'exited';
    sup.handleEvent({ action: 'die', containerId: 'id-db', attributes: {}, timeNano: 3n });
    docker.readGate = null;
    gate.resolve();
    await nextTurn();
    await nextTurn();
    expect(sup.conditions.get('db')).toBe('down');
    await expectApiWaitsForDb(docker, sup);
  });

  it('checks the dependencies again with Docker before a restart: a view that missed their fall acts on nothing', async () => {
    const { docker, sup, lines } = setup();
    await dbAndApi(docker, sup);
    // db died without the agent hearing of it (events lost), then api turned unhealthy.
    docker.containers.get('id-db')!.state = 'exited';
    docker.containers.get('id-api')!.health = 'unhealthy';
    sup.handleEvent(unhealthyEvent('id-api'));
    await nextTurn();
    await sup.idle();
    await nextTurn(); // the plan after the action left the queue
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
    expect(sup.conditions.get('db')).toBe('down');
    expect(lines.find((l) => l.action === 'skip-restart')).toMatchObject({
      service: 'api',
      dependency: 'db (down)',
    });
  });

  it('restores the healing memory a previous agent left: an open circuit stays open', async () => {
    const first = setup([], testPolicy, new MemoryOnlyStore());
    first.docker.add(container({ service: 'bad', health: 'unhealthy' }));
    for (let i = 0; i < 28; i++) {
      await first.sup.reconcile();
      await first.sup.idle();
      first.docker.containers.get('id-bad')!.health = 'unhealthy';
      await first.clock.advance(30_000);
    }
    expect(first.sup.circuitOpen()).toEqual(new Set(['bad']));
    await first.sup.stop(1);
    const saved = (first.sup as unknown as { o: { memoryStore: MemoryOnlyStore } }).o.memoryStore.saved!;
    expect(saved.get('bad')).toMatchObject({ agentRestarts: 3 });

    // A new agent (same time, same daemon) starts from what was saved.
    const second = setup([], testPolicy, new MemoryOnlyStore(saved));
    second.docker.add(container({ service: 'bad', health: 'unhealthy' }));
    await second.clock.advance(first.clock.now() - second.clock.now());
    await second.sup.restoreMemory();
    await second.sup.reconcile();
    await second.sup.idle();
    expect(second.docker.calls.filter((c) => c.startsWith('restart'))).toEqual([]);
    expect(second.sup.circuitOpen()).toEqual(new Set(['bad']));
    expect(second.sup.serviceStatuses()[0]).toMatchObject({ circuitOpen: true, agentRestarts: 3 });
  });

  it('writes the charge before Docker acts on it', async () => {
    const store = new MemoryOnlyStore();
    const { docker, sup } = setup([], testPolicy, store);
    docker.add(container({ service: 'api' }));
    await sup.reconcile();
    docker.restartGate = async () => {
      // At the moment of the restart call the store already holds the charged action.
      expect(store.saved?.get('api')).toMatchObject({ agentRestarts: 1 });
    };
    docker.containers.get('id-api')!.health = 'unhealthy';
    sup.handleEvent(unhealthyEvent('id-api'));
    await nextTurn();
    await sup.idle();
    expect(docker.calls.filter((c) => c.startsWith('restart'))).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import { dependencyLevels, dependencyOrder, stopOrder } from '../../../agent/supervisor/graph.ts';
import { type Plan, type PlanInput, plan, serviceCondition } from '../../../agent/supervisor/planner.ts';
import type { ServiceMemory } from '../../../agent/supervisor/policy.ts';
import { stackState } from '../../../agent/supervisor/stack-state.ts';
import type { ContainerInfo } from '../../../shared/engine/docker/types.ts';
import { container, testPolicy } from './fakes.ts';

const T0 = 10_000_000;

/** Runs the planner repeatedly, carrying memory, like the supervisor does. */
class Harness {
  memory: ReadonlyMap<string, ServiceMemory> = new Map();
  now = T0;
  last!: Plan;
  constructor(
    public services: string[],
    public containers: ContainerInfo[],
    public graph = new Map<string, string[]>(),
  ) {}
  step(over: Partial<PlanInput> = {}): Plan {
    this.last = plan({
      now: this.now,
      services: this.services,
      containers: this.containers,
      graph: this.graph,
      memory: this.memory,
      busy: new Set(),
      policy: testPolicy,
      random: () => 0.5,
      ...over,
    });
    this.memory = this.last.memory;
    return this.last;
  }
  set(service: string, over: Partial<ContainerInfo>) {
    const c = this.containers.find((x) => x.service === service)!;
    Object.assign(c, over);
  }
}

describe('plan: healing', () => {
  it('restarts a running unhealthy container, with its own stop timeout', () => {
    const h = new Harness(
      ['api'],
      [container({ service: 'api', health: 'unhealthy', stopTimeoutSeconds: 30 })],
    );
    expect(h.step().decisions).toEqual([
      {
        kind: 'restart',
        service: 'api',
        containerId: 'id-api',
        containerName: 'proj-api-1',
        stopTimeoutSeconds: 30,
        reason: 'running but unhealthy',
      },
    ]);
    expect(h.memory.get('api')).toMatchObject({ agentRestarts: 1, actionTimes: [T0] });
  });

  it.each(['exited', 'dead', 'created', 'paused', 'restarting'])(
    'never acts on a %s container (Docker restart policy owns it)',
    (state) => {
      const h = new Harness(['api'], [container({ service: 'api', state, health: 'unhealthy' })]);
      expect(h.step().decisions).toEqual([]);
    },
  );

  it('does nothing for healthy, starting, or no-healthcheck containers', () => {
    const h = new Harness(
      ['a', 'b', 'c'],
      [
        container({ service: 'a', health: 'healthy' }),
        container({ service: 'b', health: 'starting' }),
        container({ service: 'c', health: 'none' }),
      ],
    );
    const p = h.step();
    expect(p.decisions).toEqual([]);
    expect(Object.fromEntries(p.conditions)).toEqual({ a: 'ok', b: 'starting', c: 'ok' });
  });

  it('recreates a configured service with no container, but not before bring-up', () => {
    const h = new Harness(['api', 'db'], [container({ service: 'db' })]);
    expect(h.step({ allowRecreate: false }).decisions).toEqual([]);
    expect(h.step({ allowRecreate: true }).decisions).toEqual([
      { kind: 'recreate', service: 'api', reason: 'no container for a configured service' },
    ]);
  });

  it('skips a service that already has an action queued or running', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    expect(h.step({ busy: new Set(['api']) }).decisions).toEqual([]);
    expect(h.memory.get('api')!.agentRestarts).toBe(0);
  });
});

describe('plan: backoff, budget and circuit', () => {
  it('waits out a doubling, jittered backoff between actions', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    expect(h.step().decisions).toHaveLength(1);
    // random 0.5, jitter 0.2 → 10 s · 0.9 = 9 s
    expect(h.memory.get('api')!.notBefore).toBe(T0 + 9_000);
    h.now += 8_999;
    const waiting = h.step();
    expect(waiting.decisions).toEqual([]);
    expect(waiting.wakeAt).toBe(T0 + 9_000);
    expect(waiting.notes).toEqual([expect.objectContaining({ service: 'api', kind: 'backing-off' })]);
    h.now = T0 + 9_000;
    expect(h.step().decisions).toHaveLength(1);
    // second delay: 20 s · 0.9
    expect(h.memory.get('api')!.notBefore).toBe(T0 + 9_000 + 18_000);
  });

  it('caps the backoff at the maximum', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    const policy = { ...testPolicy, budgetMax: 100, backoffMaxMs: 25_000 };
    for (let i = 0; i < 4; i++) {
      h.step({ policy });
      h.now = h.memory.get('api')!.notBefore;
    }
    expect(h.memory.get('api')!.backoffMs).toBe(25_000);
  });

  it('opens the circuit when the budget is spent: no restart storm, one note', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    let actions = 0;
    const notes: string[] = [];
    // An hour of reconciles every 5 s on a service that never recovers.
    for (let t = 0; t < 3_600_000; t += 5_000) {
      h.now = T0 + t;
      const p = h.step({ policy: { ...testPolicy, budgetWindowMs: 7_200_000 } });
      actions += p.decisions.length;
      notes.push(...p.notes.filter((n) => n.kind === 'circuit-opened').map((n) => n.message));
    }
    expect(actions).toBe(3);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/api is still unhealthy after 3 actions in 7200 s; circuit open/);
    expect(h.memory.get('api')!.circuitOpenedAt).not.toBeNull();
  });

  it('closes the circuit when the service turns healthy on its own', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    for (let i = 0; i < 4; i++) {
      h.step();
      h.now = Math.max(h.now + 1, h.memory.get('api')!.notBefore);
    }
    expect(h.memory.get('api')!.circuitOpenedAt).not.toBeNull();
    h.set('api', { health: 'healthy' });
    const p = h.step();
    expect(p.notes).toEqual([expect.objectContaining({ kind: 'circuit-closed' })]);
    expect(h.memory.get('api')!.circuitOpenedAt).toBeNull();
  });

  it('closes the circuit after the window and acts again', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    for (let i = 0; i < 4; i++) {
      h.step();
      h.now = Math.max(h.now + 1, h.memory.get('api')!.notBefore);
    }
    const openedAt = h.memory.get('api')!.circuitOpenedAt!;
    h.now = openedAt + testPolicy.budgetWindowMs - 1;
    expect(h.step().decisions).toEqual([]);
    expect(h.last.wakeAt).toBe(openedAt + testPolicy.budgetWindowMs);
    h.now = openedAt + testPolicy.budgetWindowMs;
    const p = h.step();
    expect(p.notes.map((n) => n.kind)).toContain('circuit-closed');
    expect(p.decisions).toHaveLength(1);
  });

  it('resets the backoff after the service stays healthy long enough', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    h.step();
    h.now += 10_000;
    h.step();
    expect(h.memory.get('api')!.backoffMs).toBe(40_000);
    h.set('api', { health: 'healthy' });
    h.step();
    h.now += testPolicy.resetAfterHealthyMs - 1;
    h.step();
    expect(h.memory.get('api')!.backoffMs).toBe(40_000);
    h.now += 1;
    h.step();
    expect(h.memory.get('api')!.backoffMs).toBe(10_000);
  });

  it('forgets actions older than the budget window', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })]);
    h.step();
    h.now += testPolicy.budgetWindowMs;
    h.step();
    expect(h.memory.get('api')!.actionTimes).toEqual([h.now]);
  });
});

describe('plan: dependencies', () => {
  const graph = new Map([
    ['db', []],
    ['api', ['db']],
    ['web', ['api']],
  ]);

  it('never restarts a dependent while its dependency is unhealthy, down or missing', () => {
    for (const db of [{ health: 'unhealthy' as const }, { state: 'exited' }, { state: 'restarting' }]) {
      const h = new Harness(
        ['db', 'api'],
        [container({ service: 'db', ...db }), container({ service: 'api', health: 'unhealthy' })],
        graph,
      );
      const p = h.step();
      expect(p.decisions.map((d) => d.service)).not.toContain('api');
      expect(p.notes).toContainEqual(
        expect.objectContaining({ service: 'api', kind: 'blocked-by-dependency' }),
      );
    }
  });

  it('heals the dependency first, then dependents in dependency order', () => {
    const h = new Harness(
      ['db', 'api', 'web'],
      [
        container({ service: 'db', health: 'unhealthy' }),
        container({ service: 'api', health: 'unhealthy' }),
        container({ service: 'web', health: 'unhealthy' }),
      ],
      graph,
    );
    expect(h.step().decisions.map((d) => d.service)).toEqual(['db']);
    h.set('db', { health: 'starting' });
    h.now += 1000;
    expect(h.step().decisions).toEqual([]);
    h.set('db', { health: 'healthy' });
    expect(h.step().decisions.map((d) => d.service)).toEqual(['api']);
    h.set('api', { health: 'healthy' });
    expect(h.step().decisions.map((d) => d.service)).toEqual(['web']);
    expect(h.memory.get('db')!.agentRestarts + h.memory.get('api')!.agentRestarts).toBe(2);
  });

  it('also waits for an indirect dependency that is down, even while the direct one still looks healthy', () => {
    const h = new Harness(
      ['db', 'api', 'web'],
      [
        container({ service: 'db', state: 'exited' }),
        container({ service: 'api', health: 'healthy' }),
        container({ service: 'web', health: 'unhealthy' }),
      ],
      graph,
    );
    const p = h.step();
    expect(p.decisions).toEqual([]);
    expect(p.notes).toContainEqual(
      expect.objectContaining({ service: 'web', message: expect.stringContaining('db (down)') }),
    );
  });

  it('waits for a dependency that is being healed', () => {
    const h = new Harness(
      ['db', 'api'],
      [container({ service: 'db' }), container({ service: 'api', health: 'unhealthy' })],
      graph,
    );
    expect(h.step({ busy: new Set(['db']) }).decisions).toEqual([]);
  });

  it('ignores a dependency that this host does not run', () => {
    const h = new Harness(['api'], [container({ service: 'api', health: 'unhealthy' })], graph);
    expect(h.step().decisions.map((d) => d.service)).toEqual(['api']);
  });

  it('orders services by dependency levels, and stops in reverse', () => {
    const g = new Map([
      ['web', ['api']],
      ['api', ['db', 'redis']],
      ['worker', ['redis']],
    ]);
    const all = ['worker', 'web', 'redis', 'api', 'db'];
    expect(dependencyLevels(all, g)).toEqual([['db', 'redis'], ['api', 'worker'], ['web']]);
    expect(dependencyOrder(all, g)).toEqual(['db', 'redis', 'api', 'worker', 'web']);
    expect(stopOrder(all, g)).toEqual([['web'], ['api', 'worker'], ['db', 'redis']]);
    // A cycle cannot loop forever.
    expect(
      dependencyOrder(
        ['a', 'b'],
        new Map([
          ['a', ['b']],
          ['b', ['a']],
        ]),
      ),
    ).toEqual(['a', 'b']);
  });
});

describe('serviceCondition and stackState', () => {
  it('takes the worst condition among a service’s containers', () => {
    expect(serviceCondition([])).toBe('missing');
    expect(
      serviceCondition([container({ service: 's' }), container({ service: 's', health: 'unhealthy' })]),
    ).toBe('unhealthy');
    expect(
      serviceCondition([container({ service: 's' }), container({ service: 's', state: 'exited' })]),
    ).toBe('down');
  });

  const base = {
    stopping: false,
    reconciled: true,
    bringUpFailing: false,
    dockerConnected: true,
    services: ['a', 'b'],
    conditions: new Map([
      ['a', 'ok' as const],
      ['b', 'ok' as const],
    ]),
    circuitOpen: new Set<string>(),
    busy: new Set<string>(),
    gatewayOk: true,
  };

  it('derives healthy, starting, degraded and stopping', () => {
    expect(stackState(base)).toBe('healthy');
    expect(stackState({ ...base, gatewayOk: false })).toBe('degraded');
    expect(stackState({ ...base, reconciled: false })).toBe('starting');
    expect(
      stackState({
        ...base,
        conditions: new Map([
          ['a', 'ok'],
          ['b', 'starting'],
        ]),
      }),
    ).toBe('starting');
    expect(
      stackState({
        ...base,
        conditions: new Map([
          ['a', 'unhealthy'],
          ['b', 'ok'],
        ]),
      }),
    ).toBe('degraded');
    expect(
      stackState({
        ...base,
        conditions: new Map([
          ['a', 'unhealthy'],
          ['b', 'ok'],
        ]),
        busy: new Set(['a']),
      }),
    ).toBe('starting');
    expect(stackState({ ...base, conditions: new Map([['a', 'ok']]) })).toBe('degraded'); // b missing
    expect(stackState({ ...base, circuitOpen: new Set(['a']) })).toBe('degraded');
    expect(stackState({ ...base, bringUpFailing: true })).toBe('degraded');
    expect(stackState({ ...base, dockerConnected: false })).toBe('degraded');
    expect(stackState({ ...base, stopping: true, dockerConnected: false })).toBe('stopping');
  });
});

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { coalesce, progressPublisher } from '../../../bootstrap/report-upload.ts';
import { runSteps } from '../../../bootstrap/runner.ts';
import type { Step } from '../../../bootstrap/steps/step.ts';
import type { ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import {
  type BootstrapReport,
  parseBootstrapReport,
  runningReport,
} from '../../../shared/status/bootstrap-report.ts';
import { fakeContext } from './fakes.ts';

const quiet = { progress: () => {}, step: () => {} };
const base = {
  version: '0.1.0',
  startedAt: '2026-12-01T10:00:00.000Z',
  now: new Date('2026-12-01T10:03:10.000Z'),
  dryRun: false,
  path: 'full' as const,
  stepsTotal: 14,
};

/** A promise with its resolver, to hold a fake upload in flight. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

describe('runningReport', () => {
  it('holds the run so far, in the result’s schema (older readers parse it too)', () => {
    const r = runningReport({
      ...base,
      steps: [{ name: 'os', result: 'done', detail: 'ok', durationMs: 5 }],
      current: { name: 'images', startedAt: '2026-12-01T10:02:00.000Z' },
      stepsDone: 8,
    });
    expect(r).toEqual({
      version: '0.1.0',
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:03:10.000Z',
      ok: true,
      dryRun: false,
      exitCode: 0,
      path: 'full',
      steps: [{ name: 'os', result: 'done', detail: 'ok', durationMs: 5 }],
      state: 'running',
      currentStep: { name: 'images', startedAt: '2026-12-01T10:02:00.000Z' },
      stepsDone: 8,
      stepsTotal: 14,
    });
    expect(parseBootstrapReport(JSON.stringify(r))).toEqual({ kind: 'ok', report: r });
  });

  it('says a step failed so far; between steps there is no current step', () => {
    const r = runningReport({
      ...base,
      steps: [{ name: 'tailscale', result: 'failed', detail: 'x', durationMs: 5 }],
      current: null,
      stepsDone: 9,
    });
    expect(r).toMatchObject({ ok: false, exitCode: 1, state: 'running' });
    expect(r.currentStep).toBeUndefined();
  });

  it('a result without the new fields (an older host) still parses', () => {
    const old = { ...base, finishedAt: base.now.toISOString(), ok: true, exitCode: 0, steps: [] };
    expect(parseBootstrapReport(JSON.stringify(old)).kind).toBe('ok');
  });
});

describe('runSteps progress hook', () => {
  const step = (name: Step['name'], fail = false): Step => ({
    name,
    run: async () => {
      if (fail) throw new Error(`${name} broke`);
      return { result: 'done', detail: name };
    },
  });

  it('publishes at each step’s start and end, counting the desired step before it; the result is finished', async () => {
    const seen: BootstrapReport[] = [];
    const { report } = await runSteps(
      fakeContext({}),
      [step('os'), step('packages', true), step('images')],
      quiet,
      [
        { name: 'desired', result: 'unchanged', detail: '', durationMs: 1 },
        { name: 'config', result: 'unchanged', detail: '', durationMs: 1 },
      ],
      'full',
      { onProgress: (r) => seen.push(r) },
    );
    expect(seen.map((r) => [r.currentStep?.name ?? '-', r.stepsDone, r.stepsTotal, r.ok])).toEqual([
      ['os', 1, 4, true],
      ['-', 2, 4, true],
      ['packages', 2, 4, true],
      ['-', 3, 4, false],
      // images needs packages: recorded as blocked without running, so nothing to publish for it.
    ]);
    expect(seen.every((r) => r.state === 'running' && r.path === 'full')).toBe(true);
    expect(seen.at(-1)!.steps.map((s) => s.name)).toEqual(['desired', 'config', 'os', 'packages']);
    expect(report.state).toBe('finished');
    expect(report.steps.at(-1)).toMatchObject({ name: 'images', result: 'blocked' });
    expect(report.currentStep).toBeUndefined();
  });

  it('a hook that throws changes nothing; a dry run publishes nothing', async () => {
    const { report, error } = await runSteps(fakeContext({}), [step('os')], quiet, [], 'steps', {
      onProgress: () => {
        throw new Error('hook broke');
      },
    });
    expect(error).toBeUndefined();
    expect(report.ok).toBe(true);
    const seen: BootstrapReport[] = [];
    await runSteps({ ...fakeContext({}), dryRun: true }, [step('os')], quiet, [], 'steps', {
      onProgress: (r) => seen.push(r),
    });
    expect(seen).toEqual([]);
  });
});

describe('coalesce', () => {
  it('keeps at most one in flight; the latest offered while it runs is sent next, the others dropped', async () => {
    const sent: number[] = [];
    const gates: ReturnType<typeof gate>[] = [];
    const c = coalesce<number>(async (v) => {
      sent.push(v);
      const g = gate();
      gates.push(g);
      await g.p;
    });
    c.offer(1);
    c.offer(2);
    c.offer(3);
    expect(sent).toEqual([1]);
    gates[0]!.open();
    await gates[0]!.p;
    await Promise.resolve();
    await Promise.resolve();
    expect(sent).toEqual([1, 3]);
    gates[1]!.open();
    await c.close();
    expect(sent).toEqual([1, 3]);
  });

  it('close drops what waits, waits for the one in flight, and refuses later offers', async () => {
    const sent: number[] = [];
    const g = gate();
    let ended = false;
    const c = coalesce<number>(async (v) => {
      sent.push(v);
      await g.p;
      ended = true;
    });
    c.offer(1);
    c.offer(2);
    const closed = c.close();
    c.offer(3);
    g.open();
    await closed;
    expect(ended).toBe(true);
    expect(sent).toEqual([1]);
  });

  it('a send that rejects does not stop the next one', async () => {
    const sent: number[] = [];
    const c = coalesce<number>(async (v) => {
      sent.push(v);
      if (v === 1) throw new Error('boom');
    });
    c.offer(1);
    c.offer(2);
    await c.close();
    // 2 was waiting when close came: dropped; a new offer after a failure is sent.
    const d = coalesce<number>(async (v) => {
      sent.push(v);
      if (v === 10) throw new Error('boom');
    });
    d.offer(10);
    await new Promise((r) => setImmediate(r));
    d.offer(11);
    await new Promise((r) => setImmediate(r));
    await d.close();
    expect(sent).toEqual([1, 10, 11]);
  });
});

describe('progressPublisher', () => {
  const config = parseConfig({ s3: { bucket: 'dalston-artifacts-123456789012' } });
  const report = runningReport({
    ...base,
    steps: [],
    current: { name: 'os', startedAt: base.startedAt },
    stepsDone: 1,
  });

  it('uploads to the result’s key, looking the instance up once', async () => {
    const puts: string[] = [];
    let lookups = 0;
    const store: ObjectStore = { putObject: async (k) => void puts.push(k) };
    const p = progressPublisher(config, pino({ level: 'silent' }), {
      store: async () => store,
      instanceName: async () => {
        lookups++;
        return 'i-0abc0abc0abc0abc0';
      },
    });
    p.offer(report);
    await new Promise((r) => setImmediate(r));
    p.offer(report);
    await p.close();
    expect(puts).toEqual([
      'status/i-0abc0abc0abc0abc0/bootstrap.json',
      'status/i-0abc0abc0abc0abc0/bootstrap.json',
    ]);
    expect(lookups).toBe(1);
  });

  it('a failing upload is warned about once, never thrown; a hanging one ends at its deadline', async () => {
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => logged.push(l) });
    const denied: ObjectStore = {
      putObject: async () => {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      },
    };
    const p = progressPublisher(config, log, {
      store: async () => denied,
      instanceName: async () => 'i-0abc0abc0abc0abc0',
    });
    for (let i = 0; i < 3; i++) {
      p.offer(report);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    await p.close();
    const warnings = logged.filter((l) => l.includes('could not upload the bootstrap progress'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('AccessDenied: Access Denied');

    // A store that never answers: close() returns once the (short, here 20 ms) deadline passed.
    const hanging: ObjectStore = {
      putObject: (_k, _b, _t, o) =>
        new Promise((_res, rej) => o?.signal?.addEventListener('abort', () => rej(new Error('aborted')))),
    };
    const q = progressPublisher(
      config,
      log,
      { store: async () => hanging, instanceName: async () => 'i-0abc0abc0abc0abc0' },
      20,
    );
    q.offer(report);
    await q.close();
    expect(logged.join('')).toContain('gave up after 0.02 s');
  });
});

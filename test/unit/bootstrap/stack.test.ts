import { describe, expect, it } from 'vitest';
import { planStackStart, stackStep } from '../../../bootstrap/steps/stack.ts';
import { fakeContext, fakeHost, when } from './fakes.ts';

describe('stack step', () => {
  it('plans a start when inactive, a restart only when its unit changed, else nothing', () => {
    expect(planStackStart(false, false)).toEqual(['--no-block', 'start', 'dalston.service']);
    expect(planStackStart(false, true)).toEqual(['--no-block', 'start', 'dalston.service']);
    expect(planStackStart(true, true)).toEqual(['--no-block', 'restart', 'dalston.service']);
    expect(planStackStart(true, false)).toBeUndefined();
  });

  it('starts dalston.service without blocking, with a time limit', async () => {
    const ctx = fakeContext({}, { host: fakeHost({ systemdRunning: () => true }) });
    ctx.shell.on(when('systemctl is-active', { exitCode: 3 }));
    expect(await stackStep.run(ctx)).toEqual({
      result: 'done',
      detail: 'dalston.service started; the agent brings the stack up and reports its progress',
    });
    expect(ctx.shell.lines()).toEqual([
      'systemctl is-active --quiet dalston.service',
      'systemctl --no-block start dalston.service',
    ]);
    expect(ctx.shell.calls.every((c) => (c.opts?.timeoutMs ?? 0) > 0)).toBe(true);
  });

  it('restarts an active stack whose unit the units step changed; leaves it alone otherwise', async () => {
    const changed = fakeContext(
      {},
      { host: fakeHost({ systemdRunning: () => true }), state: { unitsChanged: ['dalston.service'] } },
    );
    expect((await stackStep.run(changed)).result).toBe('done');
    expect(changed.shell.lines()).toContain('systemctl --no-block restart dalston.service');
    const same = fakeContext(
      {},
      {
        host: fakeHost({ systemdRunning: () => true }),
        state: { unitsChanged: ['dalston-bootstrap.service'] },
      },
    );
    expect(await stackStep.run(same)).toEqual({ result: 'unchanged', detail: 'dalston.service active' });
  });

  it('without systemd it says so and starts nothing; a dry run only plans', async () => {
    const offline = fakeContext({});
    expect(await stackStep.run(offline)).toEqual({
      result: 'skipped',
      detail: 'dalston.service not started: systemd is not running (PID 1)',
    });
    expect(offline.shell.calls).toEqual([]);
    const dry = fakeContext({}, { dryRun: true, host: fakeHost({ systemdRunning: () => true }) });
    dry.shell.on(when('systemctl is-active', { exitCode: 3 }));
    expect((await stackStep.run(dry)).changes).toEqual(['systemctl --no-block start dalston.service']);
    expect(dry.shell.lines()).toEqual(['systemctl is-active --quiet dalston.service']);
  });
});

import { describe, expect, it } from 'vitest';
import { DATA_DIR } from '../../../rehearsal/context.ts';
import {
  finished,
  type InMachine,
  journal,
  journalMessages,
  journalMessagesOf,
  messageOf,
  unitProps,
  waitUnit,
} from '../../../rehearsal/machine/systemd.ts';
import { parseBlkidExport } from '../../../rehearsal/machine/udev-standin.ts';
import { composeConfigCommand } from '../../../rehearsal/prepare.ts';
import { SCENARIOS, selectScenarios } from '../../../rehearsal/scenarios/index.ts';
import type { ShellResult } from '../../../shared/shell.ts';

/** A machine whose commands answer from `reply`; records every argv. */
function fakeMachine(reply: (cmd: string, args: readonly string[]) => Partial<ShellResult>) {
  const calls: string[][] = [];
  const m: InMachine = {
    exec: async (cmd, args = []) => {
      calls.push([cmd, ...args]);
      return { exitCode: 0, stdout: '', stderr: '', ...reply(cmd, args) };
    },
  };
  return { m, calls };
}

describe('scenario list', () => {
  it('runs the lifecycle in order, each scenario once', () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      'first boot',
      'faults',
      'volume pulled',
      'backup/restore',
      'live change',
      'upgrade',
      'bad upgrade',
      'stop',
      'second boot',
      'unclean stop',
      'duplicate UUID',
      'missing volume',
      'idle stop',
      'volume swap',
      'tailscale fails',
    ]);
  });

  it('--only keeps the usual order and refuses a name it does not know', () => {
    expect(selectScenarios(undefined)).toBe(SCENARIOS);
    expect(selectScenarios('live change, first boot').map((s) => s.name)).toEqual([
      'first boot',
      'live change',
    ]);
    expect(() => selectScenarios('first boot,upgrad')).toThrow(
      /unknown scenario "upgrad"; scenarios: first boot/,
    );
    expect(() => selectScenarios(' , ')).toThrow(/\(none given\)/);
  });
});

describe('journal and units inside the machine', () => {
  it('decodes pino JSON lines to their msg and keeps other lines', () => {
    expect(messageOf('{"level":30,"msg":"stack stopped","services":12}')).toBe('stack stopped');
    expect(messageOf('  Stopping dalston.service...  ')).toBe('Stopping dalston.service...');
    expect(messageOf('{"level":30}')).toBe('{"level":30}');
    expect(messageOf('{not json')).toBe('{not json');
    expect(
      journalMessagesOf('{"msg":"stopping the stack"}\n\nStopped x.\n{"msg":"stack stopped"}\n'),
    ).toEqual(['stopping the stack', 'Stopped x.', 'stack stopped']);
  });

  it("reads one boot's journal of one unit, message text only", async () => {
    const { m, calls } = fakeMachine(() => ({ stdout: '{"msg":"a"}\nb\n' }));
    expect(await journalMessages(m, 'dalston.service', { boot: -1 })).toEqual(['a', 'b']);
    await journal(m, 'data.mount');
    expect(calls).toEqual([
      ['journalctl', '-b', '-1', '-u', 'dalston.service', '-o', 'cat', '--no-pager'],
      ['journalctl', '-b', '0', '-u', 'data.mount', '-o', 'cat', '--no-pager'],
    ]);
  });

  it('parses systemctl show output, values may hold "="', async () => {
    const { m, calls } = fakeMachine(() => ({
      stdout: 'ActiveState=active\nExecStart={ path=/x ; argv[]=/x }\n',
    }));
    expect(await unitProps(m, 'u.service', ['ActiveState', 'ExecStart'])).toEqual({
      ActiveState: 'active',
      ExecStart: '{ path=/x ; argv[]=/x }',
    });
    expect(calls[0]).toEqual(['systemctl', 'show', 'u.service', '-p', 'ActiveState', '-p', 'ExecStart']);
  });

  it('waits until the unit reaches the state, and says what it last saw when it does not', async () => {
    const states = ['activating', 'activating', 'active'];
    const { m } = fakeMachine(() => ({
      stdout: `ActiveState=${states.shift() ?? 'active'}\nResult=success\n`,
    }));
    const p = await waitUnit(m, 'x.service', ['ActiveState', 'Result'], finished, {
      timeoutMs: 5_000,
      intervalMs: 1,
    });
    expect(p).toEqual({ ActiveState: 'active', Result: 'success' });

    const stuck = fakeMachine(() => ({ stdout: 'ActiveState=activating\n' }));
    await expect(
      waitUnit(stuck.m, 'y.service', ['ActiveState', 'Result'], finished, {
        what: 'y to finish',
        timeoutMs: 20,
        intervalMs: 5,
      }),
    ).rejects.toThrow('y to finish: not within 0 s (last seen: y.service ActiveState=activating Result=?)');
  });

  it('treats a failed oneshot as finished too', () => {
    expect(finished({ ActiveState: 'failed' })).toBe(true);
    expect(finished({ ActiveState: 'activating' })).toBe(false);
  });
});

describe('preparation', () => {
  it('resolves the compose config with the overlay and the machine dataDir the overlay requires', () => {
    const c = composeConfigCommand({
      dalstonDir: '/w/dalston-src',
      overlay: '/repo/compose/docker-compose.aws.yml',
      envFile: '/w/compose.env',
      services: ['postgres', 'redis'],
    });
    expect(c.cwd).toBe('/w/dalston-src');
    expect(c.env).toEqual({ DALSTON_DATA_DIR: DATA_DIR });
    expect(DATA_DIR).toBe('/data');
    expect(c.args).toEqual([
      '-p',
      'dalston',
      '-f',
      'docker-compose.yml',
      '-f',
      'infra/docker/docker-compose.aws.yml',
      '-f',
      '/repo/compose/docker-compose.aws.yml',
      '--env-file',
      '/w/compose.env',
      'config',
      '--format',
      'json',
      'postgres',
      'redis',
    ]);
  });

  it('reads the data volume filesystem from blkid, nothing for a blank disk', () => {
    expect(
      parseBlkidExport('DEVNAME=/dev/loop3\nUUID=u-1\nTYPE=ext4\nLABEL=dalston-data\nUSAGE=filesystem\n'),
    ).toEqual({ uuid: 'u-1', type: 'ext4', label: 'dalston-data' });
    expect(parseBlkidExport('')).toEqual({ uuid: undefined, type: undefined, label: undefined });
  });
});

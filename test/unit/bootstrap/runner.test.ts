import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapCommand } from '../../../bootstrap/command.ts';
import { formatStepLine } from '../../../bootstrap/output.ts';
import { parseSteps } from '../../../bootstrap/runner.ts';
import type { Step } from '../../../bootstrap/steps/step.ts';
import { HostError, UsageError } from '../../../shared/errors.ts';
import { memoryLogger } from '../agent/fakes.ts';
import { FakeClock, FakeShell, fakeHost } from './fakes.ts';

function sink(isTTY = false) {
  let text = '';
  return {
    isTTY,
    write: (s: string) => {
      text += s;
      return true;
    },
    get text() {
      return text;
    },
  };
}

describe('--steps', () => {
  it('defaults to all, in order; keeps canonical order; rejects unknown (exit 2)', () => {
    expect(parseSteps(undefined)).toEqual([
      'desired',
      'os',
      'units',
      'disk',
      'mount',
      'fstab',
      'dirs',
      'packages',
      'dalston',
      'secrets',
      'images',
      'stack',
      'tailscale',
    ]);
    expect(parseSteps('fstab, disk,mount')).toEqual(['disk', 'mount', 'fstab']);
    expect(() => parseSteps('disk,format')).toThrow(UsageError);
    expect(() => parseSteps('disk,format')).toThrow('unknown step format; steps are desired,os,units');
    expect(() => parseSteps(',')).toThrow(/--steps is empty/);
  });
});

describe('terminal lines', () => {
  it('formats ✓ / – / ✗ with durations', () => {
    expect(
      formatStepLine({
        name: 'disk',
        result: 'done',
        detail: 'formatted /dev/loop3 (ext4, label dalston-data)',
        durationMs: 1234,
      }),
    ).toBe('✓ disk      formatted /dev/loop3 (ext4, label dalston-data)  1.2 s');
    expect(
      formatStepLine({
        name: 'tailscale',
        result: 'skipped',
        detail: 'skipped: tailscale.authKeyParameter not set',
        durationMs: 0,
      }),
    ).toBe('– tailscale skipped: tailscale.authKeyParameter not set');
    expect(formatStepLine({ name: 'disk', result: 'failed', detail: 'x', durationMs: 95 })).toBe(
      '✗ disk      x  0.1 s',
    );
    expect(
      formatStepLine({
        name: 'dirs',
        result: 'planned',
        detail: 'would make 2 changes',
        durationMs: 0,
        changes: ['a', 'b'],
      }),
    ).toBe('• dirs      would make 2 changes  0.0 s\n    - a\n    - b');
  });
});

describe('bootstrapCommand', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-cmd-'));
    await mkdir(join(root, 'etc/dalston'), { recursive: true });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));
  const deps = (over: Record<string, unknown> = {}) => ({
    shell: new FakeShell(),
    host: fakeHost(),
    clock: new FakeClock(),
    stdout: sink(true),
    stderr: sink(),
    ...over,
  });
  const resultFile = () => join(root, 'var/lib/dalston/bootstrap.json');

  it('bad config → 78 naming the key, nothing else runs, result recorded', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), JSON.stringify({ volume: { fsType: 'btrfs' } }));
    const d = deps();
    const code = await bootstrapCommand(['--root', root, '--steps', 'disk'], d);
    expect(code).toBe(78);
    expect(d.stderr.text).toContain('volume.fsType');
    expect(d.stdout.text).toMatch(/^✗ config/);
    expect(d.shell.calls).toEqual([]);
    const report = JSON.parse(await readFile(resultFile(), 'utf8'));
    expect(report).toMatchObject({ ok: false, exitCode: 78, steps: [{ name: 'config', result: 'failed' }] });
  });

  it('logs (when not on a terminal) through a logger whose lines carry component bootstrap', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), JSON.stringify({ volume: { fsType: 'btrfs' } }));
    const { logger, lines } = memoryLogger();
    expect(
      await bootstrapCommand(['--root', root, '--steps', 'disk'], deps({ stdout: sink(), log: logger })),
    ).toBe(78);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.component === 'bootstrap')).toBe(true);
  });

  it('unknown key and unparsable JSON are 78 too; a missing explicit --config is 78', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), JSON.stringify({ volume: { size: 5 } }));
    let d = deps();
    expect(await bootstrapCommand(['--root', root, '--steps', 'disk'], d)).toBe(78);
    expect(d.stderr.text).toContain('volume.size: unknown key');
    await writeFile(join(root, 'etc/dalston/host.json'), '{ nope');
    expect(await bootstrapCommand(['--root', root], deps())).toBe(78);
    d = deps();
    expect(await bootstrapCommand(['--root', root, '--config', '/etc/dalston/other.json'], d)).toBe(78);
    expect(d.stderr.text).toContain('other.json: cannot read (ENOENT)');
  });

  it('a relative --config is a local file, not prefixed by --root', async () => {
    const local = join(root, 'local.json');
    await writeFile(local, JSON.stringify({ volume: { bogus: 1 } }));
    const d = deps();
    const rel = (await import('node:path')).relative(process.cwd(), local);
    expect(
      await bootstrapCommand(['--root', join(root, 'elsewhere'), '--config', rel, '--steps', 'disk'], d),
    ).toBe(78);
    expect(d.stderr.text).toContain(`config ${local}: volume.bogus: unknown key`);
  });

  it('missing volume keys → 78 naming volume.id|volume.device', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), '{}');
    const d = deps();
    expect(await bootstrapCommand(['--root', root, '--steps', 'disk'], d)).toBe(78);
    expect(d.stderr.text).toContain('volume.id|volume.device is required');
  });

  it('usage errors → 2 with usage text and no result file', async () => {
    const cases = [
      ['--root', root, '--steps', 'disk,nope'],
      ['--root', root, '--bogus'],
      ['--root', root, 'extra'],
      ['--root', ''],
    ];
    for (const args of cases) {
      const d = deps();
      expect(await bootstrapCommand(args, d)).toBe(2);
      expect(d.stderr.text).toContain('Usage: dalston-host bootstrap');
    }
    expect(existsSync(resultFile())).toBe(false);
  });

  it('a step error maps to its exit code, blocks the steps that need it and is recorded', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), '{}');
    const ran: string[] = [];
    const step = (
      name: 'disk' | 'mount',
      fn: () => Promise<never> | Promise<{ result: 'done'; detail: string }>,
    ): Step => ({
      name,
      run: async () => {
        ran.push(name);
        return fn();
      },
    });
    const d = deps({
      stdout: sink(false),
      log: (await import('pino')).pino({ level: 'silent' }),
      steps: {
        disk: step('disk', async () => {
          throw new HostError('unavailable', 'data volume not found: volume.device /dev/x did not appear');
        }),
        mount: step('mount', async () => ({ result: 'done', detail: 'x' })),
      },
    });
    expect(await bootstrapCommand(['--root', root, '--steps', 'disk,mount'], d)).toBe(69);
    expect(ran).toEqual(['disk']);
    const report = JSON.parse(await readFile(resultFile(), 'utf8'));
    expect(report).toMatchObject({
      ok: false,
      exitCode: 69,
      dryRun: false,
      steps: [
        { name: 'config', result: 'unchanged' },
        {
          name: 'disk',
          result: 'failed',
          detail: 'data volume not found: volume.device /dev/x did not appear',
        },
        { name: 'mount', result: 'blocked', detail: 'not run: it needs disk, which failed' },
      ],
    });
    expect(typeof report.steps[1].durationMs).toBe('number');
    expect(d.stderr.text).toBe(
      'dalston-host bootstrap: data volume not found: volume.device /dev/x did not appear\n',
    );
  });

  it('an unexpected error is exit 1; success is 0 with the result file', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), '{}');
    const boom: Step = {
      name: 'dirs',
      run: async () => {
        throw new Error('EIO');
      },
    };
    expect(await bootstrapCommand(['--root', root, '--steps', 'dirs'], deps({ steps: { dirs: boom } }))).toBe(
      1,
    );
    const fine: Step = { name: 'dirs', run: async () => ({ result: 'done', detail: 'made' }) };
    const d = deps({ steps: { dirs: fine } });
    expect(await bootstrapCommand(['--root', root, '--steps', 'dirs'], d)).toBe(0);
    expect(d.stdout.text).toContain('✓ dirs      made');
    expect(JSON.parse(await readFile(resultFile(), 'utf8'))).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('--dry-run writes no result file', async () => {
    await writeFile(join(root, 'etc/dalston/host.json'), '{}');
    const plan: Step = {
      name: 'dirs',
      run: async () => ({ result: 'planned', detail: 'would x', changes: ['x'] }),
    };
    const d = deps({ steps: { dirs: plan } });
    expect(await bootstrapCommand(['--root', root, '--steps', 'dirs', '--dry-run'], d)).toBe(0);
    expect(d.stdout.text).toContain('• dirs');
    expect(d.stdout.text).toContain('dry run: nothing was changed');
    expect(existsSync(resultFile())).toBe(false);
  });
});

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../shared/config/load.ts';
import { requireCommand } from '../../harness/require.ts';

/**
 * systemd/dalston-sync.service as systemd reads it (`systemd-analyze verify`),
 * and that it starts what the agent's default `agent.syncCommand` names.
 */

const SYSTEMD = path.join(import.meta.dirname, '../../../systemd');
const SHIPPED_EXEC =
  'ExecStart=/usr/bin/node /opt/dalston-host/current/dalston-host.mjs sync --config /etc/dalston/host.json';
let dir: string;
let unit: string;

beforeAll(async () => {
  requireCommand('systemd-analyze', 'apt-get install systemd');
  dir = await mkdtemp(path.join(os.tmpdir(), 'dh-sync-unit-'));
  unit = await readFile(path.join(SYSTEMD, 'dalston-sync.service'), 'utf8');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('systemd/dalston-sync.service', () => {
  it('passes systemd-analyze verify (ExecStart pointed at a runnable script here)', async () => {
    expect(unit).toContain(`\n${SHIPPED_EXEC}\n`);
    const script = path.join(dir, 'dalston-host.mjs');
    await writeFile(script, 'process.exit(0);\n');
    await chmod(script, 0o755);
    const file = path.join(dir, 'dalston-sync.service');
    await writeFile(
      file,
      unit.replace(
        SHIPPED_EXEC,
        `ExecStart=${process.execPath} ${script} sync --config /etc/dalston/host.json`,
      ),
    );
    let output = '';
    let code = 0;
    try {
      const r = await promisify(execFile)('systemd-analyze', ['verify', file], { timeout: 60_000 });
      output = `${r.stdout}${r.stderr}`.trim();
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      code = typeof e.code === 'number' ? e.code : 1;
      output = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
    }
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('is a oneshot with no [Install] (only the agent starts it) and is what the agent starts by default', () => {
    expect(unit).toMatch(/\nType=oneshot\n/);
    expect(unit).not.toContain('[Install]');
    expect(parseConfig({}).agent.syncCommand).toEqual([
      'systemctl',
      'start',
      '--no-block',
      'dalston-sync.service',
    ]);
  });
});

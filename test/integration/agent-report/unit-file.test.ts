import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataDirDropIns, writablePathsDropIns } from '../../../bootstrap/steps/units.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { requireCommand } from '../../harness/require.ts';

const UNIT = path.join(import.meta.dirname, '../../../systemd/dalston.service');
const SHIPPED_EXEC =
  'ExecStart=/usr/bin/node /opt/dalston-host/current/dalston-host.mjs agent --config /etc/dalston/host.json';

/** The drop-in the bootstrap's units step installs next to the unit, for the default dataDir. */
const DROP_IN = dataDirDropIns(parseConfig({}).dataDir).find((d) => d.unit === 'dalston.service')!;

/**
 * Runs `systemd-analyze verify` on a copy of the unit text with its dataDir drop-in
 * (verify reads drop-ins next to the file); returns its exit code and all output.
 */
async function verify(
  dir: string,
  text: string,
  dropIn = DROP_IN.text,
  extra: readonly { path: string; text: string }[] = [],
): Promise<{ code: number; output: string }> {
  const sub = await mkdtemp(path.join(dir, 'u-'));
  const file = path.join(sub, 'dalston.service');
  await writeFile(file, text);
  await mkdir(path.join(sub, 'dalston.service.d'));
  await writeFile(path.join(sub, DROP_IN.path), dropIn);
  for (const f of extra) await writeFile(path.join(sub, f.path), f.text);
  try {
    const r = await promisify(execFile)('systemd-analyze', ['verify', file], { timeout: 60_000 });
    return { code: 0, output: `${r.stdout}${r.stderr}`.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

/** Values of a directive in the unit (all occurrences). */
function directive(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('systemd/dalston.service', () => {
  let dir: string;
  let shipped: string;
  let runnable: string;

  beforeAll(async () => {
    requireCommand('systemd-analyze', 'apt-get install systemd');
    // verify resolves Requires=/After= units: docker.service must be installed (the harness installs docker.io).
    const dockerUnit = ['/lib/systemd/system', '/usr/lib/systemd/system', '/etc/systemd/system'].some((d) =>
      existsSync(path.join(d, 'docker.service')),
    );
    if (!dockerUnit)
      throw new Error('missing prerequisite: docker.service unit not installed (apt-get install docker.io)');

    dir = await mkdtemp(path.join(os.tmpdir(), 'dh-unit-'));
    shipped = await readFile(UNIT, 'utf8');
    // The shipped ExecStart names the host's bundle path, absent here; verify a copy that runs
    // this machine's node on a real script instead (the shipped line is asserted separately).
    const script = path.join(dir, 'dalston-host.mjs');
    await writeFile(script, 'process.exit(0);\n');
    await chmod(script, 0o755);
    expect(shipped).toContain(`\n${SHIPPED_EXEC}\n`);
    runnable = shipped.replace(
      SHIPPED_EXEC,
      `ExecStart=${process.execPath} ${script} agent --config /etc/dalston/host.json`,
    );
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify with exit 0 and no output at all', async () => {
    const r = await verify(dir, runnable);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('would catch a bad value that verify only warns about (exit 0 but output)', async () => {
    const r = await verify(dir, runnable.replace('Type=notify', 'Type=notfy'));
    expect(r.output).toMatch(/Failed to parse service type, ignoring: notfy/);
  });

  it('would catch a misspelt directive', async () => {
    const r = await verify(dir, runnable.replace('RestartSec=10', 'RestrtSec=10'));
    expect(r.output).toMatch(/Unknown key 'RestrtSec' in section \[Service\]/);
  });

  it('would catch a bad drop-in', async () => {
    const r = await verify(dir, runnable, DROP_IN.text.replace('RequiresMountsFor=', 'RequiresMountFor='));
    expect(r.output).toMatch(/Unknown key 'RequiresMountFor' in section \[Unit\]/);
  });

  it('passes verify with the ReadWritePaths= drop-in of a host.json that moved its state', async () => {
    const moved = parseConfig({
      agent: { stateDir: '/srv/dalston/agent' },
      backup: { runDir: '/run/dalston-host' },
    });
    const dropIn = writablePathsDropIns(moved).find((d) => d.unit === 'dalston.service');
    expect(dropIn?.text).toContain('ReadWritePaths=/srv/dalston/agent /run/dalston-host\n');
    const r = await verify(dir, runnable, DROP_IN.text, [{ path: dropIn!.path, text: dropIn!.text! }]);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
    const bad = await verify(dir, runnable, DROP_IN.text, [
      { path: dropIn!.path, text: dropIn!.text!.replace('ReadWritePaths=', 'ReadWritePath=') },
    ]);
    expect(bad.output).toMatch(/Unknown key 'ReadWritePath' in section \[Service\]/);
  });

  it('would catch a missing executable', async () => {
    const r = await verify(dir, runnable.replace(process.execPath, '/nonexistent/node'));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/not executable/);
  });

  it('runs the bundle with the system node, with the settings the agent relies on', () => {
    expect(directive(shipped, 'ExecStart')).toEqual([SHIPPED_EXEC.slice('ExecStart='.length)]);
    expect(directive(shipped, 'Type')).toEqual(['notify']);
    expect(directive(shipped, 'NotifyAccess')).toEqual(['all']);
    expect(directive(shipped, 'Restart')).toEqual(['always']);
    expect(directive(shipped, 'RestartSec')).toEqual(['10']);
    expect(directive(shipped, 'RestartPreventExitStatus')).toEqual(['78']);
    // The data volume's path comes from host.json, in the drop-in the units step writes.
    expect(directive(shipped, 'RequiresMountsFor')).toEqual([]);
    expect(directive(DROP_IN.text, 'RequiresMountsFor')).toEqual(['/data']);
    expect(directive(shipped, 'KillMode')).toEqual(['mixed']);
    expect(directive(shipped, 'Environment')).toContain('NODE_ENV=production');
    expect(directive(shipped, 'WantedBy')).toEqual(['multi-user.target']);
    expect(directive(shipped, 'Requires')).toEqual(['docker.service']);
    expect(directive(shipped, 'After')[0]).toMatch(/docker\.service.*network-online\.target/);
    expect(directive(shipped, 'Wants')[0]).toMatch(/network-online\.target/);
    expect(directive(shipped, 'MemoryMax')).toEqual(['256M']);
    // Long enough for first image pulls; longer than the default stopGraceSeconds (60).
    expect(directive(shipped, 'TimeoutStartSec')).toEqual(['30min']);
    const stop = Number(directive(shipped, 'TimeoutStopSec')[0]?.replace(/s$/, ''));
    expect(stop).toBeGreaterThan(60);
    const watchdog = Number(directive(shipped, 'WatchdogSec')[0]?.replace(/s$/, ''));
    expect(watchdog).toBeGreaterThanOrEqual(60);
  });
});

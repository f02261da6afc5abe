import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupScheduleDropIn } from '../../../bootstrap/steps/units.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { requireCommand } from '../../harness/require.ts';

/**
 * dalston-backup.service and .timer as systemd itself reads them: `systemd-analyze
 * verify` on the shipped files plus the schedule drop-in the bootstrap's units
 * step writes from host.json, and `systemd-analyze calendar` on the schedule.
 */

const SYSTEMD = path.join(import.meta.dirname, '../../../systemd');
const SHIPPED_EXEC =
  'ExecStart=/usr/bin/node /opt/dalston-host/current/dalston-host.mjs backup --config /etc/dalston/host.json --trigger timer';

async function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await promisify(execFile)(cmd, args, { timeout: 60_000 });
    return { code: 0, output: `${r.stdout}${r.stderr}`.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
  }
}

describe('systemd/dalston-backup.service and dalston-backup.timer', () => {
  let dir: string;
  let service: string;
  let timer: string;

  /** A directory with both units (the service runnable here) and the timer's schedule drop-in. */
  async function unitsDir(schedule: { schedule: string; randomizedDelaySeconds: number }): Promise<string> {
    const sub = await mkdtemp(path.join(dir, 'u-'));
    const script = path.join(sub, 'dalston-host.mjs');
    await writeFile(script, 'process.exit(0);\n');
    await chmod(script, 0o755);
    // The shipped ExecStart names the host's bundle path, absent here; verify runs this node on a real script.
    await writeFile(
      path.join(sub, 'dalston-backup.service'),
      service.replace(
        SHIPPED_EXEC,
        `ExecStart=${process.execPath} ${script} backup --config /etc/dalston/host.json --trigger timer`,
      ),
    );
    await writeFile(path.join(sub, 'dalston-backup.timer'), timer);
    const dropIn = backupScheduleDropIn(schedule);
    await mkdir(path.join(sub, 'dalston-backup.timer.d'));
    await writeFile(path.join(sub, dropIn.path), dropIn.text);
    return sub;
  }

  beforeAll(async () => {
    requireCommand('systemd-analyze', 'apt-get install systemd');
    const dockerUnit = ['/lib/systemd/system', '/usr/lib/systemd/system', '/etc/systemd/system'].some((d) =>
      existsSync(path.join(d, 'docker.service')),
    );
    if (!dockerUnit)
      throw new Error('missing prerequisite: docker.service unit not installed (apt-get install docker.io)');
    dir = await mkdtemp(path.join(os.tmpdir(), 'dh-backup-units-'));
    service = await readFile(path.join(SYSTEMD, 'dalston-backup.service'), 'utf8');
    timer = await readFile(path.join(SYSTEMD, 'dalston-backup.timer'), 'utf8');
    expect(service).toContain(`\n${SHIPPED_EXEC}\n`);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('both pass systemd-analyze verify with the default schedule drop-in', async () => {
    const sub = await unitsDir(parseConfig({}).backup);
    const r = await run('systemd-analyze', [
      'verify',
      path.join(sub, 'dalston-backup.timer'),
      path.join(sub, 'dalston-backup.service'),
    ]);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('a configured schedule verifies too, and a broken one is caught by verify', async () => {
    const ok = await unitsDir({ schedule: 'Mon..Fri 02:30 Europe/London', randomizedDelaySeconds: 60 });
    const good = await run('systemd-analyze', ['verify', path.join(ok, 'dalston-backup.timer')]);
    expect(good.output).toBe('');
    const bad = await unitsDir({ schedule: 'every night at four', randomizedDelaySeconds: 60 });
    const r = await run('systemd-analyze', ['verify', path.join(bad, 'dalston-backup.timer')]);
    expect(r.output).toMatch(/OnCalendar|calendar/i);
  });

  it('nightly, persistent, randomized; bounded retries and a start timeout on the service', async () => {
    const cal = await run('systemd-analyze', ['calendar', parseConfig({}).backup.schedule]);
    expect(cal.code).toBe(0);
    expect(cal.output).toMatch(/Next elapse:/);
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=\d+$/m);
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(service).toMatch(/^TimeoutStartSec=\S+$/m);
    expect(service).toMatch(/^Restart=on-failure$/m);
    expect(service).toMatch(/^StartLimitBurst=\d+$/m);
    expect(service).toMatch(/^RestartPreventExitStatus=78$/m);
  });
});

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assetPath } from '../../shared/assets.ts';
import { runChecked } from '../../shared/shell.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import { rooted, SystemPath } from '../paths.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export const UNIT_FILES = ['dalston-bootstrap.service', 'dalston.service'] as const;
/** The unit that runs the stack; the bootstrap unit is only enabled (it is what runs us at boot). */
export const STACK_UNIT = 'dalston.service';

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export type SystemctlCall = string[];

/**
 * Pure: the systemctl calls after installing units. Running systemd:
 * daemon-reload when any unit changed, enable unless already enabled, start
 * dalston.service unless active, restart it only when its own file changed (a
 * restart stops the stack). `--no-block`: dalston.service is Type=notify and
 * sends READY=1 only after the first `compose up`, which may pull and build
 * images for longer than a boot script should wait; the agent reports its own
 * progress. Offline (no systemd as PID 1): enable with --root when needed, never start.
 */
export function planSystemctl(
  changed: readonly string[],
  systemdRunning: boolean,
  root: string,
  now: { enabled: boolean; active: boolean } = { enabled: false, active: false },
): SystemctlCall[] {
  const enable = changed.length > 0 || !now.enabled;
  if (!systemdRunning) return enable ? [[`--root=${root}`, 'enable', ...UNIT_FILES]] : [];
  const calls: SystemctlCall[] = [];
  if (changed.length > 0) calls.push(['daemon-reload']);
  if (enable) calls.push(['enable', ...UNIT_FILES]);
  if (changed.includes(STACK_UNIT) && now.active) calls.push(['--no-block', 'restart', STACK_UNIT]);
  else if (!now.active) calls.push(['--no-block', 'start', STACK_UNIT]);
  return calls;
}

/** systemd's mount unit name for a path (`systemd-escape --path --suffix=mount`). */
export function mountUnitName(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/');
  if (trimmed === '') return '-.mount';
  const escaped = trimmed
    .split('/')
    .map((part) =>
      [...part]
        .map((ch, i) =>
          /[A-Za-z0-9:_]/.test(ch) || (ch === '.' && i > 0)
            ? ch
            : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`,
        )
        .join(''),
    )
    .join('-');
  return `${escaped}.mount`;
}

/**
 * The shipped unit text as installed on this host: both units are written for
 * dataDir /data; another dataDir gets its own mount (RequiresMountsFor= of
 * dalston.service, After= of the bootstrap unit).
 */
export function unitForHost(name: string, text: string, dataDir: string): string {
  if (dataDir === '/data') return text;
  if (name === STACK_UNIT) return text.replace(/^RequiresMountsFor=\/data$/m, `RequiresMountsFor=${dataDir}`);
  return text.replace(/^(After=.*) data\.mount$/m, `$1 ${mountUnitName(dataDir)}`);
}

export function unitsStep(source: (name: string) => string = (n) => assetPath(`systemd/${n}`)): Step {
  return {
    name: 'units',
    async run(ctx: BootstrapContext) {
      const dir = rooted(ctx.root, SystemPath.systemdUnits);
      const changedUnits: string[] = [];
      const contents = new Map<string, string>();
      for (const name of UNIT_FILES) {
        const want = unitForHost(name, await readFile(source(name), 'utf8'), ctx.config.dataDir);
        contents.set(name, want);
        if ((await readOrUndefined(join(dir, name))) !== want) changedUnits.push(name);
      }
      const running = ctx.host.systemdRunning();
      const rootArgs = running ? [] : [`--root=${ctx.root}`];
      const enabled =
        (await ctx.shell.run('systemctl', [...rootArgs, 'is-enabled', '--quiet', ...UNIT_FILES])).exitCode ===
        0;
      const active =
        running && (await ctx.shell.run('systemctl', ['is-active', '--quiet', STACK_UNIT])).exitCode === 0;
      const calls = planSystemctl(changedUnits, running, ctx.root, { enabled, active });
      // Without systemd there is nothing to start; say so on its own line rather than pretend.
      const also = running
        ? undefined
        : [
            {
              name: 'units:start',
              result: 'skipped' as const,
              detail: `${STACK_UNIT} not started: systemd is not running (PID 1)`,
            },
          ];
      const changes = [
        ...changedUnits.map((n) => `install ${join(dir, n)}`),
        ...calls.map((c) => `systemctl ${c.join(' ')}`),
      ];
      if (changes.length === 0) {
        const state = running ? `enabled, ${STACK_UNIT} active` : `enabled under --root=${ctx.root}`;
        return { ...unchanged(`units up to date, ${state}`), ...(also ? { also } : {}) };
      }
      if (ctx.dryRun) return { ...planned(changes), ...(also ? { also } : {}) };
      if (changedUnits.length > 0) await mkdir(dir, { recursive: true, mode: 0o755 });
      for (const name of changedUnits) {
        await writeFileAtomic(join(dir, name), contents.get(name)!, { mode: 0o644 });
      }
      for (const call of calls) {
        await runChecked(ctx.shell, 'systemctl', call, { timeoutMs: 2 * 60_000 });
      }
      const what = changedUnits.length > 0 ? `installed ${changedUnits.join(', ')}` : 'units unchanged';
      const ran = calls.map((c) => `systemctl ${c.join(' ')}`).join('; ');
      return { ...done(ran ? `${what}; ${ran}` : what), ...(also ? { also } : {}) };
    },
  };
}

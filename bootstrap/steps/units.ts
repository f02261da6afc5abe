import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assetPath } from '../../shared/assets.ts';
import { runChecked } from '../../shared/shell.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import { rooted, SystemPath } from '../paths.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export const UNIT_FILES = ['dalston-bootstrap.service', 'dalston.service'] as const;
export type UnitName = (typeof UNIT_FILES)[number];
/** The unit that runs the stack (started by the stack step); the bootstrap unit is only enabled (it is what runs us at boot). */
export const STACK_UNIT = 'dalston.service';
const BOOTSTRAP_UNIT = 'dalston-bootstrap.service';

/** A file the units step keeps under /etc/systemd/system, and the unit it configures. */
export interface UnitFile {
  unit: UnitName;
  /** Relative to /etc/systemd/system. */
  path: string;
  text: string;
}

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
 * daemon-reload when any unit changed, enable unless already enabled. Offline
 * (no systemd as PID 1): enable with --root when needed. Nothing is started
 * here: the units go in first, before any step that can fail for an outside
 * reason, so the every-boot unit exists whatever happens next; the stack step
 * starts dalston.service once the checkout and images are in place.
 */
export function planSystemctl(
  changed: readonly string[],
  systemdRunning: boolean,
  root: string,
  now: { enabled: boolean } = { enabled: false },
): SystemctlCall[] {
  const enable = changed.length > 0 || !now.enabled;
  if (!systemdRunning) return enable ? [[`--root=${root}`, 'enable', ...UNIT_FILES]] : [];
  const calls: SystemctlCall[] = [];
  if (changed.length > 0) calls.push(['daemon-reload']);
  if (enable) calls.push(['enable', ...UNIT_FILES]);
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

/** A path as one word of a systemd path list: specifiers (`%`) and word separators escaped. */
export function unitPathWord(path: string): string {
  return path.replace(/%/g, '%%').replace(/[\s"'\\]/g, (c) => `\\${c}`);
}

/**
 * Pure: the drop-ins that tie the shipped units, which name no path, to this
 * host's dataDir. One file per unit, `<unit>.d/data-dir.conf`, so other
 * drop-ins in the same directory are left alone.
 */
export function dataDirDropIns(dataDir: string): UnitFile[] {
  const header = "# Written by `dalston-host bootstrap` (units step) from host.json's dataDir.\n";
  return [
    {
      unit: STACK_UNIT,
      path: `${STACK_UNIT}.d/data-dir.conf`,
      text:
        header +
        '# Never start without the data volume: Postgres must not write onto the root disk\n' +
        '# (the agent checks this itself too and exits 3).\n' +
        `[Unit]\nRequiresMountsFor=${unitPathWord(dataDir)}\n`,
    },
    {
      unit: BOOTSTRAP_UNIT,
      path: `${BOOTSTRAP_UNIT}.d/data-dir.conf`,
      text:
        header +
        "# The fstab line is nofail, so the data volume's mount is not part of local-fs.target:\n" +
        "# order after it explicitly, or the bootstrap may mount the volume while systemd's own\n" +
        '# mount job is still waiting for it (and then fails with "already mounted").\n' +
        `[Unit]\nAfter=${mountUnitName(dataDir)}\n`,
    },
  ];
}

export function unitsStep(source: (name: string) => string = (n) => assetPath(`systemd/${n}`)): Step {
  return {
    name: 'units',
    async run(ctx: BootstrapContext) {
      const dir = rooted(ctx.root, SystemPath.systemdUnits);
      const files: UnitFile[] = [];
      for (const unit of UNIT_FILES)
        files.push({ unit, path: unit, text: await readFile(source(unit), 'utf8') });
      files.push(...dataDirDropIns(ctx.config.dataDir));
      const changedFiles: UnitFile[] = [];
      for (const f of files) if ((await readOrUndefined(join(dir, f.path))) !== f.text) changedFiles.push(f);
      // A changed drop-in changes its unit (dalston.service's restarts the stack, as its own file does).
      const changedUnits = UNIT_FILES.filter((u) => changedFiles.some((f) => f.unit === u));
      // The stack step restarts dalston.service when its unit changed (a restart stops the stack).
      ctx.state.unitsChanged = changedUnits;
      const running = ctx.host.systemdRunning();
      const rootArgs = running ? [] : [`--root=${ctx.root}`];
      const enabled =
        (
          await ctx.shell.run('systemctl', [...rootArgs, 'is-enabled', '--quiet', ...UNIT_FILES], {
            timeoutMs: 60_000,
          })
        ).exitCode === 0;
      const calls = planSystemctl(changedUnits, running, ctx.root, { enabled });
      const changes = [
        ...changedFiles.map((f) => `install ${join(dir, f.path)}`),
        ...calls.map((c) => `systemctl ${c.join(' ')}`),
      ];
      if (changes.length === 0) {
        return unchanged(`units up to date, ${running ? 'enabled' : `enabled under --root=${ctx.root}`}`);
      }
      if (ctx.dryRun) return planned(changes);
      for (const f of changedFiles) {
        await mkdir(dirname(join(dir, f.path)), { recursive: true, mode: 0o755 });
        await writeFileAtomic(join(dir, f.path), f.text, { mode: 0o644 });
      }
      for (const call of calls) {
        await runChecked(ctx.shell, 'systemctl', call, { timeoutMs: 2 * 60_000 });
      }
      const what =
        changedFiles.length > 0
          ? `installed ${changedFiles.map((f) => f.path).join(', ')}`
          : 'units unchanged';
      const ran = calls.map((c) => `systemctl ${c.join(' ')}`).join('; ');
      return done(ran ? `${what}; ${ran}` : what);
    },
  };
}

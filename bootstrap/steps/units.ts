import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { assetPath } from '../../shared/assets.ts';
import type { HostConfig } from '../../shared/config/schema.ts';
import { runChecked } from '../../shared/shell.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import { rooted, SystemPath } from '../paths.ts';
import { readIfExists } from '../read-if-exists.ts';
import { done, planned, type Step, unchanged } from './step.ts';

export const UNIT_FILES = [
  'dalston-bootstrap.service',
  'dalston.service',
  'dalston-backup.service',
  'dalston-backup.timer',
  'dalston-sync.service',
] as const;
export type UnitName = (typeof UNIT_FILES)[number];
/**
 * The units that are enabled; the others are only installed: dalston-sync.service is started by
 * the agent when the desired state changes, never at boot (it has no [Install] section).
 */
export const ENABLED_UNITS = UNIT_FILES.filter((u) => u !== 'dalston-sync.service');
/** The unit that runs the stack (started by the stack step); the bootstrap unit is only enabled (it is what runs us at boot). */
export const STACK_UNIT = 'dalston.service';
const BOOTSTRAP_UNIT = 'dalston-bootstrap.service';
const BACKUP_SERVICE = 'dalston-backup.service';
/** Starts dalston-backup.service nightly; enabling alone would arm it only from the next boot. */
export const BACKUP_TIMER = 'dalston-backup.timer';
/** Docker's own unit (the distribution's): we only add a drop-in to it, never restart it. */
export const DOCKER_UNIT = 'docker.service';

/** A file the units step keeps under /etc/systemd/system, and the unit it configures. */
export interface UnitFile {
  unit: UnitName | typeof DOCKER_UNIT;
  /** Relative to /etc/systemd/system. */
  path: string;
  text: string;
}

/** A file as the units step wants it; text null: it must not exist (a drop-in this host no longer needs). */
export type WantedFile = Omit<UnitFile, 'text'> & { text: string | null };

export type SystemctlCall = string[];

/**
 * Pure: the systemctl calls after installing units. Running systemd:
 * daemon-reload when any unit or drop-in changed, enable ours unless already
 * enabled, start the backup timer unless active (restart it when its schedule
 * changed). docker.service's drop-in only needs the reload: it orders docker's
 * next start, and a restart would stop the stack. Offline (no systemd as PID 1):
 * enable with --root when needed. The stack is not started here: the units go
 * in first, before any step that can fail for an outside reason, so the
 * every-boot unit exists whatever happens next; the stack step starts
 * dalston.service once the checkout and images are in place.
 */
export function planSystemctl(
  changed: readonly string[],
  systemdRunning: boolean,
  root: string,
  now: { enabled: boolean } = { enabled: false },
): SystemctlCall[] {
  const enable = changed.some((u) => (UNIT_FILES as readonly string[]).includes(u)) || !now.enabled;
  if (!systemdRunning) return enable ? [[`--root=${root}`, 'enable', ...ENABLED_UNITS]] : [];
  const calls: SystemctlCall[] = [];
  if (changed.length > 0) calls.push(['daemon-reload']);
  if (enable) calls.push(['enable', ...ENABLED_UNITS]);
  return calls;
}

/**
 * Pure: the calls that arm the backup timer now (running systemd only; offline,
 * enabling it is all there is). A changed timer or schedule is re-read by
 * restarting the timer, which never starts a backup by itself.
 */
export function planBackupTimer(
  changed: readonly string[],
  systemdRunning: boolean,
  timerActive: boolean,
): SystemctlCall[] {
  if (!systemdRunning) return [];
  if (!timerActive) return [['start', BACKUP_TIMER]];
  return changed.includes(BACKUP_TIMER) ? [['restart', BACKUP_TIMER]] : [];
}

/**
 * Pure: the drop-in that sets the timer's schedule from host.json (the shipped
 * timer carries the defaults). OnCalendar= is a list: the empty assignment
 * clears the shipped time before the configured one is added.
 */
export function backupScheduleDropIn(backup: { schedule: string; randomizedDelaySeconds: number }): UnitFile {
  return {
    unit: BACKUP_TIMER,
    path: `${BACKUP_TIMER}.d/schedule.conf`,
    text:
      "# Written by `dalston-host bootstrap` (units step) from host.json's backup.schedule.\n" +
      `[Timer]\nOnCalendar=\nOnCalendar=${backup.schedule}\nRandomizedDelaySec=${backup.randomizedDelaySeconds}\n`,
  };
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
  const mount = mountUnitName(dataDir);
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
        `[Unit]\nAfter=${mount}\n`,
    },
    {
      unit: DOCKER_UNIT,
      path: `${DOCKER_UNIT}.d/dalston-data-mount.conf`,
      text:
        header +
        '# At its start dockerd restarts the containers of an unclean stop (restart policies),\n' +
        '# before dalston.service runs. So it starts only once systemd has tried to mount the data\n' +
        '# volume: mounted, or given up after the fstab device timeout (a late volume is waited\n' +
        '# for). Ordering only, no Requires=: without the volume dockerd still starts and the host\n' +
        '# stays debuggable, while the overlay binds (create_host_path: false) keep every\n' +
        '# container with a bind under dataDir from starting on the root disk.\n' +
        `[Unit]\nWants=${mount}\nAfter=${mount}\n`,
    },
  ];
}

/** What the sandboxed units may write without a drop-in: their StateDirectory= and RuntimeDirectory=. */
export const SANDBOX_WRITABLE = ['/var/lib/dalston', '/run/dalston'] as const;

const within = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/**
 * Pure: host.json's state paths outside SANDBOX_WRITABLE, per sandboxed unit (ProtectSystem=strict
 * leaves everything else read-only, so the agent or the backup would fail there with EROFS).
 */
export function pathsOutsideSandbox(config: Pick<HostConfig, 'agent' | 'backup'>): {
  [STACK_UNIT]: string[];
  [BACKUP_SERVICE]: string[];
} {
  const outside = (paths: string[]) =>
    [...new Set(paths.map((p) => posix.normalize(p)))].filter(
      (p) => !SANDBOX_WRITABLE.some((home) => within(p, home)),
    );
  const backupPaths = [posix.dirname(config.backup.stateFile), config.backup.runDir];
  return {
    [STACK_UNIT]: outside([config.agent.stateDir, ...backupPaths]),
    [BACKUP_SERVICE]: outside(backupPaths),
  };
}

/** Pure: the `ReadWritePaths=` drop-ins for those paths; with every path at home they must not exist. */
export function writablePathsDropIns(config: Pick<HostConfig, 'agent' | 'backup'>): WantedFile[] {
  return Object.entries(pathsOutsideSandbox(config)).map(([unit, paths]) => ({
    unit: unit as UnitName,
    path: `${unit}.d/writable-paths.conf`,
    text:
      paths.length === 0
        ? null
        : "# Written by `dalston-host bootstrap` (units step): host.json's state paths outside\n" +
          '# StateDirectory=/RuntimeDirectory=, writable through the ProtectSystem=strict sandbox.\n' +
          `[Service]\nReadWritePaths=${paths.map(unitPathWord).join(' ')}\n`,
  }));
}

export function unitsStep(source: (name: string) => string = (n) => assetPath(`systemd/${n}`)): Step {
  return {
    name: 'units',
    async run(ctx: BootstrapContext) {
      const dir = rooted(ctx.root, SystemPath.systemdUnits);
      const files: WantedFile[] = [];
      for (const unit of UNIT_FILES)
        files.push({ unit, path: unit, text: await readFile(source(unit), 'utf8') });
      files.push(...dataDirDropIns(ctx.config.dataDir));
      files.push(backupScheduleDropIn(ctx.config.backup));
      files.push(...writablePathsDropIns(ctx.config));
      const changedFiles: WantedFile[] = [];
      for (const f of files)
        if (((await readIfExists(join(dir, f.path))) ?? null) !== f.text) changedFiles.push(f);
      // A changed drop-in changes its unit (dalston.service's restarts the stack, as its own file does).
      const changedUnits = [...new Set(changedFiles.map((f) => f.unit))];
      // The stack step restarts dalston.service when its unit changed (a restart stops the stack).
      ctx.state.unitsChanged = changedUnits;
      const running = ctx.host.systemdRunning();
      const rootArgs = running ? [] : [`--root=${ctx.root}`];
      const systemctl = (args: string[]) => ctx.shell.run('systemctl', args, { timeoutMs: 60_000 });
      const enabled =
        (await systemctl([...rootArgs, 'is-enabled', '--quiet', ...ENABLED_UNITS])).exitCode === 0;
      const timerActive = running && (await systemctl(['is-active', '--quiet', BACKUP_TIMER])).exitCode === 0;
      const calls = [
        ...planSystemctl(changedUnits, running, ctx.root, { enabled }),
        ...planBackupTimer(changedUnits, running, timerActive),
      ];
      const changes = [
        ...changedFiles.map((f) => `${f.text === null ? 'remove' : 'install'} ${join(dir, f.path)}`),
        ...calls.map((c) => `systemctl ${c.join(' ')}`),
      ];
      // The sandbox binds these paths at every start: they must exist (on /run, again after each boot).
      for (const p of new Set(Object.values(pathsOutsideSandbox(ctx.config)).flat())) {
        if (!ctx.dryRun) await mkdir(rooted(ctx.root, p), { recursive: true, mode: 0o755 });
      }
      if (changes.length === 0) {
        return unchanged(`units up to date, ${running ? 'enabled' : `enabled under --root=${ctx.root}`}`);
      }
      if (ctx.dryRun) return planned(changes);
      for (const f of changedFiles) {
        if (f.text === null) {
          await rm(join(dir, f.path), { force: true });
          continue;
        }
        await mkdir(dirname(join(dir, f.path)), { recursive: true, mode: 0o755 });
        await writeFileAtomic(join(dir, f.path), f.text, { mode: 0o644 });
      }
      for (const call of calls) {
        await runChecked(ctx.shell, 'systemctl', call, { timeoutMs: 2 * 60_000 });
      }
      const installed = changedFiles.filter((f) => f.text !== null).map((f) => f.path);
      const removed = changedFiles.filter((f) => f.text === null).map((f) => f.path);
      const what =
        [
          installed.length > 0 ? `installed ${installed.join(', ')}` : '',
          removed.length > 0 ? `removed ${removed.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ') || 'units unchanged';
      const ran = calls.map((c) => `systemctl ${c.join(' ')}`).join('; ');
      return done(ran ? `${what}; ${ran}` : what);
    },
  };
}

/**
 * What every scenario works with: the prepared world (release, user-data,
 * rootfs, loop volume, network namespace, stand-ins), the check recorder, the
 * boot timeline, the clean-up list, the machine a scenario left running, and
 * the helpers more than one scenario needs (boot, power off, wait until healthy).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Shell } from '../shared/shell.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import { Checks, fail } from './checks.ts';
import { Cleanup } from './cleanup.ts';
import { type LoopVolume, majorMinor } from './machine/loop.ts';
import type { NetNs } from './machine/netns.ts';
import { type Bind, Machine } from './machine/nspawn.ts';
import { announceVolume, probeFilesystem, type UdevStandinDirs } from './machine/udev-standin.ts';
import { IN_MACHINE, type MachineFiles } from './product/machine-files.ts';
import { agentStatus, describeSnapshot, isSnapshot } from './product/observe.ts';
import type { Release } from './product/release.ts';
import type { RenderedHost } from './product/user-data.ts';
import { type Milestone, Timeline } from './timeline.ts';
import { sleep, waitFor } from './wait.ts';
import type { S3StandIn } from './world/s3.ts';

export const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** The compose project the agent runs the stack as. */
export const PROJECT = 'dalston';
/** The machine's dataDir: Terraform's default, which the check names spell out (preparation verifies it). */
export const DATA_DIR = '/data';
/** Postgres's data directory (PGDATA) inside its container, and the same directory on the data volume. */
export const PG_DATA = '/var/lib/postgresql/18/docker';
export const PG_DATA_ON_VOLUME = 'postgres/18/docker';

export const print = (line: string) => process.stdout.write(`${line}\n`);
export const info = (line: string) => print(`  · ${line}`);

/** Stops the rehearsal: a step later checks depend on has failed (its check line says why). */
export class Abort extends Error {}

/** One EC2 instance stand-in: its root disk (a rootfs copy), its data volume and its udev stand-in. */
export interface Instance {
  rootfs: string;
  loop: LoopVolume;
  udev: UdevStandinDirs;
}

/** The outside world and the product, prepared once before the first scenario. */
export interface World {
  release: Release;
  rendered: RenderedHost;
  /**
   * The main instance's desired state as last published (Terraform's, with the rehearsal's
   * stand-ins): a scenario that publishes a new one for good sets it, so the next builds on it.
   */
  desiredState: string;
  services: string[];
  /** The cached machine rootfs every instance's root disk is copied from. */
  rootfsCache: string;
  /** What installMachineFiles puts into a machine, but the rootfs and user-data (a scenario's own instance reuses it). */
  machineFiles: Omit<MachineFiles, 'rootfs' | 'userData'>;
  /** The main instance's root disk. */
  rootfs: string;
  /** The Postgres/Redis images' cached rootfs (pg_controldata runs from it on the powered-off volume). */
  dbRootfs: string;
  loop: LoopVolume;
  netns: NetNs;
  s3: S3StandIn;
  udev: UdevStandinDirs;
}

/** One part of the host's lifecycle; scenarios run in the order of scenarios/index.ts. */
export interface Scenario {
  name: string;
  run(ctx: RehearsalContext): Promise<void>;
}

export class RehearsalContext {
  readonly checks = new Checks(print);
  readonly timeline = new Timeline();
  readonly cleanup = new Cleanup(info);
  /** Written through Postgres on the first boot, read back after the stop/start. */
  readonly nonce = randomBytes(8).toString('hex');
  /** The machine a scenario left running for the next one; undefined once it is powered off. */
  machine: Machine | undefined;
  /** Console log files by boot label (the machine's serial console). */
  /** Per boot label: the host file holding what the machine wrote to its serial console. */
  readonly serialConsoles = new Map<string, string>();
  private prepared: World | undefined;

  constructor(
    readonly shell: Shell,
    readonly runDir: string,
    readonly cacheDir: string,
  ) {}

  get world(): World {
    if (!this.prepared) throw new Error('the world is not prepared yet');
    return this.prepared;
  }

  set world(w: World) {
    this.prepared = w;
  }

  /** A check later steps depend on: when it fails, the rehearsal stops there. */
  async must(name: string, fn: () => Promise<string | undefined>): Promise<void> {
    if (!(await this.checks.check(name, fn))) throw new Abort(name);
  }

  check(name: string, fn: () => Promise<string | undefined>): Promise<boolean> {
    return this.checks.check(name, fn);
  }

  /** The machine the previous scenario left running (`scenario` needs it). */
  runningMachine(scenario: string): Machine {
    if (!this.machine?.running) throw new Error(`${scenario} needs the machine a previous scenario booted`);
    return this.machine;
  }

  /** The instance the main scenarios share (first boot … missing volume). */
  get mainInstance(): Instance {
    const w = this.world;
    return { rootfs: w.rootfs, loop: w.loop, udev: w.udev };
  }

  /**
   * Boots an instance (the main one unless a scenario brings its own) from its
   * rootfs, with the data volume attached or not (the udev stand-in announces it
   * accordingly), and waits for systemd and dockerd; marks `systemUp` on the
   * timeline under `label`. `devices` are more block devices bound in (not
   * announced: a disk with no udev entry). `whileBooting` runs as soon as the
   * machine's PID 1 is up, alongside the wait for dockerd (which with a late
   * volume waits for the volume's mount).
   */
  async boot(
    label: string,
    opts: {
      volume: boolean;
      instance?: Instance;
      devices?: string[];
      whileBooting?: (m: Machine) => Promise<void>;
    },
  ): Promise<Machine> {
    if (this.machine?.running) throw new Error(`cannot boot (${label}): the machine is still running`);
    const inst = opts.instance ?? this.mainInstance;
    await announceVolume(this.shell, inst.udev, opts.volume ? inst.loop.device : undefined);
    const binds: Bind[] = [
      { host: inst.udev.runUdev, machine: '/run/udev' },
      { host: inst.udev.devDisk, machine: '/dev/disk' },
    ];
    if (opts.volume) binds.push({ host: inst.loop.device });
    for (const d of opts.devices ?? []) binds.push({ host: d });
    const slug = label.replace(/\W+/g, '-');
    const consoleLog = path.join(this.runDir, `console-${slug}.log`);
    // The serial console's stand-in: what the user-data writes to it lands in this host directory.
    const serial = path.join(this.runDir, `serial-${slug}`);
    await mkdir(serial, { recursive: true });
    binds.push({ host: serial, machine: IN_MACHINE.serialConsoleDir });
    this.serialConsoles.set(label, path.join(serial, 'console'));
    const m = await Machine.boot(this.shell, {
      rootfs: inst.rootfs,
      netnsPath: this.world.netns.path,
      binds,
      consoleLog,
    });
    this.machine = m;
    this.cleanup.add(`power off the machine (${label})`, async () => {
      await m.poweroff(60_000);
    });
    const during = opts.whileBooting?.(m);
    // Handled here so a failure while dockerd is still awaited is not an unhandled rejection; awaited below.
    during?.catch(() => undefined);
    // Generous: on a loaded 2-core CI machine dockerd's first start can take a while.
    let last = '';
    await waitFor(
      'systemd and dockerd up in the machine',
      180_000,
      async () => {
        const r = await m.exec('systemctl', ['is-active', 'docker.service'], { timeoutMs: 10_000 });
        last = `docker.service ${r.stdout.trim() || r.stderr.trim() || `exit ${r.exitCode}`}`;
        return r.stdout.trim() === 'active' ? true : undefined;
      },
      () => last,
    );
    await during;
    await this.markUnit(label, 'systemUp', m, 'sysinit.target', 'ActiveEnterTimestampMonotonic');
    return m;
  }

  /**
   * The data volume attached to a running machine (EBS attach after boot): its
   * device node appears in the machine's /dev, udev's database entry and
   * /dev/disk links are written, and systemd re-enumerates devices (the
   * stand-in for udev's "add" event), so a mount waiting for the device proceeds.
   */
  async attachVolume(m: Machine): Promise<void> {
    const device = this.world.loop.device;
    const [major, minor] = (await majorMinor(this.shell, device)).split(':');
    await m.execChecked('mknod', ['-m', '0660', device, 'b', major!, minor!]);
    await announceVolume(this.shell, this.world.udev, device);
    await m.execChecked('systemctl', ['daemon-reload'], { timeoutMs: 120_000 });
  }

  /** The check that powers the machine off cleanly (`<label>: the machine powers off cleanly`). */
  async powerOff(m: Machine, label: string): Promise<boolean> {
    const ok = await this.check(`${label}: the machine powers off cleanly`, async () => {
      const r = await m.poweroff(4 * 60_000);
      if (!r.clean) fail(`systemctl poweroff did not finish within 240 s; the machine was killed`);
      return `in ${r.seconds.toFixed(1)} s`;
    });
    if (this.machine === m) this.machine = undefined;
    return ok;
  }

  /** The data volume's filesystem as the host sees it now. */
  volumeFilesystem(instance: Instance = this.mainInstance) {
    return probeFilesystem(this.shell, instance.loop.device);
  }

  /** udev's change event after mkfs: the new filesystem's links appear while the machine runs. */
  watchForFilesystem(m: Machine, instance: Instance = this.mainInstance): void {
    const device = instance.loop.device;
    void (async () => {
      while (m.running) {
        const fs = await this.volumeFilesystem(instance);
        if (fs.uuid) {
          await announceVolume(this.shell, instance.udev, device);
          info(`udev stand-in: ${device} now has filesystem ${fs.uuid}`);
          return;
        }
        await sleep(200);
      }
    })();
  }

  async waitHealthy(m: Machine, timeoutMs: number): Promise<StatusSnapshot> {
    let last = '';
    return waitFor(
      'the agent reporting the stack healthy',
      timeoutMs,
      async () => {
        const s = await agentStatus(m);
        last = isSnapshot(s) ? describeSnapshot(s) : s.error;
        return isSnapshot(s) && s.state === 'healthy' ? s : undefined;
      },
      () => last,
    );
  }

  /** Timeline: a milestone from a unit's monotonic timestamp property. */
  async markUnit(label: string, milestone: Milestone, m: Machine, unit: string, property: string) {
    this.timeline.mark(label, milestone, await m.unitTimestamp(unit, property));
  }

  /** Timeline: a milestone reached now (seconds since the machine's nspawn started). */
  markNow(label: string, milestone: Milestone, m: Machine): void {
    this.timeline.mark(label, milestone, Number(process.hrtime.bigint() - m.startedAtNs) / 1e9);
  }
}

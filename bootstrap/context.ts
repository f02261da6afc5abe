import type { HostConfig } from '../shared/config/schema.ts';
import type { Logger } from '../shared/logger.ts';
import type { MountProbe } from '../shared/mount/data-mount.ts';
import type { Shell } from '../shared/shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import type { NetworkLimits } from './network-limits.ts';
import type { Platform } from './os-release.ts';

/**
 * Facts about the running host the steps need but cannot get through a Shell
 * (not the agent's HostProbe, which samples load and disk use for /status).
 */
export interface HostFacts {
  /** True when `path` exists and is a block device (symlinks followed). */
  isBlockDevice(path: string): Promise<boolean>;
  /** The canonical path, or undefined when it does not exist. */
  realpath(path: string): Promise<string | undefined>;
  /**
   * `major:minor` of a block device (its st_rdev, symlinks followed), or undefined when
   * `path` is not one: what /proc/self/mountinfo lists for a filesystem mounted from it.
   */
  deviceNumber(path: string): Promise<string | undefined>;
  /** Names in a directory, sorted; empty when it does not exist (an error when it is no directory). */
  listDir(path: string): Promise<string[]>;
  /** systemd is PID 1 (sd_booted: /run/systemd/system exists). */
  systemdRunning(): boolean;
  /** udevd is running (its control socket exists), so `udevadm settle` means something. */
  udevRunning(): boolean;
}

/** What the disk step found; mount and fstab build on it. */
export interface VolumeState {
  device: string;
  /** `major:minor` of the device: how "is this the device mounted at dataDir" is decided. */
  majorMinor: string;
  /** How the device was found (explicit path, NVMe serial, by-id link, API name). */
  how: string;
  fsType: string;
  /** Undefined only in a dry run on a blank device (the filesystem does not exist yet). */
  uuid: string | undefined;
  label: string | undefined;
  formatted: boolean;
}

/** Minimal SSM surface the tailscale step uses (an SSMClient satisfies it). */
export interface SsmLike {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

export interface BootstrapContext {
  config: HostConfig;
  configPath: string;
  /** `--root` ('/' for the live system). */
  root: string;
  dryRun: boolean;
  shell: Shell;
  host: HostFacts;
  /** The reads behind "is the data volume mounted at dataDir" (shared with the agent). */
  mounts: MountProbe;
  clock: Clock;
  log: Logger;
  /** Where sysfs is mounted; tests point it at a fake tree. */
  sysfsRoot: string;
  /** Where device nodes live (`/dev`); tests point the by-id lookup at a fake tree. */
  devRoot: string;
  /** Progress of a long step (the volume wait); shown on a terminal, logged otherwise. */
  progress(message: string): void;
  /** Creates the SSM client for the tailscale step (injected so tests use a mock). */
  ssm(): SsmLike;
  /** Time limits and attempts of calls over the network (bootstrap/network-limits.ts). */
  limits: NetworkLimits;
  /** Results shared between steps of one run. */
  state: {
    volume?: VolumeState;
    platform?: Platform;
    /** Units whose files (or drop-ins) the units step changed in this run (or would, in a dry run). */
    unitsChanged?: string[];
    /** host.json keys the desired step changed in this run (not at first boot, when it wrote everything). */
    hostChanged?: string[];
  };
}

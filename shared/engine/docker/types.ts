import type { Readable } from 'node:stream';

/** Docker's healthcheck verdict for a container; 'none' = it has no healthcheck. */
export const SERVICE_HEALTH = ['healthy', 'unhealthy', 'starting', 'none'] as const;
export type ServiceHealth = (typeof SERVICE_HEALTH)[number];

/** Compose labels: containers are matched by these, never by name. */
export const LABEL_PROJECT = 'com.docker.compose.project';
export const LABEL_SERVICE = 'com.docker.compose.service';
export const LABEL_DEPENDS_ON = 'com.docker.compose.depends_on';
/** `True` on containers of `docker compose run`: the operator's jobs, never supervised. */
export const LABEL_ONEOFF = 'com.docker.compose.oneoff';

/** True when compose labelled the container a one-off (`docker compose run`). */
export function isOneOff(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[LABEL_ONEOFF] === 'True';
}

/** One mount of a container, as Docker's inspect lists it. */
export interface ContainerMount {
  /** bind, volume, tmpfs, npipe… */
  type: string;
  /** Host path (bind) or the volume's path on the host; '' when Docker gives none. */
  source: string;
  /** Path inside the container. */
  destination: string;
}

/** One container of the project, as the supervisor sees it. */
export interface ContainerInfo {
  id: string;
  name: string;
  project: string;
  service: string;
  /** Docker's state: running, exited, restarting, created, paused, dead, removing. */
  state: string;
  health: ServiceHealth;
  /** Docker's own RestartCount (restart policy restarts). */
  restartCount: number;
  /** The container's own stop timeout (compose `stop_grace_period`), null = daemon default. */
  stopTimeoutSeconds: number | null;
  /** Services this one depends on (from compose's depends_on label). */
  dependsOn: string[];
  /** Docker's Mounts: the data-volume check reads the binds' sources and destinations. */
  mounts: ContainerMount[];
  /** PID of the container's init process on the host while it runs, else null. */
  pid: number | null;
}

/** The fields of a Docker event the agent reads (Engine 29 dropped status/id). */
export interface DockerEvent {
  action: string;
  containerId: string;
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch, as Docker reported it. */
  timeNano: bigint;
}

export interface EngineVersion {
  engineVersion: string;
  apiVersion: string;
}

/** An open event subscription; `done` resolves when the stream ends (error = why, null = clean end/closed). */
export interface EventSubscription {
  done: Promise<{ error: Error | null }>;
  close(): void;
}

/**
 * The project's own seam over Docker. The supervisor and run loop only see
 * this; `dockerode-client.ts` is the one implementation talking to a daemon.
 */
export interface DockerClient {
  version(): Promise<EngineVersion>;
  listProjectContainers(project: string): Promise<ContainerInfo[]>;
  /** Null when the container is gone. */
  inspect(id: string): Promise<ContainerInfo | null>;
  /** Restart with the given stop timeout (seconds), like `docker restart -t`. */
  restart(id: string, stopTimeoutSeconds: number | null): Promise<void>;
  /**
   * Stop with the given stop timeout (seconds), like `docker stop -t`; a container already
   * stopped or gone is no error. Docker counts it as deliberate: the restart policy leaves it down.
   */
  stop(id: string, stopTimeoutSeconds: number | null): Promise<void>;
  /**
   * Subscribes to this project's container events. Resolves once the daemon
   * accepted the subscription; `since` is in nanoseconds since the epoch.
   */
  subscribe(
    project: string,
    opts: { since?: bigint; onEvent: (e: DockerEvent) => void },
  ): Promise<EventSubscription>;
}

/** A command to run inside a running container (`docker exec`, no TTY). */
export interface ExecSpec {
  cmd: string[];
  /** `user[:group]` inside the container; the image's default when unset. */
  user?: string;
  env?: Record<string, string>;
  /** Streamed to the command's stdin; its end closes stdin (EOF). No stdin when unset. */
  stdin?: Readable;
  /** How much of stderr's end is kept (default 64 KiB). */
  stderrLimitBytes?: number;
}

/** A command started by ContainerExec.exec. */
export interface ExecRun {
  /** The command's stdout. Read it to its end: backpressure reaches the command's pipe. */
  stdout: Readable;
  /** Settles once the command has exited and stdout was handed everything: exit code and stderr's tail. */
  done: Promise<{ exitCode: number; stderr: string }>;
  /** Ends the command (SIGTERM to its process, best effort) and the stream; for a reader that gives up. */
  kill(): Promise<void>;
}

/** Running commands in containers, with their output streamed (dockerode-client.ts). */
export interface ContainerExec {
  exec(containerId: string, spec: ExecSpec): Promise<ExecRun>;
  /** The container's environment (`Config.Env`) as a map. */
  containerEnv(containerId: string): Promise<Record<string, string>>;
}

export type DockerErrorKind = 'gone' | 'conflict' | 'unavailable' | 'timeout' | 'server';

/** A Docker failure the supervisor can act on by kind. */
export class DockerError extends Error {
  readonly kind: DockerErrorKind;
  constructor(kind: DockerErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DockerError';
    this.kind = kind;
  }
}

/**
 * The one map from failure kinds to process exit codes. Every command ends
 * through `exitCodeFor`, so an operator (and systemd's RestartPreventExitStatus)
 * can rely on the numbers.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** agent: dataDir is not a mount point of its own (the data volume is missing). */
  dataNotMounted: 3,
  /** sysexits EX_DATAERR: a disk is not provably safe to format, or the wrong device is mounted. */
  unsafeDisk: 65,
  /**
   * sysexits EX_DATAERR too: restore refused a backup object (incomplete, SHA-256 or size
   * mismatch, an Alembic revision the running Dalston does not know) before touching anything.
   */
  backupRefused: 65,
  /** sysexits EX_UNAVAILABLE: the data volume did not appear in time. */
  unavailable: 69,
  /** sysexits EX_TEMPFAIL: another backup or restore is running; try again later. */
  busy: 75,
  /** sysexits EX_CONFIG: the config file is unreadable or invalid, or lacks a key the command needs. */
  config: 78,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/** An expected failure: carries its exit code and a message meant for the operator. */
export class HostError extends Error {
  readonly exitCode: number;
  constructor(kind: ExitCodeName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostError';
    this.exitCode = ExitCode[kind];
  }
}

export class ConfigError extends HostError {
  /** Dotted path of the offending key, e.g. `agent.listen`. */
  readonly key: string;
  constructor(key: string, message: string) {
    super('config', message);
    this.name = 'ConfigError';
    this.key = key;
  }
}

export class UsageError extends HostError {
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

export function exitCodeFor(err: unknown): number {
  return err instanceof HostError ? err.exitCode : ExitCode.failure;
}

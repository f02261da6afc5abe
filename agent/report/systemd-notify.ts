/**
 * sd_notify for a Node process. Node's net module cannot send unix datagrams,
 * so each message is handed to `systemd-notify` (systemd package). Debian 12's
 * systemd-notify (v252) accepts `--pid=PID`, `--status=`, `--ready`, `--booted`,
 * `--no-block` and arbitrary `VAR=VALUE` arguments; it has no `--stopping`, so
 * WATCHDOG=1 and STOPPING=1 are sent as assignments. We always pass:
 *   --pid=<our pid>  as root it stamps our PID on the datagram's credentials, so
 *                    systemd attributes the message to the main process even
 *                    though the helper has exited by the time it is read (it
 *                    also adds MAINPID=<our pid>, which is what it is anyway);
 *   --no-block       otherwise v252 follows each message with BARRIER=1 and
 *                    waits up to 5 s for the manager.
 * When the PID cannot be stamped (no CAP_SYS_ADMIN) the sender is the helper,
 * which is why the unit says NotifyAccess=all. Checked under systemd 252 (nspawn):
 * stamped messages are attributed to the main PID and accepted; messages from
 * any other PID were dropped ("Cannot find unit for notify message"), so the
 * agent must be the unit's main process (node in ExecStart, no wrapper).
 *
 * Sends never throw and never block the caller: messages go through a short
 * serial queue (so STATUS and STOPPING arrive in order), each helper is killed
 * after a timeout, and the first failure is logged once.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../../shared/logger.ts';

export interface NotifyTransport {
  /** Delivers one message (its `VAR=VALUE` assignments) to `socket`; may reject. */
  send(assignments: string[], ctx: { socket: string; pid: number }): Promise<void>;
}

export interface Notifier {
  /** True only when NOTIFY_SOCKET is set (i.e. running under systemd with Type=notify). */
  readonly enabled: boolean;
  /** Half of WATCHDOG_USEC in ms; null when systemd expects no watchdog pings from us. */
  readonly watchdogIntervalMs: number | null;
  ready(): Promise<void>;
  status(line: string): Promise<void>;
  watchdog(): Promise<void>;
  stopping(): Promise<void>;
  /** Resolves when every queued message has been handed over (or given up on). */
  flush(): Promise<void>;
}

/** Spawns systemd-notify per message (see the file comment for the flags). */
export function systemdNotifyTransport(opts: { command?: string; timeoutMs?: number } = {}): NotifyTransport {
  const command = opts.command ?? 'systemd-notify';
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return {
    send: (assignments, ctx) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(command, ['--no-block', `--pid=${ctx.pid}`, ...assignments], {
          env: { ...process.env, NOTIFY_SOCKET: ctx.socket },
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          if (stderr.length < 2000) stderr += d.toString();
        });
        child.on('error', (err) => reject(new Error(`cannot run ${command}: ${err.message}`)));
        child.on('close', (code, signal) => {
          if (code === 0) resolve();
          else if (signal) reject(new Error(`${command} was killed (${signal}) after ${timeoutMs} ms`));
          else reject(new Error(`${command} exited ${code}: ${stderr.trim() || 'no output'}`));
        });
      }),
  };
}

/** Parses WATCHDOG_USEC/WATCHDOG_PID into the ping interval (half the timeout), or null. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  // WATCHDOG_PID names the process systemd watches; if it is not us, we must not ping.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** The protocol is newline-separated assignments: a STATUS text must be one line. */
export function sanitizeStatus(line: string): string {
  return line
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, 200);
}

const MAX_QUEUED = 16;

export function createNotifier(
  env: NodeJS.ProcessEnv = process.env,
  transport: NotifyTransport = systemdNotifyTransport(),
  opts: { logger?: Logger; pid?: number } = {},
): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const pid = opts.pid ?? process.pid;
  const log = opts.logger;
  let queued = 0;
  let tail: Promise<void> = Promise.resolve();
  let warned = false;

  const warnOnce = (msg: string, err?: unknown) => {
    if (warned) return;
    warned = true;
    log?.warn(
      { err, notifySocket: socket },
      `systemd notification failed (further failures not logged): ${msg}`,
    );
  };

  const enqueue = (assignments: string[]): Promise<void> => {
    if (!socket) return Promise.resolve();
    if (queued >= MAX_QUEUED) {
      // The helper is stuck; dropping is better than piling up processes.
      warnOnce(`queue full, dropped ${assignments.join(' ')}`);
      return Promise.resolve();
    }
    queued++;
    const run = tail.then(() =>
      transport
        .send(assignments, { socket, pid })
        .catch((err: unknown) => warnOnce((err as Error)?.message ?? String(err), err))
        .finally(() => {
          queued--;
        }),
    );
    tail = run;
    return run;
  };

  return {
    enabled: Boolean(socket),
    watchdogIntervalMs: socket ? watchdogInterval(env, pid) : null,
    ready: () => enqueue(['READY=1']),
    status: (line) => enqueue([`STATUS=${sanitizeStatus(line)}`]),
    watchdog: () => enqueue(['WATCHDOG=1']),
    stopping: () => enqueue(['STOPPING=1']),
    flush: () => tail,
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier, systemdNotifyTransport } from '../../../agent/report/systemd-notify.ts';
import { requireCommand } from '../../harness/require.ts';
import { memoryLogger } from '../../unit/agent/report/fixtures.ts';

const RECEIVER = path.join(import.meta.dirname, 'notify-receiver.py');

describe('systemd notifier against a real unix datagram receiver', () => {
  let dir: string;
  let socketPath: string;
  let receiver: ChildProcess;
  const received: Array<{ text: string; pid: number | null }> = [];

  beforeAll(async () => {
    requireCommand('systemd-notify', 'apt-get install systemd');
    const python = requireCommand('python3', 'apt-get install python3');
    dir = await mkdtemp(path.join(os.tmpdir(), 'dh-notify-'));
    socketPath = path.join(dir, 'notify.sock');
    receiver = spawn(python, [RECEIVER, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: receiver.stdout! });
    await new Promise<void>((resolve, reject) => {
      receiver.once('error', reject);
      receiver.once('exit', (code) => reject(new Error(`notify receiver exited ${code}`)));
      rl.on('line', (line) => {
        if (line === 'listening') resolve();
        else received.push(JSON.parse(line));
      });
    });
  });
  afterAll(async () => {
    receiver?.stdin?.end();
    if (receiver && receiver.exitCode === null) {
      await new Promise((r) => {
        const t = setTimeout(() => receiver.kill('SIGKILL'), 3_000);
        receiver.once('exit', () => r(clearTimeout(t)));
      });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const waitForMessages = async (n: number) => {
    const end = Date.now() + 10_000;
    while (received.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  };

  it('delivers READY=1, STATUS=…, WATCHDOG=1 and STOPPING=1 in order, stamped with our pid', async () => {
    const { logger, lines } = memoryLogger();
    const n = createNotifier({ NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '120000000' }, undefined, {
      logger,
    });
    expect(n.enabled).toBe(true);
    expect(n.watchdogIntervalMs).toBe(60_000);
    void n.ready();
    void n.status('healthy 6/6 · /data 12% · gateway ok');
    void n.watchdog();
    await n.stopping();
    await waitForMessages(4);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
    // systemd-notify --pid adds MAINPID=; each message is one datagram.
    expect(received.map((m) => m.text)).toEqual([
      `MAINPID=${process.pid}\nREADY=1`,
      `MAINPID=${process.pid}\nSTATUS=healthy 6/6 · /data 12% · gateway ok`,
      `MAINPID=${process.pid}\nWATCHDOG=1`,
      `MAINPID=${process.pid}\nSTOPPING=1`,
    ]);
    // As root, --pid makes the kernel-checked credentials name this process, not the short-lived helper.
    if (process.getuid?.() === 0) expect(received.every((m) => m.pid === process.pid)).toBe(true);
  });

  it('sends nothing when NOTIFY_SOCKET is unset', async () => {
    const before = received.length;
    const n = createNotifier({}, undefined);
    await n.ready();
    await n.status('x');
    await new Promise((r) => setTimeout(r, 200));
    expect(n.enabled).toBe(false);
    expect(received.length).toBe(before);
  });

  it('logs once and never throws when the socket is gone', async () => {
    const { logger, lines } = memoryLogger();
    const n = createNotifier({ NOTIFY_SOCKET: path.join(dir, 'missing.sock') }, undefined, { logger });
    await expect(n.ready()).resolves.toBeUndefined();
    await expect(n.watchdog()).resolves.toBeUndefined();
    const warns = lines.filter((l) => String(l.msg).startsWith('systemd notification failed'));
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.msg)).toMatch(/systemd-notify exited 1/);
  });

  it('logs once and never throws when systemd-notify is missing', async () => {
    const { logger, lines } = memoryLogger();
    const n = createNotifier(
      { NOTIFY_SOCKET: socketPath },
      systemdNotifyTransport({ command: 'dalston-no-such-systemd-notify' }),
      { logger },
    );
    await expect(n.ready()).resolves.toBeUndefined();
    await expect(n.status('x')).resolves.toBeUndefined();
    const warns = lines.filter((l) => String(l.msg).startsWith('systemd notification failed'));
    expect(warns).toHaveLength(1);
    expect(String(warns[0]!.msg)).toMatch(/cannot run dalston-no-such-systemd-notify/);
  });
});

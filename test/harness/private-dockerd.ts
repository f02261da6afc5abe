import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ZxShell } from '../../shared/shell.ts';

/**
 * A second dockerd of a test's own, for what the shared daemon must not
 * suffer: being stopped and started again (restart policies at daemon start).
 * Short paths under the system temp dir: its unix sockets live there.
 */
export class PrivateDockerd {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly dir: string,
    private readonly logFd: number,
  ) {}

  get socket(): string {
    return join(this.dir, 'docker.sock');
  }

  /** `DOCKER_HOST` for clients of this daemon. */
  get host(): string {
    return `unix://${this.socket}`;
  }

  static async create(): Promise<PrivateDockerd> {
    const dir = await mkdtemp(join(os.tmpdir(), 'dh-pd-'));
    const d = new PrivateDockerd(dir, openSync(join(dir, 'dockerd.log'), 'a'));
    await d.start();
    return d;
  }

  /** Starts the daemon and waits until it answers (60 s). */
  async start(): Promise<void> {
    if (this.proc) throw new Error('private dockerd already running');
    // biome-ignore format: flag/value pairs
    this.proc = spawn('dockerd', [
      '--host', this.host, '--data-root', join(this.dir, 'root'), '--exec-root', join(this.dir, 'exec'),
      '--pidfile', join(this.dir, 'docker.pid'), '--iptables=false', '--bridge=none',
    ], { stdio: ['ignore', this.logFd, this.logFd] });
    const shell = new ZxShell();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) break;
      const r = await shell.run('docker', ['version', '--format', '{{.Server.Version}}'], {
        env: { DOCKER_HOST: this.host },
        timeoutMs: 10_000,
      });
      if (r.exitCode === 0) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    const log = await readFile(join(this.dir, 'dockerd.log'), 'utf8').catch(() => '');
    throw new Error(`private dockerd did not answer within 60 s; its log ends:\n${log.slice(-1500)}`);
  }

  /** A clean daemon stop (SIGTERM): it stops the containers but keeps their restart policies armed. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      this.proc = null;
      return;
    }
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited;
    }
    this.proc = null;
  }

  /** Copies an image from the harness's daemon (`docker save | docker load`). */
  async loadImage(image: string): Promise<void> {
    const r = await new ZxShell().run('sh', [
      '-c',
      `docker save "$1" | DOCKER_HOST="$2" docker load`,
      'sh',
      image,
      this.host,
    ]);
    if (r.exitCode !== 0) throw new Error(`copying ${image} to the private dockerd failed: ${r.stderr}`);
  }

  /** Removes every container, stops the daemon, unmounts what it left and removes its directory. */
  async destroy(): Promise<void> {
    const shell = new ZxShell();
    if (this.proc) {
      await shell.run('sh', ['-c', 'docker ps -aq | xargs -r docker rm -f'], {
        env: { DOCKER_HOST: this.host },
        timeoutMs: 60_000,
      });
      // Its networks' bridges live in the machine's network namespace and outlive the daemon and
      // its data root; left behind, they use up Docker's address pools for every later daemon.
      await shell.run('docker', ['network', 'prune', '-f'], {
        env: { DOCKER_HOST: this.host },
        timeoutMs: 60_000,
      });
    }
    await this.stop();
    await shell.run('sh', ['-c', `grep -o " ${this.dir}[^ ]*" /proc/self/mounts | xargs -r -n1 umount -l`]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface NetnsServer {
  /** The port the server reports in its ready line (the one it bound when asked for port 0). */
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a stand-in server script (TypeScript, through tsx) inside a network
 * namespace with `ip netns exec` (or, without `netns`, in this one: tests), and
 * waits for its `{"ready":true…}` line.
 */
export async function startNetnsServer(opts: {
  netns?: string;
  script: string;
  args: string[];
  what: string;
}): Promise<NetnsServer> {
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const node = [process.execPath, '--import', tsx, opts.script, ...opts.args];
  const [cmd, ...argv] = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...node] : node;
  const child: ChildProcess = spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const deadline = Date.now() + 60_000;
  while (!out.includes('"ready":true')) {
    const done = await Promise.race([exited, new Promise((r) => setTimeout(() => r('wait'), 100))]);
    if (done !== 'wait') throw new Error(`${opts.what} exited (${done}): ${err.trim().slice(-500)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.what} did not start within 60 s: ${err.trim().slice(-500)}`);
    }
  }
  const ready = out.split('\n').find((l) => l.includes('"ready":true'))!;
  return {
    port: (JSON.parse(ready) as { port: number }).port,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

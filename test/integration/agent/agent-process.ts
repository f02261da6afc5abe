import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/dalston-host.mjs', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; time?: string };

/**
 * `dalston-host agent --config FILE` as a child process, its pino lines parsed.
 * `program` is the checkout launcher by default; benchmarks pass the release bundle.
 */
export class AgentProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private waiters: Array<() => void> = [];

  constructor(configFile: string, env: Record<string, string> = {}, program = BIN) {
    this.child = spawn(process.execPath, [program, 'agent', '--config', configFile], {
      env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl = buf.indexOf('\n');
      while (nl !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: line, raw: true });
        }
        nl = buf.indexOf('\n');
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** The first log line matching, waiting up to timeoutMs. */
  async waitForLine(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`agent: no log line "${what}" within ${timeoutMs} ms; last lines:\n${this.tail()}`);
      }
      const exited = this.child.exitCode !== null || this.child.signalCode !== null;
      if (exited) throw new Error(`agent exited before "${what}"; stderr: ${this.stderr}\n${this.tail()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  tail(n = 25): string {
    return this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }

  /** Ends the process (SIGKILL) if still running; for afterAll. */
  async ensureDead(): Promise<void> {
    this.kill('SIGKILL');
    await this.exit;
  }
}

/** Polls until `fn` returns a truthy value. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  what: string,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Starts the agent and waits until its status endpoint listens and it reports ready. */
export async function startReadyAgent(
  configFile: string,
): Promise<{ agent: AgentProcess; statusUrl: string }> {
  const agent = new AgentProcess(configFile);
  const listening = await agent.waitForLine(
    (l) => l.msg === 'status endpoint listening',
    60_000,
    'listening',
  );
  await agent.waitForLine((l) => l.msg === 'agent ready', 120_000, 'agent ready');
  return { agent, statusUrl: `http://${listening.address as string}/status` };
}

import type { Clock } from '../../shared/time/clock.ts';
import { formatElapsed } from './format.ts';

export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean | undefined;
}

/** Live progress of a long operation: what phase it is in and what it last saw. */
export interface Progress {
  /** The current phase and its latest detail; called on every poll. */
  update(phase: string, detail: string): void;
  /** A phase finished: printed as a permanent line. */
  done(message: string): void;
  /** Prints a permanent note without ending the phase. */
  note(message: string): void;
  /** Clears any live line; call before printing anything else. */
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Plain lines for logs and pipes: one line per change of phase or detail,
 * prefixed with the elapsed time, never a control character.
 */
export class LineProgress implements Progress {
  private last = '';
  private readonly start: number;
  constructor(
    private readonly out: Output,
    private readonly clock: Clock,
  ) {
    this.start = clock.now();
  }
  private line(text: string) {
    this.out.write(`[${formatElapsed(this.clock.now() - this.start)}] ${text}\n`);
  }
  update(phase: string, detail: string) {
    const text = `${phase}: ${detail}`;
    if (text === this.last) return;
    this.last = text;
    this.line(text);
  }
  done(message: string) {
    this.last = '';
    this.line(`✔ ${message}`);
  }
  note(message: string) {
    this.line(message);
  }
  stop() {}
}

/** One rewritten line with a spinner and the elapsed time, for a terminal. */
export class SpinnerProgress implements Progress {
  private phase = '';
  private detail = '';
  private frame = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly start: number;
  constructor(
    private readonly out: Output,
    private readonly clock: Clock,
    private readonly intervalMs = 100,
  ) {
    this.start = clock.now();
  }
  private render() {
    const f = FRAMES[this.frame++ % FRAMES.length];
    const elapsed = formatElapsed(this.clock.now() - this.start);
    this.out.write(`\r\x1b[2K${f} ${this.phase}: ${this.detail}  \x1b[2m${elapsed}\x1b[22m`);
  }
  private clear() {
    this.out.write('\r\x1b[2K');
  }
  update(phase: string, detail: string) {
    this.phase = phase;
    this.detail = detail;
    if (!this.timer) {
      this.timer = setInterval(() => this.render(), this.intervalMs);
      this.timer.unref();
    }
    this.render();
  }
  done(message: string) {
    this.clear();
    this.out.write(
      `\x1b[32m✔\x1b[39m ${message}  \x1b[2m${formatElapsed(this.clock.now() - this.start)}\x1b[22m\n`,
    );
    this.phase = '';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
  note(message: string) {
    this.clear();
    this.out.write(`${message}\n`);
    if (this.phase) this.render();
  }
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.phase) this.clear();
    this.phase = '';
  }
}

export function createProgress(out: Output, clock: Clock): Progress {
  return out.isTTY ? new SpinnerProgress(out, clock) : new LineProgress(out, clock);
}

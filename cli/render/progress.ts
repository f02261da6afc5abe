import type { Clock } from '../../shared/time/clock.ts';
import { ansi, colourWanted, formatElapsed, plain, type Styler } from './format.ts';

export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean | undefined;
  /** The terminal's width, as a TTY stream has it. */
  columns?: number | undefined;
}

/**
 * Pure: `text` cut to fewer than `columns` characters (code points) with an ellipsis. The live line
 * must never reach the last column: a wrapped line cannot be rewritten in place by `\r`.
 */
export function fitLine(text: string, columns: number | undefined): string {
  if (columns === undefined || columns <= 0) return text;
  const max = Math.max(1, columns - 1);
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
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
    private readonly style: Styler = ansi,
  ) {
    this.start = clock.now();
  }
  private render() {
    const f = FRAMES[this.frame++ % FRAMES.length];
    const elapsed = formatElapsed(this.clock.now() - this.start);
    // The elapsed time is kept; the detail gives way on a narrow terminal.
    const cols = this.out.columns;
    const head = fitLine(
      `${f} ${this.phase}: ${this.detail}`,
      cols === undefined ? undefined : cols - elapsed.length - 2,
    );
    const line = `${head}  ${elapsed}`;
    this.out.write(
      cols !== undefined && [...line].length >= cols
        ? `\r\x1b[2K${fitLine(line, cols)}`
        : `\r\x1b[2K${head}  ${this.style.dim(elapsed)}`,
    );
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
      `${this.style.green('✔')} ${message}  ${this.style.dim(formatElapsed(this.clock.now() - this.start))}\n`,
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

/** A live line on a terminal (coloured unless NO_COLOR), plain lines for pipes and logs. */
export function createProgress(out: Output, clock: Clock, env: NodeJS.ProcessEnv): Progress {
  if (!out.isTTY) return new LineProgress(out, clock);
  return new SpinnerProgress(out, clock, 100, colourWanted(out, env) ? ansi : plain);
}

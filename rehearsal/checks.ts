/**
 * Check recording: each check prints one line as it finishes; the run ends with
 * one summary line a person can read at a glance.
 */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  seconds: number;
}

/** Thrown inside a check to fail it with a message meant for the reader. */
export class CheckFailed extends Error {}

export function fail(message: string): never {
  throw new CheckFailed(message);
}

/** Pure: one line per check. */
export function formatCheck(r: CheckResult): string {
  const mark = r.ok ? 'ok  ' : 'FAIL';
  return `${mark} ${r.name}${r.detail ? ` — ${r.detail}` : ''}`;
}

/** Pure: the last line of a rehearsal. */
export function summaryLine(
  results: readonly CheckResult[],
  bootToHealthySeconds: number | undefined,
): string {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const healthy = bootToHealthySeconds === undefined ? 'n/a' : `${bootToHealthySeconds.toFixed(1)} s`;
  return `rehearsal: ${passed} checks passed, ${failed} failed · boot→healthy ${healthy}`;
}

export class Checks {
  readonly results: CheckResult[] = [];

  constructor(private readonly print: (line: string) => void) {}

  /** Runs one check; its return value (a string) becomes the detail. Never throws. */
  async check(name: string, fn: () => Promise<string | undefined> | string | undefined): Promise<boolean> {
    const t0 = Date.now();
    let ok = true;
    let detail = '';
    try {
      detail = (await fn()) ?? '';
    } catch (err) {
      ok = false;
      detail = err instanceof Error ? err.message : String(err);
    }
    const r = { name, ok, detail: detail.replace(/\s*\n\s*/g, ' | '), seconds: (Date.now() - t0) / 1000 };
    this.results.push(r);
    this.print(formatCheck(r));
    return ok;
  }

  /** Records a check that could not run because an earlier step failed (it counts as failed). */
  blocked(name: string, because: string): void {
    const r = { name, ok: false, detail: `not run: ${because}`, seconds: 0 };
    this.results.push(r);
    this.print(formatCheck(r));
  }

  get failed(): number {
    return this.results.filter((r) => !r.ok).length;
  }
}

import type { Logger } from '../shared/logger.ts';
import type { StepResult } from './steps/step.ts';

export interface StepRecord {
  name: string;
  result: StepResult;
  detail: string;
  durationMs: number;
  changes?: string[];
}

/** Where step results go: a terminal gets one line per step, anything else pino JSON. */
export interface Reporter {
  progress(step: string, message: string): void;
  step(record: StepRecord): void;
}

const SYMBOL: Record<StepResult, string> = {
  done: '✓',
  unchanged: '✓',
  skipped: '–',
  planned: '•',
  failed: '✗',
  blocked: '⊘',
};

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** One terminal line per step: `✓ disk      formatted /dev/loop3 (ext4 …)  1.2 s`. */
export function formatStepLine(r: StepRecord): string {
  const head = `${SYMBOL[r.result]} ${r.name.padEnd(9)} ${r.detail}`;
  const untimed = r.result === 'skipped' || r.result === 'blocked';
  const lines = [untimed ? head : `${head}  ${formatDuration(r.durationMs)}`];
  if (r.changes && r.changes.length > 1) for (const c of r.changes) lines.push(`    - ${c}`);
  return lines.join('\n');
}

export function terminalReporter(out: { write(s: string): unknown }): Reporter {
  return {
    progress: (step, message) => out.write(`  … ${step.padEnd(9)} ${message}\n`),
    step: (r) => out.write(`${formatStepLine(r)}\n`),
  };
}

export function jsonReporter(log: Logger): Reporter {
  return {
    progress: (step, message) => log.info({ step, progress: message }, `${step}: ${message}`),
    step: (r) => {
      const fields = {
        step: r.name,
        result: r.result,
        detail: r.detail,
        durationMs: r.durationMs,
        changes: r.changes,
      };
      if (r.result === 'failed') log.error(fields, `${r.name}: ${r.detail}`);
      else if (r.result === 'blocked') log.warn(fields, `${r.name} blocked: ${r.detail}`);
      else log.info(fields, `${r.name} ${r.result}: ${r.detail}`);
    },
  };
}

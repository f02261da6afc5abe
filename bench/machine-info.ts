import os from 'node:os';

/** Rounds to `d` decimals, for figures in the results JSON. */
export const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

/** The load average now, rounded: other work on the machine skews timings, so results record it. */
export const loadAverage = (): number[] => os.loadavg().map((l) => round(l, 2));

/** What every results file says about the machine it was measured on. */
export function machineInfo(): { cpus: number; memGiB: number; node: string; loadAverageAtStart: number[] } {
  return {
    cpus: os.cpus().length,
    memGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadAverageAtStart: loadAverage(),
  };
}

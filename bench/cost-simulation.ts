/**
 * `npm run sim:cost`: one simulated month per usage level (0–24 h/day) under the
 * workload model of bench/cost-model.ts, for always-on, manual stop, idle stop and the
 * ideal; writes bench/results/cost.json and the plot bench/results/cost.png (shown in the
 * README). Deterministic: seeded draws, list prices from cli/pricing.ts, the idle window
 * and boot grace from the config schema's defaults.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { EBS_GB_MONTH_USD, INSTANCE_HOURLY_USD, PRICE_BASIS } from '../cli/pricing.ts';
import { hostConfigSchema } from '../shared/config/schema.ts';
import {
  billedHours,
  type IdleWindow,
  MONTH_HOURS,
  monthlyCost,
  type Prices,
  round2,
  STRATEGIES,
  type Strategy,
  type Workload,
} from './cost-model.ts';
import { lineChart } from './png-line-chart.ts';

/** The Terraform defaults (infra/terraform/environments/dev): instance type and the two gp3 volumes. */
const INSTANCE_TYPE = 't3.xlarge';
const ROOT_GIB = 30;
const DATA_GIB = 50;

const TARGET_USAGE_HOURS = 2;
const TARGET_RATIO = 1.25;

export const WORKLOAD: Omit<Workload, 'usageHoursPerDay'> = {
  sessionsPerDay: 2,
  bootMinutes: 5,
  shutdownMinutes: 1,
  downProbabilityWeekday: 0.9,
  downProbabilityWeekend: 0.6,
  seed: 14,
};

export function prices(): Prices {
  return {
    hourlyUsd: INSTANCE_HOURLY_USD[INSTANCE_TYPE]!,
    storageMonthlyUsd: (ROOT_GIB + DATA_GIB) * EBS_GB_MONTH_USD.gp3!,
  };
}

export function defaultIdleWindow(): IdleWindow {
  const idle = hostConfigSchema.parse({}).idle;
  return { stopAfterMinutes: idle.stopAfterMinutes, bootGraceMinutes: idle.bootGraceMinutes };
}

export function costsAt(usage: number, idle: IdleWindow, p: Prices): Record<Strategy, number> {
  const w: Workload = { ...WORKLOAD, usageHoursPerDay: usage };
  return Object.fromEntries(
    STRATEGIES.map((s) => [s, round2(monthlyCost(billedHours(s, w, idle), p))]),
  ) as Record<Strategy, number>;
}

async function main() {
  const p = prices();
  const idle = defaultIdleWindow();
  const usages = Array.from({ length: 49 }, (_, i) => i / 2);
  const sweep = usages.map((u) => ({ usageHoursPerDay: u, ...costsAt(u, idle, p) }));

  const at = costsAt(TARGET_USAGE_HOURS, idle, p);
  const ratio = at.idleStop / at.ideal;
  // The longest idle window (5-minute steps, same boot grace) that meets the target.
  let passingWindow: number | null = null;
  for (let m = idle.stopAfterMinutes; m >= 5; m -= 5) {
    const c = costsAt(TARGET_USAGE_HOURS, { ...idle, stopAfterMinutes: m }, p);
    if (c.idleStop / c.ideal <= TARGET_RATIO) {
      passingWindow = m;
      break;
    }
  }
  const result = {
    generatedBy: 'npm run sim:cost (bench/cost-simulation.ts)',
    prices: {
      basis: PRICE_BASIS,
      instanceType: INSTANCE_TYPE,
      hourlyUsd: p.hourlyUsd,
      storage: `${ROOT_GIB} GiB + ${DATA_GIB} GiB gp3`,
      storageMonthlyUsd: round2(p.storageMonthlyUsd),
      monthHours: MONTH_HOURS,
    },
    workload: {
      ...WORKLOAD,
      model:
        'use every day, the hours split into equal sessions at seeded random places in 08:00–20:00 (longer use: a longer window; 24 h: all day); `up` costs bootMinutes before a session, a stop shutdownMinutes; manual stop: up before the first session, down after the last one with the stated probability (weekday/weekend), a forgotten host runs to the next down; idle stop: nobody runs down, the agent stops the host stopAfterMinutes after the last work and never within bootGraceMinutes of its start',
    },
    idleWindow: idle,
    target: {
      statement: `at ${TARGET_USAGE_HOURS} h/day with nobody running down, idle-stop cost ≤ ${TARGET_RATIO}× ideal (used hours + storage)`,
      usageHoursPerDay: TARGET_USAGE_HOURS,
      idleStopUsd: at.idleStop,
      idealUsd: at.ideal,
      ratio: round2(ratio),
      pass: ratio <= TARGET_RATIO,
      longestPassingStopAfterMinutes: passingWindow,
    },
    sweep,
  };
  const out = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(`${out}cost.json`, `${JSON.stringify(result, null, 2)}\n`);

  const series = (key: Strategy) => sweep.map((r) => [r.usageHoursPerDay, r[key]] as const);
  const chart = lineChart({
    width: 900,
    height: 560,
    title: `MONTHLY COST VS USE (${INSTANCE_TYPE}, IDLE STOP AFTER ${idle.stopAfterMinutes} MIN)`,
    xLabel: 'USAGE, HOURS PER DAY',
    yLabel: 'USD PER MONTH',
    xMax: 24,
    xStep: 2,
    yMax: Math.ceil((sweep.at(-1)!.alwaysOn + 1) / 20) * 20,
    yStep: 20,
    yTick: (v) => `$${v}`,
    series: [
      { label: 'always on', color: [214, 39, 40], points: series('alwaysOn') },
      { label: 'manual stop (down forgotten at times)', color: [255, 127, 14], points: series('manualStop') },
      {
        label: `idle stop (${idle.stopAfterMinutes} min)`,
        color: [31, 119, 180],
        points: series('idleStop'),
      },
      { label: 'ideal (used hours and storage)', color: [44, 160, 44], points: series('ideal') },
    ],
  });
  await writeFile(`${out}cost.png`, chart.png());

  const verdict = result.target.pass ? 'PASS' : 'FAIL';
  process.stdout.write(
    `at ${TARGET_USAGE_HOURS} h/day: always on $${at.alwaysOn}, manual $${at.manualStop}, idle stop $${at.idleStop}, ideal $${at.ideal} → idle/ideal ${round2(ratio)} (target ≤ ${TARGET_RATIO}): ${verdict}` +
      `${result.target.pass ? '' : `; longest passing idle window: ${passingWindow ?? 'none'} min`}\nwrote bench/results/cost.json and bench/results/cost.png\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`sim:cost: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  });
}

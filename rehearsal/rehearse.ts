/**
 * `sudo npm run rehearse`: the whole host lifecycle on one Linux machine.
 * A Debian machine booted with systemd-nspawn (its own systemd and dockerd), a
 * loop device as its EBS volume, the real release built by `npm run build`, the
 * real user-data rendered by real Terraform, the real bootstrap, dalston.service,
 * agent and compose overlay over a Dalston-shaped stand-in stack. Stand-ins only
 * where the outside world is needed (S3, registry, udev, instance role, Node and
 * Compose downloads); see rehearsal/README.md.
 *
 * This file: options, preparation, the scenarios in order (scenarios/index.ts),
 * clean-up, the timeline file and the summary. Each check prints one line; the
 * last line is the summary.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ZxShell } from '../shared/shell.ts';
import { summaryLine } from './checks.ts';
import { Abort, info, print, REPO, RehearsalContext, type Scenario } from './context.ts';
import { DEFAULT_CACHE_DIR } from './machine/rootfs.ts';
import { prepareWorld } from './prepare.ts';
import { SCENARIOS, selectScenarios } from './scenarios/index.ts';
import { formatTimeline, TIMELINE_UNIT, type TimelineReport } from './timeline.ts';

const USAGE = `usage: sudo npm run rehearse [-- [--keep] [--cache-dir DIR] [--only NAMES]]
  --keep        keep the run directory (machine rootfs copy, console logs, S3 data) for inspection
  --cache-dir   where the machine rootfs and the Compose plugin are cached (default ${DEFAULT_CACHE_DIR})
  --only        run only these scenarios, comma-separated, in the usual order (a scenario
                still needs the state the ones before it leave: "first boot,live change")
                scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

async function run(ctx: RehearsalContext, scenarios: readonly Scenario[]): Promise<void> {
  ctx.world = await prepareWorld(ctx);
  for (const scenario of scenarios) await scenario.run(ctx);
}

function timelineReport(ctx: RehearsalContext, totalSeconds: number): TimelineReport {
  const passed = ctx.checks.results.filter((r) => r.ok).length;
  return {
    unit: TIMELINE_UNIT,
    generatedAt: new Date().toISOString(),
    totalSeconds: Math.round(totalSeconds),
    host: { cpus: os.cpus().length, node: process.version },
    boots: ctx.timeline.ordered(),
    checks: { passed, failed: ctx.checks.results.length - passed },
  };
}

async function main(): Promise<number> {
  let values: { keep?: boolean; 'cache-dir'?: string; only?: string; help?: boolean };
  let scenarios: readonly Scenario[];
  try {
    ({ values } = parseArgs({
      options: {
        keep: { type: 'boolean' },
        'cache-dir': { type: 'string' },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
    scenarios = selectScenarios(values.only);
  } catch (err) {
    process.stderr.write(`rehearse: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    print(USAGE);
    return 0;
  }
  if (process.platform !== 'linux') {
    process.stderr.write('rehearse: needs Linux (systemd-nspawn, loop devices, network namespaces)\n');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'rehearse: needs root (it boots a machine and attaches a loop device): sudo npm run rehearse\n',
    );
    return 2;
  }
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'dalston-rehearsal-'));
  const ctx = new RehearsalContext(new ZxShell(), runDir, values['cache-dir'] ?? DEFAULT_CACHE_DIR);
  if (values.keep) info(`run directory (kept): ${runDir}`);
  else ctx.cleanup.add('remove the run directory', () => rm(runDir, { recursive: true, force: true }));
  ctx.cleanup.trapSignals();
  const t0 = Date.now();
  try {
    await run(ctx, scenarios);
  } catch (err) {
    if (!(err instanceof Abort)) {
      ctx.checks.blocked('rehearsal ran to the end', err instanceof Error ? err.message : String(err));
    } else {
      info(`stopped after "${err.message}" failed`);
    }
  } finally {
    await ctx.cleanup.run();
  }
  const report = timelineReport(ctx, (Date.now() - t0) / 1000);
  await mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  await writeFile(
    path.join(REPO, 'bench', 'results', 'rehearsal.json'),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  for (const line of formatTimeline(ctx.timeline.ordered())) info(line);
  info(`total ${((Date.now() - t0) / 1000).toFixed(0)} s; timeline in bench/results/rehearsal.json`);
  print(summaryLine(ctx.checks.results, ctx.timeline.get('first boot', 'stackHealthy')));
  return ctx.checks.failed > 0 || ctx.checks.results.length === 0 ? 1 : 0;
}

// Explicit exit: everything the run started is cleaned up by now, and a stray timer must not hold the process.
process.exit(await main());

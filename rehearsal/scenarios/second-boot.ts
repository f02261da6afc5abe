/**
 * The instance started again after the stop: systemd mounts /data from fstab,
 * dalston-bootstrap.service re-runs as a no-op, the stack comes back with the
 * data written before the stop. Powers the machine off at the end.
 */

import {
  crashRecoveryLines,
  lastStartLog,
  startedFromCleanShutdown,
} from '../../test/harness/postgres-state.ts';
import { fail } from '../checks.ts';
import { PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import { finished, journal, journalMessages, waitUnit } from '../machine/systemd.ts';
import { containerOf, describeSnapshot, parseBootstrapSteps } from '../product/observe.ts';
import {
  containerLog,
  expectedMarksDigest,
  MARK_ROWS,
  parseMarks,
  psqlIn,
  READ_MARKS_SQL,
} from '../world/db-images.ts';
import { checkRunningHost } from './running-host.ts';

const BOOT = 'second boot';

export const secondBoot: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    await ctx.must('second boot: the machine boots again', async () => {
      const m = await ctx.boot(BOOT, { volume: true });
      return `PID 1 is ${m.leader} on the host`;
    });
    const m = ctx.runningMachine(BOOT);

    await ctx.check(
      "stop: the agent stopped the stack before shutdown (previous boot's journal)",
      async () => {
        const msgs = await journalMessages(m, 'dalston.service', { boot: -1 });
        const stopping = msgs.findIndex((x) => /stopping the stack/i.test(x));
        const stopped = msgs.findIndex((x) => /stack stopped/i.test(x));
        if (stopping < 0 || stopped < stopping) {
          fail(
            `no "stopping the stack" … "stack stopped" in the last boot's journal; it ends:\n${msgs.slice(-6).join('\n')}`,
          );
        }
        return msgs.slice(stopping, stopped + 1).join(' → ');
      },
    );

    await ctx.check('second boot: /data mounted from fstab by systemd', async () => {
      const p = await waitUnit(
        m,
        'data.mount',
        ['ActiveState', 'What', 'FragmentPath', 'SourcePath'],
        (x) => x.ActiveState === 'active',
        { what: 'data.mount active', timeoutMs: 120_000 },
      );
      const srcs = (await m.execChecked('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', '/data'])).trim();
      if (srcs !== w.loop.device)
        fail(`/data has "${srcs.replace(/\n/g, ', ')}" mounted, expected ${w.loop.device} once`);
      // Who mounted it: systemd's mount job, or someone racing it (its mount(8) then fails with
      // "already mounted", which systemd logs but still reports as "Mounted").
      const j = await journal(m, 'data.mount');
      const mountStep = parseBootstrapSteps(await journal(m, 'dalston-bootstrap.service')).find(
        (x) => x.step === 'mount',
      );
      const jobFailed = j.split('\n').find((l) => /Mount process exited|already mounted/.test(l));
      if (mountStep?.result === 'done' || jobFailed || !/^Mounted /m.test(j)) {
        fail(
          'systemd did not mount /data from fstab by itself' +
            (mountStep?.result === 'done'
              ? `; dalston-bootstrap.service mounted it: ${mountStep.detail}`
              : '') +
            (jobFailed ? `; data.mount: ${jobFailed.trim()}` : ''),
        );
      }
      return `data.mount (${p.SourcePath || p.FragmentPath}) mounted ${p.What}`;
    });

    await ctx.check('second boot: the bootstrap re-ran as a no-op', async () => {
      const p = await waitUnit(
        m,
        'dalston-bootstrap.service',
        ['ActiveState', 'Result', 'ExecMainStatus'],
        finished,
        { what: 'dalston-bootstrap.service finished', timeoutMs: 5 * 60_000 },
      );
      const text = await journal(m, 'dalston-bootstrap.service');
      const lastLines = () => text.trim().split('\n').slice(-6).join('\n');
      if (p.Result !== 'success')
        fail(`dalston-bootstrap.service: ${p.Result} (exit ${p.ExecMainStatus}):\n${lastLines()}`);
      const steps = parseBootstrapSteps(text);
      if (steps.length === 0) fail(`no step records in the bootstrap's journal:\n${lastLines()}`);
      const changed = steps.filter((s) => s.result !== 'unchanged' && s.result !== 'skipped');
      if (changed.length > 0)
        fail(
          `steps changed something: ${changed.map((s) => `${s.step} ${s.result}: ${s.detail}`).join('; ')}`,
        );
      return steps.map((s) => `${s.step} ${s.result}`).join(', ');
    });
    await ctx.markUnit(
      BOOT,
      'bootstrapDone',
      m,
      'dalston-bootstrap.service',
      'ExecMainExitTimestampMonotonic',
    );

    await ctx.check('second boot: the stack is healthy again', async () => {
      const s = await ctx.waitHealthy(m, 5 * 60_000);
      ctx.markNow(BOOT, 'stackHealthy', m);
      return describeSnapshot(s);
    });
    await ctx.markUnit(BOOT, 'agentReady', m, 'dalston.service', 'ActiveEnterTimestampMonotonic');
    await checkRunningHost(ctx, m, BOOT);

    await ctx.check('second boot: data written before the stop is intact', async () => {
      const pg = await containerOf(m, PROJECT, 'postgres');
      const marks = parseMarks(await psqlIn(m, pg.id, READ_MARKS_SQL));
      if (marks.count !== MARK_ROWS || marks.digest !== expectedMarksDigest(ctx.nonce))
        fail(`read ${marks.count} rows (digest ${marks.digest}); the first boot wrote ${MARK_ROWS}`);
      // How this start found the cluster: "was shut down at", never crash recovery.
      const start = lastStartLog(await containerLog(m, pg.id));
      const recovery = crashRecoveryLines(start);
      if (recovery.length > 0) fail(`Postgres recovered from an unclean shutdown: ${recovery.join(' | ')}`);
      if (!startedFromCleanShutdown(start))
        fail(
          `no "database system was shut down at" in the log of Postgres's last start:\n${start.slice(0, 600)}`,
        );
      const shutAt = /database system was shut down at (.*)$/m.exec(start)?.[1];
      return `${marks.count} rows read back through psql after the power cycle (digest matches); it started from a clean shutdown (${shutAt}), no crash recovery`;
    });

    await ctx.powerOff(m, BOOT);
  },
};

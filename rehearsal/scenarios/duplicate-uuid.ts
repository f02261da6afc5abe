/**
 * A snapshot copy of the data volume (a byte copy: same filesystem UUID)
 * attached beside it. The bootstrap must refuse (exit 65) naming both devices,
 * nothing may be mounted from the copy, and the agent must not start the
 * stack on whatever fstab mounted. Needs the machine powered off;
 * powers it off again and detaches the copy.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runChecked } from '../../shared/shell.ts';
import { fail } from '../checks.ts';
import type { RehearsalContext, Scenario } from '../context.ts';
import { detachLoop, majorMinor } from '../machine/loop.ts';
import { finished, journal, journalMessages, waitUnit } from '../machine/systemd.ts';
import { waitFor } from '../wait.ts';

const BOOT = 'duplicate UUID';

export const duplicateUuid: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const file = path.join(ctx.runDir, 'volume-copy.img');
    let copy = '';
    await ctx.must('duplicate UUID: a byte copy of the data volume is attached beside it', async () => {
      // Sparse copy of the powered-off volume: the same filesystem, UUID included.
      await runChecked(ctx.shell, 'cp', ['--sparse=always', w.loop.file, file], { timeoutMs: 10 * 60_000 });
      copy = (await runChecked(ctx.shell, 'losetup', ['--find', '--show', file])).trim();
      ctx.cleanup.add(`detach the volume copy ${copy}`, async () => {
        await detachLoop(ctx.shell, copy).catch(() => undefined);
        await rm(file, { force: true });
      });
      const { uuid } = await ctx.volumeFilesystem();
      await ctx.boot(BOOT, { volume: true, devices: [copy] });
      return `${copy} (copy of ${w.loop.device}, UUID ${uuid})`;
    });
    const m = ctx.runningMachine(BOOT);

    await ctx.check('duplicate UUID: the bootstrap refuses (exit 65) and names both devices', async () => {
      const p = await waitUnit(
        m,
        'dalston-bootstrap.service',
        ['ActiveState', 'Result', 'ExecMainStatus'],
        finished,
        {
          what: 'dalston-bootstrap.service finished',
          timeoutMs: 5 * 60_000,
        },
      );
      const text = await journal(m, 'dalston-bootstrap.service');
      if (p.ExecMainStatus !== '65')
        fail(
          `dalston-bootstrap.service: ${p.Result} (exit ${p.ExecMainStatus}):\n${text.trim().split('\n').slice(-4).join('\n')}`,
        );
      const line = text.split('\n').find((l) => /is on 2 devices/.test(l));
      if (!line?.includes(w.loop.device) || !line.includes(copy))
        fail(
          `no refusal naming ${w.loop.device} and ${copy} in the journal:\n${text.trim().split('\n').slice(-4).join('\n')}`,
        );
      return (/filesystem UUID \S+ is on 2 devices: [^.]*/.exec(line)?.[0] ?? line).replace(/\\"/g, '"');
    });

    await ctx.check('duplicate UUID: nothing is mounted from the copy', async () => {
      const mm = await majorMinor(ctx.shell, copy);
      // Every mount in the machine, by device number (a mount of the copy under any name shows its maj:min).
      const rows = (await m.execChecked('findmnt', ['-rn', '-o', 'MAJ:MIN,TARGET']))
        .split('\n')
        .filter(Boolean);
      const fromCopy = rows.filter((r) => r.split(' ')[0] === mm);
      if (fromCopy.length > 0) fail(`mounted from the copy (${mm}): ${fromCopy.join(', ')}`);
      return `no mount of ${mm} among ${rows.length} mounts`;
    });

    await ctx.check(
      'duplicate UUID: the agent does not start the stack on whatever fstab mounted',
      async () => {
        // dalston.service starts after the failed bootstrap (it is not Requires= of it, so a Tailscale failure
        // never keeps the stack down); its preflight reads the bootstrap's refusal and exits 65.
        let last = '';
        const line = await waitFor(
          "the agent's refusal in dalston.service's journal",
          120_000,
          async () => {
            const msgs = await journalMessages(m, 'dalston.service');
            last = msgs.at(-1) ?? '(no agent output yet)';
            return msgs.find((l) => l.includes('refused the data volume at this boot'));
          },
          () => last,
        );
        const running = (await m.execChecked('docker', ['ps', '-q'])).trim();
        if (running) fail(`containers running despite the refusal: ${running.split('\n').join(', ')}`);
        return line.slice(0, 140);
      },
    );

    await ctx.powerOff(m, BOOT);
    await detachLoop(ctx.shell, copy);
    await rm(file, { force: true });
  },
};

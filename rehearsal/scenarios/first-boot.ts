/**
 * First boot of a fresh instance: the user-data fetches the release from S3,
 * checks it and runs the bootstrap on a blank data volume; the agent brings the
 * stack up. Leaves the machine running for the next scenario.
 */
import path from 'node:path';
import { fail } from '../checks.ts';
import { PG_DATA, PG_DATA_ON_VOLUME, PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import { finished, waitUnit } from '../machine/systemd.ts';
import { IN_MACHINE } from '../product/machine-files.ts';
import { containerOf, describeSnapshot } from '../product/observe.ts';
import { waitFor } from '../wait.ts';
import {
  expectedMarksDigest,
  MARK_ROWS,
  parseMarks,
  psqlIn,
  READ_MARKS_SQL,
  writeMarksSql,
} from '../world/db-images.ts';
import { checkRunningHost } from './running-host.ts';

const BOOT = 'first boot';

export const firstBoot: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    await ctx.must('first boot: the machine boots (systemd PID 1, its own dockerd)', async () => {
      const m = await ctx.boot(BOOT, { volume: true });
      ctx.watchForFilesystem(m);
      return `PID 1 is ${m.leader} on the host, docker.service active`;
    });
    const m = ctx.runningMachine(BOOT);

    await ctx.must('first boot: user-data ran (release from S3, SHA-256 checked, bootstrap)', async () => {
      const props = await waitUnit(m, IN_MACHINE.userDataUnit, ['ActiveState', 'Result'], finished, {
        what: 'the user-data to finish',
        timeoutMs: 8 * 60_000,
        intervalMs: 1000,
      });
      const log = (await m.exec('cat', [IN_MACHINE.userDataLog])).stdout.trim().split('\n');
      if (props.Result !== 'success')
        fail(`user-data failed (${props.Result}); its log ends:\n${log.slice(-8).join('\n')}`);
      return log[log.length - 1]?.replace(/^\S+ /, '') ?? '';
    });
    await ctx.markUnit(BOOT, 'bootstrapDone', m, IN_MACHINE.userDataUnit, 'ExecMainExitTimestampMonotonic');

    await ctx.must('first boot: the agent reports the stack healthy (/status)', async () => {
      const s = await ctx.waitHealthy(m, 5 * 60_000);
      ctx.markNow(BOOT, 'stackHealthy', m);
      return describeSnapshot(s);
    });
    // Read once the stack is healthy: the bootstrap's units step does not wait for the agent's READY=1.
    await ctx.markUnit(BOOT, 'agentReady', m, 'dalston.service', 'ActiveEnterTimestampMonotonic');
    await checkRunningHost(ctx, m, BOOT);

    await ctx.check('first boot: fstab holds the data volume UUID line', async () => {
      const { uuid } = await ctx.volumeFilesystem();
      if (!uuid) fail(`${w.loop.device} has no filesystem UUID`);
      const fstab = await m.execChecked('cat', ['/etc/fstab']);
      const line = fstab.split('\n').find((l) => l.startsWith(`UUID=${uuid} /data `));
      if (!line) fail(`no "UUID=${uuid} /data …" line in /etc/fstab:\n${fstab.trim()}`);
      return line;
    });
    await ctx.check('first boot: Postgres writes to /data/postgres on the data volume', async () => {
      const pg = await containerOf(m, PROJECT, 'postgres');
      // "healthy" (pg_isready) also holds while the entrypoint's socket-only init server still runs,
      // before it has created POSTGRES_DB: wait for the database itself (a loaded machine is slow there).
      let last = '';
      await waitFor(
        'the dalston database to exist',
        180_000,
        async () => {
          const r = await m.exec('docker', [
            'exec',
            pg.id,
            'psql',
            '-U',
            'dalston',
            '-d',
            'dalston',
            '-At',
            '-c',
            'SELECT 1',
          ]);
          last = (r.stderr || r.stdout).trim();
          return r.exitCode === 0 ? true : undefined;
        },
        () => last,
        1000,
      );
      await psqlIn(m, pg.id, writeMarksSql(ctx.nonce));
      const marks = parseMarks(await psqlIn(m, pg.id, READ_MARKS_SQL));
      if (marks.count !== MARK_ROWS || marks.digest !== expectedMarksDigest(ctx.nonce))
        fail(`wrote ${MARK_ROWS} rows, read back ${marks.count} (digest ${marks.digest})`);
      if (marks.dataDirectory !== PG_DATA)
        fail(`Postgres's data_directory is ${marks.dataDirectory}, not ${PG_DATA}`);
      // The table's own file, as the machine sees it: on the loop device, under /data/postgres.
      const file = `/data/${PG_DATA_ON_VOLUME}/${marks.relationFile}`;
      const src = (await m.execChecked('findmnt', ['-n', '-o', 'SOURCE', '-T', file])).trim();
      if (src !== w.loop.device) fail(`${file} is on ${src}, not the data volume ${w.loop.device}`);
      const [owner, size] = (await m.execChecked('stat', ['-c', '%u %s', file])).trim().split(' ');
      if (owner !== '70' || Number(size) === 0) fail(`${file}: owner uid ${owner}, ${size} bytes`);
      return `${marks.count} rows through psql; table file ${file} (${size} bytes, uid ${owner}) on ${src}`;
    });
    await ctx.check('first boot: every published port is on loopback', async () => {
      const out = await m.execChecked('docker', ['ps', '--format', '{{.Names}} {{.Ports}}']);
      const bad = out.split('\n').filter((l) => /(0\.0\.0\.0|\[::\]|:::)\S*->/.test(l));
      if (bad.length > 0) fail(`published beyond loopback: ${bad.join('; ')}`);
      const n = (out.match(/->/g) ?? []).length;
      return `${n} published ports, all on 127.0.0.0/8`;
    });
    await ctx.check('first boot: the agent uploads its status snapshot to S3', async () => {
      const key = await waitFor(
        'a status snapshot in the stand-in S3',
        90_000,
        async () => {
          const r = await ctx.shell.run('find', [w.s3.dir, '-path', '*/status/*', '-name', 'latest.json*']);
          return r.stdout.trim().split('\n').filter(Boolean)[0];
        },
        () => 'nothing under status/',
        1000,
      );
      return path.relative(w.s3.dir, key).replace(/\._S3rver_object$/, '');
    });
  },
};

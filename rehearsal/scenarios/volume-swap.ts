/**
 * A volume swap (issue 13): the data volume is replaced by a new, blank one
 * (Terraform publishes its id) while the instance is powered off; the next
 * boot follows the desired state: the bootstrap's desired step rewrites
 * host.json, the disk step formats the new volume (provably blank) and mounts
 * it, fstab's line is replaced, and the stack starts on a new cluster. The old
 * volume, detached, is left exactly as it was. Needs the main machine powered
 * off; leaves it powered off (its host.json naming the new volume, detached
 * afterwards: no later scenario boots the main instance).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DESIRED_STATE_KEY } from '../../shared/desired/desired-state.ts';
import { runChecked } from '../../shared/shell.ts';
import { clusterState } from '../../test/harness/postgres-state.ts';
import { fail } from '../checks.ts';
import {
  DATA_DIR,
  type Instance,
  PG_DATA_ON_VOLUME,
  PROJECT,
  type RehearsalContext,
  type Scenario,
} from '../context.ts';
import { createLoopVolume, detachLoop, type LoopVolume, majorMinor } from '../machine/loop.ts';
import { finished, journal, waitUnit } from '../machine/systemd.ts';
import { VOLUME_BYTES } from '../prepare.ts';
import { containerOf, describeSnapshot, parseBootstrapSteps } from '../product/observe.ts';
import { patchDesiredState, REHEARSAL_VOLUME_ID } from '../product/user-data.ts';
import {
  type ClusterFiles,
  clusterFilesOnVolume,
  controlDataOnVolume,
  MARK_ROWS,
  markValues,
  psqlIn,
} from '../world/db-images.ts';
import { checkRunningHost } from './running-host.ts';

const BOOT = 'volume swap';
/** The replacement volume's id (obviously fake, like the first one's). */
export const NEW_VOLUME_ID = 'vol-0fedcba9876543210';
/** Superblock fields that change when a filesystem is mounted read-write or written. */
const SUPERBLOCK_FIELDS = ['Filesystem UUID', 'Mount count', 'Last mount time', 'Last write time'] as const;

/** Pure: the superblock fields of `dumpe2fs -h` output that a read-write mount or a mkfs changes. */
export function superblockFingerprint(dumpe2fs: string): string {
  return SUPERBLOCK_FIELDS.map((f) => {
    const v = new RegExp(`^${f}:\\s*(.*)$`, 'm').exec(dumpe2fs)?.[1]?.trim();
    if (v === undefined) throw new Error(`dumpe2fs -h output lacks "${f}"`);
    return `${f}: ${v}`;
  }).join(', ');
}

/** The old volume as the host sees it, powered off: its superblock and its Postgres cluster's files. */
interface VolumeRecord {
  superblock: string;
  cluster: ClusterFiles;
}

async function recordVolume(ctx: RehearsalContext, device: string): Promise<VolumeRecord> {
  // The superblock first: nothing else here mounts it read-write.
  const superblock = superblockFingerprint(await runChecked(ctx.shell, 'dumpe2fs', ['-h', device]));
  const marksFile = path.join(ctx.runDir, 'volume-swap-marks.txt');
  await writeFile(marksFile, `${markValues(ctx.nonce).join('\n')}\n`);
  const mnt = path.join(ctx.runDir, 'volume-swap-mnt');
  await runChecked(ctx.shell, 'mkdir', ['-p', mnt]);
  const cluster = await clusterFilesOnVolume(ctx.shell, device, mnt, PG_DATA_ON_VOLUME, marksFile);
  return { superblock, cluster };
}

/** Pure: the fstab lines that mount `dataDir` (field 2). */
export function fstabLinesFor(fstab: string, dataDir: string): string[] {
  return fstab
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && l.split(/\s+/)[1] === dataDir);
}

export const volumeSwap: Scenario = {
  name: BOOT,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const oldDevice = w.loop.device;
    let before: VolumeRecord | undefined;
    let oldUuid: string | undefined;
    let loop: LoopVolume | undefined;
    let keepLoop: (() => void) | undefined;

    await ctx.must(`${BOOT}: a new blank EBS volume replaces the old one in the desired state`, async () => {
      oldUuid = (await ctx.volumeFilesystem()).uuid;
      if (!oldUuid) fail(`the old volume ${oldDevice} has no filesystem`);
      before = await recordVolume(ctx, oldDevice);
      if (before.cluster.marksFound !== MARK_ROWS)
        fail(
          `the old volume's data files hold ${before.cluster.marksFound} of the first boot's ${MARK_ROWS} rows`,
        );
      const file = path.join(ctx.runDir, 'ebs-swap.img');
      loop = await createLoopVolume(ctx.shell, file, VOLUME_BYTES);
      const dev = loop.device;
      keepLoop = ctx.cleanup.add(`detach ${dev}`, () => detachLoop(ctx.shell, dev));
      // Published the way Terraform publishes a replaced volume: its id (and here its loop device).
      const desired = path.join(ctx.runDir, 'desired-state-volume-swap.json');
      const doc = patchDesiredState(w.desiredState, (h) => ({
        ...h,
        volume: { ...(h.volume as object), id: NEW_VOLUME_ID, device: dev },
      }));
      await writeFile(desired, doc);
      await w.s3.put(DESIRED_STATE_KEY, desired);
      // For good: the main instance's desired state names the new volume from now on.
      w.desiredState = doc;
      return `old ${oldDevice} (${REHEARSAL_VOLUME_ID}, UUID ${oldUuid}, ${before.cluster.files} Postgres files holding the first boot's ${MARK_ROWS} rows) detached; new ${dev} (${NEW_VOLUME_ID}, blank) attached`;
    });
    const inst: Instance = { ...ctx.mainInstance, loop: loop! };
    const newDevice = loop!.device;

    await ctx.must(`${BOOT}: the machine boots with only the new volume`, async () => {
      const m = await ctx.boot(BOOT, { volume: true, instance: inst });
      ctx.watchForFilesystem(m, inst);
      return `PID 1 is ${m.leader} on the host`;
    });
    const m = ctx.runningMachine(BOOT);

    let bootstrapText = '';
    await ctx.must(
      `${BOOT}: the bootstrap's desired step rewrote host.json to the new volume id`,
      async () => {
        const p = await waitUnit(
          m,
          'dalston-bootstrap.service',
          ['ActiveState', 'Result', 'ExecMainStatus'],
          finished,
          { what: 'dalston-bootstrap.service finished', timeoutMs: 8 * 60_000, intervalMs: 1000 },
        );
        bootstrapText = await journal(m, 'dalston-bootstrap.service');
        const lastLines = () => bootstrapText.trim().split('\n').slice(-6).join('\n');
        if (p.Result !== 'success')
          fail(`dalston-bootstrap.service: ${p.Result} (exit ${p.ExecMainStatus}):\n${lastLines()}`);
        const desired = parseBootstrapSteps(bootstrapText).find((s) => s.step === 'desired');
        if (desired?.result !== 'done' || !/changed: [^)]*volume\.id/.test(desired.detail))
          fail(`the desired step: ${desired ? `${desired.result}: ${desired.detail}` : 'no record'}`);
        const cfg = JSON.parse(await readFile(path.join(w.rootfs, 'etc/dalston/host.json'), 'utf8')) as {
          volume?: { id?: string; device?: string };
        };
        if (cfg.volume?.id !== NEW_VOLUME_ID || cfg.volume.device !== newDevice)
          fail(`host.json volume ${JSON.stringify(cfg.volume)}`);
        return `host.json volume.id ${cfg.volume.id}, volume.device ${newDevice}; journal: desired ${desired.detail.replace(/ from .*$/, '')}`;
      },
    );
    await ctx.markUnit(
      BOOT,
      'bootstrapDone',
      m,
      'dalston-bootstrap.service',
      'ExecMainExitTimestampMonotonic',
    );

    await ctx.check(
      `${BOOT}: the new blank volume was formatted and mounted at ${DATA_DIR} by its UUID; fstab's line replaced`,
      async () => {
        const steps = parseBootstrapSteps(bootstrapText);
        const disk = steps.find((s) => s.step === 'disk');
        if (disk?.result !== 'done' || !disk.detail.includes(`formatted ${newDevice}`))
          fail(`the disk step: ${disk ? `${disk.result}: ${disk.detail}` : 'no record'}`);
        const { uuid } = await ctx.volumeFilesystem(inst);
        if (!uuid || uuid === oldUuid) fail(`the new volume's UUID is ${uuid}`);
        const src = (await m.execChecked('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', DATA_DIR])).trim();
        if (src !== newDevice)
          fail(`${DATA_DIR} has "${src.replace(/\n/g, ', ')}" mounted, not ${newDevice}`);
        const fstab = await readFile(path.join(w.rootfs, 'etc/fstab'), 'utf8');
        const lines = fstabLinesFor(fstab, DATA_DIR);
        if (lines.length !== 1 || !lines[0]!.startsWith(`UUID=${uuid} `))
          fail(`fstab's ${DATA_DIR} lines: ${JSON.stringify(lines)} (expected one, UUID=${uuid})`);
        if (fstab.includes(oldUuid!)) fail(`fstab still names the old UUID ${oldUuid}`);
        const fstabStep = steps.find((s) => s.step === 'fstab');
        return `${disk.detail}; fstab: ${lines[0]} (${fstabStep?.detail.replace(/ in \S+$/, '') ?? 'no fstab record'})`;
      },
    );

    await ctx.check(`${BOOT}: the swap boot ran every step, not the quick path`, async () => {
      // Tailscale's state and the API key's SSM copy belong to the old volume: the quick path skips both.
      const steps = parseBootstrapSteps(bootstrapText);
      const missing = ['units', 'images', 'stack', 'api-key', 'tailscale'].filter(
        (name) => !steps.some((s) => s.step === name),
      );
      if (missing.length > 0) fail(`no record of ${missing.join(', ')}: the boot took the quick path`);
      const why = bootstrapText
        .split('\n')
        .find((l) => l.includes('full path (every step): the data volume changed'));
      if (!why) fail('the bootstrap did not say why it took the full path');
      return `${steps.length} step records; ${steps
        .filter((s) => ['api-key', 'tailscale'].includes(s.step))
        .map((s) => `${s.step} ${s.result}`)
        .join(', ')}`;
    });

    await ctx.must(
      `${BOOT}: the stack comes up healthy on the new volume, with no wait for the old one`,
      async () => {
        const s = await ctx.waitHealthy(m, 8 * 60_000);
        ctx.markNow(BOOT, 'stackHealthy', m);
        // The disk step found the new volume at once: no "waiting for" the volume (up to volume.waitSeconds).
        const waited = bootstrapText.split('\n').find((l) => /"progress":"waiting for /.test(l));
        if (waited) fail(`the bootstrap waited for a volume: ${waited}`);
        // What the boot did wait for: systemd's mount of the old fstab line, until its device timeout.
        const started = await m.unitTimestamp('dalston-bootstrap.service', 'ExecMainStartTimestampMonotonic');
        const healthy = ctx.timeline.get(BOOT, 'stackHealthy');
        return `${describeSnapshot(s)}; boot→healthy ${healthy?.toFixed(1)} s (the bootstrap started at ${started?.toFixed(1)} s, once systemd gave up on the old fstab line's device: its x-systemd.device-timeout)`;
      },
    );
    await ctx.markUnit(BOOT, 'agentReady', m, 'dalston.service', 'ActiveEnterTimestampMonotonic');

    await ctx.check(`${BOOT}: Postgres initialised a new cluster on the new volume`, async () => {
      const pg = await containerOf(m, PROJECT, 'postgres');
      const out = (
        await psqlIn(
          m,
          pg.id,
          "SELECT to_regclass('rehearsal_marks') IS NULL, current_setting('data_directory')",
        )
      ).trim();
      if (!out.startsWith('t|')) fail(`the cluster holds the old rows' table: ${out}`);
      const versionFile = `${DATA_DIR}/${PG_DATA_ON_VOLUME}/PG_VERSION`;
      const dev = (await m.execChecked('stat', ['-c', '%Hd:%Ld', versionFile])).trim();
      const want = await majorMinor(ctx.shell, newDevice);
      if (dev !== want) fail(`${versionFile} is on device ${dev}, not the new volume (${want})`);
      return `no rehearsal_marks table; data_directory ${out.split('|')[1]}; ${versionFile} on ${newDevice} (${dev})`;
    });
    await checkRunningHost(ctx, m, BOOT);

    const off = await ctx.powerOff(m, BOOT);

    await ctx.check(
      `${BOOT}: the old volume was not touched (not formatted, not mounted, its rows intact)`,
      async () => {
        const after = await recordVolume(ctx, oldDevice);
        if (after.superblock !== before!.superblock)
          fail(`its superblock changed: ${before!.superblock} → ${after.superblock}`);
        if (after.cluster.digest !== before!.cluster.digest || after.cluster.files !== before!.cluster.files)
          fail(
            `its Postgres files changed: ${before!.cluster.files} files ${before!.cluster.digest.slice(0, 12)} → ${after.cluster.files} files ${after.cluster.digest.slice(0, 12)}`,
          );
        if (after.cluster.marksFound !== MARK_ROWS)
          fail(`${after.cluster.marksFound} of the first boot's ${MARK_ROWS} rows in its data files`);
        const state = clusterState(
          await controlDataOnVolume(ctx.shell, w.dbRootfs, oldDevice, PG_DATA_ON_VOLUME),
        );
        if (state !== 'shut down') fail(`pg_controldata: "Database cluster state: ${state ?? '?'}"`);
        return `${after.superblock}; ${after.cluster.files} Postgres files, same SHA-256 (${after.cluster.digest.slice(0, 12)}…), all ${MARK_ROWS} rows; cluster state: shut down`;
      },
    );

    // The main instance is not booted again: its new volume goes back (loop devices are few).
    if (off) {
      await detachLoop(ctx.shell, newDevice);
      keepLoop?.();
    }
  },
};

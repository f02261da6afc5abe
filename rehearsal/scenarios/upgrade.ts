/**
 * An upgrade of a running host (issue 13): a new dalston-host release (built by
 * the project's build under another version) and a new Dalston ref and image
 * tag (a new tag in the stand-in Dalston repo, its images in the registry
 * stand-in) are published together as one desired state. The agent's poll
 * starts sync, which swaps the release in first (the new bundle runs as the
 * agent), then its own sync changes Dalston: backup, checkout, images, the
 * changed services recreated and gated on health. No reboot, Postgres's data
 * kept. Needs the machine running and healthy (after the live change: the agent
 * polls every 20 s); leaves it so, on the new versions, with the upgraded
 * desired state published (`w.desiredState`) for the scenarios after it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig } from '../../shared/config/load.ts';
import { convergenceFile, convergenceRecordSchema } from '../../shared/desired/convergence-record.ts';
import type { ConvergenceStatus } from '../../shared/desired/convergence-status.ts';
import { DESIRED_STATE_KEY, type HostVersions } from '../../shared/desired/desired-state.ts';
import { parseSnapshot, type StatusSnapshot } from '../../shared/status/snapshot.ts';
import { fail } from '../checks.ts';
import { PROJECT, REPO, type RehearsalContext, type Scenario, type World } from '../context.ts';
import type { Machine } from '../machine/nspawn.ts';
import { IN_MACHINE } from '../product/machine-files.ts';
import { agentStatus, containerOf, isSnapshot, projectContainers } from '../product/observe.ts';
import { buildRelease, type Release } from '../product/release.ts';
import { patchDesiredState, withDesiredRelease } from '../product/user-data.ts';
import { waitFor } from '../wait.ts';
import { expectedMarksDigest, MARK_ROWS, parseMarks, psqlIn, READ_MARKS_SQL } from '../world/db-images.ts';
import { latestSnapshotFile } from '../world/s3.ts';
import { publishStandinDalstonTag } from '../world/standin-dalston.ts';
import {
  type DalstonVersion,
  imagesByService,
  publishDalstonImages,
  resolvedConfig,
} from '../world/standin-registry.ts';

const NAME = 'upgrade';
/** The Dalston version the upgrade moves to (the first boot runs v1.0.0-rehearsal, image tag 1.0.0). */
export const UPGRADE_DALSTON: DalstonVersion = { ref: 'v1.1.0-rehearsal', imageTag: '1.1.0' };

/** Pure: the upgrade release's version, told apart from the first one's. */
export function upgradeReleaseVersion(first: string): string {
  return `${first}-upgrade`;
}

/** Pure: the desired state with the Dalston ref and image tag of `v` (host.json's `dalston.ref`, `dalston.imageTag`). */
export function withDalston(
  desiredState: string,
  v: DalstonVersion,
  extra: Record<string, unknown> = {},
): string {
  return patchDesiredState(desiredState, (h) => ({
    ...h,
    dalston: { ...(h.dalston as object), ref: v.ref, imageTag: v.imageTag, ...extra },
  }));
}

/** Pure: `a` and `b` name the same versions (services sorted, as versionsOf gives them). */
export function sameVersions(a: HostVersions | null | undefined, b: HostVersions): boolean {
  return !!a && JSON.stringify(a) === JSON.stringify(b);
}

/** Pure: versions in words, for check lines. */
export function describeVersions(v: HostVersions | null | undefined): string {
  return v ? `release ${v.release}, dalston ${v.dalstonRef} (image ${v.imageTag})` : '(none)';
}

/** Publishes a new stand-in Dalston tag to the repos a host fetches from (the running machine's copy, the bare one). */
export async function publishDalstonTag(ctx: RehearsalContext, tag: string): Promise<string> {
  const w = ctx.world;
  return publishStandinDalstonTag(ctx.shell, path.join(ctx.runDir, 'world'), tag, [
    path.join(w.rootfs, IN_MACHINE.dalstonRepo),
    w.machineFiles.dalstonBareRepo,
  ]);
}

/** Puts `body` at config/host.json in the S3 stand-in (as `terraform apply` would). */
export async function publishDesiredState(ctx: RehearsalContext, label: string, body: string): Promise<void> {
  const file = path.join(ctx.runDir, `desired-state-${label}.json`);
  await writeFile(file, body);
  await ctx.world.s3.put(DESIRED_STATE_KEY, file);
}

/** /status's convergence record, and a line for failure messages. */
export async function convergenceNow(
  m: Machine,
): Promise<{ s?: StatusSnapshot; c?: ConvergenceStatus; line: string }> {
  const s = await agentStatus(m);
  if (!isSnapshot(s)) return { line: `/status: ${s.error}` };
  const c = s.convergence;
  return {
    s,
    c,
    line: c ? `${c.state}${c.step ? ` (${c.step})` : ''}: ${c.summary}` : 'no convergence in /status',
  };
}

/** The main instance's newest heartbeat in the S3 stand-in (what `dalston-aws status` reads). */
export async function heartbeat(w: World): Promise<StatusSnapshot> {
  const file = await latestSnapshotFile(w.s3.dir);
  if (!file) fail(`no latest.json under the S3 stand-in's ${w.s3.dir}`);
  const parsed = parseSnapshot(await readFile(file!, 'utf8'));
  if (parsed.kind !== 'ok') fail(`the heartbeat is no snapshot: ${parsed.reason}`);
  return (parsed as { snapshot: StatusSnapshot }).snapshot;
}

/** The attempts sync recorded for the desired state it works on (`<agent.stateDir>/convergence.json`). */
export async function syncHistory(w: World) {
  const host = parseConfig(JSON.parse(await readFile(path.join(w.rootfs, 'etc/dalston/host.json'), 'utf8')));
  const raw = await readFile(path.join(w.rootfs, convergenceFile(host.agent.stateDir)), 'utf8');
  const record = convergenceRecordSchema.parse(JSON.parse(raw));
  return record.history.filter((a) => a.desiredVersion === record.desiredVersion);
}

/** The stack's containers whose image is not the one `images` names for their service. */
export async function containersOffImages(m: Machine, images: Record<string, string>): Promise<string[]> {
  const off: string[] = [];
  for (const c of await projectContainers(m, PROJECT)) {
    if (!c.running) continue;
    const image = (await m.execChecked('docker', ['inspect', '--format', '{{.Config.Image}}', c.id])).trim();
    if (images[c.service] !== undefined && image !== images[c.service])
      off.push(`${c.service} runs ${image}, not ${images[c.service]}`);
  }
  return off;
}

/** The first boot's rows, read back through psql (Postgres kept its data through the change). */
export async function checkMarks(ctx: RehearsalContext, m: Machine, label: string): Promise<void> {
  await ctx.check(`${label}: Postgres kept the first boot's rows`, async () => {
    const pg = await containerOf(m, PROJECT, 'postgres');
    const marks = parseMarks(await psqlIn(m, pg.id, READ_MARKS_SQL));
    if (marks.count !== MARK_ROWS || marks.digest !== expectedMarksDigest(ctx.nonce))
      fail(`read ${marks.count} rows (digest ${marks.digest}); the first boot wrote ${MARK_ROWS}`);
    return `${marks.count} rows read back through psql (digest matches)`;
  });
}

export const upgrade: Scenario = {
  name: NAME,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const m = ctx.runningMachine(NAME);
    const leader = m.leader;
    const pgBefore = await containerOf(m, PROJECT, 'postgres');
    let release: Release | undefined;
    let images: Record<string, string> = {};
    let target: HostVersions | undefined;

    await ctx.must(`${NAME}: a new dalston-host release built and uploaded to S3`, async () => {
      release = await buildRelease(ctx.shell, REPO, {
        version: upgradeReleaseVersion(w.release.version),
        outDir: path.join(ctx.runDir, 'upgrade-release'),
      });
      await w.s3.put(`releases/${path.basename(release.tgz)}`, release.tgz);
      return `dalston-host-${release.version}.tgz, sha256 ${release.sha256.slice(0, 12)}…`;
    });

    await ctx.must(
      `${NAME}: Dalston ${UPGRADE_DALSTON.ref} tagged upstream, its images in the registry`,
      async () => {
        const commit = await publishDalstonTag(ctx, UPGRADE_DALSTON.ref);
        images = await publishDalstonImages(ctx, m, w.rootfs, UPGRADE_DALSTON);
        return `${UPGRADE_DALSTON.ref} (${commit.slice(0, 8)}); ${images.gateway}, ${images['stt-transcribe-faster-whisper']}, …`;
      },
    );

    await ctx.must(`${NAME}: the desired state names the new release and Dalston version`, async () => {
      const desired = withDesiredRelease(withDalston(w.desiredState, UPGRADE_DALSTON), {
        version: release!.version,
        key: `releases/${path.basename(release!.tgz)}`,
        sha256: release!.sha256,
      });
      await publishDesiredState(ctx, NAME, desired);
      w.desiredState = desired;
      const s = await convergenceNow(m);
      if (!s.c) fail(s.line);
      target = {
        ...s.c!.running,
        release: release!.version,
        dalstonRef: UPGRADE_DALSTON.ref,
        imageTag: UPGRADE_DALSTON.imageTag,
      };
      return `${describeVersions(s.c!.running)} → ${describeVersions(target)}`;
    });

    let downtime = '';
    await ctx.check(`${NAME}: the host converges without a reboot, release first, then Dalston`, async () => {
      let last = '';
      const c = await waitFor(
        'the agent to report the desired versions converged',
        12 * 60_000,
        async () => {
          const now = await convergenceNow(m);
          last = now.line;
          if (now.c?.state === 'failed' || now.c?.state === 'rolled-back') fail(last);
          if (now.c?.state !== 'converged' || !sameVersions(now.c.running, target!)) return undefined;
          return now.c;
        },
        () => last,
        2000,
      );
      if (!m.running || m.leader !== leader) fail('the machine restarted');
      const steps = (await syncHistory(w)).map((a) => `${a.kind} ${a.outcome}`);
      if (steps.join(', ') !== 'release applied, dalston applied') fail(`sync's steps: ${steps.join(', ')}`);
      const r = c.lastResult;
      if (r?.kind !== 'dalston' || r.outcome !== 'applied') fail(`last step: ${JSON.stringify(r)}`);
      if (typeof r!.downtimeSeconds !== 'number')
        fail(`the gateway downtime was not measured: ${r!.message}`);
      downtime = `gateway down ${r!.downtimeSeconds} s`;
      return `${steps.join(' → ')}; ${r!.message}; ${downtime}`;
    });

    await ctx.check(`${NAME}: the new release runs as the agent and reports its own version`, async () => {
      const s = await agentStatus(m);
      if (!isSnapshot(s)) fail(s.error);
      const snap = s as StatusSnapshot;
      if (snap.version !== release!.version) fail(`/status says version ${snap.version}`);
      const current = (await m.execChecked('readlink', ['/opt/dalston-host/current'])).trim();
      if (current !== release!.version) fail(`/opt/dalston-host/current → ${current}`);
      return `/status version ${snap.version}; /opt/dalston-host/current → ${current}`;
    });

    await ctx.check(`${NAME}: the containers run the new images, Postgres was not restarted`, async () => {
      const off = await containersOffImages(m, images);
      if (off.length > 0) fail(off.join('; '));
      const pg = await containerOf(m, PROJECT, 'postgres');
      if (pg.id !== pgBefore.id || pg.startedAt !== pgBefore.startedAt)
        fail('the postgres container was restarted');
      const s = await ctx.waitHealthy(m, 2 * 60_000);
      return `${s.services.length} services healthy; ${images.gateway}; postgres container unchanged`;
    });

    await ctx.check(`${NAME}: the S3 heartbeat reports the new versions converged`, async () => {
      let last = '';
      return waitFor(
        'the heartbeat in S3 to show the upgrade',
        60_000,
        async () => {
          const h = await heartbeat(w);
          const c = h.convergence;
          last = `${h.version}; ${c ? `${c.state}, running ${describeVersions(c.running)}` : 'no convergence'}`;
          if (h.version !== release!.version || c?.state !== 'converged' || !sameVersions(c.running, target!))
            return undefined;
          return `${h.instance}: version ${h.version}, ${c.state}, ${describeVersions(c.running)}; ${downtime}`;
        },
        () => last,
        2000,
      );
    });

    await checkMarks(ctx, m, NAME);
  },
};

/** Resolved compose images of the upgrade's version, by service (the bad upgrade compares against them). */
export async function upgradeImages(ctx: RehearsalContext): Promise<Record<string, string>> {
  return imagesByService(await resolvedConfig(ctx, UPGRADE_DALSTON));
}

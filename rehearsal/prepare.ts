/**
 * Preparation: the real release and user-data, the machine's rootfs and the
 * stand-ins for the outside world. Five checks; a failing one stops the run.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig } from '../shared/config/load.ts';
import { DESIRED_STATE_KEY } from '../shared/desired/desired-state.ts';
import { runChecked } from '../shared/shell.ts';
import { ensureDbRootfs } from '../test/harness/debian-images.ts';
import { cacheDir as harnessCacheDir } from '../test/harness/paths.ts';
import { fail } from './checks.ts';
import { DATA_DIR, info, PROJECT, REPO, type RehearsalContext, type World } from './context.ts';
import { ensureHostTools, ensureNspawnRuntimeDir } from './machine/host-prereqs.ts';
import { createLoopVolume, detachLoop } from './machine/loop.ts';
import { createNetNs, deleteNetNs } from './machine/netns.ts';
import { ROOTFS_RECIPE } from './machine/recipe.ts';
import { cloneRootfs, ensureRootfs } from './machine/rootfs.ts';
import { udevStandinDirs } from './machine/udev-standin.ts';
import { IN_MACHINE, installMachineFiles } from './product/machine-files.ts';
import { buildRelease, type Release } from './product/release.ts';
import { patchDesiredState, type RenderedHost, readServices, renderUserData } from './product/user-data.ts';
import { imageSources } from './world/db-images.ts';
import { BUILDX_PLUGIN, COMPOSE_PLUGIN, ensureDockerPlugin } from './world/docker-plugins.ts';
import { startS3StandIn } from './world/s3.ts';
import { createStandinDalston, STANDIN_DALSTON_TAG } from './world/standin-dalston.ts';
import { buildStandinTarball, STANDIN_IMAGE_TAG } from './world/standin-image.ts';

const S3_PORT = 9444;
/** Every instance's data volume: a sparse file, so its size costs nothing until written. */
export const VOLUME_BYTES = 20 * 1024 ** 3;

export async function prepareWorld(ctx: RehearsalContext): Promise<World> {
  const { shell, runDir, cacheDir } = ctx;
  let release: Release | undefined;
  await ctx.must('release built by `npm run build`', async () => {
    release = await buildRelease(shell, REPO);
    return `dalston-host-${release.version}.tgz, sha256 ${release.sha256.slice(0, 12)}…`;
  });
  const services = await readServices(REPO);
  let rendered: RenderedHost | undefined;
  await ctx.must('user-data rendered by terraform from infra/terraform/modules/host-config', async () => {
    rendered = await renderUserData(shell, path.join(runDir, 'terraform'), {
      repo: REPO,
      releaseVersion: release!.version,
      dalstonRef: STANDIN_DALSTON_TAG,
      // An X.Y.Z tag, as Terraform requires; the stand-in ref v1.0.0-rehearsal is no release, so no pin check.
      imageTag: '1.0.0',
      services,
    });
    if (rendered.releaseSha256 !== release!.sha256) {
      fail(
        `the module's release_sha256 ${rendered.releaseSha256} is not the built bundle's ${release!.sha256}`,
      );
    }
    // host.json states only what differs from the defaults: ask the schema what the host will use.
    const dataDir = parseConfig(rendered.hostJson).dataDir;
    if (dataDir !== DATA_DIR) fail(`host.json's dataDir is ${dataDir}; the checks expect ${DATA_DIR}`);
    return `${rendered.userData.length} bytes, bucket ${rendered.bucket}, ${services.length} services`;
  });

  let rootfs = '';
  let rootfsCache = '';
  await ctx.must('machine rootfs ready (debootstrap, cached by recipe hash)', async () => {
    await ensureHostTools(shell, info);
    await ensureNspawnRuntimeDir(shell);
    const t0 = Date.now();
    const cache = await ensureRootfs(shell, cacheDir, ROOTFS_RECIPE, info);
    rootfsCache = cache.dir;
    rootfs = path.join(runDir, 'rootfs');
    await cloneRootfs(shell, cache.dir, rootfs);
    return `recipe ${cache.hash} ${cache.built ? 'built' : 'from cache'}, copied for this run (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
  });

  let dbRootfs = '';
  await ctx.must('Postgres and Redis images ready (Debian packages, cached by recipe hash)', async () => {
    // The harness's cache, not --cache-dir: `npm test` on this machine has usually built it already.
    const db = await ensureDbRootfs(shell, harnessCacheDir, info);
    dbRootfs = db.dir;
    return `rootfs ${db.hash} ${db.built ? `built in ${db.seconds.toFixed(0)} s` : 'from cache'} (${path.relative(harnessCacheDir, db.dir)} in the harness cache)`;
  });

  let world: World | undefined;
  await ctx.must(
    'stand-ins ready (S3 server, Dalston repo, images, Node, Compose, buildx, udev)',
    async () => {
      const composePlugin = await ensureDockerPlugin(shell, cacheDir, COMPOSE_PLUGIN, info);
      const buildxPlugin = await ensureDockerPlugin(shell, cacheDir, BUILDX_PLUGIN, info);
      const work = path.join(runDir, 'world');
      await mkdir(work, { recursive: true });
      const bare = path.join(work, 'dalston.git');
      const commit = await createStandinDalston(shell, work, bare);
      const tarball = path.join(work, 'standin.tar');
      await buildStandinTarball(shell, work, tarball);
      const envFile = path.join(work, 'compose.env');
      await writeFile(envFile, rendered!.composeEnv);
      const config = composeConfigCommand({
        dalstonDir: path.join(work, 'dalston-src'),
        overlay: path.join(REPO, 'compose', 'docker-compose.aws.yml'),
        envFile,
        services,
      });
      const images = imageSources(
        await runChecked(shell, composePlugin, config.args, config),
        STANDIN_IMAGE_TAG,
      );

      const loop = await createLoopVolume(shell, path.join(runDir, 'ebs.img'), VOLUME_BYTES);
      ctx.cleanup.add(`detach ${loop.device}`, () => detachLoop(shell, loop.device));
      const netns = await createNetNs(shell, `dh-rehearsal-${process.pid}`);
      ctx.cleanup.add(`delete network namespace ${netns.name}`, () => deleteNetNs(shell, netns));
      // What `terraform apply` uploads: the release and the desired state naming it.
      const desiredState = machineDesiredState(rendered!.desiredState, {
        device: loop.device,
        s3Endpoint: `http://127.0.0.1:${S3_PORT}`,
      });
      const desiredFile = path.join(work, 'desired-state.json');
      await writeFile(desiredFile, desiredState);
      const s3 = await startS3StandIn({
        netns: netns.name,
        dir: path.join(runDir, 's3'),
        port: S3_PORT,
        bucket: rendered!.bucket,
        put: { [rendered!.releaseKey]: release!.tgz, [DESIRED_STATE_KEY]: desiredFile },
      });
      ctx.cleanup.add('stop the stand-in S3 server', () => s3.stop());

      const machineFiles: World['machineFiles'] = {
        nodeBinary: process.execPath,
        composePlugin,
        buildxPlugin,
        dalstonBareRepo: bare,
        standinTar: tarball,
        dbRootfs,
        images,
        s3Endpoint: s3.endpoint,
      };
      // The user-data exactly as Terraform rendered it: it holds no host setting to patch.
      await installMachineFiles(shell, { ...machineFiles, rootfs, userData: rendered!.userData });
      const udev = udevStandinDirs(path.join(runDir, 'udev'));
      world = {
        release: release!,
        rendered: rendered!,
        desiredState,
        services,
        rootfsCache,
        machineFiles,
        rootfs,
        dbRootfs,
        loop,
        netns,
        s3,
        udev,
      };
      return `EBS ${loop.device} (20 GiB sparse), S3 ${s3.endpoint} in netns ${netns.name}, Dalston ${STANDIN_DALSTON_TAG} (${commit.slice(0, 8)}), ${images.length} image names`;
    },
  );
  return world!;
}

/**
 * Pure: the desired state Terraform rendered, with the host.json keys the
 * rehearsal cannot take as they are (see README): the loop device for the EBS
 * volume, the local S3 endpoint and Dalston repository; `patch` adds a scenario's own.
 */
export function machineDesiredState(
  desiredState: string,
  opts: { device: string; s3Endpoint: string },
  patch: (h: Record<string, unknown>) => Record<string, unknown> = (h) => h,
): string {
  return patchDesiredState(desiredState, (h) =>
    patch({
      ...h,
      volume: { ...(h.volume as object), device: opts.device },
      s3: { ...(h.s3 as object), endpoint: opts.s3Endpoint },
      dalston: { ...(h.dalston as object), repo: `file://${IN_MACHINE.dalstonRepo}` },
    }),
  );
}

export interface ComposeConfigInputs {
  /** Checkout of the stand-in Dalston (its docker-compose.yml and infra/docker overlay). */
  dalstonDir: string;
  /** Our overlay, compose/docker-compose.aws.yml. */
  overlay: string;
  envFile: string;
  services: readonly string[];
}

/**
 * Pure: `docker compose … config` over the same files and environment the
 * agent uses on the machine, to learn the image names the stack needs. The
 * overlay requires DALSTON_DATA_DIR, which the agent sets to the machine's dataDir.
 */
export function composeConfigCommand(i: ComposeConfigInputs): {
  args: string[];
  cwd: string;
  env: Record<string, string>;
} {
  // biome-ignore format: option pairs read better on one line each
  const args = [
    '-p', PROJECT,
    '-f', 'docker-compose.yml',
    '-f', 'infra/docker/docker-compose.aws.yml',
    '-f', i.overlay,
    '--env-file', i.envFile,
    'config', '--format', 'json',
    ...i.services,
  ];
  return { args, cwd: i.dalstonDir, env: { DALSTON_DATA_DIR: DATA_DIR } };
}

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import type { TestProject } from 'vitest/node';
import { ZxShell } from '../../shared/shell.ts';
import { ensureAptPackages } from './apt.ts';
import { ensureComposePlugin } from './compose-plugin.ts';
import { DB_IMAGES, ensureDbImages } from './debian-images.ts';
import { removeRunLeftovers } from './docker.ts';
import { ensureDockerDaemon, releaseDockerDaemon } from './dockerd.ts';
import { detachLoop, listLoops, loopsUnder } from './loop-device.ts';
import { cacheDir, dockerConfigDir, ENV, harnessBase, STANDIN_IMAGE } from './paths.ts';
import { findCommand } from './require.ts';
import { ensureStandinImage } from './standin-image.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dalstonTestEnv: Record<string, string>;
  }
}

const log = (line: string) => console.log(`[harness] ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function ensureRootOnLinux(): void {
  if (process.platform !== 'linux') {
    throw new Error(
      `integration tests need Linux (dockerd, loop devices, mount); this is ${process.platform}. Run them on a Debian 12 machine or VM.`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(
      `integration tests need root (they start dockerd, attach loop devices, mount filesystems, install apt packages); running as uid ${uid}. Re-run as root.`,
    );
  }
}

function ensureTerraform(): string {
  const tf = findCommand('terraform');
  if (!tf) {
    throw new Error(
      "missing prerequisite: terraform is not on PATH. It is not in Debian's archive: install the Terraform " +
        "CLI (1.5 or later) from HashiCorp's release zip into /usr/local/bin, then re-run.",
    );
  }
  return `terraform: ${tf}`;
}

/** Unmounts whatever a test left mounted below `dir`, so removing `dir` never deletes through a mount. */
async function unmountUnder(shell: ZxShell, dir: string): Promise<string[]> {
  const r = await shell.run('findmnt', ['--raw', '--noheadings', '-o', 'TARGET']);
  const targets = r.stdout
    .split('\n')
    .map((t) =>
      t.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    )
    .filter((t) => t.startsWith(dir + path.sep))
    .sort((a, b) => b.length - a.length);
  const stuck: string[] = [];
  for (const t of targets) {
    if (
      (await shell.run('umount', [t])).exitCode !== 0 &&
      (await shell.run('umount', ['-l', t])).exitCode !== 0
    ) {
      stuck.push(t);
    }
  }
  return stuck;
}

/**
 * vitest globalSetup of the `integration` project: makes a fresh Debian 12
 * root machine able to run the integration tests, and sets the environment the
 * test workers inherit (DOCKER_HOST, DOCKER_CONFIG, DALSTON_TEST_IMAGE,
 * DALSTON_TEST_PG_IMAGE, DALSTON_TEST_REDIS_IMAGE, DALSTON_TEST_TMP, DALSTON_TEST_RUN_ID). Returns the teardown.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const shell = new ZxShell();
  const runId = randomBytes(3).toString('hex');
  const undo: Array<() => Promise<string | undefined>> = [];

  const teardown = async () => {
    const errors: unknown[] = [];
    for (const step of undo.reverse()) {
      try {
        const line = await step();
        if (line) log(line);
      } catch (err) {
        errors.push(err);
        log(`teardown step failed: ${(err as Error).message}`);
      }
    }
    undo.length = 0;
    if (errors.length > 0)
      throw new AggregateError(errors, 'integration harness teardown failed (see [harness] lines)');
  };

  try {
    ensureRootOnLinux();
    log(await ensureAptPackages(shell, sleep));
    log(ensureTerraform());

    await mkdir(harnessBase, { recursive: true });
    await mkdir(path.join(harnessBase, 'runs'), { recursive: true });
    const tmp = await mkdtemp(path.join(harnessBase, 'runs', `${runId}-`));
    undo.push(async () => {
      const stuck = await unmountUnder(shell, tmp);
      if (stuck.length > 0) return `tmp: NOT removed ${tmp}: still mounted ${stuck.join(', ')}`;
      await rm(tmp, { recursive: true, force: true });
      return `tmp: removed ${tmp}`;
    });
    undo.push(async () => {
      const mine = loopsUnder(await listLoops(shell), tmp);
      for (const l of mine) await detachLoop(l.device, shell, l.backingFile);
      return mine.length > 0 ? `loop devices: detached ${mine.map((l) => l.device).join(' ')}` : undefined;
    });
    log(`tmp: ${tmp} (run ${runId})`);

    const daemon = await ensureDockerDaemon(runId);
    undo.push(async () => releaseDockerDaemon(runId));
    log(
      `dockerd: ${daemon.source} ${daemon.dockerHost} (engine ${daemon.serverVersion}, API ${daemon.apiVersion})`,
    );
    process.env.DOCKER_HOST = daemon.dockerHost;
    const docker = new Docker();
    undo.push(async () => {
      const removed = await removeRunLeftovers(docker, runId);
      return removed.length > 0 ? `docker: removed leftovers ${removed.join(', ')}` : undefined;
    });

    const dockerEnv = { DOCKER_HOST: daemon.dockerHost };
    log(await ensureComposePlugin(shell, dockerEnv));
    process.env.DOCKER_CONFIG = dockerConfigDir;
    log(
      await ensureStandinImage(shell, docker, STANDIN_IMAGE, tmp, {
        ...dockerEnv,
        DOCKER_CONFIG: dockerConfigDir,
      }),
    );
    log(
      await ensureDbImages(
        shell,
        docker,
        cacheDir,
        tmp,
        { ...dockerEnv, DOCKER_CONFIG: dockerConfigDir },
        log,
      ),
    );

    const env: Record<string, string> = {
      [ENV.dockerHost]: daemon.dockerHost,
      [ENV.dockerConfig]: dockerConfigDir,
      [ENV.image]: STANDIN_IMAGE,
      [ENV.pgImage]: DB_IMAGES.postgres,
      [ENV.redisImage]: DB_IMAGES.redis,
      [ENV.tmp]: tmp,
      [ENV.runId]: runId,
    };
    // Workers are forked after globalSetup and inherit process.env; `inject('dalstonTestEnv')` is the backup.
    Object.assign(process.env, env);
    project.provide('dalstonTestEnv', env);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
  return teardown;
}

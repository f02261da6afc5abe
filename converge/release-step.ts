/**
 * The release step: a new dalston-host release, from the bucket named in the
 * desired state. Downloaded while hashing; a SHA-256 that differs from the
 * desired state's is deleted and never unpacked. Unpacked into a staging
 * directory and renamed to /opt/dalston-host/<version> (never half-written),
 * then `current` swapped atomically (rename of a new symlink) and the agent
 * restarted through the handover, so the stack keeps running. An agent that
 * does not report the new version within the bound is swapped back and the
 * old one restarted.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { swapSymlink } from '../bootstrap/steps/dalston.ts';
import type { DesiredState } from '../shared/desired/desired-state.ts';
import type { Logger } from '../shared/logger.ts';
import { runChecked, type Shell } from '../shared/shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import type { StepResultOf } from './sync-runner.ts';

/** Where releases live on the host; `current` points at one of its version directories. */
export const RELEASE_ROOT = '/opt/dalston-host';

/** The agent as the release step restarts it. */
export interface AgentControl {
  /** Restarts the agent so that it keeps the stack running (the handover marker, then a restart). */
  restart(why: string): Promise<void>;
  /** Resolves true once the agent reports `version` (and is ready), false after `timeoutMs`. */
  ready(version: string, timeoutMs: number): Promise<boolean>;
}

export interface ReleaseStepDeps {
  /** The bucket of the desired state (S3ObjectStore). */
  store: { getStream(key: string): Promise<{ body: Readable }> };
  shell: Shell;
  agent: AgentControl;
  clock: Clock;
  /** How long the new agent has to report ready (agent.handoverReadySeconds). */
  readySeconds: number;
  /**
   * Runs after the swap, before the agent restarts: the new release installs its own units
   * (`dalston-host bootstrap --steps units` of the new bundle), so a unit it ships or changes is in
   * place. A non-zero exit swaps back like an agent that is not ready. Absent: nothing runs.
   */
  afterSwap?: () => Promise<{ exitCode: number; output: string }>;
  /** RELEASE_ROOT by default (tests: a directory of their own). */
  root?: string;
  logger?: Logger;
  say?: (line: string) => void;
}

export async function applyRelease(
  deps: ReleaseStepDeps,
  desired: DesiredState,
  runningVersion: string,
): Promise<StepResultOf<'release'>> {
  const root = deps.root ?? RELEASE_ROOT;
  const { version, key, sha256 } = desired.document.release;
  const startedAt = new Date(deps.clock.now()).toISOString();
  const say = (line: string) => {
    deps.say?.(line);
    deps.logger?.info({ step: 'release' }, line);
  };
  const result = (
    outcome: 'applied' | 'rolled-back' | 'failed',
    message: string,
  ): StepResultOf<'release'> => {
    say(message);
    return {
      kind: 'release',
      outcome,
      message,
      startedAt,
      finishedAt: new Date(deps.clock.now()).toISOString(),
    };
  };
  const label = `release ${runningVersion} → ${version}`;
  const current = join(root, 'current');
  const download = join(root, `.download-${version}.tgz`);
  const staging = join(root, '.staging');
  const dir = join(root, version);

  const previous = await readlink(current).catch(() => null);
  if (previous === version) {
    return result(
      'failed',
      `${label}: current already points at ${version}, yet this process runs ${runningVersion}`,
    );
  }
  try {
    await mkdir(root, { recursive: true, mode: 0o755 });
    say(`downloading ${key}`);
    const actual = await downloadHashing(deps.store, key, download);
    if (actual !== sha256) {
      await rm(download, { force: true });
      return result(
        'failed',
        `${label}: SHA-256 of ${key} is ${actual}, the desired state says ${sha256}; not unpacked, ${runningVersion} runs on`,
      );
    }
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { mode: 0o755 });
    await runChecked(deps.shell, 'tar', ['-xzf', download, '-C', staging, '--no-same-owner'], {
      timeoutMs: 5 * 60_000,
    });
    if (!(await isFile(join(staging, 'dalston-host.mjs')))) {
      throw new Error(`${key} has no dalston-host.mjs at its root`);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    return result(
      'failed',
      `${label} could not be unpacked (${(err as Error).message}); ${runningVersion} runs on`,
    );
  } finally {
    await rm(download, { force: true }).catch(() => {});
  }

  say(`switching ${current} to ${version}; restarting the agent (the stack keeps running)`);
  await swapSymlink(current, version);
  const bound = deps.readySeconds * 1000;
  const units = deps.afterSwap ? await deps.afterSwap() : { exitCode: 0, output: '' };
  let why = `the new agent was not ready within ${deps.readySeconds} s`;
  if (units.exitCode !== 0) {
    why = `installing its units failed (exit ${units.exitCode}${units.output ? `: ${units.output}` : ''})`;
  } else {
    try {
      await deps.agent.restart(`release ${version}`);
    } catch (err) {
      say(`restarting the agent failed: ${(err as Error).message}`);
    }
    if (await deps.agent.ready(version, bound)) {
      return result('applied', `${label}: agent ready`);
    }
  }
  // Swap back: the old release is still unpacked beside the new one.
  if (!previous) {
    return result(
      'failed',
      `${label}: the new agent was not ready within ${deps.readySeconds} s and there is no previous release to go back to`,
    );
  }
  say(`the agent of ${version} was not ready within ${deps.readySeconds} s; swapping back to ${previous}`);
  await swapSymlink(current, previous);
  try {
    await deps.agent.restart(`rollback to ${previous}`);
  } catch (err) {
    say(`restarting the old agent failed: ${(err as Error).message}`);
  }
  if (await deps.agent.ready(runningVersion, bound)) {
    return result('rolled-back', `${label}: ${why}; rolled back to ${runningVersion}, agent ready`);
  }
  return result(
    'failed',
    `${label}: ${why}, and after swapping back ${runningVersion}'s agent was not ready either`,
  );
}

async function downloadHashing(store: ReleaseStepDeps['store'], key: string, to: string): Promise<string> {
  const hash = createHash('sha256');
  const { body } = await store.getStream(key);
  body.on('data', (chunk: Buffer) => hash.update(chunk));
  await pipeline(body, createWriteStream(to, { mode: 0o644 }));
  return hash.digest('hex');
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

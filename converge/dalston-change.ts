/**
 * A change of Dalston on a running host: a new ref, image tag or service list.
 * `dalston-host sync` calls `applyDalstonChange` with the running and the desired
 * host.json; it never runs alone. In order:
 *
 * 1. backup first (when Postgres runs and backups are configured); a failed
 *    backup stops the change before anything changed;
 * 2. prepare while the old stack runs: the new ref in its own checkout (not yet
 *    `current`), the compose env for the new version staged beside the live one,
 *    the new images pulled or built and all present — a failure stops nothing;
 * 3. switch: remember the Alembic revision, point `current` and the compose env
 *    at the new version, `compose up -d` (compose recreates only what changed, in
 *    depends_on order), drop services no longer listed, and wait until every
 *    configured service is healthy within `dalston.upgradeHealthySeconds`;
 * 4. on failure, roll back to the old checkout, env and containers — unless the
 *    database was migrated meanwhile: old code must not run on a newer schema, so
 *    the host stays on the new version and the result says how to restore.
 */
import { readlink, rename, rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { databaseFacts, findPostgres, type PostgresDocker } from '../backup/postgres.ts';
// Compose never reads a half-written env file: the bootstrap's atomic write (rename, fsync).
import { writeFileAtomic } from '../bootstrap/atomic-write.ts';
import { NETWORK_LIMITS, type NetworkLimits } from '../bootstrap/network-limits.ts';
import { readIfExists } from '../bootstrap/read-if-exists.ts';
import { type CheckoutContext, ensureCheckout, refDirName, swapSymlink } from '../bootstrap/steps/dalston.ts';
import {
  buildMissingImages,
  builtHere,
  type ComposeServiceConfig,
  composeJson,
  imageOf,
  imagePresent,
  pullMissingImages,
} from '../bootstrap/steps/images.ts';
import { dataPaths } from '../shared/config/data-paths.ts';
import type { HostConfig } from '../shared/config/schema.ts';
import type { ConvergenceResult } from '../shared/desired/convergence-status.ts';
import {
  ComposeCli,
  ComposeError,
  type ComposeTarget,
  composeEnv,
  composeTarget,
} from '../shared/engine/compose-cli.ts';
import type { Logger } from '../shared/logger.ts';
import type { Shell } from '../shared/shell.ts';
import type { Clock } from '../shared/time/clock.ts';
import {
  configuredServices,
  dalstonDiffers,
  describeDalston,
  describeServiceChanges,
  IMAGE_TAG_VAR,
  migratedMessage,
  migrationVerdict,
  planServiceChanges,
  REF_VAR,
  type RevisionRead,
  restoreCommandFor,
  type ServiceChanges,
  unknownMigrationMessage,
  withDalstonVersion,
} from './dalston-change-plan.ts';
import { type GatewayProbe, httpGatewayProbe, startDowntimeMeter } from './gateway-downtime.ts';
import { waitStackHealthy } from './stack-health.ts';

/** Everything a Dalston change touches outside itself (converge/dalston-change-wiring.ts wires the real ones). */
export interface DalstonChangeDeps {
  shell: Shell;
  /** Containers by compose label, and `docker exec` into Postgres (the Alembic revision). */
  docker: PostgresDocker;
  clock: Clock;
  logger?: Logger;
  /**
   * Takes the pre-change backup of the running host (`dalston-host backup`'s function) and
   * returns its S3 key; null when the host has no backups (no `s3.bucket`).
   */
  backup: ((running: HostConfig) => Promise<{ key: string }>) | null;
  paths: {
    /** The compose env file that carries DALSTON_IMAGE_TAG and DALSTON_REF (listed in `compose.envFiles`). */
    composeEnvFile: string;
  };
  /**
   * Holds `services` for maintenance while they are switched (the agent acts on none of them and
   * runs no bring-up meanwhile: it would heal a container that is meant to be starting, or bring a
   * dropped service back); `end()` releases them. Absent: nothing is held (tests of other parts).
   */
  maintenance?: (services: string[], reason: string) => Promise<{ end(): Promise<void> }>;
  /** The gateway's health probe for the downtime measure; `agent.gatewayUrl` over HTTP by default. */
  gatewayProbe?: (url: string) => GatewayProbe;
  /** git's and the image pulls' time limits and attempts (the bootstrap's by default). */
  limits?: NetworkLimits;
  /** How often health is polled (1 s by default; tests may go faster). */
  pollMs?: number;
}

/** The result, plus which version the host runs afterwards (what sync records as running). */
export type DalstonChangeResult = ConvergenceResult & { kind: 'dalston'; runs: 'old' | 'new' };

const COMPOSE_TIMEOUT_MS = 15 * 60_000;

/** The parts of the live host a change moves and may move back. */
interface Layout {
  /** `<dataDir>/dalston/current`, when `compose.workingDir` follows it (the default). */
  link: string | null;
  envFile: string;
  /** `envFile` is among `compose.envFiles`, so the image tag written there reaches compose. */
  envListed: boolean;
}

function layoutOf(config: HostConfig, envFile: string): Layout {
  const current = dataPaths(config.dataDir).dalstonCurrent;
  const resolve = (f: string) => (posix.isAbsolute(f) ? f : posix.join(config.compose.workingDir, f));
  return {
    link: posix.normalize(config.compose.workingDir) === current ? current : null,
    envFile,
    envListed: config.compose.envFiles.some((f) => resolve(f) === envFile),
  };
}

/** `config` with compose pointed at a checkout dir and a staged env file (the new version, before the switch). */
function stagedConfig(config: HostConfig, workingDir: string, envFile: string, staged: string): HostConfig {
  const resolve = (f: string) => (posix.isAbsolute(f) ? f : posix.join(config.compose.workingDir, f));
  return {
    ...config,
    compose: {
      ...config.compose,
      workingDir,
      // Relative env files stay relative to the (new) working dir; the live env file becomes the staged one.
      envFiles: config.compose.envFiles.map((f) => (resolve(f) === envFile ? staged : f)),
    },
  };
}

// One line: the result message is a status line (a pull failure's message has compose's error on a line of its own).
const errorText = (err: unknown) =>
  (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' | ');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function runCompose(
  shell: Shell,
  config: HostConfig,
  target: ComposeTarget,
  args: string[],
  timeoutMs = COMPOSE_TIMEOUT_MS,
): Promise<string> {
  const full = [...new ComposeCli(shell, target).projectArgs(), ...args];
  const r = await shell.run('docker', full, { cwd: target.workingDir, env: composeEnv(config), timeoutMs });
  if (r.exitCode !== 0) throw new ComposeError(full, r.exitCode, r.stderr || r.stdout);
  return r.stdout;
}

/** The project's services as compose resolves them for `config` (all of them: the plan compares them). */
async function resolvedServices(deps: DalstonChangeDeps, config: HostConfig) {
  const target = composeTarget(config);
  const projectArgs = new ComposeCli(deps.shell, target).projectArgs();
  return composeJson({ config, shell: deps.shell }, target, [...projectArgs, 'config', '--format', 'json']);
}

/** The Postgres container of the running stack, or null when there is none to protect. */
async function runningPostgres(deps: DalstonChangeDeps, config: HostConfig) {
  try {
    const b = config.backup;
    return (
      await findPostgres(deps.docker, {
        project: config.compose.project,
        service: b.postgresService,
        database: b.database,
        user: b.user,
      })
    ).target;
  } catch {
    return null;
  }
}

/** The Alembic revision (backup/postgres.ts's reader), a few tries: Postgres may be restarting. */
async function readRevision(deps: DalstonChangeDeps, config: HostConfig, tries = 5): Promise<RevisionRead> {
  let reason = '';
  for (let i = 0; i < tries; i++) {
    const pg = await runningPostgres(deps, config);
    if (pg) {
      try {
        return { ok: true, revision: (await databaseFacts(deps.docker, pg)).alembicRevision };
      } catch (err) {
        reason = errorText(err);
      }
    } else {
      reason = `no running ${config.backup.postgresService} container`;
    }
    if (i < tries - 1) await deps.clock.sleep(2_000);
  }
  return { ok: false, reason };
}

/**
 * Applies the Dalston part of `to` to a host running `from` (see the file's
 * comment for the order). Never throws for a failed change: the result says what
 * happened (`applied`, `rolled-back`, `failed`) and which version runs now.
 */
export async function applyDalstonChange(
  deps: DalstonChangeDeps,
  from: HostConfig,
  to: HostConfig,
  report?: (line: string) => void,
): Promise<DalstonChangeResult> {
  const { clock } = deps;
  const startedAt = new Date(clock.now()).toISOString();
  const oldLabel = describeDalston(from);
  const newLabel = describeDalston(to);
  const say = (line: string) => {
    report?.(line);
    deps.logger?.info({ step: 'dalston' }, line);
  };
  const result = (
    outcome: ConvergenceResult['outcome'],
    runs: 'old' | 'new',
    message: string,
    extra: Partial<Omit<ConvergenceResult, 'kind'>> = {},
  ): DalstonChangeResult => {
    say(message);
    return {
      kind: 'dalston',
      outcome,
      message,
      startedAt,
      finishedAt: new Date(clock.now()).toISOString(),
      ...extra,
      runs,
    };
  };

  if (!dalstonDiffers(from, to)) return result('applied', 'new', `${newLabel}: nothing to change`);
  if (from.compose.project !== to.compose.project || from.dataDir !== to.dataDir) {
    // Another project or data volume is a host-settings change, not an upgrade of the running stack.
    return result(
      'failed',
      'old',
      `${newLabel}: compose.project or dataDir changed as well; that is a host-settings change, not a Dalston change. Nothing was changed`,
    );
  }
  const layout = layoutOf(to, deps.paths.composeEnvFile);
  const staged = `${layout.envFile}.next`;
  // The old version's env, as `from` names it: what compose resolves the old stack with and what a
  // rollback writes back (the live file may already show the new version after an interrupted attempt).
  const stagedOld = `${layout.envFile}.previous`;

  // 1. Backup first.
  let backupKey: string | null = null;
  const pgBefore = await runningPostgres(deps, from);
  if (pgBefore && deps.backup) {
    say(`backing up the database before ${oldLabel} → ${newLabel}`);
    try {
      backupKey = (await deps.backup(from)).key;
    } catch (err) {
      return result(
        'failed',
        'old',
        `${newLabel}: the backup before the change failed (${errorText(err)}); nothing was changed, ${oldLabel} runs on`,
        { backupKey: null, restoreCommand: null },
      );
    }
  } else if (pgBefore) {
    say('no backups configured (s3.bucket): changing Dalston without a pre-upgrade backup');
  }
  const restoreCommand = backupKey ? restoreCommandFor(backupKey) : null;
  const backupFields = { backupKey, restoreCommand };

  // 2. Prepare while the old stack runs.
  let checkout: { dir: string; name: string } | null = null;
  let oldEnvText: string | null = null;
  let changes: ServiceChanges;
  let fromServices: string[];
  let toServices: string[];
  let toResolved: Record<string, ComposeServiceConfig>;
  let fromResolved: Record<string, ComposeServiceConfig>;
  try {
    if (layout.link) {
      if (!to.dalston.ref) throw new Error('dalston.ref is not set: there is no ref to check out');
      const ctx: CheckoutContext = {
        shell: deps.shell,
        clock,
        limits: deps.limits ?? NETWORK_LIMITS,
        progress: say,
      };
      say(`fetching ${to.dalston.repo} at ${to.dalston.ref}`);
      const c = await ensureCheckout(
        ctx,
        to.dalston.repo,
        dataPaths(to.dataDir).dalstonCheckouts,
        to.dalston.ref,
      );
      checkout = { dir: c.dir, name: c.name };
    }
    const versionChanged =
      from.dalston.imageTag !== to.dalston.imageTag || from.dalston.ref !== to.dalston.ref;
    const liveEnv = (await readIfExists(layout.envFile)) ?? '';
    oldEnvText = withDalstonVersion(liveEnv, {
      [IMAGE_TAG_VAR]: from.dalston.imageTag,
      [REF_VAR]: from.dalston.ref,
    });
    if (layout.envListed) {
      await writeFileAtomic(
        staged,
        withDalstonVersion(liveEnv, { [IMAGE_TAG_VAR]: to.dalston.imageTag, [REF_VAR]: to.dalston.ref }),
      );
      await writeFileAtomic(stagedOld, oldEnvText);
    } else if (versionChanged && to.dalston.imageTag !== undefined) {
      throw new Error(
        `compose.envFiles does not list ${layout.envFile}, where ${IMAGE_TAG_VAR} is written: the new image tag would not reach compose`,
      );
    }
    const next = stagedConfig(to, checkout?.dir ?? to.compose.workingDir, layout.envFile, staged);
    const fromDir =
      layout.link && from.dalston.ref
        ? posix.join(dataPaths(from.dataDir).dalstonCheckouts, refDirName(from.dalston.ref))
        : null;
    const previous = stagedConfig(
      from,
      fromDir && (await exists(fromDir)) ? fromDir : from.compose.workingDir,
      layout.envFile,
      layout.envListed ? stagedOld : layout.envFile,
    );
    fromResolved = await resolvedServices(deps, previous);
    toResolved = await resolvedServices(deps, next);
    fromServices = configuredServices(from.compose.services, fromResolved);
    toServices = configuredServices(to.compose.services, toResolved);
    const unknown = toServices.filter((s) => !(s in toResolved));
    if (unknown.length > 0)
      throw new Error(`compose.services names ${unknown.join(', ')}, not in ${newLabel}'s compose files`);
    changes = planServiceChanges(fromServices, toServices, fromResolved, toResolved);
    say(`${newLabel}: ${describeServiceChanges(changes)}`);

    // Pull what is pulled and missing, build what is built here, then insist every image is present.
    say(`pulling the images of ${newLabel}`);
    const imagesCtx = { config: next, shell: deps.shell, clock, progress: say, dryRun: false };
    await pullMissingImages(
      { ...imagesCtx, limits: deps.limits ?? NETWORK_LIMITS },
      Object.fromEntries(toServices.map((s) => [s, toResolved[s]!])),
    );
    await buildMissingImages(imagesCtx);
    const missing: string[] = [];
    for (const s of toServices) {
      const svc = toResolved[s]!;
      if (builtHere(svc)) continue; // checked by the build above
      const image = imageOf(to.compose.project, s, svc);
      if (!(await imagePresent({ shell: deps.shell }, image))) missing.push(`${image} (${s})`);
    }
    if (missing.length > 0) throw new Error(`images not available after pulling: ${missing.join(', ')}`);
  } catch (err) {
    await rm(staged, { force: true }).catch(() => {});
    await rm(stagedOld, { force: true }).catch(() => {});
    return result(
      'failed',
      'old',
      `${newLabel} could not be prepared (${errorText(err)}); nothing was stopped, ${oldLabel} runs on`,
      backupFields,
    );
  }

  // 3. Switch.
  const revisionBefore = pgBefore ? await readRevision(deps, from) : null;
  // Rollback goes back to what `from` names, not to what the link and env show now: an attempt
  // interrupted after its switch (sync killed) leaves them on the new version already.
  const oldLinkTarget = layout.link
    ? from.dalston.ref
      ? refDirName(from.dalston.ref)
      : await readlink(layout.link).catch(() => null)
    : null;
  const probe = (deps.gatewayProbe ?? httpGatewayProbe)(to.agent.gatewayUrl);
  const held = [...new Set([...fromServices, ...toServices])].sort();
  const hold = deps.maintenance
    ? await deps.maintenance(held, `upgrade ${oldLabel} → ${newLabel}`).catch((err: unknown) => {
        say(`could not hold the services for maintenance (${errorText(err)}); the agent may act meanwhile`);
        return null;
      })
    : null;
  try {
    return await switchAndGate();
  } finally {
    await hold?.end().catch(() => {});
    await rm(stagedOld, { force: true }).catch(() => {});
  }

  async function switchAndGate(): Promise<DalstonChangeResult> {
    const meter = await startDowntimeMeter(probe, clock);
    const t0 = clock.now();
    const healthMs = to.dalston.upgradeHealthySeconds * 1000;
    const poll = deps.pollMs ?? 1_000;
    try {
      say(`switching to ${newLabel}`);
      if (layout.link && checkout) await swapSymlink(layout.link, checkout.name);
      if (layout.envListed) await rename(staged, layout.envFile);
      await bringUp(deps, to, toServices, changes.removed, toResolved, healthMs + 60_000);
      await waitStackHealthy(deps, to.compose.project, toServices, healthMs, poll);
      const downtime = await meter.stop();
      const seconds = Math.round((clock.now() - t0) / 1000);
      return result(
        'applied',
        'new',
        `${oldLabel} → ${newLabel}: ${describeServiceChanges(changes)}; healthy in ${seconds} s${downtime === null ? '' : `, gateway down ${downtime} s`}`,
        { ...backupFields, migrated: false, downtimeSeconds: downtime },
      );
    } catch (err) {
      const why = errorText(err);
      say(`${newLabel} failed: ${why}`);
      // 4. Roll back, unless the database moved on.
      const revisionAfter = pgBefore ? await readRevision(deps, to) : null;
      const verdict = migrationVerdict(revisionBefore, revisionAfter);
      if (verdict.kind !== 'unchanged') {
        // The host stays on the new version, running as far as it got, rather than stopped: the
        // new code is the only one that knows this schema, Postgres must keep running for
        // `dalston-host restore` (it restores through the running container), and the agent keeps
        // supervising what runs. `current` and the compose env stay on the new version too, so
        // the agent, restore and the next sync all see the version that is actually running.
        const downtime = await meter.stop();
        const message =
          verdict.kind === 'migrated'
            ? migratedMessage(newLabel, verdict, why, restoreCommand)
            : unknownMigrationMessage(newLabel, verdict, why, restoreCommand);
        return result('failed', 'new', message, {
          ...backupFields,
          ...(verdict.kind === 'migrated' ? { migrated: true } : {}),
          downtimeSeconds: downtime,
        });
      }
      try {
        say(`rolling back to ${oldLabel}`);
        if (layout.link && oldLinkTarget) await swapSymlink(layout.link, oldLinkTarget);
        if (layout.envListed) {
          await writeFileAtomic(layout.envFile, oldEnvText ?? '');
        }
        const oldResolved = fromResolved;
        await bringUp(
          deps,
          from,
          fromServices,
          toServices.filter((s) => !fromServices.includes(s)),
          oldResolved,
          healthMs + 60_000,
        );
        await waitStackHealthy(deps, from.compose.project, fromServices, healthMs, poll);
      } catch (rollbackErr) {
        const downtime = await meter.stop();
        return result(
          'failed',
          'old',
          `${newLabel} failed (${why}) and the rollback to ${oldLabel} failed too: ${errorText(rollbackErr)}`,
          { ...backupFields, migrated: false, downtimeSeconds: downtime },
        );
      }
      const downtime = await meter.stop();
      return result(
        'rolled-back',
        'old',
        `${newLabel} failed (${why}); rolled back to ${oldLabel}, healthy again`,
        { ...backupFields, migrated: false, downtimeSeconds: downtime },
      );
    }
  }
}

/**
 * `compose up -d` of the configured services (compose recreates only those whose
 * configuration or image changed, dependencies first, and removes containers of
 * services gone from the files), then stops and removes the services dropped from
 * the list that the files still define.
 */
async function bringUp(
  deps: DalstonChangeDeps,
  config: HostConfig,
  services: readonly string[],
  dropped: readonly string[],
  resolved: Readonly<Record<string, unknown>>,
  timeoutMs: number,
): Promise<void> {
  const target = composeTarget(config);
  const listed = config.compose.services.length > 0 ? services : [];
  await runCompose(deps.shell, config, target, ['up', '-d', '--remove-orphans', ...listed], timeoutMs);
  const defined = dropped.filter((s) => s in resolved);
  if (defined.length > 0) {
    await runCompose(deps.shell, config, target, ['rm', '--stop', '--force', ...defined]);
  }
}

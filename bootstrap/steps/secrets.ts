import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { dataPaths } from '../../shared/config/data-paths.ts';
import { ComposeCli, ComposeError, composeEnv, composeTarget } from '../../shared/engine/compose-cli.ts';
import { HostError } from '../../shared/errors.ts';
import { generateApiKey, parseApiKey, withApiKey } from '../api-key.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import type { BootstrapContext } from '../context.ts';
import {
  alterPasswordSql,
  generatePassword,
  PSQL_IN_CONTAINER,
  parsePending,
  parseSecretsEnv,
  scramVerifier,
  secretsEnvText,
} from '../postgres-password.ts';
import { readIfExists } from '../read-if-exists.ts';
import { requireDataMounted } from './dirs.ts';
import { done, planned, type Step, unchanged } from './step.ts';

/** Dalston's Postgres service (and the data directory its cluster lives in). */
export const POSTGRES_SERVICE = 'postgres';

/** Writes a root-only file (its directory root-only too) so a crash leaves the old or the new one. */
async function writeSecret(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, text, { mode: 0o600 });
  await chown(path, 0, 0);
}

/**
 * Sets `password` on the existing cluster: the postgres service is started as
 * it ran before (Dalston's default password in its environment, which an
 * existing cluster ignores), and the verifier goes in through psql's stdin
 * over the container's local socket, so neither the old password nor the new
 * one is needed on the command line or in a log. The agent's next `compose up`
 * recreates the services with the new environment.
 */
async function setOnExistingCluster(ctx: BootstrapContext, password: string): Promise<void> {
  const target = composeTarget(ctx.config, { withSecrets: false });
  const args = new ComposeCli(ctx.shell, target).projectArgs();
  const env = composeEnv(ctx.config);
  const run = async (extra: string[], what: string, input?: string, timeoutMs = 10 * 60_000) => {
    const r = await ctx.shell.run('docker', [...args, ...extra], {
      cwd: target.workingDir,
      env,
      timeoutMs,
      ...(input !== undefined ? { input } : {}),
    });
    if (r.exitCode !== 0) {
      throw new HostError(
        'failure',
        `${what}: ${new ComposeError([...args, ...extra], r.exitCode, r.stderr || r.stdout).message}`,
      );
    }
  };
  ctx.progress('starting postgres to set the generated password on the existing database');
  await run(['up', '-d', '--no-deps', '--wait', POSTGRES_SERVICE], 'starting postgres failed');
  await run(
    ['exec', '-T', POSTGRES_SERVICE, ...PSQL_IN_CONTAINER],
    'setting the password failed',
    alterPasswordSql(scramVerifier(password)),
    120_000,
  );
}

export const secretsStep: Step = {
  name: 'secrets',
  async run(ctx) {
    const paths = dataPaths(ctx.config.dataDir);
    const file = paths.secretsEnv;
    const current = await readIfExists(file);
    if (current !== undefined) {
      if (!parseSecretsEnv(current)) {
        throw new HostError(
          'failure',
          `${file} holds no generated POSTGRES_PASSWORD line: fix it, or remove it and run the bootstrap ` +
            'again (a new password is then generated and set on the existing database)',
        );
      }
      if (parseApiKey(current) === undefined) {
        // A host from before the API key: the key is added once, beside the password it keeps.
        if (ctx.dryRun) return planned([`add a generated Dalston admin API key to ${file}`]);
        await requireDataMounted(ctx, 'the secrets file');
        await writeSecret(file, withApiKey(current, generateApiKey()));
        return done(
          `added a generated Dalston admin API key to ${file} (the gateway seeds it when its api_keys table is empty)`,
        );
      }
      const st = await stat(file);
      if ((st.mode & 0o077) === 0 && st.uid === 0)
        return unchanged(`${file} holds the Postgres password and the admin API key`);
      if (ctx.dryRun) return planned([`make ${file} root-only (0600, owned by root)`]);
      await chown(file, 0, 0);
      await chmod(file, 0o600);
      return done(
        `made ${file} root-only again (it was mode ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`,
      );
    }
    // A cluster in the postgres directory was initialised with whatever password the stack had
    // then (Dalston's default before this step existed): it must learn the new one first.
    const existing = (await ctx.host.listDir(paths.subdirs.postgres)).length > 0;
    if (ctx.dryRun) {
      return planned(
        existing
          ? [
              `generate a Postgres password, set it on the existing database in ${paths.subdirs.postgres} ` +
                `(docker compose up/exec ${POSTGRES_SERVICE}, psql over its local socket), then write ${file} (0600) with it and a generated admin API key`,
            ]
          : [
              `generate a Postgres password for the new database and an admin API key, and write ${file} (0600)`,
            ],
      );
    }
    await requireDataMounted(ctx, 'the secrets file');
    if (!existing) {
      await writeSecret(file, withApiKey(secretsEnvText(generatePassword()), generateApiKey()));
      return done(
        `generated the Postgres password for the new database and an admin API key: ${file} (0600)`,
      );
    }
    // Crash-safe hand-over: the password is kept before the database has it and moves into the
    // env file only once it does, so a retry after a crash sets the same password again.
    const pending = parsePending((await readIfExists(paths.pendingPostgresPassword)) ?? '');
    const password = pending ?? generatePassword();
    if (!pending) await writeSecret(paths.pendingPostgresPassword, `${password}\n`);
    await setOnExistingCluster(ctx, password);
    await writeSecret(file, withApiKey(secretsEnvText(password), generateApiKey()));
    await rm(paths.pendingPostgresPassword, { force: true });
    return done(
      `set a generated password on the existing database (it had the password the stack ran with before) and wrote ${file} (0600)`,
    );
  },
};

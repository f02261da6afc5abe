import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { dataPaths } from '../../shared/config/data-paths.ts';
import { HostError } from '../../shared/errors.ts';
import { decideApiKeyStore, storedMarker } from '../api-key.ts';
import { writeFileAtomic } from '../atomic-write.ts';
import { readIfExists } from '../read-if-exists.ts';
import { withRetry } from '../retry.ts';
import { requireDataMounted } from './dirs.ts';
import { done, planned, type Step, skipped, unchanged } from './step.ts';
import { describeAws, ssmRetryable } from './tailscale.ts';

/**
 * Copies the admin API key the secrets step generated into the SSM SecureString
 * `apiKey.parameter`, once: a marker beside it records the parameter and a digest,
 * so later boots make no call. Overwrite, because the key in the secrets file is
 * the one this volume's database was seeded from (a parameter left by an earlier
 * volume would be wrong). It runs after `stack` and nothing needs it, so an SSM
 * outage or a missing permission never keeps the stack from starting.
 */
export const apiKeyStep: Step = {
  name: 'api-key',
  async run(ctx) {
    const paths = dataPaths(ctx.config.dataDir);
    const parameter = ctx.config.apiKey.parameter;
    const decision = decideApiKeyStore({
      parameter,
      envText: await readIfExists(paths.secretsEnv),
      marker: await readIfExists(paths.apiKeyStored),
    });
    switch (decision.kind) {
      case 'no-parameter':
        return skipped(`apiKey.parameter not set: the admin API key stays only in ${paths.secretsEnv}`);
      case 'no-key':
        if (ctx.dryRun)
          return planned([`store the admin API key the secrets step generates in SSM ${parameter}`]);
        throw new HostError(
          'failure',
          `${paths.secretsEnv} holds no DALSTON_API_KEY line: run \`dalston-host bootstrap --steps secrets,api-key\``,
        );
      case 'stored':
        return unchanged(`the admin API key is in SSM SecureString ${parameter}`);
      case 'store':
        break;
    }
    if (ctx.dryRun) return planned([`store the admin API key as SSM SecureString ${parameter}`]);
    await requireDataMounted(ctx, 'the API key marker');
    try {
      await withRetry(
        ctx.clock,
        () =>
          ctx.ssm().send(
            new PutParameterCommand({
              Name: parameter,
              Value: decision.key,
              Type: 'SecureString',
              Overwrite: true,
              Description: 'Dalston admin API key (generated on the host by dalston-host bootstrap)',
            }),
            { abortSignal: AbortSignal.timeout(ctx.limits.ssmMs) },
          ),
        {
          attempts: ctx.limits.attempts,
          retryIf: ssmRetryable,
          onRetry: (err, attempt) =>
            ctx.progress(
              `storing SSM parameter ${parameter} failed (attempt ${attempt}), retrying: ${describeAws(err)}`,
            ),
        },
      );
    } catch (err) {
      throw new HostError(
        'failure',
        `cannot store the admin API key in SSM parameter ${parameter} (apiKey.parameter): ${describeAws(err)}; ` +
          `the key works meanwhile (it is in ${paths.secretsEnv}); the next boot tries again`,
      );
    }
    await writeFileAtomic(paths.apiKeyStored, storedMarker(parameter!, decision.key), { mode: 0o600 });
    return done(`stored the admin API key as SSM SecureString ${parameter}`);
  },
};

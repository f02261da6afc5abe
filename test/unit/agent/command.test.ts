import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCommand } from '../../../agent/command.ts';
import { ConfigError, ExitCode, UsageError } from '../../../shared/errors.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-cmd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agentCommand argument and config errors', () => {
  it('rejects an unknown flag with a usage error', async () => {
    const err = await agentCommand(['--bogus']).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(ExitCode.usage);
  });

  it('rejects a named config file that does not exist (exit 78)', async () => {
    const err = await agentCommand(['--config', join(dir, 'missing.json')]).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.exitCode).toBe(ExitCode.config);
  });

  it('names the bad key of an invalid config (exit 78)', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ agent: { reconcileIntervalSeconds: 0 } }));
    const err = await agentCommand(['--config', file]).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.key).toBe('agent.reconcileIntervalSeconds');
  });
});

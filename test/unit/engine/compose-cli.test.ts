import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../shared/config/load.ts';
import { ComposeCli, ComposeError, composeTarget } from '../../../shared/engine/compose-cli.ts';
import type { RunOptions, Shell, ShellResult } from '../../../shared/shell.ts';

class FakeShell implements Shell {
  calls: Array<{ cmd: string; args: readonly string[]; opts?: RunOptions }> = [];
  constructor(private readonly result: Partial<ShellResult> = {}) {}
  async run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<ShellResult> {
    this.calls.push({ cmd, args, opts });
    return { exitCode: 0, stdout: '', stderr: '', ...this.result };
  }
}

const target = {
  project: 'dalston',
  workingDir: '/data/dalston/current',
  files: ['docker-compose.yml', 'docker-compose.aws.yml'],
  profiles: ['gpu'],
  envFiles: ['.env'],
};

describe('composeTarget', () => {
  it("adds the host's secrets env file from dataDir last, so it wins over host.json's env files", () => {
    const config = parseConfig({ dataDir: '/srv/ebs', compose: { envFiles: ['/etc/dalston/compose.env'] } });
    expect(composeTarget(config).envFiles).toEqual([
      '/etc/dalston/compose.env',
      '/srv/ebs/secrets/compose.env',
    ]);
    // Only the secrets step runs the stack as it was before the secrets existed.
    expect(composeTarget(config, { withSecrets: false }).envFiles).toEqual(['/etc/dalston/compose.env']);
  });
});

describe('ComposeCli', () => {
  it('brings services up with project, files, profiles and env files', async () => {
    const shell = new FakeShell();
    await new ComposeCli(shell, target).up(['gateway', 'redis']);
    expect(shell.calls[0]!.cmd).toBe('docker');
    expect(shell.calls[0]!.args).toEqual([
      'compose',
      '-p',
      'dalston',
      '--project-directory',
      '/data/dalston/current',
      '-f',
      'docker-compose.yml',
      '-f',
      'docker-compose.aws.yml',
      '--profile',
      'gpu',
      '--env-file',
      '.env',
      'up',
      '-d',
      'gateway',
      'redis',
    ]);
    expect(shell.calls[0]!.opts?.cwd).toBe('/data/dalston/current');
  });

  it('passes the interpolation environment (DALSTON_DATA_DIR) to every compose run', async () => {
    const shell = new FakeShell();
    const cli = new ComposeCli(shell, target, { env: { DALSTON_DATA_DIR: '/data' } });
    await cli.up([]);
    await cli.stop(['gateway'], 5);
    expect(shell.calls.map((c) => c.opts?.env)).toEqual([
      { DALSTON_DATA_DIR: '/data' },
      { DALSTON_DATA_DIR: '/data' },
    ]);
  });

  it('stops services with the grace period', async () => {
    const shell = new FakeShell();
    const cli = new ComposeCli(shell, { ...target, profiles: [], envFiles: [] });
    await cli.stop(['gateway'], 60);
    await cli.stop([], 60);
    expect(shell.calls).toHaveLength(1);
    expect(shell.calls[0]!.args.slice(-4)).toEqual(['stop', '-t', '60', 'gateway']);
  });

  it('carries compose’s own stderr when it fails', async () => {
    const shell = new FakeShell({
      exitCode: 1,
      stderr: 'time="x" level=warning msg="a"\nservice "gatewy" has neither an image nor a build context\n',
    });
    const err = await new ComposeCli(shell, target).up(['gatewy']).catch((e) => e);
    expect(err).toBeInstanceOf(ComposeError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/exited 1: .*service "gatewy" has neither an image nor a build context/);
  });

  it('reads the short version', async () => {
    expect(await new ComposeCli(new FakeShell({ stdout: 'v2.26.1\n' }), target).version()).toBe('2.26.1');
    const err = await new ComposeCli(
      new FakeShell({ exitCode: 125, stderr: "'compose' is not a docker command" }),
      target,
    )
      .version()
      .catch((e) => e);
    expect(err.message).toMatch(/not a docker command/);
  });
});

describe('ComposeCli cancellation', () => {
  it('passes the abort signal to the shell and reports a cancelled run as such', async () => {
    const ac = new AbortController();
    const shell = new FakeShell({ exitCode: 130 });
    ac.abort();
    const err = await new ComposeCli(shell, target).up(['api'], ac.signal).catch((e) => e);
    expect(shell.calls[0]!.opts?.signal).toBe(ac.signal);
    expect(err.message).toMatch(/cancelled by shutdown/);
  });
});

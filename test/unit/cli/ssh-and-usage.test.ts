import { describe, expect, it } from 'vitest';
import { sshInvocation } from '../../../cli/commands/ssh.ts';
import type { InteractiveRunner } from '../../../cli/context.ts';
import { dalstonAwsMain } from '../../../cli/main.ts';
import { FakeClock, INSTANCE, testContext } from './helpers.ts';

class RecordingRunner implements InteractiveRunner {
  calls: Array<{ cmd: string; args: readonly string[] }> = [];
  constructor(private readonly result: number | Error = 0) {}
  async run(cmd: string, args: readonly string[]) {
    this.calls.push({ cmd, args });
    if (this.result instanceof Error) throw this.result;
    return this.result;
  }
}

const clock = new FakeClock(0);

describe('dalston-aws ssh', () => {
  it('runs ssh user@tailscale-host with the args after --', async () => {
    const runner = new RecordingRunner(0);
    const ctx = testContext({
      clock,
      interactive: runner,
      env: { DALSTON_TAILSCALE_HOST: 'dalston.tail1234.ts.net' },
    });
    expect(await dalstonAwsMain(['ssh', '--', '-L', '8000:localhost:8000', 'docker', 'ps'], ctx)).toBe(0);
    expect(runner.calls).toEqual([
      { cmd: 'ssh', args: ['ec2-user@dalston.tail1234.ts.net', '-L', '8000:localhost:8000', 'docker', 'ps'] },
    ]);
  });

  it('--user and --host flags; the child exit code is returned', async () => {
    const runner = new RecordingRunner(255);
    const ctx = testContext({ clock, interactive: runner });
    expect(await dalstonAwsMain(['ssh', '--user', 'admin', '--host', 'box'], ctx)).toBe(255);
    expect(runner.calls[0]).toEqual({ cmd: 'ssh', args: ['admin@box'] });
  });

  it('--ssm opens a Session Manager session on the instance (no ssh)', async () => {
    const runner = new RecordingRunner(0);
    const ctx = testContext({ clock, interactive: runner });
    const args = ['ssh', '--ssm', '--instance-id', INSTANCE, '--region', 'eu-west-2', '--profile', 'ops'];
    expect(await dalstonAwsMain(args, ctx)).toBe(0);
    expect(runner.calls).toEqual([
      {
        cmd: 'aws',
        args: ['ssm', 'start-session', '--target', INSTANCE, '--region', 'eu-west-2', '--profile', 'ops'],
      },
    ]);
    expect(
      sshInvocation({ ssm: true, user: 'u', host: null, instanceId: INSTANCE, region: 'us-east-1' }, [
        '--reason',
        'x',
      ]).args,
    ).toEqual(['ssm', 'start-session', '--target', INSTANCE, '--region', 'us-east-1', '--reason', 'x']);
  });

  it('a missing ssh or aws binary is one clear line, exit 69', async () => {
    const enoent = Object.assign(new Error('spawn ssh ENOENT'), { code: 'ENOENT' });
    const ctx = testContext({
      clock,
      interactive: new RecordingRunner(enoent),
      env: { DALSTON_TAILSCALE_HOST: 'h' },
    });
    expect(await dalstonAwsMain(['ssh'], ctx)).toBe(69);
    expect(ctx.stderr.text).toBe(
      'dalston-aws: ssh was not found on PATH: install an OpenSSH client (or use --ssm)\n',
    );
  });

  it('without a Tailscale host name: says where to provide it', async () => {
    const ctx = testContext({ clock, interactive: new RecordingRunner(0) });
    expect(await dalstonAwsMain(['ssh', '--tf-dir', '/nonexistent-dalston-tf'], ctx)).toBe(78);
    expect(ctx.stderr.text).toBe(
      'dalston-aws: deployment not found. Fix: pass --tf-dir with the directory you ran `terraform apply` in ' +
        '(terraform in /nonexistent-dalston-tf: /nonexistent-dalston-tf does not exist), or give the values below.\n' +
        '  Tailscale host name  --host or DALSTON_TAILSCALE_HOST (Terraform output "tailscale_hostname")\n',
    );
  });
});

describe('dalston-aws usage', () => {
  it('no command → main usage on stderr, exit 2', async () => {
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain([], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(/^Usage: dalston-aws <command>/);
    expect(ctx.stdout.text).toBe('');
  });

  it('unknown command → one line plus usage on stderr, exit 2', async () => {
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['start'], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(
      /^dalston-aws: unknown command "start" \(expected one of up, down, status, wait, deploy, ssh, backups, keep-awake, cost, api-key, verify\)\n\nUsage:/,
    );
  });

  it.each(['up', 'down', 'status', 'wait', 'ssh', 'api-key', 'verify'])(
    '%s: unknown flag → exit 2 with its usage; --help → stdout, exit 0',
    async (cmd) => {
      const bad = testContext({ clock });
      expect(await dalstonAwsMain([cmd, '--bogus'], bad)).toBe(2);
      expect(bad.stderr.text).toMatch(/^dalston-aws: Unknown option '--bogus'/);
      expect(bad.stderr.text).toContain(`Usage: dalston-aws ${cmd}`);
      const help = testContext({ clock });
      expect(await dalstonAwsMain([cmd, '--help'], help)).toBe(0);
      expect(help.stdout.text).toMatch(new RegExp(`^Usage: dalston-aws ${cmd}`));
      expect(help.stderr.text).toBe('');
    },
  );

  it('flags before the command are refused with a hint', async () => {
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['--region', 'x', 'status'], ctx)).toBe(2);
    expect(ctx.stderr.text).toMatch(/^dalston-aws: put the command first/);
  });

  it('--version prints the package version', async () => {
    const ctx = testContext({ clock });
    expect(await dalstonAwsMain(['--version'], ctx)).toBe(0);
    expect(ctx.stdout.text).toMatch(/^dalston-aws \d+\.\d+\.\d+ \(/);
  });
});

/**
 * First boot of a fresh instance whose Tailscale key has expired (issue 11:
 * first boot was one-shot): the bootstrap fails at its tailscale step, yet the
 * stack comes up, the failure is in `status/<id>/bootstrap.json` as
 * `dalston-aws` shows it, and the user-data's output is on the serial console.
 * The operator stores a new key; the next boot runs the whole bootstrap again
 * and Tailscale joins. Its own instance (root disk copy, blank volume, host
 * name), so the main scenarios' world is untouched; powers it off and detaches
 * its volume at the end.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { STEP_ORDER } from '../../bootstrap/steps/step.ts';
import { bootstrapView, describeFailure } from '../../cli/bootstrap-view.ts';
import { DESIRED_STATE_KEY } from '../../shared/desired/desired-state.ts';
import {
  type BootstrapReport,
  bootstrapReportKey,
  parseBootstrapReport,
} from '../../shared/status/bootstrap-report.ts';
import { DEFAULT_STATUS_PREFIX } from '../../shared/status/s3-key.ts';
import { fail } from '../checks.ts';
import { type Instance, info, type RehearsalContext, type Scenario } from '../context.ts';
import { createLoopVolume, detachLoop } from '../machine/loop.ts';
import type { Machine } from '../machine/nspawn.ts';
import { cloneRootfs } from '../machine/rootfs.ts';
import { finished, journal, waitUnit } from '../machine/systemd.ts';
import { udevStandinDirs } from '../machine/udev-standin.ts';
import { machineDesiredState, VOLUME_BYTES } from '../prepare.ts';
import { IN_MACHINE, installMachineFiles } from '../product/machine-files.ts';
import { describeSnapshot, parseBootstrapSteps } from '../product/observe.ts';
import { waitFor } from '../wait.ts';
import { s3rverObjectPath } from '../world/s3.ts';
import { type SsmStandIn, startSsmStandIn } from '../world/ssm.ts';
import { EXPIRED_KEY, installTailscaleStandIn, SSM_PORT, VALID_KEY } from '../world/tailscale-standin.ts';

const FIRST = 'tailscale fails';
const RETRY = 'tailscale retry';
const HOSTNAME = 'dalston-rehearsal-ts';
const PARAM = '/dalston/rehearsal/tailscale-auth-key';
const RESULT_FILE = '/var/lib/dalston/bootstrap.json';
const COMPLETE_MARKER = '/var/lib/dalston/bootstrap-complete';

export const tailscaleFails: Scenario = {
  name: FIRST,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    let inst: Instance | undefined;
    let ssm: SsmStandIn | undefined;
    let keepLoop: (() => void) | undefined;

    await ctx.must(
      `${FIRST}: a fresh instance (own root disk, blank volume; its Tailscale key in SSM has expired)`,
      async () => {
        const rootfs = path.join(ctx.runDir, 'rootfs-tailscale');
        await cloneRootfs(ctx.shell, w.rootfsCache, rootfs);
        // Its own name: with no IMDS here the host names its S3 keys by its hostname.
        await writeFile(path.join(rootfs, 'etc/hostname'), `${HOSTNAME}\n`);
        const loop = await createLoopVolume(
          ctx.shell,
          path.join(ctx.runDir, 'ebs-tailscale.img'),
          VOLUME_BYTES,
        );
        keepLoop = ctx.cleanup.add(`detach ${loop.device}`, () => detachLoop(ctx.shell, loop.device));
        ssm = await startSsmStandIn({
          netns: w.netns.name,
          port: SSM_PORT,
          name: PARAM,
          valueFile: path.join(ctx.runDir, 'ssm-tailscale-key'),
          value: EXPIRED_KEY,
        });
        ctx.cleanup.add('stop the stand-in SSM server', () => ssm!.stop());
        // Its own desired state (its volume, its Tailscale parameter), published over the main
        // instance's: that one stays powered off from here on.
        const desired = path.join(ctx.runDir, 'desired-state-tailscale.json');
        await writeFile(
          desired,
          machineDesiredState(
            w.rendered.desiredState,
            { device: loop.device, s3Endpoint: w.s3.endpoint },
            (h) => ({ ...h, tailscale: { ...((h.tailscale as object) ?? {}), authKeyParameter: PARAM } }),
          ),
        );
        await w.s3.put(DESIRED_STATE_KEY, desired);
        await installMachineFiles(ctx.shell, { ...w.machineFiles, rootfs, userData: w.rendered.userData });
        await installTailscaleStandIn(rootfs, ssm.endpoint);
        inst = { rootfs, loop, udev: udevStandinDirs(path.join(ctx.runDir, 'udev-tailscale')) };
        return `EBS ${loop.device} (blank), hostname ${HOSTNAME}, tailscale.authKeyParameter ${PARAM} → an expired key (SSM ${ssm.endpoint})`;
      },
    );

    // First boot: the user-data's bootstrap fails at its last step.
    await ctx.must(`${FIRST}: the machine boots`, async () => {
      const m = await ctx.boot(FIRST, { volume: true, instance: inst });
      ctx.watchForFilesystem(m, inst);
      return `PID 1 is ${m.leader} on the host`;
    });
    const m = ctx.runningMachine(FIRST);
    const instance = (await m.execChecked('cat', ['/proc/sys/kernel/hostname'])).trim();
    const resultKey = bootstrapReportKey(DEFAULT_STATUS_PREFIX, instance);
    const inS3 = s3rverObjectPath(w.s3.dir, w.rendered.bucket, resultKey);

    let firstReport: BootstrapReport | undefined;
    await ctx.check(
      `${FIRST}: the first-boot bootstrap fails at the tailscale step only, after starting the stack`,
      async () => {
        const props = await waitUnit(
          m,
          IN_MACHINE.userDataUnit,
          ['ActiveState', 'Result', 'ExecMainStatus'],
          finished,
          {
            what: 'the user-data to finish',
            timeoutMs: 8 * 60_000,
            intervalMs: 1000,
          },
        );
        if (props.Result === 'success') fail('the user-data succeeded, though the Tailscale key had expired');
        const r = parseBootstrapReport(await m.execChecked('cat', [RESULT_FILE]));
        if (r.kind !== 'ok') fail(`${RESULT_FILE}: ${r.reason}`);
        firstReport = r.report;
        const bad = r.report.steps.filter((s) => s.result === 'failed' || s.result === 'blocked');
        if (bad.length !== 1 || bad[0]!.name !== 'tailscale')
          fail(
            `expected only tailscale to fail, got: ${bad.map((s) => `${s.name} ${s.result}: ${s.detail}`).join('; ')}`,
          );
        const stack = r.report.steps.find((s) => s.name === 'stack');
        if (stack?.result !== 'done')
          fail(`the stack step did not start the stack: ${stack?.result} ${stack?.detail}`);
        return `user-data exit ${props.ExecMainStatus}; stack: ${stack.detail}; tailscale: ${bad[0]!.detail}`;
      },
    );
    await ctx.markUnit(FIRST, 'bootstrapDone', m, IN_MACHINE.userDataUnit, 'ExecMainExitTimestampMonotonic');

    await ctx.must(`${FIRST}: the stack still comes up healthy`, async () => {
      const s = await ctx.waitHealthy(m, 5 * 60_000);
      ctx.markNow(FIRST, 'stackHealthy', m);
      return describeSnapshot(s);
    });

    await ctx.check(
      `${FIRST}: the failure is in ${DEFAULT_STATUS_PREFIX}<id>/bootstrap.json, as dalston-aws shows it`,
      async () => {
        const body = await waitFor('the bootstrap result in the stand-in S3', 30_000, () =>
          readFile(inS3, 'utf8').catch(() => undefined),
        );
        const r = parseBootstrapReport(body);
        if (r.kind !== 'ok') fail(`s3://${w.rendered.bucket}/${resultKey}: ${r.reason}`);
        if (r.report.startedAt !== firstReport?.startedAt)
          fail('S3 holds another run than the one on the host');
        const v = bootstrapView({ kind: 'ok', report: r.report, key: resultKey }, resultKey, null);
        if (v.status !== 'failed' || v.failedStep !== 'tailscale')
          fail(`S3 says ${v.status} at ${v.failedStep}`);
        if (!v.stackStarted) fail('the result says the stack was not started');
        return `s3://${w.rendered.bucket}/${resultKey}: ${describeFailure(v)}; next: ${v.next[0]}`;
      },
    );

    await ctx.check(`${FIRST}: the user-data's output is on the serial console`, async () => {
      const text = await readFile(ctx.serialConsoles.get(FIRST)!, 'utf8').catch(() => '');
      const lines = text.split('\n').filter((l) => l.includes('dalston-user-data: '));
      const start = lines.find((l) => /user-data start$/.test(l));
      const fatal = lines.find((l) => /FATAL: dalston-host bootstrap failed \(exit 1\)/.test(l));
      // The bootstrap's own step lines too (it runs inside the user-data).
      const stepLine = text
        .split('\n')
        .find((l) => l.includes('"step":"tailscale"') && l.includes('"result":"failed"'));
      if (!start || !fatal || !stepLine)
        fail(
          `console log lacks ${!start ? 'the start line' : !fatal ? 'the FATAL line' : "the bootstrap's tailscale line"}`,
        );
      return `${lines.length} user-data lines; ${fatal.replace(/^.*dalston-user-data: /, '').slice(0, 90)}…`;
    });

    await ctx.check(
      `${FIRST}: the every-boot unit is enabled; no completed bootstrap is recorded`,
      async () => {
        const enabled = (
          await m.exec('systemctl', ['is-enabled', 'dalston-bootstrap.service'])
        ).stdout.trim();
        if (enabled !== 'enabled') fail(`dalston-bootstrap.service is ${enabled}`);
        if ((await m.exec('test', ['-e', COMPLETE_MARKER])).exitCode === 0) fail(`${COMPLETE_MARKER} exists`);
        return `dalston-bootstrap.service enabled, ${COMPLETE_MARKER} absent: the next boot runs every step`;
      },
    );
    await ctx.powerOff(m, FIRST);

    // What the status told the operator to do: store a new key. The next boot retries by itself.
    await ssm!.putValue(VALID_KEY);
    info('stand-in SSM: the operator stored a new Tailscale key');

    await ctx.must(`${RETRY}: the machine boots again`, async () => {
      const m2 = await ctx.boot(RETRY, { volume: true, instance: inst });
      return `PID 1 is ${m2.leader} on the host`;
    });
    const m2 = ctx.runningMachine(RETRY);
    await ctx.check(
      `${RETRY}: the next boot runs the whole bootstrap again; Tailscale joins now`,
      async () => {
        const p = await waitUnit(
          m2,
          'dalston-bootstrap.service',
          ['ActiveState', 'Result', 'ExecMainStatus'],
          finished,
          {
            what: 'dalston-bootstrap.service finished',
            timeoutMs: 8 * 60_000,
            intervalMs: 1000,
          },
        );
        const text = await journal(m2, 'dalston-bootstrap.service');
        const steps = parseBootstrapSteps(text);
        const lastLines = () => text.trim().split('\n').slice(-6).join('\n');
        if (p.Result !== 'success')
          fail(`dalston-bootstrap.service: ${p.Result} (exit ${p.ExecMainStatus}):\n${lastLines()}`);
        if (!/full path/.test(text)) fail(`the bootstrap did not take the full path:\n${lastLines()}`);
        const missing = STEP_ORDER.filter((n) => !steps.some((s) => s.step === n));
        if (missing.length > 0) fail(`steps not run: ${missing.join(', ')}`);
        const ts = steps.find((s) => s.step === 'tailscale')!;
        if (ts.result !== 'done') fail(`tailscale ${ts.result}: ${ts.detail}`);
        if ((await m2.exec('test', ['-e', COMPLETE_MARKER])).exitCode !== 0)
          fail(`${COMPLETE_MARKER} was not written`);
        return `full path, ${steps.length} steps; tailscale: ${ts.detail}; ${COMPLETE_MARKER} written (later boots: quick path)`;
      },
    );
    await ctx.markUnit(
      RETRY,
      'bootstrapDone',
      m2,
      'dalston-bootstrap.service',
      'ExecMainExitTimestampMonotonic',
    );

    await ctx.check(
      `${RETRY}: the stack is healthy and S3 now holds a successful bootstrap.json`,
      async () => {
        const s = await ctx.waitHealthy(m2, 5 * 60_000);
        ctx.markNow(RETRY, 'stackHealthy', m2);
        const report = await waitFor('a newer bootstrap result in S3', 30_000, async () => {
          const r = parseBootstrapReport(await readFile(inS3, 'utf8').catch(() => ''));
          return r.kind === 'ok' && r.report.startedAt !== firstReport?.startedAt ? r.report : undefined;
        });
        if (!report.ok) fail(`the newer result is not ok: exit ${report.exitCode}`);
        return `${describeSnapshot(s)}; bootstrap.json ok (${report.path} run at ${report.finishedAt})`;
      },
    );
    await powerOffAndRelease(ctx, m2, inst!, keepLoop);
  },
};

/** Powers the instance off and gives its loop device back (there are only a few). */
async function powerOffAndRelease(
  ctx: RehearsalContext,
  m: Machine,
  inst: Instance,
  keepLoop: (() => void) | undefined,
): Promise<void> {
  if (await ctx.powerOff(m, RETRY)) {
    await detachLoop(ctx.shell, inst.loop.device);
    keepLoop?.();
  }
}

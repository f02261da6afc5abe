/**
 * A bad upgrade (issue 13): a new Dalston ref and image tag are published whose
 * gateway image never becomes healthy (made in the machine from the running
 * one, without the /health its healthcheck asks for). Sync applies the
 * shortened `dalston.upgradeHealthySeconds` first (a host setting), then tries
 * the change, sees the gateway unhealthy and rolls back by itself: the old ref,
 * images and containers, healthy again, the database untouched. The heartbeat
 * shows the drift (running ≠ desired). Then the operator publishes the good
 * desired state again and the host reports converged. Needs the machine the
 * upgrade left; leaves it running, healthy and converged on the upgrade.
 */

import type { HostVersions } from '../../shared/desired/desired-state.ts';
import { fail } from '../checks.ts';
import { PROJECT, type RehearsalContext, type Scenario } from '../context.ts';
import { containerOf } from '../product/observe.ts';
import { waitFor } from '../wait.ts';
import type { DalstonVersion } from '../world/standin-registry.ts';
import { publishDalstonImages } from '../world/standin-registry.ts';
import {
  checkMarks,
  containersOffImages,
  convergenceNow,
  describeVersions,
  heartbeat,
  publishDalstonTag,
  publishDesiredState,
  sameVersions,
  upgradeImages,
  withDalston,
} from './upgrade.ts';

const NAME = 'bad upgrade';
const BAD_DALSTON: DalstonVersion = { ref: 'v1.2.0-rehearsal', imageTag: '1.2.0' };
/** Short, so the failed change gives up after 45 s instead of the default 10 min. */
const HEALTHY_SECONDS = 45;
const BROKEN_GATEWAY = 'dalston-rehearsal-standin:gateway-without-health';

/**
 * The broken gateway image, made in the machine from the one running: its
 * process serves no /health, so Dalston's healthcheck (`curl -f …/health`) never passes.
 */
const BREAK_GATEWAY = (from: string) => `set -eu
docker rm -f dh-break-gateway >/dev/null 2>&1 || true
docker run --name dh-break-gateway ${from} sed -i '/www\\/health/d' /bin/dalston-gateway
docker commit --change 'CMD ["sh"]' dh-break-gateway ${BROKEN_GATEWAY} >/dev/null
docker rm dh-break-gateway >/dev/null
! docker run --rm ${BROKEN_GATEWAY} grep -q www/health /bin/dalston-gateway
`;

export const badUpgrade: Scenario = {
  name: NAME,
  async run(ctx: RehearsalContext) {
    const w = ctx.world;
    const m = ctx.runningMachine(NAME);
    const leader = m.leader;
    const good = w.desiredState;
    const oldImages = await upgradeImages(ctx);
    let running: HostVersions | undefined;
    let desired: HostVersions | undefined;

    await ctx.must(
      `${NAME}: Dalston ${BAD_DALSTON.ref} tagged upstream, its gateway image broken`,
      async () => {
        const before = await convergenceNow(m);
        if (before.c?.state !== 'converged')
          fail(`the host is not converged before the change: ${before.line}`);
        running = before.c.running;
        desired = { ...running, dalstonRef: BAD_DALSTON.ref, imageTag: BAD_DALSTON.imageTag };
        await publishDalstonTag(ctx, BAD_DALSTON.ref);
        await m.execChecked('sh', ['-c', BREAK_GATEWAY(oldImages.gateway!)], { timeoutMs: 2 * 60_000 });
        const images = await publishDalstonImages(ctx, m, w.rootfs, BAD_DALSTON, { gateway: BROKEN_GATEWAY });
        return `${images.gateway} is ${BROKEN_GATEWAY} (no /health); the other images as in the registry`;
      },
    );

    await ctx.must(
      `${NAME}: the desired state names it, with upgradeHealthySeconds ${HEALTHY_SECONDS}`,
      async () => {
        await publishDesiredState(
          ctx,
          NAME,
          withDalston(good, BAD_DALSTON, { upgradeHealthySeconds: HEALTHY_SECONDS }),
        );
        return `${describeVersions(running)} → ${describeVersions(desired)}`;
      },
    );

    await ctx.check(`${NAME}: the host rolls back by itself, naming what failed`, async () => {
      let last = '';
      const c = await waitFor(
        'the agent to report the change rolled back',
        10 * 60_000,
        async () => {
          const now = await convergenceNow(m);
          last = now.line;
          if (now.c?.state === 'failed') fail(last);
          if (now.c?.state === 'converged' && sameVersions(now.c.running, desired!))
            fail(`converged: ${last}`);
          return now.c?.state === 'rolled-back' && sameVersions(now.c.desired, desired!) ? now.c : undefined;
        },
        () => last,
        2000,
      );
      const r = c.lastResult;
      if (r?.kind !== 'dalston' || r.outcome !== 'rolled-back') fail(`last step: ${JSON.stringify(r)}`);
      if (!/gateway/.test(r!.message)) fail(`the result does not name the gateway: ${r!.message}`);
      if (!sameVersions(c.running, running!)) fail(`runs ${describeVersions(c.running)}`);
      if (!m.running || m.leader !== leader) fail('the machine restarted');
      return `${r!.message}; gateway down ${r!.downtimeSeconds ?? '?'} s`;
    });

    await ctx.check(`${NAME}: the stack is healthy again on the old images`, async () => {
      const s = await ctx.waitHealthy(m, 3 * 60_000);
      const off = await containersOffImages(m, oldImages);
      if (off.length > 0) fail(off.join('; '));
      if (!s.gateway.ok) fail('/status says the gateway probe fails');
      const gw = await containerOf(m, PROJECT, 'gateway');
      return `${s.services.length} services healthy, gateway ${oldImages.gateway} (container ${gw.id.slice(0, 12)})`;
    });

    await ctx.check(
      `${NAME}: the S3 heartbeat reports the old versions running and the desired ones (drift)`,
      async () => {
        let last = '';
        return waitFor(
          'the heartbeat in S3 to show the rollback',
          60_000,
          async () => {
            const c = (await heartbeat(w)).convergence;
            last = c
              ? `${c.state}; running ${describeVersions(c.running)}; desired ${describeVersions(c.desired)}`
              : 'no convergence';
            if (
              c?.state !== 'rolled-back' ||
              !sameVersions(c.running, running!) ||
              !sameVersions(c.desired, desired!)
            )
              return undefined;
            return last;
          },
          () => last,
          2000,
        );
      },
    );

    await checkMarks(ctx, m, NAME);

    // The operator goes back to the good version; later scenarios run on it.
    await ctx.must(`${NAME}: the good desired state published again converges`, async () => {
      await publishDesiredState(ctx, `${NAME}-revert`, good);
      let last = '';
      return waitFor(
        'the agent to report converged on the upgrade',
        5 * 60_000,
        async () => {
          const now = await convergenceNow(m);
          last = now.line;
          if (now.c?.state !== 'converged' || !sameVersions(now.c.desired, running!)) return undefined;
          return `${describeVersions(now.c.running)}: ${now.line}`;
        },
        () => last,
        2000,
      );
    });
  },
};

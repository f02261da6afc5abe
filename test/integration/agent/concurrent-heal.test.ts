import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostConfigInput } from '../../../shared/config/schema.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { requireEnv } from '../../harness/require.ts';
import { AgentProcess, eventually, type LogLine } from './agent-process.ts';

/**
 * Healing several services at once over the real engine. Every stand-in here
 * ignores SIGTERM (a shell as PID 1), so each restart takes its whole stop
 * grace (GRACE s): one queue, one action at a time, would issue the third
 * restart two graces after the first. Unrelated services must be restarted
 * without waiting for each other; a dependent still waits until what it
 * depends on has been restarted.
 */

const GRACE = 6;
const docker = dockerFromEnv();
const project = uniqueProjectName('concurrent');
let dir: string;
let gateway: Server | undefined;
let agent: AgentProcess | undefined;

const svc = (image: string, extra: Record<string, unknown> = {}) => ({
  image,
  pull_policy: 'never',
  restart: 'unless-stopped',
  stop_grace_period: `${GRACE}s`,
  // No trap: PID 1 ignores SIGTERM, so a stop waits the grace out.
  command: ['sh', '-c', 'touch /tmp/healthy; while :; do sleep 1; done'],
  // Loose timeout: a loaded machine must not fail checks on its own.
  healthcheck: { test: ['CMD', 'test', '-f', '/tmp/healthy'], interval: '1s', timeout: '10s', retries: 1 },
  ...extra,
});

async function ids(): Promise<Map<string, string>> {
  const list = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`] } });
  return new Map(list.map((c) => [c.Labels['com.docker.compose.service']!, c.Id]));
}

async function makeUnhealthy(id: string): Promise<void> {
  const ex = await docker.getContainer(id).exec({ Cmd: ['rm', '-f', '/tmp/healthy'] });
  await ex.start({});
}

const restartOf = (lines: readonly LogLine[], service: string) =>
  lines.find((l) => l.action === 'restart' && l.service === service);

beforeAll(async () => {
  const image = requireEnv('DALSTON_TEST_IMAGE');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'concurrent-'));
  await writeHostSecrets(dir);
  const work = join(dir, 'compose');
  await mkdir(work);
  await writeFile(
    join(work, 'docker-compose.yml'),
    JSON.stringify({
      services: {
        a: svc(image),
        b: svc(image),
        c: svc(image),
        base: svc(image),
        dependent: svc(image, { depends_on: { base: { condition: 'service_healthy' } } }),
      },
    }),
  );
  gateway = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => gateway!.listen(0, '127.0.0.1', r));
  const config: HostConfigInput = {
    dataDir: dir,
    compose: { project, workingDir: work, files: ['docker-compose.yml'] },
    agent: {
      listen: '127.0.0.1:0',
      stateDir: join(dir, 'state'),
      requireDataMount: false,
      gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/health`,
      stopGraceSeconds: GRACE,
      restartBudget: { max: 100, windowSeconds: 900 },
      backoff: { initialSeconds: 1, maxSeconds: 1, resetAfterHealthySeconds: 600 },
    },
  };
  const configFile = join(dir, 'host.json');
  await writeFile(configFile, JSON.stringify(config));
  agent = new AgentProcess(configFile);
  await agent.waitForLine((l) => l.msg === 'agent ready', 240_000, 'agent ready');
  await eventually(
    async () => {
      const list = await docker.listContainers({
        filters: { label: [`com.docker.compose.project=${project}`], health: ['healthy'] },
      });
      return list.length === 5;
    },
    120_000,
    'all five healthy',
  );
}, 400_000);

afterAll(async () => {
  await agent?.ensureDead();
  await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('healing several services at once', () => {
  it('restarts three unrelated unhealthy services without waiting for each other', async () => {
    const byService = await ids();
    const from = agent!.lines.length;
    await Promise.all(['a', 'b', 'c'].map((s) => makeUnhealthy(byService.get(s)!)));
    const lines = await eventually(
      async () => {
        const l = agent!.lines.slice(from);
        return ['a', 'b', 'c'].every((s) => restartOf(l, s)) ? l : null;
      },
      60_000,
      'restarts of a, b and c',
    );
    const times = ['a', 'b', 'c'].map((s) => Date.parse(restartOf(lines, s)!.time!));
    const spread = Math.max(...times) - Math.min(...times);
    // One after another the last would come at least 2 × GRACE s after the first; marks of
    // Docker's 1-s healthcheck interval (and a loaded machine) account for the rest.
    expect(spread).toBeLessThan((GRACE - 1) * 1000);
  }, 120_000);

  it('restarts a dependent only after what it depends on has been restarted', async () => {
    // Wait for a, b and c to be healthy again, so they do not take part.
    await eventually(
      async () =>
        (
          await docker.listContainers({
            filters: { label: [`com.docker.compose.project=${project}`], health: ['healthy'] },
          })
        ).length === 5,
      120_000,
      'all five healthy again',
    );
    const byService = await ids();
    const from = agent!.lines.length;
    // base first, and marked unhealthy by Docker, before dependent fails: healthchecks race otherwise.
    await makeUnhealthy(byService.get('base')!);
    await eventually(
      async () =>
        (await docker.getContainer(byService.get('base')!).inspect()).State.Health?.Status === 'unhealthy',
      60_000,
      'base marked unhealthy',
      100,
    );
    await makeUnhealthy(byService.get('dependent')!);
    const lines = await eventually(
      async () => {
        const l = agent!.lines.slice(from);
        return restartOf(l, 'base') && restartOf(l, 'dependent') ? l : null;
      },
      90_000,
      'restarts of base and dependent',
    );
    const baseInfo = await docker.getContainer(byService.get('base')!).inspect();
    const baseStarted = Date.parse(baseInfo.State.StartedAt);
    const depRestart = Date.parse(restartOf(lines, 'dependent')!.time!);
    const baseRestart = Date.parse(restartOf(lines, 'base')!.time!);
    expect(baseRestart).toBeLessThan(depRestart);
    // The dependent's restart was issued once base's restart had stopped (a whole grace) and started it.
    expect(depRestart).toBeGreaterThanOrEqual(baseStarted);
    expect(depRestart - baseRestart).toBeGreaterThanOrEqual((GRACE - 1) * 1000);
    // Meanwhile the agent said why it waited.
    expect(lines.some((l) => l.service === 'dependent' && l.note === 'blocked-by-dependency')).toBe(true);
  }, 200_000);
});

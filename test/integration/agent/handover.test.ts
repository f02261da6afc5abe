import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handoverFile, writeHandover } from '../../../shared/desired/agent-handover.ts';
import { convergenceFile, writeConvergenceRecord } from '../../../shared/desired/convergence-record.ts';
import type { StatusSnapshot } from '../../../shared/status/snapshot.ts';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import type { LoopDevice } from '../../harness/loop-device.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';
import { mountDataVolume, startOkGateway } from './agent-host.ts';
import { type AgentProcess, startReadyAgent } from './agent-process.ts';

/**
 * The agent handover `dalston-host sync` uses to restart the agent (a new
 * release, new host settings): with the marker, SIGTERM ends the agent and
 * leaves the stack running (the containers' StartedAt unchanged), the next
 * agent takes the stack over as it is, and the marker covers one stop only.
 */

let docker: Docker;
let project: string;
let dir: string;
let dataDir: string;
let runDir: string;
let stateDir: string;
let loop: LoopDevice | undefined;
let gateway: Server;
let configFile: string;
let agent: AgentProcess | undefined;

const startAgent = () => startReadyAgent(configFile);

async function startedAt(): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${project}`] },
  });
  const out: string[] = [];
  for (const c of list) {
    const i = await docker.getContainer(c.Id).inspect();
    out.push(`${c.Labels['com.docker.compose.service']} ${i.State.Running} ${i.State.StartedAt}`);
  }
  return out.sort();
}

beforeAll(async () => {
  requireCommand('mkfs.ext4', 'apt-get install -y e2fsprogs');
  const image = requireEnv('DALSTON_TEST_IMAGE');
  docker = dockerFromEnv();
  project = uniqueProjectName('handover');
  dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'handover-'));
  const work = join(dir, 'compose');
  await mkdir(work);
  const svc = {
    image,
    pull_policy: 'never',
    restart: 'unless-stopped',
    stop_grace_period: '5s',
    command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
  };
  await writeFile(join(work, 'docker-compose.yml'), JSON.stringify({ services: { app: svc, worker: svc } }));
  dataDir = join(dir, 'data');
  loop = await mountDataVolume(dataDir);
  const gw = await startOkGateway();
  gateway = gw.server;
  runDir = join(dir, 'run');
  stateDir = join(dir, 'state');
  configFile = join(dir, 'host.json');
  await writeFile(
    configFile,
    JSON.stringify({
      dataDir,
      compose: { project, workingDir: work, files: ['docker-compose.yml'] },
      agent: {
        listen: '127.0.0.1:0',
        stateDir,
        gatewayUrl: gw.healthUrl,
        reconcileIntervalSeconds: 3,
        stopGraceSeconds: 5,
      },
      backup: { runDir, stateFile: join(stateDir, 'backup.json') },
    }),
  );
}, 120_000);

afterAll(async () => {
  await agent?.ensureDead();
  if (project) await removeComposeProject(project, docker).catch(() => {});
  gateway?.close();
  await loop?.detach(); // unmounts dataDir first
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('agent handover', () => {
  it('with the marker, SIGTERM exits 0 and leaves every container running as it was', async () => {
    agent = (await startAgent()).agent;
    const before = await startedAt();
    expect(before.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['app true', 'worker true']);
    await writeHandover(handoverFile(runDir), {
      reason: 'release 0.3.0',
      by: 'test',
      at: new Date().toISOString(),
    });
    agent.kill('SIGTERM');
    const { code } = await agent.exit;
    expect(code, agent.tail()).toBe(0);
    expect(agent.lines.some((l) => l.msg === 'handover: exiting with the stack running')).toBe(true);
    expect(agent.lines.some((l) => l.msg === 'stack stopped')).toBe(false);
    expect(await startedAt()).toEqual(before);
    await expect(stat(handoverFile(runDir))).rejects.toThrow(/ENOENT/);
  });

  it('the next agent takes the running stack over as it is, reports the sync record, and a plain SIGTERM stops the stack', async () => {
    const before = await startedAt();
    const running = { release: '0.2.0', dalstonRef: 'v1.2.3', imageTag: '1.2.3', services: [] };
    await writeConvergenceRecord(convergenceFile(stateDir), {
      state: 'rolled-back',
      running,
      desired: { ...running, dalstonRef: 'v1.3.0' },
      desiredVersion: '"etag-7"',
      checkedAt: new Date().toISOString(),
      step: null,
      summary: 'dalston v1.3.0 failed health; rolled back to v1.2.3',
      lastResult: null,
      problem: null,
      history: [],
    });
    const started = await startAgent();
    agent = started.agent;
    expect(await startedAt()).toEqual(before);
    const snap = (await (await fetch(started.statusUrl)).json()) as StatusSnapshot;
    expect(snap.convergence).toMatchObject({
      state: 'rolled-back',
      desiredVersion: '"etag-7"',
      desired: { dalstonRef: 'v1.3.0' },
    });
    // The release reported is the one this agent runs, whatever the record says.
    expect(snap.convergence?.running.release).toBe(snap.version);
    agent.kill('SIGTERM');
    expect((await agent.exit).code, agent.tail()).toBe(0);
    expect(agent.lines.some((l) => l.msg === 'stack stopped')).toBe(true);
    expect((await startedAt()).filter((l) => l.includes(' true '))).toEqual([]);
  });
});

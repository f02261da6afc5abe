import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerFromEnv, removeComposeProject, uniqueProjectName } from '../../harness/docker.ts';
import { requireEnv } from '../../harness/require.ts';
import { AgentProcess } from './agent-process.ts';
import { standinCompose } from './standin-stack.ts';

/** dataDir is a plain directory on the root filesystem: the agent must refuse with exit 3 and create nothing. */
const docker = dockerFromEnv();
const project = uniqueProjectName('agent-nomount');
let dir: string | undefined;

afterAll(async () => {
  await removeComposeProject(project, docker).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('agent without the data volume', () => {
  it('exits 3 naming the data dir, and creates no container', async () => {
    dir = await mkdtemp(join(requireEnv('DALSTON_TEST_TMP'), 'agent-nomount-'));
    const work = join(dir, 'compose');
    const dataDir = join(dir, 'data');
    await mkdir(work);
    await mkdir(dataDir);
    await writeFile(
      join(work, 'docker-compose.yml'),
      JSON.stringify(standinCompose(requireEnv('DALSTON_TEST_IMAGE'))),
    );
    const configFile = join(dir, 'host.json');
    await writeFile(
      configFile,
      JSON.stringify({
        dataDir,
        compose: { project, workingDir: work, files: ['docker-compose.yml'] },
        agent: { listen: '127.0.0.1:0' },
      }),
    );
    const agent = new AgentProcess(configFile);
    const { code } = await agent.exit;
    expect(code, agent.stderr).toBe(3);
    expect(agent.stderr).toContain(`the data volume is not mounted at ${dataDir}`);
    expect(agent.stderr).toContain('is not a mount point');
    const created = await docker.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(created).toEqual([]);
    // Nothing was listening either: the HTTP endpoint starts after the preflight.
    expect(agent.lines.some((l) => l.msg === 'status endpoint listening')).toBe(false);
  });
});

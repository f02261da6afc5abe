import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  COMPOSE_PROJECT_LABEL,
  dockerFromEnv,
  removeRunLeftovers,
  runProjectPrefix,
} from '../../harness/docker.ts';
import { RUN_LABEL, STANDIN_IMAGE } from '../../harness/paths.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';

describe('harness: clean-up and prerequisite errors', () => {
  it("removeRunLeftovers removes a run's compose projects and labelled objects, and nothing else", async () => {
    const docker = dockerFromEnv();
    // A synthetic run id, so this test never touches the real run's objects.
    const runId = `t${randomBytes(3).toString('hex')}`;
    const otherRun = `t${randomBytes(3).toString('hex')}`;
    const mk = (labels: Record<string, string>) =>
      docker.createContainer({ Image: STANDIN_IMAGE, Cmd: ['true'], Labels: labels });
    const mine = await mk({ [COMPOSE_PROJECT_LABEL]: `${runProjectPrefix(runId)}left-over` });
    const direct = await mk({ [RUN_LABEL]: runId });
    const volume = await docker.createVolume({ Name: `dhtest-${runId}-vol`, Labels: { [RUN_LABEL]: runId } });
    const notMine = await mk({ [COMPOSE_PROJECT_LABEL]: `${runProjectPrefix(otherRun)}keep` });
    try {
      const removed = await removeRunLeftovers(docker, runId);
      expect(removed).toContain(`${runProjectPrefix(runId)}left-over`);
      await expect(docker.getContainer(mine.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getContainer(direct.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(volume.name).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await docker.getContainer(notMine.id).inspect()).Id).toBe(notMine.id);
    } finally {
      await notMine.remove({ force: true });
    }
  });

  it('requireCommand names the missing command and the hint', () => {
    expect(() => requireCommand('dalston-no-such-tool', 'apt-get install nothing')).toThrow(
      "missing prerequisite: command 'dalston-no-such-tool' is not on PATH (apt-get install nothing)",
    );
    expect(requireCommand('losetup', 'util-linux')).toMatch(/\/losetup$/);
  });

  it('requireEnv explains how the variable is normally set', () => {
    expect(() => requireEnv('DALSTON_TEST_SURELY_UNSET')).toThrow(
      /DALSTON_TEST_SURELY_UNSET is not set.*globalSetup/,
    );
    expect(requireEnv('DALSTON_TEST_TMP')).toBe(process.env.DALSTON_TEST_TMP);
  });
});

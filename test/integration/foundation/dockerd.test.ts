import { describe, expect, inject, it } from 'vitest';
import { dockerFromEnv } from '../../harness/docker.ts';
import { STANDIN_IMAGE } from '../../harness/paths.ts';

describe('harness: docker daemon', () => {
  it('hands workers the environment the global setup chose', () => {
    // Workers inherit process.env from the main process after globalSetup ran.
    const provided = inject('dalstonTestEnv');
    for (const [key, value] of Object.entries(provided)) expect(process.env[key], key).toBe(value);
    expect(process.env.DOCKER_HOST).toMatch(/^(unix|tcp):\/\//);
    expect(process.env.DALSTON_TEST_IMAGE).toBe(STANDIN_IMAGE);
  });

  it('a real dockerd answers dockerode ping and reports its API version', async () => {
    const docker = dockerFromEnv();
    const pong = await docker.ping();
    expect(pong.toString()).toBe('OK');
    const v = await docker.version();
    expect(v.ApiVersion).toMatch(/^1\.\d+$/);
    expect(Number(v.ApiVersion.split('.')[1])).toBeGreaterThanOrEqual(41);
  });

  it('has the stand-in image with busybox applets in /bin', async () => {
    const docker = dockerFromEnv();
    const image = await docker.getImage(STANDIN_IMAGE).inspect();
    expect(image.Config.Cmd).toEqual(['sh']);
    const container = await docker.createContainer({
      Image: STANDIN_IMAGE,
      Cmd: [
        'sh',
        '-c',
        'for a in sh sleep httpd wget nc touch test kill date; do test -x /bin/$a || echo missing $a; done; id -un',
      ],
      Labels: { 'dalston-host-test.run': process.env.DALSTON_TEST_RUN_ID ?? 'norun' },
    });
    try {
      await container.start();
      const { StatusCode } = await container.wait();
      const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
      expect(StatusCode).toBe(0);
      expect(logs).not.toContain('missing');
      expect(logs).toContain('root');
    } finally {
      await container.remove({ force: true });
    }
  });
});

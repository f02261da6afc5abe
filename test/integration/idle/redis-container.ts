import { createServer } from 'node:net';
import type Docker from 'dockerode';
import { connectRedis, type RedisCommands } from '../../../shared/redis/resp-client.ts';
import { runLabels } from '../../harness/docker.ts';
import { ENV } from '../../harness/paths.ts';
import { requireEnv } from '../../harness/require.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as { port: number };
  await new Promise((res) => srv.close(res));
  return port;
}

/**
 * The harness's real Redis on a free loopback port (host networking: the
 * harness daemon has no default bridge, and the agent reaches Dalston's Redis
 * on loopback too), answering PING, with a client connected to it.
 */
export async function startRedis(
  docker: Docker,
): Promise<{ address: { host: string; port: number }; redis: RedisCommands; remove(): Promise<void> }> {
  const port = await freePort();
  const container = await docker.createContainer({
    Image: requireEnv(ENV.redisImage),
    Cmd: ['redis-server', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    Labels: runLabels(),
    HostConfig: { NetworkMode: 'host' },
  });
  await container.start();
  const address = { host: '127.0.0.1', port };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const redis = await connectRedis(address);
      if ((await redis.command(['PING'])) === 'PONG')
        return {
          address,
          redis,
          async remove() {
            redis.close();
            await container.remove({ force: true }).catch(() => {});
          },
        };
      redis.close();
    } catch (err) {
      if (Date.now() > deadline) {
        await container.remove({ force: true }).catch(() => {});
        throw new Error(`redis container never answered PING: ${(err as Error).message}`);
      }
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

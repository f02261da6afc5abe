/**
 * What an agent test's host needs besides the stack: a real filesystem on a
 * loop device mounted at dataDir (so the agent's mount check passes for real)
 * with the host secrets on it, and a gateway answering the health probe.
 */
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ZxShell } from '../../../shared/shell.ts';
import { writeHostSecrets } from '../../harness/host-secrets.ts';
import { createLoopDevice, type LoopDevice } from '../../harness/loop-device.ts';

/**
 * Creates dataDir and mounts a fresh 64 MiB ext4 loop device there. The
 * returned device's detach() unmounts dataDir first; call it in afterAll.
 */
export async function mountDataVolume(dataDir: string, shell = new ZxShell()): Promise<LoopDevice> {
  const loop = await createLoopDevice({ sizeBytes: 64 * 1024 * 1024, shell });
  try {
    await mkdir(dataDir);
    for (const [cmd, args] of [
      ['mkfs.ext4', ['-q', '-F', loop.device]],
      ['mount', [loop.device, dataDir]],
    ] as const) {
      const r = await shell.run(cmd, args);
      if (r.exitCode !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    }
    await writeHostSecrets(dataDir);
    return loop;
  } catch (err) {
    await loop.detach();
    throw err;
  }
}

/** An HTTP server answering every request 200 "ok": the gateway as the agent's probe sees it. */
export async function startOkGateway(): Promise<{ server: Server; healthUrl: string }> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, healthUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health` };
}

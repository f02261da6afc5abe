import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAILSCALED_DROP_IN, tailscaledDropIn } from '../../../bootstrap/tailscale-state.ts';
import { fakeMounts } from '../shared/fake-mounts.ts';

/**
 * A host root in a temporary directory whose data volume is mounted at `<root>/data`
 * (a real directory, so the state directory and drop-in are real files). With `dropIn`,
 * tailscaled's state is already on the volume (a host the step ran on before).
 */
export async function tailscaleVolumeHost(
  cleanups: (() => Promise<void>)[],
  opts: { dropIn?: boolean } = {},
) {
  const root = await mkdtemp(join(tmpdir(), 'dh-ts-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  const dropInPath = join(root, 'etc/systemd/system', TAILSCALED_DROP_IN);
  if (opts.dropIn) {
    await mkdir(join(dropInPath, '..'), { recursive: true });
    await writeFile(dropInPath, tailscaledDropIn(dataDir));
  }
  const mounts = fakeMounts([{ mountPoint: dataDir, source: '/dev/loop7', majorMinor: '7:7' }]);
  return { root, dataDir, dropInPath, mounts };
}

import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runChecked, type Shell } from '../../shared/shell.ts';

/**
 * The image every stand-in service runs (no registry is reachable): a busybox
 * rootfs plus small scripts that play Dalston's own processes and the tools its
 * real healthchecks call (`curl`, `python -c`), so the compose healthcheck
 * definitions keep Dalston's exact shape. Postgres and Redis are real instead
 * (world/db-images.ts). It is imported with `docker import` inside the machine
 * and tagged with every other image name the resolved compose configuration uses.
 */

/** Each service writes /tmp/healthy when it is up; the fault injection removes it. */
export const ROLE_SCRIPTS: Record<string, string> = {
  // An HTTP server on 8000 whose /health answers while the service is healthy.
  'dalston-gateway': `#!/bin/sh
mkdir -p /www
echo ok > /www/health
touch /tmp/healthy
trap 'exit 0' TERM INT
httpd -f -p 8000 -h /www &
wait $!
`,
  'dalston-orchestrator': `#!/bin/sh
trap 'exit 0' TERM INT
touch /tmp/healthy
while :; do sleep 3600 & wait $!; done
`,
  // Engines listen on 9000 (the WebSocket port Dalston's engine healthcheck connects to).
  'dalston-engine': `#!/bin/sh
mkdir -p /www
echo ok > /www/index.html
touch /tmp/healthy
trap 'exit 0' TERM INT
httpd -f -p 9000 -h /www &
wait $!
`,
};

/** Stand-ins for the tools Dalston's healthcheck commands call. */
export const HEALTH_TOOLS: Record<string, string> = {
  // curl -f URL: an HTTP GET that fails on an error status, like curl -f.
  curl: `#!/bin/sh
for a in "$@"; do url="$a"; done
timeout 4 wget -q -O - "$url" >/dev/null
`,
  // python -c "import socket; ... s.connect(('localhost', 9000)) ...": connect to the port it names.
  python: `#!/bin/sh
port=$(echo "$2" | sed -n "s/.*'localhost', *\\([0-9]*\\).*/\\1/p")
[ -n "$port" ] && timeout 2 wget -q -O /dev/null "http://localhost:$port/"
`,
};

export const STANDIN_IMAGE_TAG = 'dalston-rehearsal-standin:1';

/** Builds the rootfs tarball on the host (busybox-static's /bin/busybox is copied in: it must be the static build). */
export async function buildStandinTarball(shell: Shell, workDir: string, tarball: string): Promise<void> {
  const rootfs = path.join(workDir, 'standin-rootfs');
  for (const d of ['bin', 'etc', 'root', 'proc', 'sys', 'dev', 'var', 'run', 'data', 'www']) {
    await mkdir(path.join(rootfs, d), { recursive: true });
  }
  await mkdir(path.join(rootfs, 'tmp'));
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  const busybox = (await runChecked(shell, 'sh', ['-c', 'command -v busybox'])).trim();
  await copyFile(busybox, path.join(rootfs, 'bin', 'busybox'));
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = (await runChecked(shell, busybox, ['--list']))
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[\w.[\]-]+$/.test(s) && s !== 'busybox');
  const scripts = { ...ROLE_SCRIPTS, ...HEALTH_TOOLS };
  for (const a of applets) if (!(a in scripts)) await symlink('busybox', path.join(rootfs, 'bin', a));
  for (const [name, body] of Object.entries(scripts)) {
    await writeFile(path.join(rootfs, 'bin', name), body, { mode: 0o755 });
  }
  await symlink('bin', path.join(rootfs, 'sbin'));
  await mkdir(path.join(rootfs, 'usr'));
  await symlink('../bin', path.join(rootfs, 'usr', 'bin'));
  await writeFile(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\n');
  await runChecked(shell, 'tar', ['-C', rootfs, '-cf', tarball, '.']);
}

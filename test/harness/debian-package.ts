import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';
import { tail } from './apt.ts';
import { debianMirror } from './apt-mirror.ts';

export interface DebianPackageRequest {
  /** The binary package, e.g. `prometheus`. */
  pkg: string;
  /** The Debian suite to take it from, e.g. `bookworm`. */
  suite: string;
  /** Where apt keeps its private lists and cache for this request (reused between runs). */
  workDir: string;
}

/**
 * Downloads one Debian package through apt with private state dirs (the system's
 * sources and lists stay untouched, only their Debian mirror is reused) and
 * unpacks it with dpkg -x; nothing is installed. Calls `use` with the unpacked
 * root, then removes it.
 */
export async function withDebianPackage<T>(
  shell: Shell,
  req: DebianPackageRequest,
  use: (root: string, deb: string) => Promise<T>,
): Promise<T> {
  const { pkg, suite, workDir } = req;
  const parts = path.join(workDir, 'parts');
  await mkdir(path.join(workDir, 'lists', 'partial'), { recursive: true });
  await mkdir(path.join(workDir, 'cache', 'archives', 'partial'), { recursive: true });
  await mkdir(parts, { recursive: true });
  await writeFile(
    path.join(parts, `${suite}.sources`),
    `Types: deb\nURIs: ${await debianMirror()}\nSuites: ${suite}\nComponents: main\n` +
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
  // biome-ignore format: option pairs read better on one line each
  const o = [
    '-o', 'Dir::Etc::sourcelist=/dev/null',
    '-o', `Dir::Etc::sourceparts=${parts}`,
    '-o', `Dir::State::Lists=${path.join(workDir, 'lists')}`,
    '-o', `Dir::Cache=${path.join(workDir, 'cache')}`,
  ];

  const dl = await mkdtemp(path.join(workDir, 'dl-'));
  try {
    let lastError = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const update = await shell.run('apt-get', [...o, 'update'], { timeoutMs: 300_000 });
      const download =
        update.exitCode === 0
          ? await shell.run('apt-get', [...o, 'download', pkg], { cwd: dl, timeoutMs: 300_000 })
          : update;
      if (download.exitCode === 0) {
        lastError = '';
        break;
      }
      lastError = tail(download.stderr || download.stdout);
    }
    if (lastError) {
      throw new Error(`could not download the Debian ${suite} package ${pkg} through apt: ${lastError}`);
    }
    const deb = (await readdir(dl)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} succeeded but left no ${pkg}_*.deb`);
    const root = path.join(dl, 'x');
    const unpack = await shell.run('dpkg', ['-x', path.join(dl, deb), root]);
    if (unpack.exitCode !== 0) throw new Error(`dpkg -x ${deb} failed: ${tail(unpack.stderr)}`);
    return await use(root, deb);
  } finally {
    await rm(dl, { recursive: true, force: true });
  }
}

/**
 * One executable from a Debian package, kept at `cached`: there already, or downloaded and unpacked
 * once (withDebianPackage; nothing installed, so no service of the package starts). Copy then rename:
 * a concurrent run never sees a half-written binary.
 */
export async function cachedDebianBinary(
  shell: Shell,
  req: DebianPackageRequest & { binary: string; cached: string },
): Promise<string> {
  const { binary, cached } = req;
  if (
    await stat(cached).then(
      () => true,
      () => false,
    )
  )
    return cached;
  await withDebianPackage(shell, req, async (root, deb) => {
    const bin = path.join(root, binary);
    if (
      !(await stat(bin).then(
        () => true,
        () => false,
      ))
    )
      throw new Error(`${deb} does not contain ${binary}`);
    await mkdir(path.dirname(cached), { recursive: true });
    const partial = `${cached}.${process.pid}.partial`;
    await copyFile(bin, partial);
    await chmod(partial, 0o755);
    await rename(partial, cached);
  });
  return cached;
}

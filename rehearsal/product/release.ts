import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';

export interface Release {
  version: string;
  tgz: string;
  sha256: string;
}

/**
 * Builds the real release with the project's build (`npm run build`) and checks its artifacts.
 * `as` builds another release beside it (the upgrade scenario's): another version, another directory.
 */
export async function buildRelease(
  shell: Shell,
  repo: string,
  as?: { version: string; outDir: string },
): Promise<Release> {
  const version =
    as?.version ??
    (JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  const dist = as?.outDir ?? path.join(repo, 'dist');
  const script = path.join(repo, 'scripts', 'build.mjs');
  if (!existsSync(script)) throw new Error('scripts/build.mjs is missing: the release cannot be built');
  const args = as ? ['--version', as.version, '--out', as.outDir] : [];
  const r = await shell.run(process.execPath, [script, ...args], { cwd: repo, timeoutMs: 10 * 60_000 });
  if (r.exitCode !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-12).join('\n  ');
    throw new Error(`npm run build ${args.join(' ')} failed (exit ${r.exitCode}):\n  ${tail}`);
  }
  const tgz = path.join(dist, `dalston-host-${version}.tgz`);
  if (!existsSync(tgz)) throw new Error(`the build did not produce ${tgz}`);
  const shaFile = `${tgz}.sha256`;
  if (!existsSync(shaFile)) throw new Error(`the build did not produce ${shaFile}`);
  const sha256 = (await readFile(shaFile, 'utf8')).trim().split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new Error(`${shaFile} holds no SHA-256: "${sha256.slice(0, 80)}"`);
  return { version, tgz, sha256 };
}

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from '../../shared/shell.ts';

export interface Release {
  version: string;
  tgz: string;
  sha256: string;
}

/** Builds the real release with the project's build (`npm run build`) and checks its artifacts. */
export async function buildRelease(shell: Shell, repo: string): Promise<Release> {
  const { version } = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as {
    version: string;
  };
  const script = path.join(repo, 'scripts', 'build.mjs');
  if (!existsSync(script)) throw new Error('scripts/build.mjs is missing: the release cannot be built');
  const r = await shell.run(process.execPath, [script], { cwd: repo, timeoutMs: 10 * 60_000 });
  if (r.exitCode !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-12).join('\n  ');
    throw new Error(`npm run build failed (exit ${r.exitCode}):\n  ${tail}`);
  }
  const tgz = path.join(repo, 'dist', `dalston-host-${version}.tgz`);
  if (!existsSync(tgz)) throw new Error(`the build did not produce dist/dalston-host-${version}.tgz`);
  const shaFile = `${tgz}.sha256`;
  if (!existsSync(shaFile))
    throw new Error(`the build did not produce dist/dalston-host-${version}.tgz.sha256`);
  const sha256 = (await readFile(shaFile, 'utf8')).trim().split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new Error(`${shaFile} holds no SHA-256: "${sha256.slice(0, 80)}"`);
  return { version, tgz, sha256 };
}

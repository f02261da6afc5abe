// Replaced at bundle time by scripts/build.mjs (esbuild `define`); in a checkout
// they are read from package.json and git.
declare const __DALSTON_HOST_VERSION__: string | undefined;
declare const __DALSTON_HOST_COMMIT__: string | undefined;

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function hostVersion(): { version: string; commit: string } {
  if (typeof __DALSTON_HOST_VERSION__ === 'string' && typeof __DALSTON_HOST_COMMIT__ === 'string') {
    return { version: __DALSTON_HOST_VERSION__, commit: __DALSTON_HOST_COMMIT__ };
  }
  const pkgUrl = new URL('../package.json', import.meta.url);
  const version = (JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string }).version;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: new URL('..', import.meta.url),
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    // not a git checkout: leave 'unknown'
  }
  return { version, commit };
}

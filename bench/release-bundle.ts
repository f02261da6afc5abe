import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Benchmarks measure what ships: `npm run build`'s dist/dalston-host.mjs,
 * run with the environment dalston.service gives it (NODE_OPTIONS…).
 */
export function buildRelease(): string {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  return join(root, 'dist/dalston-host.mjs');
}

/** `Environment=` assignments of a shipped unit, e.g. NODE_OPTIONS from systemd/dalston.service. */
export function unitEnvironment(unit = 'dalston.service'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(root, 'systemd', unit), 'utf8').split('\n')) {
    const m = /^Environment=(.*)$/.exec(line.trim());
    if (!m) continue;
    const assignment = m[1]!.replace(/^"(.*)"$/, '$1');
    const eq = assignment.indexOf('=');
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return env;
}

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Files shipped beside the code (systemd units, compose overlay). In the
 * release bundle they sit next to `dalston-host.mjs`; in a checkout they are at
 * the repo root, one level above `shared/`.
 */
export function assetPath(relative: string): string {
  for (const base of ['./', '../']) {
    const candidate = fileURLToPath(new URL(base + relative, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`asset ${relative} not found beside the program or in the repository`);
}

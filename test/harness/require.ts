import { accessSync, constants } from 'node:fs';
import path from 'node:path';

// root's PATH usually has the sbin dirs, but a developer's shell may not: look there too.
const extraDirs = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in the sbin dirs), or undefined. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Integration tests never skip silently: a missing tool is a failed test that
 * says what to install.
 */
export function requireCommand(name: string, hint: string): string {
  const found = findCommand(name);
  if (!found) {
    throw new Error(`missing prerequisite: command '${name}' is not on PATH (${hint})`);
  }
  return found;
}

/** Reads an env var the global setup must have set; a clear error when a test runs outside the harness. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `missing prerequisite: ${name} is not set; run integration tests through vitest's 'integration' project ` +
        '(npm run test:integration), whose globalSetup test/harness/global-setup.ts sets it',
    );
  }
  return value;
}

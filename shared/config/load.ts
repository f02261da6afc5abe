import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { DEFAULT_CONFIG_PATH, type HostConfig, hostConfigSchema } from './schema.ts';

export interface LoadedConfig {
  path: string;
  /** False when the file does not exist and defaults are used. */
  fromFile: boolean;
  config: HostConfig;
}

/**
 * Reads and validates the config file. A missing file at the default path
 * means "all defaults"; a missing file that was named explicitly is an error.
 */
export async function loadConfig(
  path = DEFAULT_CONFIG_PATH,
  opts: { mustExist?: boolean } = {},
): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !opts.mustExist) return { path, fromFile: false, config: parseConfig({}, path) };
    throw new ConfigError('(file)', `config ${path}: cannot read (${code ?? String(err)})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(file)', `config ${path}: not valid JSON (${(err as Error).message})`);
  }
  return { path, fromFile: true, config: parseConfig(raw, path) };
}

/** Validates an already-parsed value; the error names the first offending key. */
export function parseConfig(raw: unknown, source = 'config'): HostConfig {
  const result = hostConfigSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = keyOf(issue);
  throw new ConfigError(key, `config ${source}: ${key}: ${describeIssue(issue)}`);
}

function keyOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  // An unknown key is reported on its parent; name the key itself.
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  return path.length > 0 ? path.join('.') : '(root)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return 'unknown key';
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return `required, expected ${issue.expected}`;
    const got = issue.input === null ? 'null' : Array.isArray(issue.input) ? 'array' : typeof issue.input;
    return `expected ${issue.expected}, got ${got}`;
  }
  return issue.message;
}

/**
 * A command or step that needs a key the file lacks fails with exit 78 naming it.
 * `keys` lists alternatives: any one present satisfies the requirement.
 */
export function requireKey<T>(value: T | undefined, keys: string, why: string): T {
  if (value === undefined || value === null || value === '') {
    throw new ConfigError(keys, `config: ${keys} is required ${why}`);
  }
  return value;
}

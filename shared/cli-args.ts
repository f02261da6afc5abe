import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing for every subcommand: an unknown flag or a stray
 * positional becomes a UsageError (exit 2, usage on stderr).
 */
export function parseCommandArgs<O extends Options>(
  args: readonly string[],
  options: O,
  opts: { allowPositionals?: boolean } = {},
) {
  try {
    return parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: opts.allowPositionals ?? false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The `--config` flag every subcommand accepts. */
export const configFlag = { config: { type: 'string' as const, short: 'c' } };

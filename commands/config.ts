import { configFlag, parseCommandArgs } from '../shared/cli-args.ts';
import { loadConfig } from '../shared/config/load.ts';
import { DEFAULT_CONFIG_PATH } from '../shared/config/schema.ts';

/** Validates the config file (exit 78 on any problem) and prints it with defaults applied. */
export async function configCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, configFlag);
  const path = values.config ?? DEFAULT_CONFIG_PATH;
  const loaded = await loadConfig(path, { mustExist: values.config !== undefined });
  if (!loaded.fromFile) process.stderr.write(`note: ${path} does not exist; showing the defaults\n`);
  process.stdout.write(`${JSON.stringify(loaded.config, null, 2)}\n`);
  return 0;
}

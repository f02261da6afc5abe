import { parseCommandArgs } from '../shared/cli-args.ts';
import { hostVersion } from '../shared/version.ts';

export async function versionCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(args, { json: { type: 'boolean' } });
  const { version, commit } = hostVersion();
  const line = values.json
    ? JSON.stringify({ version, commit, node: process.versions.node })
    : `dalston-host ${version} (commit ${commit}, node ${process.versions.node})`;
  process.stdout.write(`${line}\n`);
  return 0;
}

import { runChecked, type Shell } from '../../shared/shell.ts';

/**
 * The machine's own network namespace (its "VPC"): its dockerd's bridges,
 * iptables rules and published ports (5432, 6379, 8000…) stay off the host, and
 * the stand-in S3 server listens on 127.0.0.1 inside it. It outlives a reboot of
 * the machine, like an instance's network does across a stop/start.
 */
export interface NetNs {
  name: string;
  path: string;
}

export async function createNetNs(shell: Shell, name: string): Promise<NetNs> {
  await runChecked(shell, 'ip', ['netns', 'add', name]);
  await runChecked(shell, 'ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}` };
}

export async function deleteNetNs(shell: Shell, ns: NetNs): Promise<void> {
  await runChecked(shell, 'ip', ['netns', 'delete', ns.name]);
}

/** Where a host's status snapshot lives in the bucket: written by the agent, read by `dalston-aws`. */

/** Default of `s3.statusPrefix` in host.json, and what the CLI assumes when Terraform names none. */
export const DEFAULT_STATUS_PREFIX = 'status/';

/** `<prefix><instance>/latest.json`, e.g. `status/i-0123456789abcdef0/latest.json`. */
export function statusKey(prefix: string, instance: string): string {
  return `${prefix}${instance}/latest.json`;
}

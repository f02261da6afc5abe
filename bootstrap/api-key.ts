import { createHash, randomBytes } from 'node:crypto';

/**
 * The Dalston admin API key of this host. Dalston's gateway seeds an admin key
 * from `DALSTON_API_KEY` when its api_keys table is empty, so the key is
 * generated on the host (never in Terraform state, user-data, logs or argv),
 * kept in the root-only secrets env file beside the Postgres password (compose
 * interpolates it into the gateway's environment) and copied once into an SSM
 * SecureString the operator reads with `dalston-aws api-key`.
 */

const KEY = /^dk_[0-9a-f]{64}$/;
const KEY_LINE = /^DALSTON_API_KEY=(dk_[0-9a-f]{64})$/m;

/** Dalston's `dk_` prefix and 32 random bytes as hex: nothing to quote in an env file or a header. */
export function generateApiKey(): string {
  return `dk_${randomBytes(32).toString('hex')}`;
}

/** Pure: the key in a secrets env file; undefined when it holds none. */
export function parseApiKey(envText: string): string | undefined {
  return KEY_LINE.exec(envText)?.[1];
}

/** Pure: the secrets env file with the key line appended (the file must not hold one yet). */
export function withApiKey(envText: string, key: string): string {
  if (!KEY.test(key)) throw new Error('internal: not a generated API key');
  if (parseApiKey(envText) !== undefined) throw new Error('internal: the file already holds an API key');
  const base = envText === '' || envText.endsWith('\n') ? envText : `${envText}\n`;
  return `${base}# Dalston seeds its first admin API key from this when its api_keys table is empty.\nDALSTON_API_KEY=${key}\n`;
}

/**
 * Pure: what the marker file records once the key is in SSM: the parameter and a
 * digest of the key (never the key), so a changed parameter name or key is stored again.
 */
export function storedMarker(parameter: string, key: string): string {
  return `${parameter} sha256:${createHash('sha256').update(key).digest('hex')}\n`;
}

export type ApiKeyStoreDecision =
  | { kind: 'no-parameter' }
  | { kind: 'no-key' }
  | { kind: 'stored' }
  | { kind: 'store'; key: string };

/** Pure: store the key in SSM, or not (and why). */
export function decideApiKeyStore(input: {
  parameter: string | undefined;
  envText: string | undefined;
  marker: string | undefined;
}): ApiKeyStoreDecision {
  if (!input.parameter) return { kind: 'no-parameter' };
  const key = parseApiKey(input.envText ?? '');
  if (!key) return { kind: 'no-key' };
  if (input.marker === storedMarker(input.parameter, key)) return { kind: 'stored' };
  return { kind: 'store', key };
}

/**
 * The one address of Dalston's gateway from the operator's laptop: the bootstrap's
 * `tailscale serve --http=8000` serves it on the host's tailnet address, so it is
 * the Tailscale machine name (MagicDNS) on port 8000, plain HTTP inside the
 * tailnet's own encryption. The Terraform output `gateway_url` spells the same
 * (a unit test compares them); `status`, `verify` and the READMEs use this.
 */
export const GATEWAY_PORT = 8000;

/** Pure: `http://<tailscale host>:8000`. */
export function gatewayUrl(tailscaleHost: string): string {
  return `http://${tailscaleHost}:${GATEWAY_PORT}`;
}

/** Pure: the gateway's health endpoint under a base URL (no doubled slash). */
export function gatewayHealthUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/health`;
}

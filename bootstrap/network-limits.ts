/**
 * Time limits and attempts of the bootstrap's calls that leave the host (or
 * wait on a daemon that may be stuck): a boot must end, well or not, so that
 * the every-boot unit, the result upload and the stack start are never held
 * up by a remote that accepted a connection and went silent. Tests pass
 * shorter ones through the context.
 */
export interface NetworkLimits {
  /** `git clone` of Dalston, per attempt. */
  gitCloneMs: number;
  /** `git fetch`, per attempt. */
  gitFetchMs: number;
  /** git over HTTP gives up when a transfer stays under 1 KiB/s for this long (GIT_HTTP_LOW_SPEED_TIME). */
  gitStallSeconds: number;
  /** A small download (the Tailscale keyring), per attempt; also curl's own --max-time. */
  downloadMs: number;
  /** One SSM GetParameter call. */
  ssmMs: number;
  /** `tailscale up` (it waits for the coordination server up to its own --timeout=60s). */
  tailscaleUpMs: number;
  /** Other tailscale CLI calls (they talk to tailscaled, which may hang). */
  tailscaleCliMs: number;
  /** `systemctl enable --now`: waits for the unit to start. */
  systemctlMs: number;
  /** `docker compose pull` of one image (Dalston's are several GB), per attempt. */
  imagePullMs: number;
  /** Attempts of a retried call (the waits between them: bootstrap/retry.ts's backoff). */
  attempts: number;
}

export const NETWORK_LIMITS: NetworkLimits = {
  gitCloneMs: 15 * 60_000,
  gitFetchMs: 5 * 60_000,
  gitStallSeconds: 60,
  downloadMs: 5 * 60_000,
  ssmMs: 30_000,
  tailscaleUpMs: 120_000,
  tailscaleCliMs: 30_000,
  systemctlMs: 5 * 60_000,
  imagePullMs: 30 * 60_000,
  attempts: 4,
};

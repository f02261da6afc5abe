/**
 * The host's desired state: one versioned S3 object (`config/host.json`)
 * that Terraform writes and `dalston-aws deploy --ref/--image-tag` may edit,
 * and that the host converges to (`dalston-host sync`, the agent's poll, the
 * bootstrap at every boot). It holds everything a host needs and no secret:
 * the release to run (key + SHA-256) and the host configuration itself, which
 * is checked with the one host.json schema (shared/config/schema.ts), so the
 * publisher and the host cannot disagree on what a key means.
 */
import { z } from 'zod';
import type { HostConfig } from '../config/schema.ts';
import { hostConfigSchema } from '../config/schema.ts';

/** The object's key in the artifacts bucket. The instance role may read it, never write it. */
export const DESIRED_STATE_KEY = 'config/host.json';

export const releaseRefSchema = z.strictObject({
  /** e.g. `0.2.0`; the directory under /opt/dalston-host. */
  version: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._+-]*$/, { message: 'must be a release version' }),
  /** `releases/dalston-host-<version>.tgz` in the same bucket. */
  key: z.string().regex(/^releases\/[^/]+\.tgz$/, { message: 'must be releases/<name>.tgz' }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'must be a hex SHA-256' }),
});

export const desiredStateSchema = z.strictObject({
  schemaVersion: z.literal(1),
  release: releaseRefSchema,
  /** host.json's content, validated with its own schema (parseDesiredState). */
  host: z.record(z.string(), z.unknown()),
  /** Who wrote this version (`terraform`, `dalston-aws deploy`), for `dalston-aws deploy`'s display. */
  publishedBy: z.string().optional(),
  /** ISO time of publication (absent from Terraform: it would change the object at every plan). */
  publishedAt: z.string().optional(),
});

export type ReleaseRef = z.infer<typeof releaseRefSchema>;
export type DesiredStateDocument = z.infer<typeof desiredStateSchema>;

export interface DesiredState {
  document: DesiredStateDocument;
  /** The parsed host configuration (defaults filled in). */
  host: HostConfig;
}

/**
 * The versions a host runs or should run: what `/status`, the heartbeat and
 * `dalston-aws deploy` compare. `services` is sorted.
 */
export const hostVersionsSchema = z.object({
  release: z.string(),
  dalstonRef: z.string().nullable(),
  imageTag: z.string().nullable(),
  services: z.array(z.string()),
});
export type HostVersions = z.infer<typeof hostVersionsSchema>;

export function versionsOf(release: string, host: HostConfig): HostVersions {
  return {
    release,
    dalstonRef: host.dalston.ref ?? null,
    imageTag: host.dalston.imageTag ?? null,
    services: [...host.compose.services].sort(),
  };
}

export type DesiredStateParse = { kind: 'ok'; state: DesiredState } | { kind: 'invalid'; reason: string };

/** Parses the object's body; the reason names the key at fault (`host.dataDir: …`). Never throws. */
export function parseDesiredState(body: string | unknown): DesiredStateParse {
  let raw: unknown = body;
  if (typeof body === 'string') {
    try {
      raw = JSON.parse(body);
    } catch (err) {
      return { kind: 'invalid', reason: `not JSON (${(err as Error).message})` };
    }
  }
  const doc = desiredStateSchema.safeParse(raw);
  if (!doc.success) return { kind: 'invalid', reason: firstIssue(doc.error, '') };
  const host = hostConfigSchema.safeParse(doc.data.host);
  if (!host.success) return { kind: 'invalid', reason: firstIssue(host.error, 'host.') };
  return { kind: 'ok', state: { document: doc.data, host: host.data } };
}

function firstIssue(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  const where = issue?.path.length
    ? `${prefix}${issue.path.join('.')}`
    : prefix.replace(/\.$/, '') || '(root)';
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : '';
  return `${where}: ${issue?.message ?? 'invalid'}${more}`;
}

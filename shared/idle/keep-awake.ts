/**
 * The keep-awake lease: an S3 object `<statusPrefix><instance>/keep-awake.json`
 * written by `dalston-aws up --for 4h` / `dalston-aws keep-awake 2h` and read by
 * the agent before it decides the host is idle.
 *
 * Why an S3 object and not an instance tag: the agent already reads and writes
 * under its own `status/<id>/` prefix (no new permission, no EC2 API call from
 * the host, works the same in the rehearsal's S3 stand-in), the object carries
 * who set it and why, and a tag would need `ec2:DescribeTags` on the host role.
 */
import { z } from 'zod';

const isoTime = z.iso.datetime({ offset: true });

export const keepAwakeLeaseSchema = z.object({
  /** The host stays up at least until then (ISO time). */
  until: isoTime,
  /** Who asked, e.g. `dalston-aws up --for 4h (alice@laptop)`. */
  by: z.string(),
  /** When it was written (ISO time). */
  createdAt: isoTime,
});

export type KeepAwakeLease = z.infer<typeof keepAwakeLeaseSchema>;

/** `<prefix><instance>/keep-awake.json`, beside the status snapshot (shared/status/s3-key.ts). */
export function keepAwakeKey(prefix: string, instance: string): string {
  return `${prefix}${instance}/keep-awake.json`;
}

export type KeepAwakeRead =
  | { kind: 'none' }
  | { kind: 'active'; lease: KeepAwakeLease }
  | { kind: 'expired'; lease: KeepAwakeLease }
  | { kind: 'malformed'; reason: string };

/** Pure: the object's body judged at `now`. A malformed lease is reported, and holds nothing. */
export function judgeKeepAwake(body: string | null, now: number): KeepAwakeRead {
  if (body === null) return { kind: 'none' };
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return { kind: 'malformed', reason: `not JSON (${(err as Error).message})` };
  }
  const r = keepAwakeLeaseSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { kind: 'malformed', reason: `wrong shape at ${issue?.path.join('.') || '(root)'}` };
  }
  return Date.parse(r.data.until) > now
    ? { kind: 'active', lease: r.data }
    : { kind: 'expired', lease: r.data };
}

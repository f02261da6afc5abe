import { z } from 'zod';
import type { ObjectReader } from './aws/snapshots.ts';

/**
 * What `dalston-aws down` leaves behind: `<statusPrefix><instance>/last-stop.json`, so
 * `status` can tell a stop by `down` from the scheduled backstop or anything else — EC2
 * reports all three as "User initiated". An S3 object rather than an instance tag: the
 * CLI already writes beside the snapshot (the keep-awake lease), a tag would need
 * ec2:CreateTags for the operator, and the object carries who and when.
 */
export const lastStopSchema = z.object({
  by: z.literal('dalston-aws down'),
  /** `alice@laptop`. */
  operator: z.string(),
  /** When StopInstances was about to be called (ISO). */
  at: z.iso.datetime({ offset: true }),
});

export type LastStop = z.infer<typeof lastStopSchema>;

export function lastStopKey(prefix: string, instance: string): string {
  return `${prefix}${instance}/last-stop.json`;
}

/** The record, or null when there is none or it is not ours (a bad record proves nothing). */
export async function readLastStop(
  objects: ObjectReader,
  bucket: string,
  prefix: string,
  instance: string,
): Promise<LastStop | null> {
  const obj = await objects.getText(bucket, lastStopKey(prefix, instance));
  if (!obj) return null;
  try {
    const r = lastStopSchema.safeParse(JSON.parse(obj.body));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The agent handover: how `dalston-host sync` restarts the agent without
 * stopping the stack. The agent's SIGTERM normally stops the stack (an instance
 * shutdown, `dalston-aws down`); before restarting it for a new release or new
 * host settings, sync leaves this marker, and an agent that finds a fresh one on
 * SIGTERM exits and leaves the containers running: the next agent rebuilds its
 * view from Docker. The agent removes the marker when it reads it, so it covers
 * one stop only; an old one (a sync killed before the restart) is ignored.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../bootstrap/atomic-write.ts';

/** A marker older than this is a leftover, not a handover in progress. */
export const HANDOVER_MAX_AGE_MS = 10 * 60_000;

/** Under backup.runDir (tmpfs /run/dalston): a reboot clears it, like the maintenance lease. */
export function handoverFile(runDir: string): string {
  return join(runDir, 'agent-handover.json');
}

export interface Handover {
  reason: string;
  by: string;
  at: string;
}

export async function writeHandover(path: string, h: Handover): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(h)}\n`, { mode: 0o644 });
}

export async function clearHandover(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** Reads and removes the marker; the handover when it is fresh, else null. Never throws. */
export async function takeHandover(path: string, nowMs: number): Promise<Handover | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  await rm(path, { force: true }).catch(() => {});
  try {
    const h = JSON.parse(text) as Partial<Handover>;
    const at = Date.parse(String(h.at));
    if (!Number.isFinite(at) || nowMs - at > HANDOVER_MAX_AGE_MS || at - nowMs > 60_000) return null;
    return { reason: String(h.reason ?? 'handover'), by: String(h.by ?? 'unknown'), at: String(h.at) };
  } catch {
    return null;
  }
}

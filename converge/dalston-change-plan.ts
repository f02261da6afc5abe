/**
 * The decisions of a Dalston change (converge/dalston-change.ts), kept pure so
 * every branch is unit-tested: which services change, whether the database was
 * migrated during the attempt, the compose env for the new version, whether the
 * stack is healthy, and the messages people read.
 */
import type { HostConfig } from '../shared/config/schema.ts';
import type { ContainerInfo } from '../shared/engine/docker/types.ts';
import { serviceIsUp } from '../shared/status/service-up.ts';

/** e.g. `dalston v1.3.0 (image 1.3.0)`; `dalston (no ref)` when neither is pinned. */
export function describeDalston(h: HostConfig): string {
  const ref = h.dalston.ref ?? '(no ref)';
  return h.dalston.imageTag ? `dalston ${ref} (image ${h.dalston.imageTag})` : `dalston ${ref}`;
}

/** Pure: the parts of host.json a Dalston change covers differ (ref, image tag, service list, repo). */
export function dalstonDiffers(from: HostConfig, to: HostConfig): boolean {
  const key = (h: HostConfig) =>
    JSON.stringify([h.dalston.repo, h.dalston.ref ?? null, h.dalston.imageTag ?? null, h.compose.services]);
  return key(from) !== key(to);
}

export interface ServiceChanges {
  /** In both lists, and compose resolves them differently (image, command, environment…). */
  changed: string[];
  /** Only in the new list: started. */
  added: string[];
  /** Only in the old list: stopped and removed. */
  removed: string[];
  unchanged: string[];
}

/** Stable JSON: the same config in another key order is the same config. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Pure: what the change does to each service. `fromServices`/`toServices` are the
 * configured services (all of the project's when host.json lists none);
 * `fromConfig`/`toConfig` are `compose config --format json`'s services of
 * the old and new files, so a new image tag, command or environment counts as a change.
 */
export function planServiceChanges(
  fromServices: readonly string[],
  toServices: readonly string[],
  fromConfig: Readonly<Record<string, unknown>>,
  toConfig: Readonly<Record<string, unknown>>,
): ServiceChanges {
  const before = new Set(fromServices);
  const after = new Set(toServices);
  const out: ServiceChanges = { changed: [], added: [], removed: [], unchanged: [] };
  for (const s of [...after].sort()) {
    if (!before.has(s)) out.added.push(s);
    else if (canonical(fromConfig[s]) !== canonical(toConfig[s])) out.changed.push(s);
    else out.unchanged.push(s);
  }
  out.removed = [...before].filter((s) => !after.has(s)).sort();
  return out;
}

/** The configured services: host.json's list, or every service compose resolves when it lists none. */
export function configuredServices(listed: readonly string[], resolved: Readonly<Record<string, unknown>>) {
  return listed.length > 0 ? [...listed].sort() : Object.keys(resolved).sort();
}

/** The Alembic revision as read from the database (null: no `alembic_version` table or no row). */
export type RevisionRead = { ok: true; revision: string | null } | { ok: false; reason: string };

export type MigrationVerdict =
  | { kind: 'unchanged' }
  | { kind: 'migrated'; from: string | null; to: string | null }
  | { kind: 'unknown'; reason: string };

/**
 * Pure: did the failed attempt move the schema? `before` is null when the host
 * had no database to protect (no Postgres service running): nothing can have
 * been migrated that the old version relied on. An unreadable revision after the
 * attempt is `unknown`: the caller must not assume the old code can run on it.
 */
export function migrationVerdict(before: RevisionRead | null, after: RevisionRead | null): MigrationVerdict {
  if (before === null) return { kind: 'unchanged' };
  if (!before.ok) return { kind: 'unknown', reason: `before the change: ${before.reason}` };
  if (after === null || !after.ok) {
    return { kind: 'unknown', reason: after ? after.reason : 'the database could not be read' };
  }
  return before.revision === after.revision
    ? { kind: 'unchanged' }
    : { kind: 'migrated', from: before.revision, to: after.revision };
}

/** The command that restores a backup (commands/restore.ts: the key is positional; --yes confirms). */
export function restoreCommandFor(key: string): string {
  return `dalston-host restore ${key} --yes`;
}

const rev = (r: string | null) => r ?? '(none)';

/** The plain message of a failed change that migrated the database (no rollback can follow). */
export function migratedMessage(
  newLabel: string,
  verdict: Extract<MigrationVerdict, { kind: 'migrated' }>,
  why: string,
  restoreCommand: string | null,
): string {
  const restore = restoreCommand
    ? `Restore the pre-upgrade backup: ${restoreCommand}, or fix forward with a new ref`
    : 'No pre-upgrade backup was taken (no backups configured): fix forward with a new ref';
  return `${newLabel} migrated the database from ${rev(verdict.from)} to ${rev(verdict.to)} and then failed (${why}); the old version cannot run on it. ${restore}. The host stays on ${newLabel}.`;
}

/** The message of a failed change whose migration state could not be read (no rollback either). */
export function unknownMigrationMessage(
  newLabel: string,
  verdict: Extract<MigrationVerdict, { kind: 'unknown' }>,
  why: string,
  restoreCommand: string | null,
): string {
  const restore = restoreCommand
    ? `If it did, restore the pre-upgrade backup: ${restoreCommand}; or fix forward with a new ref`
    : 'Fix forward with a new ref';
  return `${newLabel} failed (${why}) and whether it migrated the database cannot be told (${verdict.reason}), so it was not rolled back onto a schema the old version may not know. ${restore}. The host stays on ${newLabel}.`;
}

/** The variables of the compose env the Dalston change owns (the overlay interpolates them). */
export const IMAGE_TAG_VAR = 'DALSTON_IMAGE_TAG';
export const REF_VAR = 'DALSTON_REF';

/**
 * Pure: the compose env text with the Dalston version's variables set (replaced in
 * place, appended when absent, removed when the new value is undefined); every
 * other line is kept as it is. Values are written bare: a tag or ref has no
 * character compose's env-file parser treats specially (the schema checks the tag).
 */
export function withDalstonVersion(
  text: string,
  values: Readonly<Record<string, string | undefined>>,
): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of lines) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
    const name = m?.[1];
    if (name !== undefined && Object.hasOwn(values, name)) {
      if (seen.has(name)) continue; // a duplicate would override the value set here
      seen.add(name);
      const v = values[name];
      if (v !== undefined) out.push(`${name}=${v}`);
      continue;
    }
    out.push(line);
  }
  for (const [name, v] of Object.entries(values)) {
    if (!seen.has(name) && v !== undefined) out.push(`${name}=${v}`);
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/**
 * Pure: the services not (yet) healthy, as `name state/health` (or `name missing`);
 * empty means every configured service has a running container that is healthy,
 * or running without a healthcheck. Every container of a scaled service counts.
 */
export function unhealthyServices(
  containers: readonly ContainerInfo[],
  services: readonly string[],
): string[] {
  const bad: string[] = [];
  for (const s of services) {
    const mine = containers.filter((c) => c.service === s);
    if (mine.length === 0) {
      bad.push(`${s} missing`);
      continue;
    }
    const wrong = mine.find((c) => !serviceIsUp(c));
    if (wrong) bad.push(`${s} ${wrong.state}/${wrong.health}`);
  }
  return bad;
}

/** e.g. `changed gateway, orchestrator; added stt-new; removed stt-old` (or `no service changed`). */
export function describeServiceChanges(c: ServiceChanges): string {
  const parts = [
    c.changed.length ? `changed ${c.changed.join(', ')}` : '',
    c.added.length ? `added ${c.added.join(', ')}` : '',
    c.removed.length ? `removed ${c.removed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no service changed';
}

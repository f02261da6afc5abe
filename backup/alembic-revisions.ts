import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/**
 * The Alembic revisions the running Dalston knows: the `revision = "…"` lines
 * of the migration scripts in its checkout (`alembic/versions/*.py`; Alembic
 * reads that directory without subdirectories, so `_archived/` does not count).
 * A dump stamped with any other revision comes from a newer Dalston, whose
 * schema the running one cannot migrate: restore refuses it unless forced.
 */

/** Pure: the revision id a migration script declares, or null when it declares none. */
export function revisionOfScript(text: string): string | null {
  const m = /^revision(?:\s*:\s*[A-Za-z_][\w.[\], ]*)?\s*=\s*(['"])([^'"\n]+)\1/m.exec(text);
  return m ? m[2]! : null;
}

/** The revisions in `dir` (relative to the checkout unless absolute); throws when it cannot be read. */
export async function knownRevisions(checkout: string, dir: string): Promise<Set<string>> {
  const full = isAbsolute(dir) ? dir : join(checkout, dir);
  let names: string[];
  try {
    names = await readdir(full);
  } catch (err) {
    throw new Error(
      `cannot read Dalston's Alembic migrations in ${full} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const out = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.py')).sort()) {
    const rev = revisionOfScript(await readFile(join(full, name), 'utf8'));
    if (rev) out.add(rev);
  }
  return out;
}

/** Pure: the revisions of a dump (`alembic_version` may hold several heads, comma-separated) not in `known`. */
export function unknownRevisions(revision: string | null, known: ReadonlySet<string>): string[] {
  if (revision === null) return [];
  return revision
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '' && !known.has(r));
}

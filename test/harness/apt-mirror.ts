import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The Debian mirror this machine's apt already uses, for the places that fetch
 * Debian packages themselves (Compose v2 for the harness, the rehearsal's rootfs
 * and Docker CLI plugins). Read from the apt sources rather than written into
 * the code, so the tools follow whatever mirror the machine is set up with.
 */

/** One apt source entry, from either format. */
export interface AptSourceEntry {
  types: string[];
  uris: string[];
  suites: string[];
  enabled: boolean;
}

export interface AptSourceFile {
  path: string;
  text: string;
}

/** Pure: entries of a one-line-format file (`sources.list`, `*.list`): `deb [opts] URI suite [components…]`. */
export function parseOneLineSources(text: string): AptSourceEntry[] {
  const out: AptSourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s*)?(\S+)\s+(\S+)/.exec(line);
    if (m) out.push({ types: [m[1]!], uris: [m[2]!], suites: [m[3]!], enabled: true });
  }
  return out;
}

/** Pure: the stanzas of a deb822 file (`*.sources`); comment lines do not end a stanza. */
export function parseDeb822Sources(text: string): AptSourceEntry[] {
  const stanzas: Array<Record<string, string>> = [];
  let current: Record<string, string> | undefined;
  let lastKey: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.trim() === '') {
      current = undefined;
      lastKey = undefined;
      continue;
    }
    if (/^\s/.test(line)) {
      // A continuation line belongs to the field above it.
      if (current && lastKey) current[lastKey] = `${current[lastKey]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (!current) {
      current = {};
      stanzas.push(current);
    }
    lastKey = line.slice(0, colon).trim().toLowerCase();
    current[lastKey] = line.slice(colon + 1).trim();
  }
  const words = (v: string | undefined) => (v ?? '').split(/\s+/).filter(Boolean);
  return stanzas.map((s) => ({
    types: words(s.types),
    uris: words(s.uris),
    suites: words(s.suites),
    enabled: !/^(no|false|0)$/i.test(s.enabled ?? 'yes'),
  }));
}

/** Security and updates suites live on their own archives or only add to the main one. */
const ADD_ON_SUITE = /-(security|updates)$/;

/** Pure: the URI path ends in /debian (the main archive, not …/debian-security or a third-party repo). */
function isDebianArchive(uri: string): boolean {
  try {
    return new URL(uri).pathname.replace(/\/+$/, '').endsWith('/debian');
  } catch {
    return false;
  }
}

/**
 * Pure: the first enabled `deb` URI whose path ends in /debian, in apt's file
 * order (the caller's), from entries that are not security/updates-only.
 * Without trailing slash; undefined when there is none.
 */
export function debianMirrorFrom(files: readonly AptSourceFile[]): string | undefined {
  for (const f of files) {
    const entries = f.path.endsWith('.sources') ? parseDeb822Sources(f.text) : parseOneLineSources(f.text);
    for (const e of entries) {
      if (!e.enabled || !e.types.includes('deb')) continue;
      if (e.suites.length > 0 && e.suites.every((s) => ADD_ON_SUITE.test(s))) continue;
      const uri = e.uris.find(isDebianArchive);
      if (uri) return uri.replace(/\/+$/, '');
    }
  }
  return undefined;
}

/**
 * The files apt reads, in its order: sources.list, then sources.list.d's `*.list`
 * and `*.sources` by name. Other names there (`.disabled`, `.save`, `.dpkg-old`…)
 * are ignored by apt, and so here.
 */
export async function readAptSourceFiles(etcApt = '/etc/apt'): Promise<{
  files: AptSourceFile[];
  looked: string[];
}> {
  const list = path.join(etcApt, 'sources.list');
  const dir = path.join(etcApt, 'sources.list.d');
  const parts = (await readdir(dir).catch(() => [] as string[]))
    .filter((n) => n.endsWith('.list') || n.endsWith('.sources'))
    .sort();
  const candidates = [list, ...parts.map((n) => path.join(dir, n))];
  const files: AptSourceFile[] = [];
  const looked: string[] = [];
  for (const p of candidates) {
    const text = await readFile(p, 'utf8').catch(() => undefined);
    looked.push(text === undefined ? `${p} (absent)` : p);
    if (text !== undefined) files.push({ path: p, text });
  }
  if (parts.length === 0) looked.push(`${dir}/ (no *.list or *.sources files)`);
  return { files, looked };
}

/** The Debian mirror from the machine's apt sources; a `missing prerequisite` error naming the files when none. */
export async function debianMirror(etcApt = '/etc/apt'): Promise<string> {
  const { files, looked } = await readAptSourceFiles(etcApt);
  const mirror = debianMirrorFrom(files);
  if (mirror) return mirror;
  throw new Error(
    'missing prerequisite: no Debian mirror in the apt sources (an enabled "deb" entry whose URI path ends ' +
      `in /debian, not only -security/-updates suites); looked at: ${looked.join(', ')}. ` +
      'Add one, e.g. "deb http://<mirror>/debian bookworm main" in sources.list',
  );
}

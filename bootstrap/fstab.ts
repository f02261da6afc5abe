import { readFile, stat } from 'node:fs/promises';
import { HostError } from '../shared/errors.ts';
import type { Shell } from '../shared/shell.ts';
import { writeFileAtomic } from './atomic-write.ts';

/** The comment directly above the one line dalston-host owns; how the line is found again. */
export const FSTAB_MARKER = '# dalston-host: data volume (managed, do not edit)';
export const FSTAB_OPTIONS = 'defaults,nofail,x-systemd.device-timeout=90s';

export interface FstabVolume {
  /** What mounts: `UUID=…`, or a stable device path (the EBS volume's by-id link on AWS). */
  source: string;
  dataDir: string;
  fsType: string;
}

/** fstab escapes whitespace in paths as octal (\040). */
function escapePath(p: string): string {
  return p.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}
function unescapePath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
function normalizeTarget(p: string): string {
  const u = unescapePath(p);
  return u.length > 1 ? u.replace(/\/+$/, '') : u;
}

export function fstabEntry(v: FstabVolume): string {
  return `${escapePath(v.source)} ${escapePath(v.dataDir)} ${v.fsType} ${FSTAB_OPTIONS} 0 2`;
}

interface Line {
  content: string;
  eol: string;
}

/** Splits keeping each line's own terminator ('\n', '\r\n' or none for the last). */
export function splitLines(text: string): Line[] {
  const out: Line[] = [];
  const re = /([^\n]*?)(\r?\n|$)/g;
  for (const m of text.matchAll(re)) {
    if (m[0] === '' && m.index === text.length) break;
    out.push({ content: m[1]!, eol: m[2]! });
  }
  return out;
}

function isEntry(content: string): boolean {
  const t = content.trim();
  return t !== '' && !t.startsWith('#');
}
function targetOf(content: string): string | undefined {
  const fields = content.trim().split(/\s+/);
  return fields[1];
}

export type FstabMerge =
  | { action: 'unchanged'; text: string }
  | { action: 'added' | 'updated'; text: string; previous?: string };

/**
 * Pure: the fstab text with exactly one owned line for the data volume.
 * A line is ours only when it is provably so: directly under the marker and
 * mounting dataDir. Anything else next to a marker is someone else's line and
 * is kept byte-for-byte (our line goes between the marker and it); every other
 * line is kept byte-for-byte too, and a second run returns the input.
 * Another (unowned) line mounting dataDir is a conflict (exit 65).
 */
export function mergeFstab(current: string, volume: FstabVolume): FstabMerge {
  const want = fstabEntry(volume);
  const lines = splitLines(current);
  const target = normalizeTarget(volume.dataDir);
  const mountsDataDir = (content: string) => {
    if (!isEntry(content)) return false;
    const t = targetOf(content);
    return t !== undefined && normalizeTarget(t) === target;
  };
  const markers: number[] = [];
  const owned = new Set<number>();
  lines.forEach((l, i) => {
    if (l.content.trimEnd() === FSTAB_MARKER) {
      markers.push(i);
      const next = lines[i + 1];
      if (next && mountsDataDir(next.content)) owned.add(i + 1);
    }
  });
  lines.forEach((l, i) => {
    if (owned.has(i) || !mountsDataDir(l.content)) return;
    throw new HostError(
      'unsafeDisk',
      `fstab line ${i + 1} already mounts ${volume.dataDir} and is not managed by dalston-host: ` +
        `"${l.content.trim()}". Remove or comment it out, then run the bootstrap again.`,
    );
  });
  const eol = current.includes('\r\n') ? '\r\n' : '\n';
  if (markers.length === 0) {
    const out = lines.map((l) => ({ ...l }));
    const last = out[out.length - 1];
    if (last && last.eol === '') last.eol = eol;
    out.push({ content: FSTAB_MARKER, eol }, { content: want, eol });
    return { action: 'added', text: join(out) };
  }
  // Keep the first marked pair; drop duplicate markers and the lines they provably own.
  const first = markers[0]!;
  const out: Line[] = [];
  let previous: string | undefined;
  lines.forEach((l, i) => {
    if (i === first) {
      if (owned.has(i + 1)) {
        out.push(l);
        previous = lines[i + 1]!.content;
        out.push({ content: want, eol: lines[i + 1]!.eol || eol });
      } else {
        out.push(l.eol === '' ? { ...l, eol } : l);
        // The line below the marker (if any) is not ours: it follows our line unchanged.
        out.push({ content: want, eol });
      }
      return;
    }
    if (owned.has(i)) return;
    if (markers.includes(i)) return;
    out.push(l);
  });
  const text = join(out);
  if (text === current) return { action: 'unchanged', text };
  return { action: previous === undefined ? 'added' : 'updated', text, previous };
}

function join(lines: Line[]): string {
  return lines.map((l) => l.content + l.eol).join('');
}

/**
 * `findmnt --verify` output → problems attributed to each target.
 * Lines without indentation name a target; indented `[E]`/`[W]` lines belong to it.
 */
export function parseVerify(output: string): { target: string; level: 'E' | 'W'; text: string }[] {
  const out: { target: string; level: 'E' | 'W'; text: string }[] = [];
  let target = '';
  for (const line of output.split('\n')) {
    const m = /^\s+\[([EW])\]\s*(.*)$/.exec(line);
    if (m) out.push({ target, level: m[1] as 'E' | 'W', text: m[2]! });
    else if (line.trim() !== '' && !/^\s/.test(line)) target = line.trim();
  }
  return out;
}

/** Validates a candidate file; refuses only for errors on our own entry. */
export async function verifyFstab(shell: Shell, file: string, dataDir: string): Promise<string[]> {
  const r = await shell.run('findmnt', ['--verify', '--tab-file', file]);
  if (r.exitCode === 127)
    throw new HostError('failure', 'findmnt (util-linux) is missing: cannot validate the fstab');
  const problems = parseVerify(r.stdout + r.stderr);
  const ours = problems.filter(
    (p) => p.level === 'E' && normalizeTarget(p.target) === normalizeTarget(dataDir),
  );
  if (ours.length > 0) {
    throw new HostError(
      'failure',
      `findmnt --verify rejects the fstab line for ${dataDir}: ${ours.map((p) => p.text).join('; ')}`,
    );
  }
  return problems.filter((p) => p.level === 'E').map((p) => `${p.target}: ${p.text}`);
}

export async function readFstab(path: string): Promise<{ text: string; mode: number; exists: boolean }> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, mode: st.mode & 0o7777, exists: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', mode: 0o644, exists: false };
    throw err;
  }
}

/** Atomic write with a backup, validated before it replaces the live file. */
export async function writeFstab(
  shell: Shell,
  path: string,
  text: string,
  mode: number,
  dataDir: string,
): Promise<string[]> {
  let otherProblems: string[] = [];
  await writeFileAtomic(path, text, {
    mode,
    backup: `${path}.dalston-host.bak`,
    beforeRename: async (temp) => {
      otherProblems = await verifyFstab(shell, temp, dataDir);
    },
  });
  return otherProblems;
}

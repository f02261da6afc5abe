/**
 * `dalston-aws deploy --ref/--image-tag/--services`: the edit of the desired
 * state (shared/desired/desired-state.ts) the laptop publishes itself. Pure:
 * flag checks and the edited document; reading and writing the object is in
 * cli/desired-object.ts.
 */
import {
  type DesiredState,
  type DesiredStateDocument,
  parseDesiredState,
} from '../shared/desired/desired-state.ts';
import { UsageError } from '../shared/errors.ts';

/** What the flags pin; an absent field is left as the object has it. */
export interface Pins {
  ref?: string | undefined;
  imageTag?: string | undefined;
  services?: string[] | undefined;
}

export const PUBLISHED_BY = 'dalston-aws deploy';

/** Dalston's CI publishes `latest` and `X.Y.Z` only: any other tag would fail at the pull, on the host. */
export function checkImageTag(tag: string): string {
  if (tag === 'latest' || /^\d+\.\d+\.\d+$/.test(tag)) return tag;
  const hint = /^v\d+\.\d+\.\d+$/.test(tag) ? ` (the image tag has no "v": ${tag.slice(1)})` : '';
  throw new UsageError(
    `--image-tag "${tag}" is not a tag Dalston publishes: use X.Y.Z (e.g. 1.3.0) or latest${hint}`,
  );
}

/** A git ref or commit, as `git fetch` takes it; refused here rather than in the host's fetch. */
export function checkRef(ref: string): string {
  if (ref === '' || ref.startsWith('-') || /[\s~^:?*[\\]|\.\.|@\{/.test(ref) || ref.endsWith('.lock')) {
    throw new UsageError(`--ref "${ref}" is not a git tag, branch or commit (e.g. v1.3.0)`);
  }
  return ref;
}

/** `--services a,b`: the names, trimmed, each once; an empty list is refused (the object's [] means "all"). */
export function parseServicesFlag(text: string): string[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new UsageError('--services needs at least one service name (a,b,c)');
  const bad = names.find((n) => !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n));
  if (bad !== undefined) throw new UsageError(`--services: "${bad}" is not a Compose service name`);
  return [...new Set(names)];
}

export function hasPins(p: Pins): boolean {
  return p.ref !== undefined || p.imageTag !== undefined || p.services !== undefined;
}

export type EditResult =
  | { kind: 'unchanged' }
  | { kind: 'edited'; body: string; state: DesiredState; changes: string[] };

/**
 * Applies the pins to the document as read. Works on the raw `host` object so
 * defaults the schema fills in are not written into Terraform's document; the
 * result is validated with the same parser the host uses.
 */
export function editDesiredState(doc: DesiredStateDocument, pins: Pins, now: Date): EditResult {
  const host = structuredClone(doc.host) as Record<string, unknown>;
  const dalston = { ...((host.dalston as Record<string, unknown> | undefined) ?? {}) };
  const compose = { ...((host.compose as Record<string, unknown> | undefined) ?? {}) };
  const changes: string[] = [];
  if (pins.ref !== undefined && dalston.ref !== pins.ref) {
    changes.push(`dalston ref ${show(dalston.ref)} → ${pins.ref}`);
    dalston.ref = pins.ref;
  }
  if (pins.imageTag !== undefined && dalston.imageTag !== pins.imageTag) {
    changes.push(`image tag ${show(dalston.imageTag)} → ${pins.imageTag}`);
    dalston.imageTag = pins.imageTag;
  }
  if (pins.services !== undefined) {
    const before = Array.isArray(compose.services) ? (compose.services as string[]) : [];
    const diff = listDiff(before, pins.services);
    if (diff) {
      changes.push(`services ${diff}`);
      compose.services = pins.services;
    }
  }
  if (changes.length === 0) return { kind: 'unchanged' };
  host.dalston = dalston;
  if (pins.services !== undefined) host.compose = compose;
  const next: DesiredStateDocument = {
    ...doc,
    host,
    publishedBy: PUBLISHED_BY,
    publishedAt: now.toISOString(),
  };
  const body = `${JSON.stringify(next, null, 2)}\n`;
  const parsed = parseDesiredState(body);
  if (parsed.kind === 'invalid') {
    throw new UsageError(`the edited desired state is not valid: ${parsed.reason}`);
  }
  return { kind: 'edited', body, state: parsed.state, changes };
}

/** Said before publishing: the edit is not in Terraform, so Terraform will put its own values back. */
export function driftWarning(pins: Pins): string {
  const what: string[] = [];
  if (pins.ref !== undefined) what.push('dalston_ref');
  if (pins.imageTag !== undefined) what.push('dalston_image_tag');
  if (pins.services !== undefined) what.push('the service list (compose/services.cpu.json)');
  return (
    `this edits config/host.json outside Terraform: the next \`terraform apply\` publishes ${what.join(', ')} ` +
    `from Terraform again and the host converges back to them — set the same values in terraform.tfvars to keep them`
  );
}

/** Pins that are valid but probably not meant. */
export function pinWarnings(pins: Pins): string[] {
  const out: string[] = [];
  if (pins.imageTag === 'latest') {
    out.push(
      '--image-tag latest is not a pin: the host runs whatever `latest` is when it pulls (Terraform refuses it for dalston_image_tag)',
    );
  }
  const refVersion = /^v?(\d+\.\d+\.\d+)$/.exec(pins.ref ?? '')?.[1];
  if (refVersion && pins.imageTag && pins.imageTag !== 'latest' && pins.imageTag !== refVersion) {
    out.push(`--ref ${pins.ref} and --image-tag ${pins.imageTag} name different Dalston versions`);
  }
  return out;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : '(none)';
}

/** `+c −a` between two service lists (order ignored); null when they hold the same names. */
export function listDiff(before: readonly string[], after: readonly string[]): string | null {
  const added = after.filter((x) => !before.includes(x));
  const removed = before.filter((x) => !after.includes(x));
  if (added.length === 0 && removed.length === 0) return null;
  const all = (xs: readonly string[]) => (xs.length === 0 ? 'all' : xs.join(','));
  if (before.length === 0 || after.length === 0) return `${all(before)} → ${all(after)}`;
  return [...added.map((x) => `+${x}`), ...removed.map((x) => `−${x}`)].join(' ');
}

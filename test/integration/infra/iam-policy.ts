/**
 * A small evaluator of identity-policy documents, enough to ask "may this role do
 * action A on resource R?" of the policies Terraform rendered: explicit Deny wins,
 * then any Allow, else denied. Wildcards `*` and `?` in actions (case-insensitive)
 * and resources. Statements with a Condition are treated conservatively: an Allow
 * with a condition counts as granting, a Deny with a condition as not denying, so
 * a test that something is NOT allowed can never pass because of a condition.
 */

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, unknown>;
  Principal?: unknown;
}

export interface PolicyDocument {
  Version: string;
  Statement: Statement | Statement[];
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

export function statements(doc: PolicyDocument): Statement[] {
  return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
}

/** IAM wildcard match: `*` any run of characters, `?` one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, ignoreCase ? 'i' : '').test(value);
}

function matchesAction(s: Statement, action: string): boolean {
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => wildcardMatch(p, action, true));
  return list(s.Action).some((p) => wildcardMatch(p, action, true));
}

function matchesResource(s: Statement, resource: string): boolean {
  if (s.NotResource !== undefined) return !list(s.NotResource).some((p) => wildcardMatch(p, resource));
  return list(s.Resource).some((p) => wildcardMatch(p, resource));
}

export function decide(docs: readonly PolicyDocument[], action: string, resource: string): Decision {
  const applicable = docs
    .flatMap(statements)
    .filter((s) => matchesAction(s, action) && matchesResource(s, resource));
  if (applicable.some((s) => s.Effect === 'Deny' && s.Condition === undefined)) return 'explicit-deny';
  return applicable.some((s) => s.Effect === 'Allow') ? 'allow' : 'implicit-deny';
}

export const allows = (docs: readonly PolicyDocument[], action: string, resource: string): boolean =>
  decide(docs, action, resource) === 'allow';

import { z } from 'zod';
import { hostConfigSchema } from './schema.ts';

interface JsonSchemaNode {
  type?: string | string[];
  enum?: unknown[];
  items?: JsonSchemaNode;
  properties?: Record<string, JsonSchemaNode>;
  default?: unknown;
  /** A default computed from another key (schema `.meta({ derivedDefault })`), e.g. `<dataDir>/dalston/current`. */
  derivedDefault?: string;
  description?: string;
  format?: string;
  pattern?: string;
  anyOf?: JsonSchemaNode[];
}

interface Row {
  key: string;
  type: string;
  def: string;
  description: string;
}

function typeOf(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (node.anyOf) return node.anyOf.map(typeOf).join(' \\| ');
  if (node.type === 'array') return `${node.items ? typeOf(node.items) : 'any'}[]`;
  if (node.format === 'uri') return 'URL';
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'any');
}

function collect(node: JsonSchemaNode, prefix: string, rows: Row[]): void {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (child.type === 'object' && child.properties) {
      rows.push({ key, type: 'object', def: '', description: child.description ?? '' });
      collect(child, key, rows);
    } else {
      rows.push({
        key,
        type: typeOf(child),
        def:
          child.derivedDefault !== undefined
            ? `\`${child.derivedDefault}\``
            : child.default === undefined
              ? '(unset)'
              : `\`${JSON.stringify(child.default)}\``,
        description: child.description ?? '',
      });
    }
  }
}

/** docs/config.md, generated from the schema's descriptions and defaults (`npm run docs:config`). */
export function renderConfigDocs(): string {
  const json = z.toJSONSchema(hostConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const rows: Row[] = [];
  collect(json, '', rows);
  const table = rows.map((r) =>
    r.type === 'object'
      ? `| **\`${r.key}\`** | object | | ${r.description} |`
      : `| \`${r.key}\` | ${r.type} | ${r.def} | ${r.description} |`,
  );
  return [
    '# Configuration: `/etc/dalston/host.json`',
    '',
    '<!-- Generated from shared/config/schema.ts by `npm run docs:config`; a unit test keeps it in sync. -->',
    '',
    'One JSON file read by every `dalston-host` command (`--config FILE` names another). Every key is optional;',
    'a missing file at the default path means "all defaults". Unknown keys, wrong types and bad values are refused',
    'with one message naming the key, and exit code 78. A command that needs a key the file lacks (for example the',
    'disk step without `volume.id` or `volume.device`) also exits 78 naming it. No secret belongs in this file: the',
    'Tailscale auth key is read from SSM at bootstrap time, AWS credentials come from the instance role.',
    '',
    '| key | type | default | meaning |',
    '|---|---|---|---|',
    ...table,
    '',
    'Check a file with `dalston-host config --config FILE` (prints it with defaults applied, or the error).',
    '',
  ].join('\n');
}

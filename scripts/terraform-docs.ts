import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';

/**
 * Input and output tables of the Terraform READMEs, generated from the variable and
 * output blocks (hcl2json, no terraform needed) and kept between two markers so the
 * prose around them stays. `npm run docs:terraform` rewrites them; a unit test fails
 * when one is stale.
 */

export const BEGIN = '<!-- BEGIN_TF_DOCS -->';
export const END = '<!-- END_TF_DOCS -->';

export interface TfFile {
  name: string;
  content: string;
}

interface Variable {
  name: string;
  type: string;
  required: boolean;
  default: unknown;
  description: string;
}

interface Output {
  name: string;
  description: string;
}

type Blocks = Record<string, Record<string, unknown>[]>;

/** Every module and environment directory holding .tf files, as paths relative to `tfRoot`. */
export function terraformDocDirs(tfRoot: string): string[] {
  return ['environments', 'modules']
    .flatMap((group) =>
      readdirSync(path.join(tfRoot, group), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => `${group}/${e.name}`),
    )
    .filter((dir) => readdirSync(path.join(tfRoot, dir)).some((f) => f.endsWith('.tf')))
    .sort();
}

export function readTfFiles(dir: string): TfFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()
    .map((name) => ({ name, content: readFileSync(path.join(dir, name), 'utf8') }));
}

/** hcl2json writes expressions as "${...}": a type constraint `list(string)` arrives as "${list(string)}". */
const unwrap = (v: unknown): string =>
  typeof v === 'string' && v.startsWith('${') && v.endsWith('}') ? v.slice(2, -1) : String(v ?? 'any');

/** Table cells are one line; a `|` would end the cell. */
const cell = (text: string): string => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

function formatDefault(v: Variable): string {
  if (v.required) return 'n/a';
  if (typeof v.default === 'string' && v.default.startsWith('${')) return `\`${cell(unwrap(v.default))}\``;
  return `\`${cell(JSON.stringify(v.default))}\``;
}

async function collect(files: readonly TfFile[]): Promise<{ variables: Variable[]; outputs: Output[] }> {
  const variables: Variable[] = [];
  const outputs: Output[] = [];
  for (const f of files) {
    const json = (await parse(f.name, f.content)) as { variable?: Blocks; output?: Blocks };
    for (const [name, [body]] of Object.entries(json.variable ?? {})) {
      variables.push({
        name,
        type: unwrap(body!.type),
        required: !('default' in body!),
        default: body!.default,
        description: String(body!.description ?? ''),
      });
    }
    for (const [name, [body]] of Object.entries(json.output ?? {})) {
      outputs.push({ name, description: String(body!.description ?? '') });
    }
  }
  const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);
  return { variables: variables.sort(byName), outputs: outputs.sort(byName) };
}

/** A Markdown table with padded columns, laid out the way the repository's formatter (biome) does. */
function table(header: string[], rows: string[][]): string[] {
  const width = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  return [line(header), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** The generated block, markers included. */
export async function renderTables(files: readonly TfFile[]): Promise<string> {
  const { variables, outputs } = await collect(files);
  const lines = [
    BEGIN,
    '<!-- Generated from variables.tf and outputs.tf by `npm run docs:terraform`; a unit test keeps it in sync. -->',
    '',
    '### Inputs',
    '',
  ];
  if (variables.length === 0) lines.push('None.');
  else {
    lines.push(
      ...table(
        ['Name', 'Type', 'Default', 'Required', 'Description'],
        variables.map((v) => [
          `\`${v.name}\``,
          `\`${cell(v.type)}\``,
          formatDefault(v),
          v.required ? 'yes' : 'no',
          cell(v.description),
        ]),
      ),
    );
  }
  lines.push('', '### Outputs', '');
  if (outputs.length === 0) lines.push('None.');
  else
    lines.push(
      ...table(
        ['Name', 'Description'],
        outputs.map((o) => [`\`${o.name}\``, cell(o.description)]),
      ),
    );
  lines.push(END);
  return lines.join('\n');
}

/** Replaces the block between the markers, or appends a section holding it; the rest stays byte for byte. */
export function withTables(readme: string, block: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin >= 0 && end > begin) return readme.slice(0, begin) + block + readme.slice(end + END.length);
  if (begin >= 0 || end >= 0) throw new Error(`README has only one of the markers ${BEGIN} / ${END}`);
  const base = readme.length === 0 || readme.endsWith('\n') ? readme : `${readme}\n`;
  return `${base}\n## Inputs and outputs\n\n${block}\n`;
}

/** The README of `dir` as it is (undefined when missing) and as it should be. */
export async function renderReadme(
  dir: string,
): Promise<{ path: string; current: string | undefined; wanted: string }> {
  const file = path.join(dir, 'README.md');
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  const base = current ?? `# ${path.basename(dir)}\n`;
  return { path: file, current, wanted: withTables(base, await renderTables(readTfFiles(dir))) };
}

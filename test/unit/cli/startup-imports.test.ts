import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What the dalston-aws bundle evaluates before it reads its arguments: cli/bundle-entry.ts, which
// imports cli/main.ts at once (after turning the compile cache on), and the modules both reach
// through static value imports (esbuild evaluates, and with splitting loads, modules reached only
// through `import()` when that import runs). `--help`, `--version` and `<cmd> --help` must not pay
// for the AWS SDK, zx or any command module: that kept start-up at ~1.35 s.
const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** Specifiers of the static value imports and re-exports of a source text (`import type` left out). */
function staticImports(src: string): string[] {
  const re = /^(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s+)?'([^']+)';/gm;
  return [...src.matchAll(re)].map((m) => m[1]!);
}

/** Specifiers of the `import('…')` calls of a source text. */
function dynamicImports(src: string): string[] {
  return [...src.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!);
}

function eagerGraph(...entries: string[]): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else packages.add(spec);
    }
  };
  for (const entry of entries) visit(path.join(repoRoot, entry));
  return { files: [...files].map((f) => path.relative(repoRoot, f)), packages: [...packages] };
}

describe('dalston-aws start-up', () => {
  it('reads imports the way the sources write them (and would see an eager SDK import)', () => {
    expect(
      staticImports(
        "import { EC2Client } from '@aws-sdk/client-ec2';\nimport type { X } from './x.ts';\n" +
          "import {\n  a,\n  type B,\n} from './a.ts';\nexport { c } from './c.ts';\nconst m = await import('./lazy.ts');\n",
      ),
    ).toEqual(['@aws-sdk/client-ec2', './a.ts', './c.ts']);
  });

  it('the entry imports only node:module before it imports cli/main.ts (so the compile cache comes first)', () => {
    const src = readFileSync(path.join(repoRoot, 'cli/bundle-entry.ts'), 'utf8');
    expect(staticImports(src)).toEqual(['node:module']);
    expect(dynamicImports(src)).toEqual(['./main.ts']);
  });

  it('evaluates neither the AWS SDK, zx nor a command before a command runs', () => {
    const { files, packages } = eagerGraph('cli/bundle-entry.ts', 'cli/main.ts');
    expect(packages.filter((p) => p.startsWith('@aws-sdk/') || p === 'zx')).toEqual([]);
    expect(files.filter((f) => f.startsWith('cli/commands/') || f.startsWith('cli/aws/'))).toEqual([
      'cli/commands/help-texts.ts',
    ]);
  });
});

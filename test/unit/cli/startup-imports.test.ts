import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What the dalston-aws bundle evaluates before it reads its arguments: the modules reached from
// cli/bundle-entry.ts through static value imports (esbuild evaluates modules reached only through
// `import()` when that import runs). `--help`, `--version` and `<cmd> --help` must not pay for the AWS
// SDK, zx or any command module: that kept start-up at ~1.35 s.
const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** Specifiers of the static value imports and re-exports of a source text (`import type` left out). */
function staticImports(src: string): string[] {
  const re = /^(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s+)?'([^']+)';/gm;
  return [...src.matchAll(re)].map((m) => m[1]!);
}

function eagerGraph(entry: string): { files: string[]; packages: string[] } {
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
  visit(path.join(repoRoot, entry));
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

  it('evaluates neither the AWS SDK, zx nor a command before a command runs', () => {
    const { files, packages } = eagerGraph('cli/bundle-entry.ts');
    expect(packages.filter((p) => p.startsWith('@aws-sdk/') || p === 'zx')).toEqual([]);
    expect(files.filter((f) => f.startsWith('cli/commands/') || f.startsWith('cli/aws/'))).toEqual([
      'cli/commands/help-texts.ts',
    ]);
  });
});

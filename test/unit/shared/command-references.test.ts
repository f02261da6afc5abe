import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS as AWS_COMMANDS } from '../../../cli/main.ts';
import { COMMANDS as HOST_COMMANDS } from '../../../commands/main.ts';

// Every message that tells the operator to run a command names one that exists: a backticked
// `dalston-host X` / `dalston-aws X`, or "see/run dalston-… X", in the code of the programs (comments
// are not messages and are left out).
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const PROGRAM_DIRS = ['agent', 'backup', 'bootstrap', 'cli', 'commands', 'converge', 'shared'];
const KNOWN: Record<string, readonly string[]> = {
  'dalston-host': Object.keys(HOST_COMMANDS),
  'dalston-aws': Object.keys(AWS_COMMANDS),
};

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return listTs(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Source text without comments (block, whole-line and trailing `// …`). */
function stripComments(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .replace(/\s\/\/ .*$/gm, '');
}

/** `dalston-host X` in backticks (escaped inside template literals too) or after "see"/"run". */
function commandReferences(code: string): Array<{ program: string; command: string }> {
  const re = /(?:\\?`|\b(?:see|run):? )(dalston-(?:host|aws)) ([a-z][a-z-]*)/g;
  return [...code.matchAll(re)].map((m) => ({ program: m[1]!, command: m[2]! }));
}

describe('messages name commands that exist', () => {
  it('finds references the way messages write them (and would catch an unknown one)', () => {
    const refs = commandReferences(
      stripComments(
        'throw new E("Mount it (see `dalston-host disk`)"); // see `dalston-host nothing`\n' +
          'const t = `run \\`dalston-aws up\\``; x("see dalston-host status");',
      ),
    );
    expect(refs).toEqual([
      { program: 'dalston-host', command: 'disk' },
      { program: 'dalston-aws', command: 'up' },
      { program: 'dalston-host', command: 'status' },
    ]);
  });

  it('every referenced dalston-host / dalston-aws command is registered', () => {
    const unknown: string[] = [];
    let seen = 0;
    for (const dir of PROGRAM_DIRS) {
      for (const file of listTs(path.join(repoRoot, dir))) {
        for (const r of commandReferences(stripComments(readFileSync(file, 'utf8')))) {
          seen++;
          if (!KNOWN[r.program]!.includes(r.command)) {
            unknown.push(`${path.relative(repoRoot, file)}: ${r.program} ${r.command}`);
          }
        }
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect(unknown).toEqual([]);
  });
});

import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { cjsDynamicImports } from '../../../scripts/split-cjs-imports.mjs';

// Three in-memory modules: an ESM entry that lazily imports a CommonJS and an ESM module.
const sources: Record<string, string> = {
  'entry.js': "export const a = () => import('./cjs.js');\nexport const b = () => import('./esm.js');\n",
  'cjs.js': 'exports.fromIni = () => 1;\n',
  'esm.js': 'export const fromEnv = () => 2;\n',
};
const inMemory: Plugin = {
  name: 'in-memory',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => ({ path: args.path.replace(/^\.\//, ''), namespace: 'mem' }));
    b.onLoad({ filter: /.*/, namespace: 'mem' }, (args) => ({ contents: sources[args.path], loader: 'js' }));
  },
};

async function splitMetafile() {
  const r = await build({
    entryPoints: ['entry.js'],
    bundle: true,
    splitting: true,
    format: 'esm',
    outdir: 'out',
    write: false,
    metafile: true,
    plugins: [inMemory],
    logLevel: 'silent',
  });
  return { metafile: r.metafile, outputs: r.outputFiles };
}

describe('dynamic import() of CommonJS under code splitting (scripts/split-cjs-imports.mjs)', () => {
  it("names the import of the CommonJS module, whose chunk exports only `default`, and not the ESM one's", async () => {
    const { metafile, outputs } = await splitMetafile();
    expect(cjsDynamicImports(metafile)).toEqual(['mem:entry.js -> mem:cjs.js']);
    // The reason: the CommonJS chunk has no `fromIni` export, the ESM chunk keeps `fromEnv`.
    const chunk = (needle: string) => outputs.find((o) => o.text.includes(needle))!.text;
    expect(chunk('exports.fromIni')).toMatch(/export default require_cjs\(\);/);
    expect(chunk('fromEnv = ')).toMatch(/export \{\s*fromEnv\s*\}/);
  });

  it('leaves out imports marked external', () => {
    const metafile = {
      inputs: {
        'a.js': { format: 'esm', imports: [{ path: 'pkg', kind: 'dynamic-import', external: true }] },
        pkg: { format: 'cjs', imports: [] },
      },
    };
    expect(cjsDynamicImports(metafile)).toEqual([]);
  });
});

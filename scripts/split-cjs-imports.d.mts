// Types of scripts/split-cjs-imports.mjs (plain JS, so `node scripts/build.mjs` needs no TypeScript).
export interface SplitMetafile {
  inputs: Record<
    string,
    { format?: string; imports: Array<{ path: string; kind: string; external?: boolean }> }
  >;
}

export function cjsDynamicImports(metafile: SplitMetafile): string[];

// With code splitting, esbuild turns every bundled `import()` into a chunk of its own. A chunk made
// from a CommonJS module exports only `default` (esbuild issues 3245 and 4377), so
// `const { fromIni } = await import('@aws-sdk/credential-provider-ini')` gets undefined at run time
// although the same code works unsplit. The build refuses such an import instead of shipping it.

/**
 * The bundled dynamic imports whose target esbuild read as CommonJS, as "importer -> target".
 * @param {{ inputs: Record<string, { format?: string, imports: Array<{ path: string, kind: string, external?: boolean }> }> }} metafile
 * @returns {string[]}
 */
export function cjsDynamicImports(metafile) {
  const found = [];
  for (const [file, input] of Object.entries(metafile.inputs)) {
    for (const imp of input.imports) {
      if (imp.kind === 'dynamic-import' && !imp.external && metafile.inputs[imp.path]?.format === 'cjs') {
        found.push(`${file} -> ${imp.path}`);
      }
    }
  }
  return found;
}

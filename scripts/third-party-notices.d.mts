// Types of scripts/third-party-notices.mjs (plain JS, so `node scripts/build.mjs` needs no TypeScript).
export interface EsbuildMetafile {
  inputs: Record<string, unknown>;
}

export interface PackageNotice {
  name: string;
  version: string;
  license: string | null;
  files: Array<{ file: string; text: string }>;
}

export function bundledPackageDirs(metafile: EsbuildMetafile): string[];
export function packageNotice(root: string, dir: string): PackageNotice;
export function renderNotices(product: string, notices: readonly PackageNotice[]): string;
export function thirdPartyNotices(
  root: string,
  product: string,
  metafile: EsbuildMetafile,
): { text: string; packages: number; undeclared: string[] };

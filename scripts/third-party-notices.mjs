// The third-party notices of a bundle: every npm package esbuild put into it
// (from the build's metafile), with its version, declared license and the text of
// its license files. esbuild drops in-file license comments (legalComments:
// 'none'), so this file is what carries the notices into the release.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LICENSE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i;

/** Pure: the package directories (relative, e.g. `node_modules/@aws-sdk/client-s3`) of a metafile's inputs. */
export function bundledPackageDirs(metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const parts = input.split('/');
    const last = parts.lastIndexOf('node_modules');
    if (last === -1 || last + 1 >= parts.length) continue;
    const nameParts = parts[last + 1].startsWith('@') ? 2 : 1;
    dirs.add(parts.slice(0, last + 1 + nameParts).join('/'));
  }
  return [...dirs].sort();
}

/** One package's notice: name, version, declared license and its license files' text. */
export function packageNotice(root, dir) {
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  const license =
    typeof pkg.license === 'string'
      ? pkg.license
      : Array.isArray(pkg.licenses)
        ? pkg.licenses.map((l) => l.type ?? l).join(' OR ')
        : (pkg.license?.type ?? null);
  const files = readdirSync(join(root, dir))
    .filter((f) => LICENSE_FILE.test(f))
    .sort()
    .map((f) => ({ file: f, text: readFileSync(join(root, dir, f), 'utf8').trim() }));
  return { name: pkg.name, version: pkg.version, license, files };
}

/** Pure: the notices file's text; packages of the same name and version appear once. */
export function renderNotices(product, notices) {
  const seen = new Set();
  const unique = notices
    .filter((n) => {
      const key = `${n.name}@${n.version}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name)));
  const rule = '='.repeat(78);
  const parts = [
    `${product} includes the following third-party packages, bundled into dalston-host.mjs.`,
    'Each is listed with its version, its declared license and the text of its license files.',
    '',
  ];
  for (const n of unique) {
    parts.push(rule, `${n.name} ${n.version}`, `License: ${n.license ?? 'not declared'}`, '');
    if (n.files.length === 0)
      parts.push('(The package ships no license file; its declared license applies.)', '');
    for (const f of n.files) parts.push(`--- ${f.file}`, f.text, '');
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

/** Notices text for an esbuild metafile; packages that declare no license at all are returned in `undeclared`. */
export function thirdPartyNotices(root, product, metafile) {
  const notices = bundledPackageDirs(metafile)
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => packageNotice(root, dir));
  return {
    text: renderNotices(product, notices),
    packages: notices.length,
    undeclared: notices
      .filter((n) => !n.license && n.files.length === 0)
      .map((n) => `${n.name}@${n.version}`),
  };
}

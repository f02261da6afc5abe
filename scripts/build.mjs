#!/usr/bin/env node
// Builds the release: one self-contained ESM bundle per program (only `node`
// needed on the host) and the host release archive with its SHA-256.
//   dist/dalston-host.mjs, dist/dalston-aws.mjs and its chunks dist/dalston-aws.*.mjs (when cli/ exists)
//   dist/dalston-host-<version>.tgz (+ .sha256): dalston-host.mjs, systemd/, compose/, VERSION,
//   LICENSE and THIRD-PARTY-NOTICES.txt (the bundled packages' licenses)
// Options (for a second release beside the first, e.g. the rehearsal's upgrade):
//   --version V   build as version V instead of package.json's (the bundle reports V, the tgz is named V)
//   --out DIR     write into DIR instead of dist/ (DIR is emptied first, like dist/)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { cjsDynamicImports } from './split-cjs-imports.mjs';
import { thirdPartyNotices } from './third-party-notices.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function option(name) {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (!v || v.startsWith('--')) {
    console.error(`build: ${name} needs a value`);
    process.exit(64);
  }
  return v;
}
const versionOption = option('--version');
// The release version names a directory on the host (/opt/dalston-host/<version>) and the tgz.
if (versionOption !== undefined && !/^[0-9A-Za-z][0-9A-Za-z._+-]*$/.test(versionOption)) {
  console.error(
    `build: --version ${JSON.stringify(versionOption)} is not a release version (letters, digits, . _ + -)`,
  );
  process.exit(64);
}
const dist = resolve(option('--out') ?? join(root, 'dist'));
const version = versionOption ?? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '';
  }
}
const commit = git('rev-parse', '--short=12', 'HEAD') || 'unknown';
const dirty = git('status', '--porcelain', '--untracked-files=no') ? '-dirty' : '';
// Archive timestamps come from the commit so the same commit gives the same archive.
const mtime = git('log', '-1', '--format=%ct') || '0';

// CJS dependencies (dockerode, pino, systeminformation, the AWS SDK) expect
// require/__dirname; give the ESM bundle both.
const banner = [
  "import { createRequire as __dhCreateRequire } from 'node:module';",
  "import { fileURLToPath as __dhFileURLToPath } from 'node:url';",
  "import { dirname as __dhDirname } from 'node:path';",
  'const require = __dhCreateRequire(import.meta.url);',
  'const __filename = __dhFileURLToPath(import.meta.url);',
  'const __dirname = __dhDirname(__filename);',
].join('\n');

// Parts of dockerode we never use stay out of the host's memory (the agent
// talks to a unix socket and never builds images): ssh2 backs ssh:// DOCKER_HOST
// URLs, ./session backs BuildKit image builds (it loads gRPC). Each is replaced
// by a stub that fails loudly if it is ever reached.
const unusedDockerParts = {
  name: 'unused-docker-parts',
  setup(b) {
    b.onResolve({ filter: /^ssh2$/ }, () => ({ path: 'ssh2', namespace: 'dh-stub' }));
    b.onResolve({ filter: /^\.\/session$/ }, (args) =>
      args.importer.includes(`${join('node_modules', 'dockerode')}`)
        ? { path: 'session', namespace: 'dh-stub' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'dh-stub' }, (args) => ({
      loader: 'js',
      contents:
        args.path === 'ssh2'
          ? "class Client { constructor() { throw new Error('ssh:// DOCKER_HOST is not supported by dalston-host; use a unix socket'); } }\nmodule.exports = { Client };"
          : "module.exports = function withSession() { throw new Error('BuildKit sessions are not supported by dalston-host'); };",
    }));
  },
};

// `out`: where it goes, { entryPoints, outfile } for one file or esbuild's splitting options.
async function bundle(out) {
  const result = await build({
    ...out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Whitespace and syntax minified, names kept (readable stack traces), pure
    // ASCII (V8 keeps a script with any char above U+00FF as two-byte): ~6 MB
    // less agent RSS than the plain bundle; mangling names cost memory instead.
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    sourcemap: false,
    legalComments: 'none',
    banner: { js: `#!/usr/bin/env node\n${banner}` },
    define: {
      __DALSTON_HOST_VERSION__: JSON.stringify(version),
      __DALSTON_HOST_COMMIT__: JSON.stringify(commit + dirty),
    },
    // Optional native add-ons of ssh2 (pulled in by dockerode, unused: we talk
    // to a unix socket); ssh2 falls back to pure JS when they are absent.
    external: ['cpu-features', '*.node'],
    plugins: [unusedDockerParts],
    logLevel: 'warning',
    // Which packages went in, for the third-party notices.
    metafile: true,
  });
  return result.metafile;
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const hostMeta = await bundle({
  entryPoints: [join(root, 'commands/bundle-entry.ts')],
  outfile: join(dist, 'dalston-host.mjs'),
});
if (existsSync(join(root, 'cli/bundle-entry.ts'))) {
  // The laptop CLI starts often and runs one command: split, so that a run parses and compiles
  // the entry and what its command imports (the AWS SDK only for commands that call AWS), not
  // one 4 MB file (~65 ms of `--version`). The chunks sit beside the entry, at the same depth, so
  // `import.meta.url`-relative paths (the clone's infra/ directory) resolve as from the entry.
  const cliMeta = await bundle({
    entryPoints: { 'dalston-aws': join(root, 'cli/bundle-entry.ts') },
    outdir: dist,
    splitting: true,
    chunkNames: 'dalston-aws.[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    // The packages' ESM builds (the AWS SDK's dist-es) before their CommonJS ones: their lazy
    // `import()`s become chunks with working named exports (see split-cjs-imports.mjs).
    mainFields: ['module', 'main'],
  });
  const broken = cjsDynamicImports(cliMeta);
  if (broken.length > 0) {
    console.error(
      `build: dynamic import() of CommonJS modules would lose their named exports in dalston-aws's chunks:\n  ${broken.join('\n  ')}`,
    );
    process.exit(1);
  }
  // package.json's bin: `npm install -g .` links it onto PATH, so it must be executable itself.
  chmodSync(join(dist, 'dalston-aws.mjs'), 0o755);
}

// Release tree: exactly what a host needs, nothing from node_modules.
const stage = join(dist, 'release');
mkdirSync(stage, { recursive: true });
cpSync(join(dist, 'dalston-host.mjs'), join(stage, 'dalston-host.mjs'));
// Executable, so /usr/local/bin/dalston-host can point at it (shebang: node).
chmodSync(join(stage, 'dalston-host.mjs'), 0o755);
for (const dir of ['systemd', 'compose']) {
  if (existsSync(join(root, dir))) cpSync(join(root, dir), join(stage, dir), { recursive: true });
}
writeFileSync(join(stage, 'VERSION'), `${version} ${commit}${dirty}\n`);
cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
const notices = thirdPartyNotices(root, `dalston-host ${version}`, hostMeta);
if (notices.undeclared.length > 0) {
  // A package with neither a license field nor a license file cannot be shipped knowingly.
  console.error(`build: no license found for bundled packages: ${notices.undeclared.join(', ')}`);
  process.exit(1);
}
writeFileSync(join(stage, 'THIRD-PARTY-NOTICES.txt'), notices.text);
cpSync(join(stage, 'THIRD-PARTY-NOTICES.txt'), join(dist, 'THIRD-PARTY-NOTICES.txt'));

const tgzName = `dalston-host-${version}.tgz`;
const tgz = join(dist, tgzName);
execFileSync(
  'tar',
  [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    `--mtime=@${mtime}`,
    '-C',
    stage,
    '-cf',
    `${tgz}.tar`,
    '.',
  ],
  { stdio: 'inherit' },
);
// gzip -n: no name/time in the header, so the archive is reproducible.
execFileSync('sh', ['-c', `gzip -n -9 < "${tgz}.tar" > "${tgz}" && rm "${tgz}.tar"`], { stdio: 'inherit' });
const sha = createHash('sha256').update(readFileSync(tgz)).digest('hex');
writeFileSync(`${tgz}.sha256`, `${sha}  ${tgzName}\n`);
// Keep dist/ flat for the host programs; the staging tree is the tgz's content.
cpSync(join(stage, 'VERSION'), join(dist, 'VERSION'));
const shown = dist.startsWith(root) ? relative(root, dist) || '.' : dist;
console.log(`built ${shown}/dalston-host.mjs and ${shown}/${tgzName} (sha256 ${sha})`);

import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ShellResult, ZxShell } from '../../../shared/shell.ts';
import { findCommand } from '../../harness/require.ts';

/**
 * Runs a rendered user-data script for real, inside a scratch directory:
 * DALSTON_USER_DATA_ROOT prefixes every path it writes, PATH holds only
 * stand-ins (dnf, aws, curl, snap, node) that record their argv (node runs
 * `node -e` scripts, the user-data's JSON reads, with the real node), a recording
 * wrapper around the real tar, and links to the coreutils the script needs —
 * so nothing outside the sandbox is touched and no real aws/dnf can run.
 */

const shell = new ZxShell();

const realTools = [
  'bash',
  'sha256sum',
  'mktemp',
  'cut',
  'date',
  'mkdir',
  'ln',
  'mv',
  'rm',
  'cat',
  'sleep',
  'dirname',
  'basename',
  'cp',
  'chmod',
  'gzip',
  'xz',
  'env',
  'tee',
];

export interface SandboxOptions {
  /** Object store content served by the aws stand-in: key → local file. */
  s3?: Record<string, string>;
  /** Make every `aws` call fail (network down). */
  awsFails?: boolean;
  /** Put the aws stand-in on PATH from the start (AL2023 ships the CLI); otherwise `snap install` adds it. */
  awsPreinstalled?: boolean;
  /** File the curl stand-in returns for the nodejs.org tarball. */
  nodeTarball?: string;
  /** Exit code of the node stand-in (the bootstrap); 0 by default. */
  nodeExit?: number;
  /** No console: DALSTON_USER_DATA_CONSOLE points at a path that cannot be opened. */
  noConsole?: boolean;
}

export interface SandboxRun extends ShellResult {
  root: string;
  /** One line per stand-in call: "<tool> <args…>". */
  calls: string[];
  /** Content of <root>/var/log/dalston-user-data.log. */
  log: string;
  /** What reached the stand-in serial console (DALSTON_USER_DATA_CONSOLE). */
  console: string;
}

const standins: Record<string, string> = {
  node: `#!/bin/bash
if [ "$1" = "-e" ]; then echo "node -e" >>"$SANDBOX_LOG"; exec "$SANDBOX_REAL_NODE" "$@"; fi
echo "node $*" >>"$SANDBOX_LOG"
echo "bootstrap stand-in: a line of output"
exit "\${FAKE_NODE_EXIT:-0}"
`,
  dnf: `#!/bin/bash
echo "dnf $*" >>"$SANDBOX_LOG"
case " $* " in
  *" nodejs22 "*)
    # Like the package: the namespaced binary only; /usr/bin/node is the script's job.
    mkdir -p "$DALSTON_USER_DATA_ROOT/usr/bin"
    cp "$SANDBOX_STANDINS/node" "$DALSTON_USER_DATA_ROOT/usr/bin/node-22"
    ;;
esac
`,
  aws: `#!/bin/bash
echo "aws $*" >>"$SANDBOX_LOG"
if [ -n "$FAKE_AWS_FAIL" ]; then echo "Could not connect to the endpoint URL" >&2; exit 255; fi
[ "$1 $2" = "s3 cp" ] || { echo "stand-in aws: unexpected call" >&2; exit 2; }
args=("$@"); n=$#
src="\${args[$((n - 2))]}"; dest="\${args[$((n - 1))]}"
file="$FAKE_S3_DIR/\${src#s3://}"
[ -f "$file" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation" >&2; exit 1; }
cp "$file" "$dest"
`,
  curl: `#!/bin/bash
echo "curl $*" >>"$SANDBOX_LOG"
case "$*" in
  *169.254.169.254/latest/api/token*) printf 'IMDS-TOKEN' ;;
  *169.254.169.254/latest/meta-data/local-ipv4*) printf '10.0.1.23' ;;
  *nodejs.org/dist/*)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
    [ -n "$out" ] && [ -n "$FAKE_NODE_TARBALL" ] || exit 22
    cp "$FAKE_NODE_TARBALL" "$out"
    ;;
  *) exit 7 ;;
esac
`,
  snap: `#!/bin/bash
echo "snap $*" >>"$SANDBOX_LOG"
[ "$*" = "install aws-cli --classic" ] || exit 1
cp "$SANDBOX_STANDINS/aws" "$SANDBOX_LATE_BIN/aws"
`,
};

export async function runUserData(script: string, opts: SandboxOptions = {}): Promise<SandboxRun> {
  const base = await mkdtemp(path.join(process.env.DALSTON_TEST_TMP ?? '/tmp', 'user-data-sandbox-'));
  try {
    const root = path.join(base, 'root');
    const bin = path.join(base, 'bin');
    const standinDir = path.join(base, 'standins');
    const lateBin = path.join(base, 'late-bin');
    const s3Dir = path.join(base, 's3');
    const tmp = path.join(base, 'tmp');
    for (const d of [root, bin, standinDir, lateBin, s3Dir, tmp]) await mkdir(d, { recursive: true });
    const logFile = path.join(base, 'calls.log');
    await writeFile(logFile, '');

    for (const tool of realTools) {
      const found = findCommand(tool);
      if (!found) throw new Error(`missing prerequisite: '${tool}' is needed to run the user-data sandbox`);
      await writeFile(path.join(bin, tool), `#!/bin/sh\nexec ${found} "$@"\n`, { mode: 0o755 });
    }
    const realTar = findCommand('tar');
    if (!realTar) throw new Error("missing prerequisite: 'tar' is needed to run the user-data sandbox");
    await writeFile(
      path.join(bin, 'tar'),
      `#!/bin/sh\necho "tar $*" >>"$SANDBOX_LOG"\nexec ${realTar} "$@"\n`,
      {
        mode: 0o755,
      },
    );

    for (const [name, text] of Object.entries(standins)) {
      await writeFile(path.join(standinDir, name), text, { mode: 0o755 });
      if (name === 'node' || (name === 'aws' && !opts.awsPreinstalled)) continue;
      await cp(path.join(standinDir, name), path.join(bin, name));
    }
    for (const [key, file] of Object.entries(opts.s3 ?? {})) {
      await mkdir(path.dirname(path.join(s3Dir, key)), { recursive: true });
      await cp(file, path.join(s3Dir, key));
    }

    const consoleFile = opts.noConsole
      ? path.join(base, 'no-such-dir', 'console')
      : path.join(base, 'console');
    const scriptFile = path.join(base, 'user-data.sh');
    await writeFile(scriptFile, script);
    await chmod(scriptFile, 0o755);

    const r = await shell.run(path.join(bin, 'bash'), [scriptFile], {
      env: {
        PATH: `${bin}:${lateBin}`,
        DALSTON_USER_DATA_ROOT: root,
        DALSTON_USER_DATA_RETRY_SLEEP: '0',
        TMPDIR: tmp,
        SANDBOX_LOG: logFile,
        SANDBOX_STANDINS: standinDir,
        SANDBOX_REAL_NODE: process.execPath,
        SANDBOX_LATE_BIN: lateBin,
        FAKE_S3_DIR: s3Dir,
        FAKE_AWS_FAIL: opts.awsFails ? '1' : '',
        FAKE_NODE_TARBALL: opts.nodeTarball ?? '',
        FAKE_NODE_EXIT: String(opts.nodeExit ?? 0),
        DALSTON_USER_DATA_CONSOLE: consoleFile,
      },
      timeoutMs: 60_000,
    });
    const calls = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    const log = await readFile(path.join(root, 'var/log/dalston-user-data.log'), 'utf8').catch(() => '');
    const console = await readFile(consoleFile, 'utf8').catch(() => '');
    // Keep the root for assertions: the caller removes it through removeSandbox.
    return { ...r, root, calls, log, console };
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}

/** Removes the whole sandbox of a run (its root's parent directory). */
export async function removeSandbox(run: SandboxRun): Promise<void> {
  await rm(path.dirname(run.root), { recursive: true, force: true });
}

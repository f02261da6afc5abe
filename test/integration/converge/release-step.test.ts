import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AgentControl, applyRelease } from '../../../converge/release-step.ts';
import { S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';
import { ProcessShell } from '../../../shared/process-shell.ts';
import { systemClock } from '../../../shared/time/clock.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

// The release step against a real S3-compatible server, with real release tgz files unpacked by
// real tar. The agent is a real process: "ready" means `node <root>/current/dalston-host.mjs`
// (through the swapped symlink) answers with the expected version, so a bundle that cannot start
// is exactly an agent that never becomes ready.

let s3: LocalS3;
let store: S3ObjectStore;
let work: string;
let root: string;

/** A release tgz whose dalston-host.mjs prints `version`, or exits 1 without a word (`broken`). */
async function releaseTgz(version: string, opts: { broken?: boolean } = {}): Promise<Buffer> {
  const dir = await mkdtemp(join(work, `bundle-${version}-`));
  const script = opts.broken ? 'process.exit(1);\n' : `process.stdout.write(${JSON.stringify(version)});\n`;
  await writeFile(join(dir, 'dalston-host.mjs'), script);
  await writeFile(join(dir, 'VERSION'), `${version}\n`);
  const tgz = join(work, `dalston-host-${version}-${opts.broken ? 'broken' : 'ok'}.tgz`);
  execFileSync('tar', ['-czf', tgz, '-C', dir, '.']);
  return readFile(tgz);
}

async function publish(
  version: string,
  body: Buffer,
  sha256 = createHash('sha256').update(body).digest('hex'),
) {
  const key = `releases/dalston-host-${version}.tgz`;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
  const p = parseDesiredState({ schemaVersion: 1, release: { version, key, sha256 }, host: {} });
  if (p.kind !== 'ok') throw new Error(p.reason);
  return p.state;
}

/** The agent control: restarts are counted; readiness asks the bundle `current` points at. */
function processAgent(): AgentControl & { restarts: string[] } {
  const restarts: string[] = [];
  return {
    restarts,
    async restart(why) {
      restarts.push(why);
    },
    async ready(version) {
      try {
        const out = execFileSync(process.execPath, [join(root, 'current', 'dalston-host.mjs')], {
          encoding: 'utf8',
        });
        return out === version;
      } catch {
        return false;
      }
    },
  };
}

beforeAll(async () => {
  s3 = await startS3rver(`releases-${process.pid}`);
  store = new S3ObjectStore({ bucket: s3.bucket, endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS });
  work = await mkdtemp(join(process.env.DALSTON_TEST_TMP ?? tmpdir(), 'release-step-'));
});
afterAll(async () => {
  store?.destroy();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  // A host running 0.2.0: /opt/dalston-host/0.2.0 and current → 0.2.0.
  root = await mkdtemp(join(work, 'opt-'));
  await mkdir(join(root, '0.2.0'));
  await writeFile(join(root, '0.2.0', 'dalston-host.mjs'), "process.stdout.write('0.2.0');\n");
  await symlink('0.2.0', join(root, 'current'));
});

const deps = (agent: AgentControl) => ({
  store,
  shell: new ProcessShell(),
  agent,
  clock: systemClock,
  readySeconds: 5,
  root,
});

describe('release step against s3rver', () => {
  it('downloads, verifies, unpacks beside the current release, swaps current and restarts the agent', async () => {
    const desired = await publish('0.3.0', await releaseTgz('0.3.0'));
    const agent = processAgent();
    // What runs after the swap (the units step) is the new bundle, through `current`.
    const afterSwap: string[] = [];
    const r = await applyRelease(
      {
        ...deps(agent),
        afterSwap: async () => {
          afterSwap.push(
            execFileSync(process.execPath, [join(root, 'current', 'dalston-host.mjs')], { encoding: 'utf8' }),
          );
          return { exitCode: 0, output: '' };
        },
      },
      desired,
      '0.2.0',
    );
    expect(r).toMatchObject({ kind: 'release', outcome: 'applied' });
    expect(afterSwap).toEqual(['0.3.0']);
    expect(await readlink(join(root, 'current'))).toBe('0.3.0');
    expect(await readFile(join(root, '0.3.0', 'VERSION'), 'utf8')).toBe('0.3.0\n');
    // The old release stays beside it (the way back), and nothing is left half-done.
    expect((await readdir(root)).sort()).toEqual(['0.2.0', '0.3.0', 'current']);
    expect(agent.restarts).toEqual(['release 0.3.0']);
  });

  it('a corrupt release (SHA-256 differs) is never unpacked, current is not touched, the agent not restarted', async () => {
    const good = await releaseTgz('0.3.0');
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 5]! ^= 0xff;
    const desired = await publish('0.3.0', corrupt, createHash('sha256').update(good).digest('hex'));
    const agent = processAgent();
    const r = await applyRelease(deps(agent), desired, '0.2.0');
    expect(r.outcome).toBe('failed');
    expect(r.message).toContain('SHA-256');
    expect(r.message).toContain('not unpacked');
    expect((await readdir(root)).sort()).toEqual(['0.2.0', 'current']);
    expect(await readlink(join(root, 'current'))).toBe('0.2.0');
    expect(agent.restarts).toEqual([]);
  });

  it('a release whose agent never becomes ready is swapped back and the old agent restarted', async () => {
    const desired = await publish('0.3.0', await releaseTgz('0.3.0', { broken: true }));
    const agent = processAgent();
    const r = await applyRelease(deps(agent), desired, '0.2.0');
    expect(r).toMatchObject({ kind: 'release', outcome: 'rolled-back' });
    expect(r.message).toContain('rolled back to 0.2.0');
    expect(await readlink(join(root, 'current'))).toBe('0.2.0');
    expect(agent.restarts).toEqual(['release 0.3.0', 'rollback to 0.2.0']);
  });

  it('a release whose units cannot be installed is swapped back before its agent starts', async () => {
    const desired = await publish('0.3.0', await releaseTgz('0.3.0'));
    const agent = processAgent();
    const r = await applyRelease(
      {
        ...deps(agent),
        afterSwap: async () => ({ exitCode: 1, output: 'units: systemctl daemon-reload failed' }),
      },
      desired,
      '0.2.0',
    );
    expect(r).toMatchObject({ kind: 'release', outcome: 'rolled-back' });
    expect(r.message).toContain(
      'installing its units failed (exit 1: units: systemctl daemon-reload failed)',
    );
    expect(await readlink(join(root, 'current'))).toBe('0.2.0');
    expect(agent.restarts).toEqual(['rollback to 0.2.0']);
  });

  it('a bundle without dalston-host.mjs at its root is refused before the swap', async () => {
    const dir = await mkdtemp(join(work, 'empty-'));
    await writeFile(join(dir, 'README'), 'no bundle\n');
    const tgz = join(work, 'empty.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', dir, '.']);
    const desired = await publish('0.3.1', await readFile(tgz));
    const agent = processAgent();
    const r = await applyRelease(deps(agent), desired, '0.2.0');
    expect(r.outcome).toBe('failed');
    expect(r.message).toContain('no dalston-host.mjs');
    expect(await readlink(join(root, 'current'))).toBe('0.2.0');
    expect((await readdir(root)).sort()).toEqual(['0.2.0', 'current']);
  });
});

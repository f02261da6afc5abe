/**
 * A Dalston remote that accepts the connection and never answers: the real
 * git, through the real shell, must give up within the bootstrap's limits
 * (issue 11: `git fetch` had no time limit and could hang a boot), and leave
 * no git process behind.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootstrapContext } from '../../../bootstrap/context.ts';
import { NETWORK_LIMITS, type NetworkLimits } from '../../../bootstrap/network-limits.ts';
import { dalstonStep } from '../../../bootstrap/steps/dalston.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { ZxShell } from '../../../shared/shell.ts';
import { requireCommand } from '../../harness/require.ts';
import { sh, unmountAll } from './bootstrap-process.ts';
import { realContext } from './real-context.ts';

const shell = new ZxShell();
let work: string;
let dataDir: string;
let server: Server;
let url: string;
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  requireCommand('git', 'apt-get install -y git');
  work = await mkdtemp(join(process.env.DALSTON_TEST_TMP ?? tmpdir(), 'bootstrap-stall-'));
  // A real mount point of its own, so the step's "data volume mounted" check passes honestly.
  dataDir = join(work, 'data');
  await mkdir(dataDir);
  await sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dataDir]);
  // Accepts, reads, never writes a byte back.
  server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  url = `http://127.0.0.1:${port}/dalston.git`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
  await unmountAll(work);
  await rm(work, { recursive: true, force: true });
});

function context(limits: Partial<NetworkLimits>): BootstrapContext {
  return realContext(parseConfig({ dataDir, dalston: { ref: 'v1.0.0', repo: url } }), shell, {
    limits: { ...NETWORK_LIMITS, ...limits },
  });
}

/** git processes still talking to the stalled remote (a timeout must kill the whole tree). */
async function leftoverGit(): Promise<string[]> {
  const r = await shell.run('pgrep', ['-af', url]);
  return r.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
}

describe('git against a remote that accepts and stalls', () => {
  it('the clone is ended at its time limit on every attempt, then the step fails saying so', async () => {
    const before = connections;
    const t0 = Date.now();
    const err = await dalstonStep
      .run(context({ gitCloneMs: 1500, gitStallSeconds: 600, attempts: 2 }))
      .catch((e: unknown) => e);
    const seconds = (Date.now() - t0) / 1000;
    expect((err as Error).message).toMatch(
      /^git clone --quiet --no-checkout http:\/\/127\.0\.0\.1:\d+\/dalston\.git /,
    );
    expect((err as Error).message).toContain('timed out after 1500 ms');
    // Two attempts of 1.5 s each, plus process start-up; never the 15 minutes of the default.
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(seconds).toBeLessThan(60); // bounded (a busy machine starts git slowly)
    expect(connections - before).toBe(2);
    expect(await leftoverGit()).toEqual([]);
    // The half-made clone is gone: a retry at the next boot starts clean.
    expect((await sh('ls', ['-A', join(dataDir, 'dalston')]).catch(() => '')).trim()).toBe('');
  }, 90_000);

  it("git's own stall guard ends an HTTP transfer that stays silent, well before the time limit", async () => {
    const t0 = Date.now();
    const err = await dalstonStep
      .run(context({ gitCloneMs: 60_000, gitStallSeconds: 1, attempts: 1 }))
      .catch((e: unknown) => e);
    const seconds = (Date.now() - t0) / 1000;
    expect((err as Error).message).toMatch(/Operation too slow|Operation timed out/i);
    expect(seconds).toBeLessThan(45); // the stall guard, not the 60 s time limit, ended it
    expect(await leftoverGit()).toEqual([]);
  }, 90_000);

  it('a fetch in an existing checkout whose ref is unknown locally is bounded the same way', async () => {
    // A checkout of another ref whose origin is the stalled remote.
    const dir = join(dataDir, 'dalston', 'v1.0.0');
    await mkdir(dir, { recursive: true });
    const g = (args: string[]) => sh('git', ['-C', dir, ...args]);
    await g(['init', '-q']);
    await g(['-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-q', '--allow-empty', '-m', 'old']);
    await g(['remote', 'add', 'origin', url]);
    const t0 = Date.now();
    const err = await dalstonStep
      .run(context({ gitFetchMs: 1500, gitStallSeconds: 600, attempts: 2 }))
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^git -C \S+ fetch --tags origin exited \d+: .*timed out after 1500 ms/,
    );
    expect((Date.now() - t0) / 1000).toBeLessThan(60); // bounded, far below the 600 s stall guard
    expect(await leftoverGit()).toEqual([]);
  }, 90_000);
});

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_STATES, type StackState } from '../../../shared/status/snapshot.ts';
import { snapshot } from '../../unit/agent/report/fixtures.ts';

const bin = fileURLToPath(new URL('../../../bin/dalston-host.mjs', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

describe('dalston-host status checks what the agent answers (real process, real HTTP)', () => {
  let dir: string;
  let server: Server;
  let body = '';
  let config = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dh-status-'));
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    config = join(dir, 'host.json');
    await writeFile(config, JSON.stringify({ agent: { listen: `127.0.0.1:${port}` } }));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('a valid healthy snapshot: the table, exit 0', async () => {
    body = JSON.stringify(snapshot());
    const r = await run(['status', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^dalston: healthy · agent 0\.1\.0 · gateway ok/);
    expect(r.code).toBe(0);
  });

  // The same table test/unit/cli/status-exit-code.test.ts holds `dalston-aws status` to.
  const EXPECTED: Record<StackState, number> = { healthy: 0, starting: 1, degraded: 1, stopping: 1 };
  it('exit code by stack state: only healthy is 0, as for dalston-aws status', async () => {
    for (const state of STACK_STATES) {
      body = JSON.stringify(snapshot({ state }));
      const r = await run(['status', '--config', config]);
      expect(r.stdout).toMatch(new RegExp(`^dalston: ${state} · `));
      expect({ state, code: r.code }).toEqual({ state, code: EXPECTED[state] });
    }
  });

  it('a body that is not a snapshot: one line naming the wrong key, exit 1, nothing printed as if it were', async () => {
    const { services: _s, ...rest } = snapshot();
    body = JSON.stringify(rest);
    const r = await run(['status', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/cannot read \(wrong shape at services: /);
  });
});

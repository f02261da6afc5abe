import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../../bin/dalston-host.mjs', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

describe('dalston-host with a bad config file (real process, real exit codes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dh-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  }

  it.each([
    ['unknown key', '{"agent":{"lissen":"127.0.0.1:9190"}}', /agent\.lissen: unknown key/],
    [
      'wrong type',
      '{"agent":{"requireDataMount":"yes"}}',
      /agent\.requireDataMount: expected boolean, got string/,
    ],
    ['bad value', '{"volume":{"id":"disk-1"}}', /volume\.id: must be an EBS volume id/],
    ['not JSON', '{"dataDir": "/data",}', /not valid JSON/],
  ])('%s → exit 78 naming the key', async (_name, text, message) => {
    const path = await file(`${_name.replace(/\W/g, '-')}.json`, text);
    for (const command of ['config', 'status', 'agent', 'bootstrap']) {
      const r = await run([command, '--config', path]);
      expect({ command, code: r.code }).toEqual({ command, code: 78 });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(path);
    }
  });

  // What the agent would refuse to bind, `dalston-host config` refuses too (the same check).
  it.each(['0x0:9190', '0.0.0.00:9190', '000.000.000.000:9190', '[::ffff:0.0.0.0]:9190', '10.0.0.5:9190'])(
    'agent.listen %s without allowPublicListen → exit 78 from config and agent alike',
    async (listen) => {
      const path = await file(
        `listen-${listen.replace(/\W/g, '-')}.json`,
        JSON.stringify({ agent: { listen } }),
      );
      for (const command of ['config', 'agent']) {
        const r = await run([command, '--config', path]);
        expect({ command, code: r.code }).toEqual({ command, code: 78 });
        expect(r.stderr).toMatch(
          /agent\.listen: '.*' (would listen on every interface|: .* is not a loopback)/,
        );
      }
      const allowed = await file(
        `listen-allowed-${listen.replace(/\W/g, '-')}.json`,
        JSON.stringify({ agent: { listen, allowPublicListen: true } }),
      );
      expect((await run(['config', '--config', allowed])).code).toBe(0);
    },
  );

  it('a loopback spelling passes the config check', async () => {
    const path = await file('listen-loopback.json', JSON.stringify({ agent: { listen: '0177.1:9190' } }));
    const r = await run(['config', '--config', path]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).agent.listen).toBe('0177.1:9190');
  });

  it('a named file that does not exist → exit 78', async () => {
    const r = await run(['config', '--config', join(dir, 'missing.json')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/cannot read \(ENOENT\)/);
  });

  it('an unreadable file → exit 78', async () => {
    // Root reads any mode bits, so use a path that cannot be read as a file at all.
    const asDir = join(dir, 'a-directory.json');
    await mkdir(asDir);
    const r = await run(['config', '--config', asDir]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/cannot read \(EISDIR\)/);
  });

  it('a valid file prints the config with defaults', async () => {
    const path = await file('good.json', '{"s3":{"bucket":"my-bucket"}}');
    const r = await run(['config', '--config', path]);
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout);
    expect(printed.s3).toEqual({ bucket: 'my-bucket', statusPrefix: 'status/' });
    expect(printed.dataDir).toBe('/data');
  });
});

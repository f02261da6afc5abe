import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeepAwakeReader, readHolds } from '../../../agent/idle/holds.ts';
import type { SmallObjects } from '../../../agent/idle/small-objects.ts';
import { memoryLogger } from '../agent/fakes.ts';

class Objects implements SmallObjects {
  body: string | null = null;
  failing = false;
  gets = 0;
  async getText() {
    this.gets++;
    if (this.failing) throw new Error('S3 down');
    return this.body;
  }
  async putText() {}
}

const NOW = Date.parse('2026-12-01T10:00:00Z');
const lease = (until: string) =>
  JSON.stringify({ until, by: 'dalston-aws up --for 4h', createdAt: '2026-12-01T09:00:00Z' });
let dir = '';
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('idle holds', () => {
  it('a keep-awake lease holds until it ends; malformed holds nothing; an S3 outage keeps the last one', async () => {
    const objects = new Objects();
    const { logger, lines } = memoryLogger();
    const r = new KeepAwakeReader(objects, 'status/', 'i-1', logger);
    expect(r.key).toBe('status/i-1/keep-awake.json');
    expect(await r.read(NOW)).toBeNull();
    objects.body = lease('2026-12-01T12:00:00Z');
    expect(await r.read(NOW)).toMatchObject({ until: '2026-12-01T12:00:00Z' });
    objects.failing = true;
    expect(await r.read(NOW)).toMatchObject({ until: '2026-12-01T12:00:00Z' });
    expect(lines.some((l) => String(l.msg).includes('unreadable, keeping the last one read: S3 down'))).toBe(
      true,
    );
    // Even a lease kept through an outage ends on time.
    expect(await r.read(Date.parse('2026-12-01T12:00:01Z'))).toBeNull();
    objects.failing = false;
    objects.body = '{"until": 5}';
    expect(await r.read(NOW)).toBeNull();
    expect(lines.some((l) => String(l.msg).includes('ignored: wrong shape at until'))).toBe(true);
  });

  it('a backup holding the lock, a restore lease and a heal in progress are maintenance; a dead lock owner is not', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'idle-holds-'));
    const lockFile = path.join(dir, 'backup.lock');
    const objects = new Objects();
    objects.body = lease('2026-12-01T12:00:00Z');
    let acting = new Set<string>();
    const read = readHolds({
      maintenance: () => null,
      backupLockFile: lockFile,
      syncLockFile: path.join(dir, 'sync.lock'),
      acting: () => acting,
      keepAwake: new KeepAwakeReader(objects, 'status/', 'i-1', memoryLogger().logger),
      now: () => NOW,
      alive: (pid) => pid === 4242,
    });
    expect((await read(true)).holds).toEqual([
      {
        kind: 'lease',
        detail: 'keep-awake until 2026-12-01T12:00:00Z (dalston-aws up --for 4h)',
        until: Date.parse('2026-12-01T12:00:00Z'),
      },
    ]);
    await writeFile(lockFile, JSON.stringify({ pid: 4242, what: 'backup', since: '2026-12-01T09:59:00Z' }));
    acting = new Set(['redis']);
    objects.body = null;
    expect(await read(true)).toEqual({
      holds: [
        { kind: 'maintenance', detail: 'backup running (pid 4242, since 2026-12-01T09:59:00Z)' },
        { kind: 'maintenance', detail: 'agent acting on redis' },
      ],
      lease: null,
    });
    // While a signal is busy the lease is not asked for: the last one read stands.
    objects.body = lease('2026-12-01T11:00:00Z');
    const gets = objects.gets;
    expect((await read(false)).lease).toBeNull();
    expect(objects.gets).toBe(gets);
    await writeFile(lockFile, JSON.stringify({ pid: 999, what: 'backup', since: '2026-12-01T09:59:00Z' }));
    acting = new Set();
    objects.body = null;
    expect((await read(true)).holds).toEqual([]);
    // A sync converging the host holds it up too.
    await writeFile(
      path.join(dir, 'sync.lock'),
      JSON.stringify({ pid: 4242, what: 'sync', since: '2026-12-01T10:00:00Z' }),
    );
    expect((await read(true)).holds).toEqual([
      { kind: 'maintenance', detail: 'sync running (pid 4242, since 2026-12-01T10:00:00Z)' },
    ]);
  });
});

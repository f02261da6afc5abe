import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CUSTOMISE_SCRIPT,
  DB_IDS,
  DB_IMAGES,
  DB_ROOTFS_RECIPE,
  dbImageArchiveFiles,
  dbImageHash,
  dbRootfsDir,
  dbRootfsHash,
  ENTRYPOINT_FILES,
  imageRunConfig,
  PG_BIN,
  PGDATA,
  rootfsTarArgs,
} from '../../harness/debian-images.ts';

describe('Postgres/Redis image recipe hashes', () => {
  it('are stable, and ignore the order packages are listed in', () => {
    expect(dbRootfsHash()).toBe(dbRootfsHash({ ...DB_ROOTFS_RECIPE }));
    expect(dbRootfsHash({ ...DB_ROOTFS_RECIPE, packages: [...DB_ROOTFS_RECIPE.packages].reverse() })).toBe(
      dbRootfsHash(),
    );
    expect(dbRootfsHash()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a package, customisation or layout change makes a new rootfs (and new images)', () => {
    for (const changed of [
      { ...DB_ROOTFS_RECIPE, packages: [...DB_ROOTFS_RECIPE.packages, 'procps'] },
      { ...DB_ROOTFS_RECIPE, customise: `${CUSTOMISE_SCRIPT}\ntrue\n` },
      { ...DB_ROOTFS_RECIPE, layout: DB_ROOTFS_RECIPE.layout + 1 },
      { ...DB_ROOTFS_RECIPE, suite: 'trixie' },
    ]) {
      expect(dbRootfsHash(changed)).not.toBe(dbRootfsHash());
      expect(dbImageHash(changed)).not.toBe(dbImageHash());
    }
  });

  it('an entrypoint change makes new images over the same cached rootfs', () => {
    const edited = { ...ENTRYPOINT_FILES, 'usr/local/bin/redis-entrypoint.sh': '#!/bin/sh\nexec "$@"\n' };
    expect(dbImageHash(DB_ROOTFS_RECIPE, edited)).not.toBe(dbImageHash());
    expect(dbRootfsDir('/c')).toBe(`/c/db-images/rootfs-${dbRootfsHash()}`);
  });
});

describe('image configuration', () => {
  it('Postgres: the official image PGDATA, its tools on PATH, postgres as the command, SIGINT to stop', () => {
    const c = imageRunConfig('postgres', 'h1');
    expect(c.Env).toContain(`PGDATA=${PGDATA}`);
    expect(PGDATA).toBe('/var/lib/postgresql/18/docker');
    expect(c.Env.find((e) => e.startsWith('PATH='))).toMatch(new RegExp(`^PATH=${PG_BIN}:`));
    expect(c.Cmd).toEqual(['postgres']);
    expect(c.Entrypoint).toEqual(['/usr/local/bin/postgres-entrypoint.sh']);
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.Labels).toEqual({ 'dalston-host-test.recipe': 'h1' });
  });

  it('Redis: redis-server in /data, stopped by SIGTERM (Docker default) so it saves before exiting', () => {
    const c = imageRunConfig('redis', 'h1');
    expect(c.Cmd).toEqual(['redis-server']);
    expect(c.WorkingDir).toBe('/data');
    expect(c.StopSignal).toBeUndefined();
    expect(Object.keys(ENTRYPOINT_FILES).map((f) => `/${f}`)).toContain(c.Entrypoint[0]);
  });

  it("the customisation gives postgres and redis Alpine's ids, which the bootstrap's data dirs use", () => {
    expect(DB_IDS).toEqual({ postgres: { uid: 70, gid: 70 }, redis: { uid: 999, gid: 1000 } });
    expect(CUSTOMISE_SCRIPT).toContain('move_ids postgres 70 70');
    expect(CUSTOMISE_SCRIPT).toContain('move_ids redis 999 1000');
  });
});

describe('docker load archive', () => {
  const layers = [
    { path: 'rootfs-a/layer.tar', diffId: 'a'.repeat(64), createdBy: 'debootstrap' },
    { path: 'entrypoints-b/layer.tar', diffId: 'b'.repeat(64), createdBy: 'entrypoints' },
  ];
  const { manifest, configs } = dbImageArchiveFiles(
    'h2',
    layers,
    DB_IMAGES,
    '2026-01-01T00:00:00.000Z',
    'x64',
  );

  it('one manifest entry per image, both over the same layers, in order', () => {
    expect(manifest.map((e) => e.RepoTags)).toEqual([[DB_IMAGES.postgres], [DB_IMAGES.redis]]);
    for (const e of manifest) expect(e.Layers).toEqual(['rootfs-a/layer.tar', 'entrypoints-b/layer.tar']);
  });

  it('each config is named by its sha256 (the image id) and lists the layer diff ids', () => {
    for (const e of manifest) {
      const text = configs[e.Config]!;
      expect(e.Config).toBe(`${createHash('sha256').update(text).digest('hex')}.json`);
      const cfg = JSON.parse(text);
      expect(cfg.architecture).toBe('amd64');
      expect(cfg.os).toBe('linux');
      expect(cfg.rootfs).toEqual({
        type: 'layers',
        diff_ids: [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`],
      });
      expect(cfg.history).toHaveLength(2);
      expect(cfg.config.Labels['dalston-host-test.recipe']).toBe('h2');
    }
    expect(new Set(manifest.map((e) => e.Config)).size).toBe(2);
  });

  it('packs the rootfs with numeric owners and without device nodes or the cache marker', () => {
    const args = rootfsTarArgs('/c/rootfs', '/w/layer.tar');
    expect(args).toContain('--numeric-owner');
    for (const x of ['./dev/*', './proc/*', './sys/*', './.recipe.json'])
      expect(args).toContain(`--exclude=${x}`);
    expect(args.slice(-3)).toEqual(['-cf', '/w/layer.tar', '.']);
  });
});

import { describe, expect, it } from 'vitest';
import {
  controlDataOnVolume,
  expectedMarksDigest,
  imageSources,
  loadImagesScript,
  parseMarks,
  writeMarksSql,
} from '../../../rehearsal/world/db-images.ts';
import type { Shell } from '../../../shared/shell.ts';
import { DB_IMAGES } from '../../harness/debian-images.ts';

describe('rehearsal: real Postgres and Redis images', () => {
  it('tags the Postgres and Redis images for their services and the stand-in for the rest', () => {
    const json = JSON.stringify({
      services: {
        postgres: { image: 'postgres:18.1-alpine' },
        redis: { image: 'redis:8.2-alpine' },
        gateway: { image: 'g:1' },
        orchestrator: { image: 'g:1' },
        built: { build: '.' },
      },
    });
    expect(imageSources(json, 'standin:1')).toEqual([
      [DB_IMAGES.postgres, 'postgres:18.1-alpine'],
      [DB_IMAGES.redis, 'redis:8.2-alpine'],
      ['standin:1', 'g:1'],
    ]);
  });

  it('refuses an image name that Postgres and another service would share', () => {
    const json = JSON.stringify({ services: { postgres: { image: 'x:1' }, gateway: { image: 'x:1' } } });
    expect(() => imageSources(json, 'standin:1')).toThrow(/image x:1 is used by gateway/);
  });

  it('the load script loads the database images only when their label is not this recipe', () => {
    const s = loadImagesScript({
      standinImage: 'standin:1',
      standinTar: '/s.tar',
      dbArchiveDir: '/db',
      imagesList: '/list',
      hash: 'abc123',
    });
    expect(s).toContain('if [ "$label" != abc123 ]; then');
    expect(s).toContain('tar -C /db -cf - . | docker load');
    expect(s).toContain('docker tag "$source" "$target"');
  });

  it('marks: hex nonce only, a digest that depends on the nonce, psql -At output parsed', () => {
    expect(() => writeMarksSql("x'; DROP TABLE y; --")).toThrow(/nonce must be hex/);
    expect(writeMarksSql('ab12')).toContain("md5('ab12:' || i)");
    expect(expectedMarksDigest('ab12')).toMatch(/^[0-9a-f]{32}$/);
    expect(expectedMarksDigest('ab12')).not.toBe(expectedMarksDigest('ab13'));
    expect(parseMarks('1000|d41d8cd9|base/16384/16390|/var/lib/postgresql/18/docker\n')).toEqual({
      count: 1000,
      digest: 'd41d8cd9',
      relationFile: 'base/16384/16390',
      dataDirectory: '/var/lib/postgresql/18/docker',
    });
    expect(() => parseMarks('ERROR: relation does not exist')).toThrow(/unexpected psql output/);
  });

  it('pg_controldata on the volume runs in a private mount namespace, chrooted into the cached rootfs', async () => {
    const calls: string[][] = [];
    const shell: Shell = {
      run: async (cmd, args) => {
        calls.push([cmd, ...args]);
        return { exitCode: 0, stdout: 'Database cluster state:               shut down\n', stderr: '' };
      },
    };
    await controlDataOnVolume(shell, '/cache/rootfs-x', '/dev/loop7', 'postgres/18/docker');
    const [argv] = calls;
    expect(argv!.slice(0, 4)).toEqual(['unshare', '--mount', '--propagation', 'private']);
    expect(argv!.slice(-4)).toEqual([
      '/dev/loop7',
      '/cache/rootfs-x',
      '/usr/lib/postgresql/15/bin/pg_controldata',
      'postgres/18/docker',
    ]);
    expect(argv!.join(' ')).toContain('mount -o ro,noload');
  });
});

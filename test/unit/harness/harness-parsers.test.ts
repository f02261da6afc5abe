import { describe, expect, it } from 'vitest';
import { type AptRequirement, packagesToInstall } from '../../harness/apt.ts';
import { parseComposeVersion } from '../../harness/compose-plugin.ts';
import { loopsUnder, parseLosetupList } from '../../harness/loop-device.ts';
import { parseApplets, recipeHash } from '../../harness/standin-image.ts';

describe('parseComposeVersion', () => {
  it('reads Debian, upstream and desktop version lines', () => {
    expect(parseComposeVersion('Docker Compose version 2.26.1-4\n')).toMatchObject({
      major: 2,
      minor: 26,
      patch: 1,
    });
    expect(parseComposeVersion('Docker Compose version v2.29.7\n')).toMatchObject({
      major: 2,
      raw: 'v2.29.7',
    });
    expect(parseComposeVersion('Docker Compose version v2.30.3-desktop.1')?.minor).toBe(30);
  });

  it('is undefined for a CLI without the plugin or for Compose v1 output', () => {
    expect(
      parseComposeVersion("docker: 'compose' is not a docker command.\nSee 'docker --help'"),
    ).toBeUndefined();
    expect(parseComposeVersion('docker: unknown command: docker compose')).toBeUndefined();
    expect(parseComposeVersion('docker-compose version 1.29.2, build unknown')).toBeUndefined();
  });
});

describe('parseLosetupList / loopsUnder', () => {
  const out = [
    '/dev/loop0 /var/tmp/other/ebs.img',
    '/dev/loop1 /scratch/harness/runs/ab12-x/loop-1.img',
    '/dev/loop2 /scratch/harness/runs/ab12-x/with\\x20space.img (deleted)',
    '/dev/loop3 /scratch/harness/runs/ab12-xy/loop-2.img',
    '',
  ].join('\n');

  it('parses devices and unescapes backing files', () => {
    const entries = parseLosetupList(out);
    expect(entries).toHaveLength(4);
    expect(entries[2]).toEqual({
      device: '/dev/loop2',
      backingFile: '/scratch/harness/runs/ab12-x/with space.img',
    });
  });

  it('selects only files inside the directory, not a sibling sharing its prefix', () => {
    const mine = loopsUnder(parseLosetupList(out), '/scratch/harness/runs/ab12-x');
    expect(mine.map((e) => e.device)).toEqual(['/dev/loop1', '/dev/loop2']);
  });
});

describe('packagesToInstall', () => {
  const reqs: AptRequirement[] = [
    { pkg: 'docker.io', commands: ['dockerd', 'docker'] },
    { pkg: 'busybox-static', commands: ['busybox'], mustBeInstalledPackage: true },
    { pkg: 'socat', commands: ['socat'] },
  ];

  it('asks for packages with any missing command', () => {
    const has = (c: string) => c !== 'dockerd';
    expect(packagesToInstall(reqs, has, () => true)).toEqual(['docker.io']);
  });

  it('asks for busybox-static when only the dynamic busybox is installed', () => {
    expect(
      packagesToInstall(
        reqs,
        () => true,
        (p) => p !== 'busybox-static',
      ),
    ).toEqual(['busybox-static']);
  });

  it('asks for nothing when all is present', () => {
    expect(
      packagesToInstall(
        reqs,
        () => true,
        () => true,
      ),
    ).toEqual([]);
  });
});

describe('stand-in image recipe', () => {
  it('parses applet names and drops busybox itself and junk', () => {
    expect(parseApplets('[\n[[\nbusybox\nsh\nsleep\nrun-parts\n\nnot an applet\n')).toEqual([
      '[',
      '[[',
      'sh',
      'sleep',
      'run-parts',
    ]);
  });

  it('hash changes with the busybox build or the applet set, not otherwise', () => {
    const a = recipeHash('BusyBox v1.35.0', ['sh', 'sleep']);
    expect(recipeHash('BusyBox v1.35.0', ['sh', 'sleep'])).toBe(a);
    expect(recipeHash('BusyBox v1.36.1', ['sh', 'sleep'])).not.toBe(a);
    expect(recipeHash('BusyBox v1.35.0', ['sh'])).not.toBe(a);
  });
});

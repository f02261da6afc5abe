import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  debianMirror,
  debianMirrorFrom,
  parseDeb822Sources,
  parseOneLineSources,
} from '../../harness/apt-mirror.ts';

// Sample mirrors on reserved example domains: the code must work with any mirror.
const DEB822 = `Types: deb
# an archive snapshot this image was built from
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
`;

describe('apt sources parsing', () => {
  it('reads deb822 stanzas, skipping comment lines inside a stanza', () => {
    expect(parseDeb822Sources(DEB822)).toEqual([
      {
        types: ['deb'],
        uris: ['http://mirror.example.org/debian'],
        suites: ['bookworm', 'bookworm-updates'],
        enabled: true,
      },
      {
        types: ['deb'],
        uris: ['http://mirror.example.org/debian-security'],
        suites: ['bookworm-security'],
        enabled: true,
      },
    ]);
  });

  it('reads Enabled: no, multi-value fields and continuation lines', () => {
    const text =
      'Types: deb deb-src\nURIs: http://a.example/debian\n http://b.example/debian\nSuites: trixie\nEnabled: no\n';
    expect(parseDeb822Sources(text)).toEqual([
      {
        types: ['deb', 'deb-src'],
        uris: ['http://a.example/debian', 'http://b.example/debian'],
        suites: ['trixie'],
        enabled: false,
      },
    ]);
  });

  it('reads one-line entries with options and trailing comments, ignoring commented-out lines', () => {
    const text = [
      '# deb http://old.example/debian buster main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://m.example/debian bookworm main # main archive',
      'deb-src http://m.example/debian bookworm main',
      '',
    ].join('\n');
    expect(parseOneLineSources(text)).toEqual([
      { types: ['deb'], uris: ['http://m.example/debian'], suites: ['bookworm'], enabled: true },
      { types: ['deb-src'], uris: ['http://m.example/debian'], suites: ['bookworm'], enabled: true },
    ]);
  });
});

describe('debianMirrorFrom', () => {
  it('takes the main archive from a deb822 file, not the security one', () => {
    expect(debianMirrorFrom([{ path: '/etc/apt/sources.list.d/debian.sources', text: DEB822 }])).toBe(
      'http://mirror.example.org/debian',
    );
  });

  it('skips deb-src, security/updates-only entries, other repositories and disabled stanzas', () => {
    const list = [
      'deb-src http://src.example/debian bookworm main',
      'deb http://sec.example/debian-security bookworm-security main',
      'deb http://upd.example/debian bookworm-updates main',
      'deb https://vendor.example/apt stable main',
      'deb https://main.example/pub/debian/ bookworm main contrib',
    ].join('\n');
    const disabled = 'Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n';
    expect(
      debianMirrorFrom([
        { path: '/etc/apt/sources.list.d/a.sources', text: disabled },
        { path: '/etc/apt/sources.list', text: list },
      ]),
    ).toBe('https://main.example/pub/debian');
  });

  it('keeps the files in the order given (apt reads sources.list first)', () => {
    expect(
      debianMirrorFrom([
        { path: '/etc/apt/sources.list', text: 'deb http://first.example/debian bookworm main\n' },
        { path: '/etc/apt/sources.list.d/x.sources', text: DEB822 },
      ]),
    ).toBe('http://first.example/debian');
  });

  it('finds nothing when no entry is the Debian archive', () => {
    expect(debianMirrorFrom([])).toBeUndefined();
    expect(
      debianMirrorFrom([
        { path: '/etc/apt/sources.list', text: '# deb http://m.example/debian bookworm main\n' },
        { path: '/etc/apt/sources.list.d/v.list', text: 'deb https://vendor.example/debian-ish x main\n' },
      ]),
    ).toBeUndefined();
  });
});

describe('debianMirror (reading /etc/apt)', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function etcApt(files: Record<string, string>): Promise<string> {
    dir = await mkdtemp(path.join(os.tmpdir(), 'apt-mirror-test-'));
    await mkdir(path.join(dir, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    return dir;
  }

  it('reads sources.list.d/*.sources and *.list, ignoring files apt ignores', async () => {
    const root = await etcApt({
      'sources.list.d/00-old.sources.disabled':
        'Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\n',
      'sources.list.d/debian.sources': DEB822,
    });
    expect(await debianMirror(root)).toBe('http://mirror.example.org/debian');
  });

  it('prefers sources.list, apt reading it first', async () => {
    const root = await etcApt({
      'sources.list': 'deb http://list.example/debian bookworm main\n',
      'sources.list.d/debian.sources': DEB822,
    });
    expect(await debianMirror(root)).toBe('http://list.example/debian');
  });

  it('fails as a missing prerequisite naming every file it looked at', async () => {
    const root = await etcApt({
      'sources.list.d/vendor.list': 'deb https://vendor.example/apt stable main\n',
      'sources.list.d/debian.sources.disabled': DEB822,
    });
    const err = await debianMirror(root).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/^missing prerequisite: no Debian mirror/);
    expect(err).toContain(`${path.join(root, 'sources.list')} (absent)`);
    expect(err).toContain(path.join(root, 'sources.list.d', 'vendor.list'));
    expect(err).not.toContain('debian.sources.disabled');
  });
});

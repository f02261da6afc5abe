import { describe, expect, it } from 'vitest';
import { classifyOs, parseOsRelease } from '../../../bootstrap/os-release.ts';

const AL2023 = `NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.6.20241010"
`;
const UBUNTU = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
`;
const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\r\nNAME="Debian GNU/Linux"\r\nVERSION_ID="12"\r\nVERSION_CODENAME=bookworm\r\nID=debian\r\n`;

describe('os-release', () => {
  it('parses quoted, unquoted, comments and CRLF', () => {
    const os = parseOsRelease(`# comment\nA="x y"\nB='single'\nC=plain\nD="esc \\"q\\""\n\nnot a line\n`);
    expect(os).toEqual({ A: 'x y', B: 'single', C: 'plain', D: 'esc "q"' });
    expect(parseOsRelease(DEBIAN).VERSION_ID).toBe('12');
  });

  it('supports AL2023, Ubuntu 22.04/24.04 and Debian 12', () => {
    expect(classifyOs(parseOsRelease(AL2023))).toMatchObject({
      supported: true,
      platform: { family: 'al2023' },
    });
    expect(classifyOs(parseOsRelease(UBUNTU))).toMatchObject({
      supported: true,
      platform: { family: 'ubuntu', codename: 'noble' },
    });
    const jammy = UBUNTU.replaceAll('24.04', '22.04').replaceAll('noble', 'jammy');
    expect(classifyOs(parseOsRelease(jammy))).toMatchObject({
      platform: { family: 'ubuntu', codename: 'jammy' },
    });
    expect(classifyOs(parseOsRelease(DEBIAN))).toMatchObject({
      platform: { family: 'debian', codename: 'bookworm' },
    });
  });

  it('rejects other releases, naming them', () => {
    const focal = classifyOs(parseOsRelease(UBUNTU.replaceAll('24.04', '20.04')));
    expect(focal).toEqual({ supported: false, description: expect.stringContaining('VERSION_ID=20.04') });
    const al2 = classifyOs(parseOsRelease('ID="amzn"\nVERSION_ID="2"\nPRETTY_NAME="Amazon Linux 2"\n'));
    expect(al2).toEqual({ supported: false, description: 'Amazon Linux 2 (ID=amzn, VERSION_ID=2)' });
    expect(classifyOs({})).toMatchObject({ supported: false, description: expect.stringContaining('ID=?') });
  });
});

/**
 * /etc/os-release parsing and the supported-platform decision. The format is a
 * shell-compatible KEY=value list (os-release(5)); values may be quoted.
 */
export type OsRelease = Record<string, string>;

export function parseOsRelease(text: string): OsRelease {
  const out: OsRelease = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    out[m[1]!] = unquote(m[2]!);
  }
  return out;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) {
    return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
  }
  return v;
}

/** The families the package and tailscale steps know how to drive. */
export type Platform =
  | { family: 'al2023'; name: string; version: string }
  | { family: 'ubuntu'; name: string; version: string; codename: string }
  | { family: 'debian'; name: string; version: string; codename: string };

export type PlatformCheck =
  | { supported: true; platform: Platform }
  | { supported: false; description: string };

const UBUNTU = new Set(['22.04', '24.04']);

export function classifyOs(os: OsRelease): PlatformCheck {
  const id = os.ID ?? '';
  const version = os.VERSION_ID ?? '';
  const name = os.PRETTY_NAME ?? (`${os.NAME ?? id} ${version}`.trim() || 'unknown OS');
  if (id === 'amzn' && version === '2023')
    return { supported: true, platform: { family: 'al2023', name, version } };
  if (id === 'ubuntu' && UBUNTU.has(version)) {
    const codename = os.VERSION_CODENAME ?? os.UBUNTU_CODENAME ?? '';
    return { supported: true, platform: { family: 'ubuntu', name, version, codename } };
  }
  if (id === 'debian' && version === '12') {
    return {
      supported: true,
      platform: { family: 'debian', name, version, codename: os.VERSION_CODENAME ?? 'bookworm' },
    };
  }
  return { supported: false, description: `${name} (ID=${id || '?'}, VERSION_ID=${version || '?'})` };
}

export const SUPPORTED_OS_TEXT = 'Amazon Linux 2023, Ubuntu 22.04/24.04, Debian 12';

import { describe, expect, it } from 'vitest';
import { DATA_SUBDIRS, dataPaths } from '../../../shared/config/data-paths.ts';
import { parseConfig, requireKey } from '../../../shared/config/load.ts';
import { ConfigError, ExitCode } from '../../../shared/errors.ts';

function errorOf(raw: unknown): ConfigError {
  try {
    parseConfig(raw, 'host.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config schema', () => {
  it('fills every default from an empty object', () => {
    const c = parseConfig({});
    expect(c.dataDir).toBe('/data');
    expect(c.compose.project).toBe('dalston');
    expect(c.agent.listen).toBe('127.0.0.1:9190');
    expect(c.agent.requireDataMount).toBe(true);
    expect(c.agent.restartBudget).toEqual({ max: 3, windowSeconds: 900 });
    expect(c.agent.backoff).toEqual({ initialSeconds: 10, maxSeconds: 300, resetAfterHealthySeconds: 600 });
    expect(c.s3.statusPrefix).toBe('status/');
    expect(c.s3.bucket).toBeUndefined();
    expect(c.volume).toMatchObject({ fsType: 'ext4', label: 'dalston-data', waitSeconds: 300 });
    expect(c.volume.id).toBeUndefined();
    expect(c.tailscale.hostname).toBe('dalston');
  });

  it('keeps given values and defaults the rest of the same object', () => {
    const c = parseConfig({ agent: { restartBudget: { max: 5 } }, volume: { id: 'vol-0123456789abcdef0' } });
    expect(c.agent.restartBudget).toEqual({ max: 5, windowSeconds: 900 });
    expect(c.volume.id).toBe('vol-0123456789abcdef0');
  });

  it.each([
    [{ agent: { listn: '127.0.0.1:1' } }, 'agent.listn', /unknown key/],
    [{ extra: true }, 'extra', /unknown key/],
    [{ agent: { listen: 9190 } }, 'agent.listen', /expected string, got number/],
    [{ agent: { listen: 'localhost' } }, 'agent.listen', /host:port/],
    [{ agent: { listen: '0x0:9190' } }, 'agent.listen', /every interface \(0\.0\.0\.0\)/],
    [{ agent: { listen: '[::ffff:0.0.0.0]:9190' } }, 'agent.listen', /every interface/],
    [{ agent: { listen: '100.64.1.2:9190' } }, 'agent.listen', /not a loopback address/],
    [{ dataDir: 'data' }, 'dataDir', /absolute path/],
    [{ volume: { id: 'vol-XYZ' } }, 'volume.id', /EBS volume id/],
    [{ volume: { fsType: 'btrfs' } }, 'volume.fsType', /ext4|xfs/],
    [{ agent: { restartBudget: { max: 0 } } }, 'agent.restartBudget.max', /too small|>=/i],
    [{ compose: { services: 'gateway' } }, 'compose.services', /expected array, got string/],
    [{ s3: { endpoint: 'not a url' } }, 's3.endpoint', /url/i],
    [[], '(root)', /expected object, got array/],
  ])('refuses %j naming %s', (raw, key, message) => {
    const err = errorOf(raw);
    expect(err.key).toBe(key);
    expect(err.exitCode).toBe(ExitCode.config);
    expect(err.message).toContain(`${key}:`);
    expect(err.message).toMatch(message);
  });

  it('requireKey names the missing key with exit 78', () => {
    const c = parseConfig({});
    expect(() =>
      requireKey(c.volume.device ?? c.volume.id, 'volume.id|volume.device', 'for the disk step'),
    ).toThrow(/volume\.id\|volume\.device is required for the disk step/);
    expect(requireKey('x', 'k', 'why')).toBe('x');
  });
});

describe('paths derived from dataDir', () => {
  it('a non-default dataDir moves every derived path with it', () => {
    const c = parseConfig({ dataDir: '/srv/data' });
    const p = dataPaths(c.dataDir);
    // The dalston step keeps `current` here; the agent and the images step read compose files here.
    expect(c.compose.workingDir).toBe('/srv/data/dalston/current');
    expect(p.dalstonCurrent).toBe(c.compose.workingDir);
    expect(p.dalstonCheckouts).toBe('/srv/data/dalston');
    expect(p.subdirs).toEqual({
      postgres: '/srv/data/postgres',
      redis: '/srv/data/redis',
      models: '/srv/data/models',
      dalston: '/srv/data/dalston',
      backups: '/srv/data/backups',
      secrets: '/srv/data/secrets',
      tailscale: '/srv/data/tailscale',
    });
    expect(p.secretsEnv).toBe('/srv/data/secrets/compose.env');
    expect(p.tailscaleState).toBe('/srv/data/tailscale');
  });

  it('the default dataDir gives the default layout', () => {
    const c = parseConfig({});
    expect(c.compose.workingDir).toBe('/data/dalston/current');
    expect(Object.values(dataPaths(c.dataDir).subdirs)).toEqual(DATA_SUBDIRS.map((n) => `/data/${n}`));
  });

  it('an explicit compose.workingDir wins over the derived one', () => {
    const c = parseConfig({ dataDir: '/srv/data', compose: { workingDir: '/opt/stack' } });
    expect(c.compose.workingDir).toBe('/opt/stack');
    expect(dataPaths(c.dataDir).dalstonCheckouts).toBe('/srv/data/dalston');
  });

  it('normalises a trailing slash and still refuses a relative workingDir naming the key', () => {
    expect(parseConfig({ dataDir: '/srv/data/' }).compose.workingDir).toBe('/srv/data/dalston/current');
    expect(errorOf({ compose: { workingDir: 'stack' } }).key).toBe('compose.workingDir');
  });
});

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  changedKeys,
  composeEnvFor,
  DESIRED_STATE_CACHE,
  type DesiredLocation,
  desiredLocation,
  desiredStep,
  hostJsonFromDesired,
  invalidKey,
  parseDesiredStateUrl,
} from '../../../bootstrap/steps/desired.ts';
import type { ConditionalRead } from '../../../shared/aws/s3-object-store.ts';
import { type DesiredState, parseDesiredState } from '../../../shared/desired/desired-state.ts';
import type { DesiredStateStore } from '../../../shared/desired/desired-state-source.ts';
import { ConfigError, ExitCode, HostError, UsageError } from '../../../shared/errors.ts';
import { fakeContext } from './fakes.ts';

const HOST = {
  compose: {
    services: ['postgres', 'redis', 'gateway', 'orchestrator'],
    envFiles: ['/etc/dalston/compose.env'],
  },
  s3: { bucket: 'dalston-artifacts-123456789012', region: 'eu-west-2' },
  volume: { id: 'vol-0123456789abcdef0' },
  dalston: { ref: 'v1.0.0', imageTag: '1.0.0' },
};
const doc = (host: Record<string, unknown> = HOST) => ({
  schemaVersion: 1,
  release: { version: '0.3.0', key: 'releases/dalston-host-0.3.0.tgz', sha256: 'a'.repeat(64) },
  host,
  publishedBy: 'terraform',
});
function state(host: Record<string, unknown> = HOST): DesiredState {
  const p = parseDesiredState(doc(host));
  if (p.kind !== 'ok') throw new Error(p.reason);
  return p.state;
}

describe('hostJsonFromDesired', () => {
  it('first boot takes everything and names every key', () => {
    const r = hostJsonFromDesired(state(), null);
    expect(r.raw).toEqual(HOST);
    expect(r.kept).toEqual([]);
    expect(r.changedKeys).toEqual([
      'compose.envFiles',
      'compose.services',
      'dalston.imageTag',
      'dalston.ref',
      's3.bucket',
      's3.region',
      'volume.id',
    ]);
  });

  it('a running host keeps its Dalston ref, image tag and services; other keys follow', () => {
    const desired = state({
      ...HOST,
      volume: { id: 'vol-0fedcba9876543210' },
      dalston: { ref: 'v1.1.0', imageTag: '1.1.0' },
      compose: { ...HOST.compose, services: [...HOST.compose.services, 'engine-x'] },
    });
    const r = hostJsonFromDesired(desired, structuredClone(HOST));
    expect(r.raw).toEqual({ ...HOST, volume: { id: 'vol-0fedcba9876543210' } });
    expect(r.changedKeys).toEqual(['volume.id']);
    expect(r.kept).toEqual(['dalston.ref', 'dalston.imageTag', 'compose.services']);
  });

  it('unchanged content changes nothing; a key the running host lacks stays absent', () => {
    expect(hostJsonFromDesired(state(), structuredClone(HOST)).changedKeys).toEqual([]);
    const running = structuredClone(HOST) as Record<string, unknown>;
    running.dalston = { ref: 'v1.0.0' };
    const r = hostJsonFromDesired(state(), running);
    expect(r.raw.dalston).toEqual({ ref: 'v1.0.0' });
    expect(r.changedKeys).toEqual([]);
    expect(r.kept).toEqual(['dalston.imageTag']);
  });

  it('does not change the desired document it was given', () => {
    const s = state({ ...HOST, dalston: { ref: 'v2.0.0' } });
    hostJsonFromDesired(s, structuredClone(HOST));
    expect(s.document.host.dalston).toEqual({ ref: 'v2.0.0' });
  });
});

describe('pure helpers', () => {
  it('changedKeys compares leaves, arrays whole', () => {
    expect(changedKeys({ a: { b: 1, c: [1] } }, { a: { b: 1, c: [1, 2] }, d: 'x' })).toEqual(['a.c', 'd']);
    expect(changedKeys({ a: { b: 1 } }, {})).toEqual(['a.b']);
  });

  it('composeEnvFor sets the overlay variables from host.json and keeps other lines', () => {
    expect(composeEnvFor(HOST, '')).toBe(
      'DALSTON_S3_BUCKET=dalston-artifacts-123456789012\nDALSTON_S3_REGION=eu-west-2\nAWS_REGION=eu-west-2\nDALSTON_IMAGE_TAG=1.0.0\nDALSTON_REF=v1.0.0\n',
    );
    const withVpc = `${composeEnvFor(HOST, '')}DALSTON_VPC_IP=10.0.1.23\n`;
    expect(composeEnvFor(HOST, withVpc)).toBe(withVpc);
    expect(composeEnvFor({ ...HOST, dalston: { ref: 'v1.0.0' } }, withVpc)).not.toMatch(/DALSTON_IMAGE_TAG/);
  });

  it('parses --desired-state and names where the object is', () => {
    expect(parseDesiredStateUrl('s3://my-bucket/config/host.json')).toBe('my-bucket');
    expect(() => parseDesiredStateUrl('s3://my-bucket/other.json')).toThrow(UsageError);
    expect(() => parseDesiredStateUrl('https://x/config/host.json')).toThrow(/--desired-state must be/);
    expect(desiredLocation(null, { url: 's3://b1b/config/host.json', region: 'eu-west-2' })).toEqual({
      bucket: 'b1b',
      region: 'eu-west-2',
    });
    expect(desiredLocation({ s3: { bucket: 'b2b', endpoint: 'http://127.0.0.1:9' } }, {})).toEqual({
      bucket: 'b2b',
      endpoint: 'http://127.0.0.1:9',
    });
    expect(desiredLocation({ s3: {} }, {})).toBeNull();
    expect(desiredLocation(null, {})).toBeNull();
  });

  it('invalidKey names the key of a reason', () => {
    expect(
      invalidKey('s3://b/config/host.json: host.dataDir: must be absolute', 's3://b/config/host.json'),
    ).toBe('host.dataDir');
    expect(invalidKey('not JSON (Unexpected token)', '')).toBe('(root)');
  });
});

/** A DesiredStateStore answering from one object held in memory (or failing like S3 would). */
class MemoryStore implements DesiredStateStore {
  readonly bucket = 'dalston-artifacts-123456789012';
  body: string | null = null;
  etag = '"e1"';
  down = false;
  reads: (string | null)[] = [];
  locations: DesiredLocation[] = [];
  async getIfChanged(_key: string, etag: string | null): Promise<ConditionalRead> {
    this.reads.push(etag);
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' });
    if (this.body === null) return { kind: 'missing' };
    if (etag === this.etag) return { kind: 'not-modified' };
    return { kind: 'ok', body: this.body, etag: this.etag, versionId: null };
  }
  factory = async (loc: DesiredLocation) => {
    this.locations.push(loc);
    return this;
  };
}

describe('the desired step', () => {
  let root: string;
  let store: MemoryStore;
  const hostPath = () => join(root, 'etc/dalston/host.json');
  const envPath = () => join(root, 'etc/dalston/compose.env');
  const ctx = (dryRun = false) => fakeContext({}, { root, configPath: hostPath(), dryRun });
  const firstBoot = () =>
    desiredStep({
      url: 's3://dalston-artifacts-123456789012/config/host.json',
      region: 'eu-west-2',
      store: store.factory,
    });
  const everyBoot = () => desiredStep({ store: store.factory });
  const readHost = async () => JSON.parse(await readFile(hostPath(), 'utf8'));

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'dh-desired-'));
    store = new MemoryStore();
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('first boot: writes host.json, compose.env and the cache from the flag location', async () => {
    store.body = JSON.stringify(doc());
    const out = await firstBoot().run(ctx());
    expect(out.result).toBe('done');
    expect(out.detail).toMatch(/host\.json \(first boot\)/);
    expect(store.locations).toEqual([{ bucket: 'dalston-artifacts-123456789012', region: 'eu-west-2' }]);
    expect(await readHost()).toEqual(HOST);
    expect(await readFile(envPath(), 'utf8')).toBe(composeEnvFor(HOST, ''));
    const cache = JSON.parse(await readFile(join(root, DESIRED_STATE_CACHE), 'utf8'));
    expect(cache).toMatchObject({ body: store.body, etag: '"e1"', versionId: null });
    expect(typeof cache.fetchedAt).toBe('string');
  });

  it('a later boot reads from host.json s3, sends the cached ETag, and changes nothing when nothing changed', async () => {
    store.body = JSON.stringify(doc());
    await firstBoot().run(ctx());
    const before = await readFile(hostPath(), 'utf8');
    const out = await everyBoot().run(ctx());
    expect(out).toMatchObject({ result: 'unchanged' });
    expect(store.reads).toEqual([null, '"e1"']);
    expect(store.locations[1]).toEqual({ bucket: 'dalston-artifacts-123456789012', region: 'eu-west-2' });
    expect(await readFile(hostPath(), 'utf8')).toBe(before);
  });

  it('a new volume id is written and named; a new Dalston ref is kept for sync, and said', async () => {
    store.body = JSON.stringify(doc());
    await firstBoot().run(ctx());
    store.body = JSON.stringify(
      doc({
        ...HOST,
        volume: { id: 'vol-0fedcba9876543210' },
        dalston: { ref: 'v1.1.0', imageTag: '1.1.0' },
      }),
    );
    store.etag = '"e2"';
    const out = await everyBoot().run(ctx());
    expect(out.result).toBe('done');
    expect(out.detail).toMatch(/changed: volume\.id\)/);
    expect(out.detail).toMatch(/kept the running dalston\.ref, dalston\.imageTag/);
    const host = await readHost();
    expect(host.volume.id).toBe('vol-0fedcba9876543210');
    expect(host.dalston).toEqual({ ref: 'v1.0.0', imageTag: '1.0.0' });
    expect(await readFile(envPath(), 'utf8')).toMatch(/DALSTON_IMAGE_TAG=1\.0\.0/);
  });

  it('an invalid object fails with exit 78 naming the key; nothing is written', async () => {
    store.body = JSON.stringify(doc());
    await firstBoot().run(ctx());
    const host = await readFile(hostPath(), 'utf8');
    const env = await readFile(envPath(), 'utf8');
    const cache = await readFile(join(root, DESIRED_STATE_CACHE), 'utf8');
    store.body = JSON.stringify(doc({ ...HOST, dataDir: 'relative' }));
    store.etag = '"e3"';
    const err = await everyBoot()
      .run(ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(ExitCode.config);
    expect((err as ConfigError).key).toBe('host.dataDir');
    expect((err as Error).message).toMatch(/host\.dataDir/);
    expect(await readFile(hostPath(), 'utf8')).toBe(host);
    expect(await readFile(envPath(), 'utf8')).toBe(env);
    expect(await readFile(join(root, DESIRED_STATE_CACHE), 'utf8')).toBe(cache);
  });

  it('S3 unreachable: the cached state is used, and said', async () => {
    store.body = JSON.stringify(doc());
    await firstBoot().run(ctx());
    // The cache holds a state host.json does not (yet) follow: a volume replaced while S3 was away.
    await writeFile(hostPath(), JSON.stringify({ ...HOST, volume: { id: 'vol-0aaaaaaaaaaaaaaaa' } }));
    store.down = true;
    const out = await everyBoot().run(ctx());
    expect(out.result).toBe('done');
    expect(out.detail).toMatch(/S3 is unreachable \(.*ECONNREFUSED.*\): using the desired state cached at/);
    expect((await readHost()).volume.id).toBe(HOST.volume.id);
  });

  it('first boot with S3 unreachable and no cache fails loudly (69); nothing is written', async () => {
    store.down = true;
    const err = await firstBoot()
      .run(ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect((err as HostError).exitCode).toBe(ExitCode.unavailable);
    expect((err as Error).message).toMatch(
      /cannot read the desired state and none is cached: .*ECONNREFUSED/,
    );
    expect(existsSync(hostPath())).toBe(false);
    expect(existsSync(envPath())).toBe(false);
  });

  it('nothing published: a running host keeps host.json, a first boot fails', async () => {
    await expect(firstBoot().run(ctx())).rejects.toThrow(
      /nothing is published at s3:\/\/.*config\/host\.json/,
    );
    await mkdir(join(root, 'etc/dalston'), { recursive: true });
    await writeFile(hostPath(), JSON.stringify(HOST));
    expect(await everyBoot().run(ctx())).toMatchObject({
      result: 'unchanged',
      detail: expect.stringMatching(/nothing is published .*host\.json kept/),
    });
  });

  it('a dry run plans and writes nothing', async () => {
    store.body = JSON.stringify(doc());
    const out = await firstBoot().run(ctx(true));
    expect(out.result).toBe('planned');
    expect(out.changes).toEqual([`write ${hostPath()} (first boot)`, `write ${envPath()}`]);
    expect(existsSync(hostPath())).toBe(false);
    expect(existsSync(join(root, DESIRED_STATE_CACHE))).toBe(false);
  });

  it('no bucket anywhere: skipped', async () => {
    expect((await everyBoot().run(ctx())).result).toBe('skipped');
  });
});

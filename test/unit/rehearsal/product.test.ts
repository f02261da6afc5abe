import { describe, expect, it } from 'vitest';
import { AWS_STANDIN, IMAGES_UNIT, USER_DATA_UNIT } from '../../../rehearsal/product/machine-files.ts';
import { describeSnapshot, parseBootstrapSteps } from '../../../rehearsal/product/observe.ts';
import { patchDesiredState, rootConfig, withDesiredRelease } from '../../../rehearsal/product/user-data.ts';
import { upgradeReleaseVersion, withDalston } from '../../../rehearsal/scenarios/upgrade.ts';
import { standinComposeYaml, standinDalstonAwsOverlay } from '../../../rehearsal/world/standin-dalston.ts';
import { HEALTH_TOOLS, ROLE_SCRIPTS } from '../../../rehearsal/world/standin-image.ts';
import { imagesByService, withImages } from '../../../rehearsal/world/standin-registry.ts';
import { parseDesiredState } from '../../../shared/desired/desired-state.ts';

const DESIRED = JSON.stringify({
  schemaVersion: 1,
  release: { version: '0.1.0', key: 'releases/dalston-host-0.1.0.tgz', sha256: 'a'.repeat(64) },
  host: {
    volume: { id: 'vol-0123456789abcdef0' },
    s3: { bucket: 'b-123' },
    dalston: { ref: 'v1.0.0', repo: 'https://github.com/ssarunic/dalston.git' },
  },
  publishedBy: 'terraform',
});

describe('desired-state patching', () => {
  it("changes only the document's host, which stays valid for the host's parser", () => {
    const out = patchDesiredState(DESIRED, (h) => ({
      ...h,
      volume: { ...(h.volume as object), device: '/dev/loop3' },
      s3: { ...(h.s3 as object), endpoint: 'http://127.0.0.1:9444' },
      dalston: { ...(h.dalston as object), repo: 'file:///srv/dalston-standin.git' },
    }));
    const parsed = parseDesiredState(out);
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    const before = JSON.parse(DESIRED);
    expect({ ...parsed.state.document, host: before.host }).toEqual(before);
    expect(parsed.state.document.host.volume).toEqual({ id: 'vol-0123456789abcdef0', device: '/dev/loop3' });
    expect(parsed.state.host.volume.device).toBe('/dev/loop3');
    expect(parsed.state.host.s3.endpoint).toBe('http://127.0.0.1:9444');
  });

  it('names another release and Dalston version, still valid for the host, the rest kept', () => {
    const release = {
      version: upgradeReleaseVersion('0.1.0'),
      key: 'releases/dalston-host-0.1.0-upgrade.tgz',
      sha256: 'b'.repeat(64),
    };
    const out = withDesiredRelease(
      withDalston(DESIRED, { ref: 'v1.1.0-rehearsal', imageTag: '1.1.0' }, { upgradeHealthySeconds: 45 }),
      release,
    );
    const parsed = parseDesiredState(out);
    if (parsed.kind !== 'ok') throw new Error(parsed.reason);
    expect(parsed.state.document.release).toEqual(release);
    expect(parsed.state.document.publishedBy).toBe('terraform');
    expect(parsed.state.host.dalston).toMatchObject({
      ref: 'v1.1.0-rehearsal',
      imageTag: '1.1.0',
      upgradeHealthySeconds: 45,
      repo: 'https://github.com/ssarunic/dalston.git',
    });
    expect(parsed.state.host.volume.id).toBe('vol-0123456789abcdef0');
  });

  it("adds a version's images to the registry list, a listed name taking its new source", () => {
    const list = 'standin:1 gw:1.0.0\npg:1 postgres:18\n';
    expect(
      withImages(list, [
        ['broken:1', 'gw:1.0.0'],
        ['standin:1', 'gw:1.1.0'],
      ]),
    ).toBe('pg:1 postgres:18\nbroken:1 gw:1.0.0\nstandin:1 gw:1.1.0\n');
    const json = JSON.stringify({ services: { gateway: { image: 'gw:1.1.0' }, minio: {} } });
    expect(imagesByService(json)).toEqual({ gateway: 'gw:1.1.0' });
  });

  it('refuses a document without a host', () => {
    expect(() => patchDesiredState('{"schemaVersion":1}', (h) => h)).toThrow(/has no host/);
  });

  it('calls the real module with fake AWS ids and the rehearsal inputs', () => {
    const tf = rootConfig({
      repo: '/repo',
      releaseVersion: '0.1.0',
      dalstonRef: 'v1.0.0-rehearsal',
      imageTag: 'rehearsal',
      services: ['postgres', 'redis'],
    });
    expect(tf).toContain('source            = "/repo/infra/terraform/modules/host-config"');
    expect(tf).toContain('release_dir       = "/repo/dist"');
    expect(tf).toContain('compose_services  = ["postgres","redis"]');
    expect(tf).toContain('os_family         = "al2023"');
    expect(tf).toMatch(/output "user_data"/);
    expect(tf).toMatch(/output "desired_state"/);
  });
});

describe('observing the product', () => {
  it("reads the bootstrap's step records from its journal and ignores other lines", () => {
    const journal = [
      'Starting dalston-host bootstrap...',
      '{"level":"info","step":"disk","result":"unchanged","detail":"/dev/loop3 is ours","msg":"disk unchanged"}',
      '{"level":"info","step":"disk","progress":"waiting","msg":"disk: waiting"}',
      '{"level":"info","step":"mount","result":"done","detail":"mounted","msg":"x"}',
      '{not json',
    ].join('\n');
    expect(parseBootstrapSteps(journal)).toEqual([
      { step: 'disk', result: 'unchanged', detail: '/dev/loop3 is ours' },
      { step: 'mount', result: 'done', detail: 'mounted' },
    ]);
  });

  it('describes a snapshot in one line', () => {
    const s = {
      state: 'degraded',
      services: [
        { name: 'postgres', state: 'running', health: 'healthy' },
        { name: 'gateway', state: 'exited', health: 'none' },
      ],
    } as unknown as Parameters<typeof describeSnapshot>[0];
    expect(describeSnapshot(s)).toBe('degraded: postgres running/healthy, gateway exited/none');
  });
});

describe('stand-ins', () => {
  it("keeps Dalston's healthcheck commands and depends_on shapes", () => {
    const y = standinComposeYaml();
    expect(y).toContain('test: ["CMD-SHELL", "pg_isready -U dalston"]');
    expect(y).toContain('test: ["CMD", "redis-cli", "ping"]');
    expect(y).toContain('test: ["CMD", "curl", "-f", "http://localhost:8000/health"]');
    expect(y).toContain("s.connect(('localhost', 9000))");
    expect(y).toContain('condition: service_completed_successfully');
    expect(y).toContain('postgres-data:/var/lib/postgresql');
    // Every service the project's overlay names exists in the base (else the overlay would not resolve).
    for (const s of [
      'stt-transcribe-faster-whisper',
      'stt-diarize-pyannote-4.0',
      'riva-nim',
      'loki',
      'minio-init',
    ]) {
      expect(y).toMatch(new RegExp(`^  ${s.replace('.', '\\.')}:$`, 'm'));
    }
    expect(standinDalstonAwsOverlay()).toContain('/data/postgres:/var/lib/postgresql');
  });

  it('has a process for every command the stand-in compose file runs and a tool for every healthcheck', () => {
    const y = standinComposeYaml();
    const commands = [...y.matchAll(/command: \["([^"]+)"\]/g)].map((m) => m[1]!);
    for (const c of new Set(commands)) expect(Object.keys(ROLE_SCRIPTS)).toContain(c);
    for (const t of ['curl', 'python']) expect(Object.keys(HEALTH_TOOLS)).toContain(t);
  });

  it('Postgres and Redis are the real images: no stand-in plays them, Postgres runs its image default command', () => {
    for (const name of ['postgres', 'redis-server']) expect(Object.keys(ROLE_SCRIPTS)).not.toContain(name);
    for (const name of ['pg_isready', 'redis-cli']) expect(Object.keys(HEALTH_TOOLS)).not.toContain(name);
    const pg = /^services:\n {2}postgres:\n((?: {4}.*\n)+)/m.exec(standinComposeYaml())?.[1] ?? '';
    expect(pg).toContain('image: postgres:18-alpine');
    expect(pg).not.toContain('command:');
  });

  it('the cloud-init stand-in runs the user-data once, after the images are loaded', () => {
    expect(USER_DATA_UNIT).toMatch(/ConditionPathExists=!\/var\/lib\/cloud\/instance\/sem\/user-data/);
    expect(USER_DATA_UNIT).toContain('After=network-online.target rehearsal-images.service');
    expect(IMAGES_UNIT).toContain('Before=dalston.service');
    expect(AWS_STANDIN).toContain('only "aws s3 cp s3://bucket/key file" is supported');
  });
});

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../shared/config/load.ts';
import { composeEnv } from '../../../shared/engine/compose-cli.ts';
import { type ShellResult, ZxShell } from '../../../shared/shell.ts';
import { requireCommand, requireEnv } from '../../harness/require.ts';

// Our overlay resolved by the real `docker compose config` (Compose v2, no daemon
// needed) on top of a Dalston-shaped base (test/fixtures/dalston-compose).

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const fixture = path.join(repoRoot, 'test/fixtures/dalston-compose');
const overlay = path.join(repoRoot, 'compose/docker-compose.aws.yml');
const shell = new ZxShell();

interface Port {
  host_ip?: string;
  published?: string;
  target: number;
}
interface Volume {
  type: string;
  source?: string;
  target: string;
}
interface Service {
  image?: string;
  pull_policy?: string;
  profiles?: string[];
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string | null>;
  ports?: Port[];
  volumes?: Volume[];
  depends_on?: Record<string, unknown>;
}
interface Project {
  services: Record<string, Service>;
}

const hostEnv = {
  // What the agent and the images step pass for the default config (DALSTON_DATA_DIR=/data).
  ...composeEnv(parseConfig({})),
  DALSTON_S3_BUCKET: 'dalston-artifacts-123456789012',
  DALSTON_S3_REGION: 'eu-west-2',
  AWS_REGION: 'eu-west-2',
  DALSTON_IMAGE_TAG: '1.2.3',
  DALSTON_REF: 'v1.2.3',
};

// Variables a caller's environment might carry; each test sets exactly what it means.
const cleared = Object.fromEntries(
  [
    ...Object.keys(hostEnv),
    'DALSTON_TAILSCALE_IP',
    'DALSTON_VPC_IP',
    'DALSTON_BIND_IP',
    'DALSTON_PG_BIND_IP',
    'DALSTON_API_KEY',
    'COMPOSE_PROFILES',
    'COMPOSE_FILE',
    'COMPOSE_PROJECT_NAME',
  ].map((k) => [k, undefined]),
);

async function compose(args: string[], env: Record<string, string | undefined>): Promise<ShellResult> {
  return shell.run(
    'docker',
    [
      'compose',
      '-p',
      'dhtest-overlay-config',
      '-f',
      path.join(fixture, 'docker-compose.yml'),
      '-f',
      path.join(fixture, 'infra/docker/docker-compose.aws.yml'),
      '-f',
      overlay,
      ...args,
    ],
    { env: { ...cleared, ...env }, timeoutMs: 60_000 },
  );
}

async function resolve(env: Record<string, string | undefined>, profiles: string[] = []): Promise<Project> {
  const r = await compose([...profiles.flatMap((p) => ['--profile', p]), 'config', '--format', 'json'], env);
  if (r.exitCode !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Project;
}

let cpuServices: string[];
let defaults: Project;
/** Every profile except `disabled` (MinIO's) enabled: the widest stack the host could run. */
let everything: Project;

beforeAll(async () => {
  requireCommand('docker', 'apt-get install -y docker.io');
  requireEnv('DOCKER_CONFIG');
  const v = await shell.run('docker', ['compose', 'version']);
  if (v.exitCode !== 0)
    throw new Error(`missing prerequisite: docker compose v2 plugin (${v.stderr.trim()})`);
  cpuServices = JSON.parse(
    await readFile(path.join(repoRoot, 'compose/services.cpu.json'), 'utf8'),
  ) as string[];
  defaults = await resolve(hostEnv);
  const profilesOut = await compose(['config', '--profiles'], hostEnv);
  const profiles = profilesOut.stdout.split('\n').filter((p) => p && p !== 'disabled');
  expect(profiles).toEqual(
    expect.arrayContaining(['build', 'extra-engines', 'gpu', 'observability', 'riva']),
  );
  everything = await resolve(hostEnv, profiles);
});

const active = (p: Project) => Object.entries(p.services);

describe('service set', () => {
  it('compose/services.cpu.json is the CPU set, and the default stack is exactly it', () => {
    expect(cpuServices).toEqual([
      'postgres',
      'redis',
      'gateway',
      'orchestrator',
      'stt-prepare',
      'stt-transcribe-faster-whisper',
    ]);
    expect(Object.keys(defaults.services).sort()).toEqual([...cpuServices].sort());
  });
});

describe('S3 instead of MinIO', () => {
  it('disables MinIO and nothing depends on it, in any profile', () => {
    expect(defaults.services.minio).toBeUndefined();
    expect(defaults.services['minio-init']).toBeUndefined();
    expect(everything.services.minio).toBeUndefined();
    for (const [name, svc] of active(everything)) {
      const deps = Object.keys(svc.depends_on ?? {});
      expect(deps, name).not.toContain('minio');
      expect(deps, name).not.toContain('minio-init');
    }
  });

  it('every S3-talking service gets the bucket and region and empty endpoint and keys', () => {
    const s3Users = active(everything).filter(
      ([, s]) => s.environment && 'DALSTON_S3_BUCKET' in s.environment,
    );
    expect(s3Users.map(([n]) => n)).toEqual(
      expect.arrayContaining(['gateway', 'orchestrator', 'stt-prepare', 'stt-transcribe-faster-whisper']),
    );
    expect(s3Users.length).toBeGreaterThanOrEqual(18);
    for (const [name, s] of s3Users) {
      expect(s.environment, name).toMatchObject({
        DALSTON_S3_BUCKET: 'dalston-artifacts-123456789012',
        DALSTON_S3_REGION: 'eu-west-2',
        AWS_REGION: 'eu-west-2',
        DALSTON_S3_ENDPOINT_URL: '',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
      });
    }
    // No service is left talking to MinIO by any name (x-* extension fields are not services).
    for (const [name, s] of active(everything)) {
      const text = JSON.stringify(s);
      expect(text.includes('minio:9000'), `${name} mentions minio:9000`).toBe(false);
      expect(text.includes('minioadmin'), `${name} mentions minioadmin`).toBe(false);
    }
  });

  it('fails with a clear message when a required variable is missing', async () => {
    for (const missing of [
      'DALSTON_S3_BUCKET',
      'DALSTON_S3_REGION',
      'AWS_REGION',
      'DALSTON_IMAGE_TAG',
      'DALSTON_REF',
      'DALSTON_DATA_DIR',
    ]) {
      const env: Record<string, string | undefined> = { ...hostEnv, [missing]: undefined };
      const r = await compose(['config', '--quiet'], env);
      expect(r.exitCode, missing).not.toBe(0);
      expect(r.stderr, missing).toContain(`required variable ${missing} is missing a value`);
    }
  });
});

describe('state on the data volume', () => {
  const bind = (s: Service, target: string) => s.volumes?.find((v) => v.target === target);

  it('Postgres at /data/postgres on /var/lib/postgresql, Redis at /data/redis', () => {
    expect(bind(defaults.services.postgres!, '/var/lib/postgresql')).toMatchObject({
      type: 'bind',
      source: '/data/postgres',
    });
    expect(defaults.services.postgres!.volumes).toHaveLength(1);
    expect(bind(defaults.services.redis!, '/data')).toMatchObject({ type: 'bind', source: '/data/redis' });
    expect(defaults.services.redis!.volumes).toHaveLength(1);
  });

  it('has no fallback for DALSTON_DATA_DIR: without it compose refuses, saying what it must be', async () => {
    const r = await compose(['config', '--quiet'], { ...hostEnv, DALSTON_DATA_DIR: undefined });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('DALSTON_DATA_DIR must name the data volume mount point');
    // Set but empty is refused too (`:?`), so no bind lands at the root directory.
    const empty = await compose(['config', '--quiet'], { ...hostEnv, DALSTON_DATA_DIR: '' });
    expect(empty.exitCode).not.toBe(0);
  });

  it('follows DALSTON_DATA_DIR, which the agent sets to the dataDir it verified as the data mount', async () => {
    const moved = await resolve({ ...hostEnv, DALSTON_DATA_DIR: '/mnt/ebs' });
    expect(bind(moved.services.postgres!, '/var/lib/postgresql')).toMatchObject({
      source: '/mnt/ebs/postgres',
    });
    expect(bind(moved.services.redis!, '/data')).toMatchObject({ source: '/mnt/ebs/redis' });
    expect(bind(moved.services.gateway!, '/models')).toMatchObject({ source: '/mnt/ebs/models' });
  });

  it('the model cache is /data/models wherever a service mounts one', () => {
    const modelUsers = active(everything).filter(([, s]) => bind(s, '/models'));
    expect(modelUsers.map(([n]) => n)).toEqual(
      expect.arrayContaining(['gateway', 'stt-transcribe-faster-whisper']),
    );
    for (const [name, s] of modelUsers) {
      expect(bind(s, '/models'), name).toMatchObject({ type: 'bind', source: '/data/models' });
    }
  });

  it('no service keeps data in a named volume (those live on the root disk)', () => {
    for (const [name, s] of active(everything)) {
      for (const v of s.volumes ?? []) {
        expect(v.type, `${name} ${v.target}`).toBe('bind');
        if (v.target.startsWith('/etc/')) continue; // read-only config files from the checkout
        expect(v.source, `${name} ${v.target}`).toMatch(/^\/data\//);
      }
    }
  });
});

describe('no public port', () => {
  const loopback = /^127\.\d+\.\d+\.\d+$/;

  it('binds every published port to 127.0.0.1 even when Dalston bind variables say 0.0.0.0', async () => {
    const p = await resolve({ ...hostEnv, DALSTON_BIND_IP: '0.0.0.0', DALSTON_PG_BIND_IP: '0.0.0.0' }, [
      'build',
      'extra-engines',
      'gpu',
      'observability',
      'riva',
    ]);
    let count = 0;
    for (const [name, s] of active(p)) {
      for (const port of s.ports ?? []) {
        count++;
        if (name === 'gateway') expect(port.host_ip, `${name}:${port.published}`).toMatch(loopback);
        else expect(port.host_ip, `${name}:${port.published}`).toBe('127.0.0.1');
      }
    }
    expect(count).toBeGreaterThanOrEqual(15);
  });

  it('the gateway is on 127.0.0.1 and, only when set, on the Tailscale and VPC addresses', async () => {
    const hostIps = (p: Project) => p.services.gateway!.ports!.map((x) => x.host_ip);
    expect(hostIps(defaults)).toContain('127.0.0.1');
    for (const ip of hostIps(defaults)) expect(ip).toMatch(loopback);

    const withTs = await resolve({
      ...hostEnv,
      DALSTON_TAILSCALE_IP: '100.101.102.103',
      DALSTON_VPC_IP: '10.0.1.23',
    });
    expect(hostIps(withTs)).toEqual(['127.0.0.1', '100.101.102.103', '10.0.1.23']);
    for (const p of withTs.services.gateway!.ports!) expect(p.target).toBe(8000);
  });

  it("the gateway gets the host's generated admin key from the secrets env file, and nothing without one", async () => {
    const gatewayEnv = (p: Project) =>
      (p.services.gateway as unknown as { environment: Record<string, string | null> }).environment;
    expect(gatewayEnv(defaults).DALSTON_API_KEY).toBe('');
    const key = `dk_${'ab'.repeat(32)}`;
    const withKey = await resolve({ ...hostEnv, DALSTON_API_KEY: key });
    expect(gatewayEnv(withKey).DALSTON_API_KEY).toBe(key);
    // Only the gateway seeds keys: no other service sees it.
    for (const [name, svc] of Object.entries(withKey.services)) {
      if (name === 'gateway') continue;
      const env = (svc as unknown as { environment?: Record<string, string | null> }).environment ?? {};
      expect(env.DALSTON_API_KEY, name).toBeUndefined();
    }
  });
});

describe('images', () => {
  it('every service sets pull_policy', () => {
    for (const [name, s] of active(everything))
      expect(s.pull_policy, name).toMatch(/^(missing|never|always|build)$/);
  });

  it("Dalston's published images come from GHCR at the pinned tag", () => {
    for (const name of ['gateway', 'orchestrator', 'stt-prepare', 'metrics-exporter']) {
      expect(everything.services[name]!.image, name).toBe(
        `ghcr.io/ssarunic/dalston/${name === 'metrics-exporter' ? 'gateway' : name}:1.2.3`,
      );
    }
  });

  it('a pulled service can never fall back to a build: no build section survives the overlay', () => {
    // Dalston's own file builds gateway, orchestrator and stt-prepare; with `pull_policy: missing` a tag
    // that cannot be pulled would silently become a long build on the host instead of failing.
    for (const [name, s] of active(everything)) {
      if (s.pull_policy !== 'never') expect(s.build, name).toBeUndefined();
    }
    for (const name of ['gateway', 'orchestrator', 'stt-prepare']) {
      expect(everything.services[name]!.pull_policy, name).toBe('missing');
    }
  });

  it('whatever may be pulled is pinned (no latest), and nothing else is ever pulled', () => {
    for (const [name, s] of active(everything)) {
      if (s.pull_policy === 'never') continue;
      expect(s.image, name).toMatch(/^[^:]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64})$/);
      expect(s.image, name).not.toMatch(/:latest$/);
    }
    for (const [name] of active(defaults)) {
      const s = defaults.services[name]!;
      if (s.pull_policy !== 'never')
        expect(s.image, name).toMatch(/^(ghcr\.io\/ssarunic\/dalston\/|postgres:|redis:)/);
    }
  });

  it("the CPU faster-whisper engine is built here from Dalston's Dockerfile at the pinned ref, never pulled", () => {
    const fw = defaults.services['stt-transcribe-faster-whisper']!;
    expect(fw.pull_policy).toBe('never');
    expect(fw.image).toBe('dalston-local/stt-transcribe-faster-whisper:v1.2.3-cpu');
    expect(fw.build).toMatchObject({
      context: fixture,
      dockerfile: 'engines/stt-transcribe/faster-whisper/Dockerfile',
      args: { DEVICE: 'cpu' },
    });
    const base = everything.services['dalston-base-pytorch']!;
    expect(base.profiles).toEqual(['build']);
    expect(base.image).toBe('dalston/base-pytorch:latest');
    expect(base.pull_policy).toBe('never');
    expect(base.build).toMatchObject({
      dockerfile: 'docker/Dockerfile.base-pytorch',
      args: { DEVICE: 'cpu' },
    });
    expect(cpuServices).not.toContain('dalston-base-pytorch');
  });

  it('the overlay says the local build needs buildx >= 0.17', async () => {
    expect(await readFile(overlay, 'utf8')).toMatch(/buildx >= 0\.17 \(Amazon Linux 2023 ships 0\.12\)/);
  });
});

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapCommand } from '../../../bootstrap/command.ts';
import { blockingNeed } from '../../../bootstrap/runner.ts';
import {
  bootPlan,
  fullPathReason,
  isFullRun,
  STEP_ORDER,
  type Step,
  type StepName,
} from '../../../bootstrap/steps/step.ts';
import type { ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { HostError } from '../../../shared/errors.ts';
import { FakeClock, FakeShell, fakeHost } from './fakes.ts';

function sink() {
  let text = '';
  return {
    isTTY: false,
    write: (s: string) => {
      text += s;
      return true;
    },
    get text() {
      return text;
    },
  };
}

/** A step that only records that it ran (the real ones need a disk, a network, a package manager). */
const ran: string[] = [];
const fake = (name: StepName): Step => ({
  name,
  run: async () => {
    ran.push(name);
    return { result: 'done', detail: `${name} stand-in` };
  },
});
const failing = (name: StepName, err: Error): Step => ({
  name,
  run: async () => {
    ran.push(name);
    throw err;
  },
});

/** The stand-ins a full run calls, in step order (units, stack and api-key are the real steps). */
const STAND_INS_OF_A_FULL_RUN = [
  'os',
  'disk',
  'mount',
  'fstab',
  'dirs',
  'packages',
  'dalston',
  'secrets',
  'images',
  'tailscale',
];

describe('first boot with a failing outside dependency', () => {
  let root: string;
  beforeEach(async () => {
    ran.length = 0;
    root = await mkdtemp(join(tmpdir(), 'dh-first-boot-'));
    await mkdir(join(root, 'etc/dalston'), { recursive: true });
    await writeFile(
      join(root, 'etc/dalston/host.json'),
      JSON.stringify({ tailscale: { authKeyParameter: '/dalston/ts' }, dalston: { ref: 'v1' } }),
    );
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  const everyStepButUnits = (over: Partial<Record<StepName, Step>>) => ({
    os: fake('os'),
    packages: fake('packages'),
    disk: fake('disk'),
    mount: fake('mount'),
    fstab: fake('fstab'),
    dirs: fake('dirs'),
    dalston: fake('dalston'),
    secrets: fake('secrets'),
    images: fake('images'),
    ...over,
  });

  it('a failing tailscale step still leaves the units installed and enabled (the next boot retries)', async () => {
    const shell = new FakeShell();
    const code = await bootstrapCommand(['--root', root], {
      shell,
      host: fakeHost(),
      clock: new FakeClock(),
      stdout: sink(),
      stderr: sink(),
      log: pino({ level: 'silent' }),
      steps: everyStepButUnits({
        tailscale: failing(
          'tailscale',
          new HostError('failure', 'tailscale up failed (exit 1): invalid key: unable to validate API key'),
        ),
      }),
    });
    expect(code).toBe(1);
    // The units step ran for real (offline, under --root): the every-boot unit exists and is enabled.
    const units = join(root, 'etc/systemd/system');
    expect(existsSync(join(units, 'dalston-bootstrap.service'))).toBe(true);
    expect(existsSync(join(units, 'dalston.service'))).toBe(true);
    expect(shell.lines()).toContainEqual(
      `systemctl --root=${root} enable dalston-bootstrap.service dalston.service dalston-backup.service dalston-backup.timer`,
    );
    const report = JSON.parse(await readFile(join(root, 'var/lib/dalston/bootstrap.json'), 'utf8'));
    expect(report.ok).toBe(false);
    expect(report.steps.find((s: { name: string }) => s.name === 'tailscale')).toMatchObject({
      result: 'failed',
      detail: 'tailscale up failed (exit 1): invalid key: unable to validate API key',
    });
    // Not a completed first boot: the every-boot unit must take the whole bootstrap again.
    expect(existsSync(join(root, 'var/lib/dalston/bootstrap-complete'))).toBe(false);
  });

  const deps = (steps: Partial<Record<StepName, Step>>, over: Record<string, unknown> = {}) => ({
    shell: new FakeShell(),
    host: fakeHost(),
    clock: new FakeClock(),
    stdout: sink(),
    stderr: sink(),
    log: pino({ level: 'silent' }),
    steps,
    // No network in unit tests: a bucket in which nothing is published (host.json is kept).
    desiredStore: async () => ({
      bucket: 'dalston-artifacts-123456789012',
      getIfChanged: async () => ({ kind: 'missing' as const }),
    }),
    ...over,
  });
  const readReport = async () =>
    JSON.parse(await readFile(join(root, 'var/lib/dalston/bootstrap.json'), 'utf8'));
  const resultOf = (report: { steps: { name: string; result: string }[] }) =>
    Object.fromEntries(report.steps.map((x) => [x.name, x.result]));

  it('a failed image build blocks only what needs it: Tailscale (the way in) is still set up', async () => {
    const d = deps(
      everyStepButUnits({
        images: failing(
          'images',
          new HostError('failure', 'docker compose build exited 1: pull access denied'),
        ),
        tailscale: fake('tailscale'),
      }),
    );
    expect(await bootstrapCommand(['--root', root], d)).toBe(1);
    expect(ran).toEqual(STAND_INS_OF_A_FULL_RUN);
    const report = await readReport();
    expect(resultOf(report)).toMatchObject({
      units: 'done',
      images: 'failed',
      stack: 'blocked',
      tailscale: 'done',
    });
    expect(report.steps.find((x: { name: string }) => x.name === 'stack').detail).toBe(
      'not run: it needs images, which failed',
    );
    expect(d.stderr.text).toBe('dalston-host bootstrap: docker compose build exited 1: pull access denied\n');
  });

  it("blocking is transitive; the exit code and message are the first failure's", async () => {
    const d = deps(
      everyStepButUnits({
        disk: failing('disk', new HostError('unavailable', 'data volume not found')),
        packages: failing('packages', new HostError('failure', 'dnf install docker failed')),
        tailscale: fake('tailscale'),
      }),
    );
    expect(await bootstrapCommand(['--root', root], d)).toBe(69);
    // Tailscale keeps its node identity on the data volume, so it too waits for the volume.
    expect(ran).toEqual(['os', 'disk', 'packages']);
    expect(resultOf(await readReport())).toEqual({
      // host.json names no bucket: there is no desired state to follow.
      desired: 'skipped',
      config: 'unchanged',
      os: 'done',
      units: 'done',
      disk: 'failed',
      mount: 'blocked',
      fstab: 'blocked',
      dirs: 'blocked',
      packages: 'failed',
      dalston: 'blocked',
      secrets: 'blocked',
      images: 'blocked',
      stack: 'blocked',
      'api-key': 'blocked',
      tailscale: 'blocked',
    });
    expect(d.stderr.text).toBe('dalston-host bootstrap: data volume not found (and 1 more failed step)\n');
    expect(blockingNeed('fstab', new Map([['mount', 'blocked']]))).toBe('mount');
    expect(blockingNeed('fstab', new Map([['mount', 'skipped']]))).toBeUndefined();
    // A need that was not selected is the step's own business.
    expect(blockingNeed('images', new Map())).toBeUndefined();
  });

  it('a refused data volume is recorded for the agent, and cleared by a run that mounts the volume', async () => {
    const refusal = join(root, 'run/dalston/data-volume-refused.json');
    const copyBeside = everyStepButUnits({
      disk: failing(
        'disk',
        new HostError(
          'unsafeDisk',
          'two disks carry the data filesystem UUID 1234: /dev/nvme1n1, /dev/nvme2n1',
        ),
      ),
      tailscale: fake('tailscale'),
    });
    expect(await bootstrapCommand(['--root', root], deps(copyBeside))).toBe(65);
    expect(JSON.parse(await readFile(refusal, 'utf8'))).toMatchObject({
      step: 'disk',
      message: expect.stringContaining('two disks carry the data filesystem UUID 1234'),
    });
    // A volume merely missing is not a refusal: the agent's own mount check covers it.
    await rm(refusal);
    const missing = everyStepButUnits({
      disk: failing('disk', new HostError('unavailable', 'data volume not found')),
      tailscale: fake('tailscale'),
    });
    expect(await bootstrapCommand(['--root', root], deps(missing))).toBe(69);
    expect(existsSync(refusal)).toBe(false);
    // Refused again, then the operator removes the copy: the next run mounts the volume and clears it.
    await bootstrapCommand(['--root', root], deps(copyBeside));
    expect(existsSync(refusal)).toBe(true);
    expect(
      await bootstrapCommand(['--root', root], deps(everyStepButUnits({ tailscale: fake('tailscale') }))),
    ).toBe(0);
    expect(existsSync(refusal)).toBe(false);
  });

  it('--boot: every step until a full run succeeded once, then the quick path; a failed run writes no marker', async () => {
    expect(bootPlan(false)).toEqual({ path: 'full', steps: [...STEP_ORDER] });
    expect(bootPlan(true)).toEqual({
      path: 'quick',
      steps: ['desired', 'os', 'disk', 'mount', 'fstab', 'dirs', 'dalston', 'secrets'],
    });
    expect(isFullRun(STEP_ORDER)).toBe(true);
    expect(isFullRun(['os', 'disk'])).toBe(false);
    const marker = join(root, 'var/lib/dalston/bootstrap-complete');

    const tailscaleDown = everyStepButUnits({
      tailscale: failing('tailscale', new HostError('failure', 'tailscale up failed')),
    });
    expect(await bootstrapCommand(['--root', root, '--boot'], deps(tailscaleDown))).toBe(1);
    expect((await readReport()).path).toBe('full');
    expect(existsSync(marker)).toBe(false);

    // The next boot runs everything again; this time Tailscale comes up.
    ran.length = 0;
    const allFine = everyStepButUnits({ tailscale: fake('tailscale') });
    expect(await bootstrapCommand(['--root', root, '--boot'], deps(allFine))).toBe(0);
    expect(ran).toContain('tailscale');
    expect(existsSync(marker)).toBe(true);
    expect(JSON.parse(await readFile(marker, 'utf8'))).toMatchObject({ version: expect.any(String) });

    ran.length = 0;
    expect(await bootstrapCommand(['--root', root, '--boot'], deps(allFine))).toBe(0);
    expect(ran).toEqual(['os', 'disk', 'mount', 'fstab', 'dirs', 'dalston', 'secrets']);
    expect((await readReport()).path).toBe('quick');
  });

  it('--boot after a volume swap: the desired step moved host.json to another volume, so every step runs', async () => {
    const hostJson = (volumeId: string) => ({
      tailscale: { authKeyParameter: '/dalston/ts' },
      dalston: { ref: 'v1' },
      s3: { bucket: 'dalston-artifacts-123456789012' },
      volume: { id: volumeId },
    });
    await writeFile(join(root, 'etc/dalston/host.json'), JSON.stringify(hostJson('vol-0aaaaaaaaaaaaaaa1')));
    const publishing = (volumeId: string) => ({
      desiredStore: async () => ({
        bucket: 'dalston-artifacts-123456789012',
        getIfChanged: async () => ({
          kind: 'ok' as const,
          body: JSON.stringify({
            schemaVersion: 1,
            release: { version: '0.3.0', key: 'releases/dalston-host-0.3.0.tgz', sha256: 'a'.repeat(64) },
            host: hostJson(volumeId),
          }),
          etag: `"${volumeId}"`,
          versionId: null,
        }),
      }),
    });
    const allFine = everyStepButUnits({ tailscale: fake('tailscale') });
    // A completed host on volume A: the quick path.
    await mkdir(join(root, 'var/lib/dalston'), { recursive: true });
    await writeFile(join(root, 'var/lib/dalston/bootstrap-complete'), '{}\n');
    expect(
      await bootstrapCommand(['--root', root, '--boot'], deps(allFine, publishing('vol-0aaaaaaaaaaaaaaa1'))),
    ).toBe(0);
    expect((await readReport()).path).toBe('quick');
    expect(ran).toEqual(['os', 'disk', 'mount', 'fstab', 'dirs', 'dalston', 'secrets']);

    // Volume B published: that boot runs every step (Tailscale's state and the API key's SSM copy are the new volume's).
    ran.length = 0;
    const d = deps(allFine, publishing('vol-0bbbbbbbbbbbbbbb2'));
    expect(await bootstrapCommand(['--root', root, '--boot'], d)).toBe(0);
    const report = await readReport();
    expect(report.path).toBe('full');
    expect(resultOf(report).desired).toBe('done');
    expect(ran).toEqual(STAND_INS_OF_A_FULL_RUN);
    expect(fullPathReason('quick', ['volume.id', 'volume.device'])).toBe(
      'the data volume changed (volume.id)',
    );
    expect(fullPathReason('quick', ['agent.desiredStatePollSeconds', 'volume.device'])).toBeNull();
    expect(fullPathReason('full', ['dataDir'])).toBeNull();

    // The next boot, nothing changed: the quick path again.
    ran.length = 0;
    expect(
      await bootstrapCommand(['--root', root, '--boot'], deps(allFine, publishing('vol-0bbbbbbbbbbbbbbb2'))),
    ).toBe(0);
    expect((await readReport()).path).toBe('quick');
  });

  it('only a successful run of every step writes the marker; --boot with --steps is a usage error', async () => {
    const marker = join(root, 'var/lib/dalston/bootstrap-complete');
    const allFine = everyStepButUnits({ tailscale: fake('tailscale') });
    expect(await bootstrapCommand(['--root', root, '--steps', 'os,disk'], deps(allFine))).toBe(0);
    expect((await readReport()).path).toBe('steps');
    expect(existsSync(marker)).toBe(false);
    expect(await bootstrapCommand(['--root', root, '--dry-run'], deps(allFine))).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const d = deps(allFine);
    expect(await bootstrapCommand(['--root', root, '--boot', '--steps', 'os'], d)).toBe(2);
    expect(d.stderr.text).toContain('--boot chooses the steps itself; leave out --steps');
  });

  it('uploads the result to status/<instance>/bootstrap.json, on failure and on success', async () => {
    await writeFile(
      join(root, 'etc/dalston/host.json'),
      JSON.stringify({
        tailscale: { authKeyParameter: '/dalston/ts' },
        dalston: { ref: 'v1' },
        s3: { bucket: 'dalston-artifacts-123456789012' },
      }),
    );
    const puts: { key: string; body: string; type: string }[] = [];
    const store: ObjectStore = {
      putObject: async (key, body, type) => {
        puts.push({ key, body: String(body), type });
      },
    };
    const upload = { store: async () => store, instanceName: async () => 'i-0123456789abcdef0' };
    const failingTs = everyStepButUnits({
      tailscale: failing('tailscale', new HostError('failure', 'tailscale up failed (exit 1): invalid key')),
    });
    expect(await bootstrapCommand(['--root', root], deps(failingTs, { upload }))).toBe(1);
    // Progress reports (state running) come first, to the same key; the result is the last put.
    const results = () => puts.filter((p) => JSON.parse(p.body).state !== 'running');
    expect(results()).toHaveLength(1);
    expect(puts.at(-1)).toBe(results()[0]);
    // The desired step asked the bucket and, nothing being published, kept host.json.
    expect(resultOf(await readReport()).desired).toBe('unchanged');
    for (const p of puts)
      expect(p).toMatchObject({ key: 'status/i-0123456789abcdef0/bootstrap.json', type: 'application/json' });
    const body = JSON.parse(results()[0]!.body);
    expect(body).toMatchObject({ ok: false, exitCode: 1, path: 'full', instance: 'i-0123456789abcdef0' });
    expect(body.steps.at(-1)).toMatchObject({
      name: 'tailscale',
      result: 'failed',
      detail: 'tailscale up failed (exit 1): invalid key',
    });
    expect(
      await bootstrapCommand(
        ['--root', root],
        deps(everyStepButUnits({ tailscale: fake('tailscale') }), { upload }),
      ),
    ).toBe(0);
    expect(results()).toHaveLength(2);
    expect(JSON.parse(puts.at(-1)!.body)).toMatchObject({ state: 'finished', ok: true, exitCode: 0 });
  });

  it('a failing upload is logged and changes neither the exit code nor the local result', async () => {
    await writeFile(
      join(root, 'etc/dalston/host.json'),
      JSON.stringify({ dalston: { ref: 'v1' }, s3: { bucket: 'dalston-artifacts-123456789012' } }),
    );
    const store: ObjectStore = {
      putObject: async () => {
        throw Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        });
      },
    };
    const logged: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => logged.push(l) });
    const d = deps(everyStepButUnits({ tailscale: fake('tailscale') }), {
      log,
      upload: { store: async () => store, instanceName: async () => 'i-0123456789abcdef0' },
    });
    expect(await bootstrapCommand(['--root', root], d)).toBe(0);
    expect((await readReport()).ok).toBe(true);
    expect(logged.join('')).toContain(
      'could not upload the bootstrap result: AccessDenied: Access Denied (HTTP 403)',
    );
  });
});

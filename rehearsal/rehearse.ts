/**
 * `sudo npm run rehearse`: the whole host lifecycle on one Linux machine.
 * A Debian machine booted with systemd-nspawn (its own systemd and dockerd), a
 * loop device as its EBS volume, the real release built by `npm run build`, the
 * real user-data rendered by real Terraform, the real bootstrap, dalston.service,
 * agent and compose overlay over a Dalston-shaped stand-in stack. Stand-ins only
 * where the outside world is needed (S3, registry, udev, instance role, Node and
 * Compose downloads); see rehearsal/README.md.
 * Each check prints one line; the last line is the summary.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChecked, type Shell, ZxShell } from '../shared/shell.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';
import { Checks, fail, summaryLine } from './checks.ts';
import { Cleanup } from './cleanup.ts';
import { ensureHostTools, ensureNspawnRuntimeDir } from './machine/host-prereqs.ts';
import { createLoopVolume, detachLoop, type LoopVolume, majorMinor } from './machine/loop.ts';
import { createNetNs, deleteNetNs, type NetNs } from './machine/netns.ts';
import { type Bind, Machine } from './machine/nspawn.ts';
import { ROOTFS_RECIPE } from './machine/recipe.ts';
import { cloneRootfs, DEFAULT_CACHE_DIR, ensureRootfs } from './machine/rootfs.ts';
import { type UdevStandinDirs, udevStandinDirs, writeUdevStandin } from './machine/udev-standin.ts';
import { IN_MACHINE, installMachineFiles } from './product/machine-files.ts';
import {
  agentStatus,
  containerOf,
  describeSnapshot,
  isSnapshot,
  parseBootstrapSteps,
  projectContainers,
  unitProps,
} from './product/observe.ts';
import { buildRelease, type Release } from './product/release.ts';
import { patchHostJson, type RenderedHost, readServices, renderUserData } from './product/user-data.ts';
import { formatTimeline, TIMELINE_UNIT, Timeline, type TimelineReport } from './timeline.ts';
import { sleep, waitFor } from './wait.ts';
import { BUILDX_PLUGIN, COMPOSE_PLUGIN, ensureDockerPlugin } from './world/docker-plugins.ts';
import { type S3StandIn, startS3StandIn } from './world/s3.ts';
import { createStandinDalston, STANDIN_DALSTON_TAG } from './world/standin-dalston.ts';
import { buildStandinTarball } from './world/standin-image.ts';

const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const PROJECT = 'dalston';
const S3_PORT = 9444;
const VOLUME_BYTES = 20 * 1024 ** 3;
const PG_DATA = '/var/lib/postgresql/18/docker';

const USAGE = `usage: sudo npm run rehearse [-- [--keep] [--cache-dir DIR]]
  --keep        keep the run directory (machine rootfs copy, console logs, S3 data) for inspection
  --cache-dir   where the machine rootfs and the Compose plugin are cached (default ${DEFAULT_CACHE_DIR})`;

/** Stops the rehearsal: a step later checks depend on has failed (its check line says why). */
class Abort extends Error {}

const print = (line: string) => process.stdout.write(`${line}\n`);
const info = (line: string) => print(`  · ${line}`);

interface World {
  release: Release;
  rendered: RenderedHost;
  services: string[];
  rootfs: string;
  loop: LoopVolume;
  netns: NetNs;
  s3: S3StandIn;
  udev: UdevStandinDirs;
}

class Rehearsal {
  readonly checks = new Checks(print);
  readonly timeline = new Timeline();
  readonly cleanup = new Cleanup(info);
  private world: World | undefined;
  private nonce = randomBytes(8).toString('hex');

  constructor(
    private readonly shell: Shell,
    private readonly runDir: string,
    private readonly cacheDir: string,
  ) {}

  /** A check later steps depend on: when it fails, the rehearsal stops there. */
  private async must(name: string, fn: () => Promise<string | undefined>): Promise<void> {
    if (!(await this.checks.check(name, fn))) throw new Abort(name);
  }

  async run(): Promise<void> {
    await this.prepare();
    const w = this.world!;
    const first = await this.firstBoot(w);
    await this.faults(first);
    await this.stop(first, w);
    const second = await this.secondBoot(w);
    await this.powerOff(second, 'second boot');
    await this.missingVolume();
  }

  // ---- preparation: the real release and user-data, the machine, the stand-ins ----

  private async prepare(): Promise<void> {
    let release: Release | undefined;
    await this.must('release built by `npm run build`', async () => {
      release = await buildRelease(this.shell, REPO);
      return `dalston-host-${release.version}.tgz, sha256 ${release.sha256.slice(0, 12)}…`;
    });
    const services = await readServices(REPO);
    let rendered: RenderedHost | undefined;
    await this.must('user-data rendered by terraform from infra/terraform/modules/host-config', async () => {
      rendered = await renderUserData(this.shell, path.join(this.runDir, 'terraform'), {
        repo: REPO,
        releaseVersion: release!.version,
        dalstonRef: STANDIN_DALSTON_TAG,
        imageTag: 'rehearsal',
        services,
      });
      if (rendered.releaseSha256 !== release!.sha256) {
        fail(
          `the module's release_sha256 ${rendered.releaseSha256} is not the built bundle's ${release!.sha256}`,
        );
      }
      return `${rendered.userData.length} bytes, bucket ${rendered.bucket}, ${services.length} services`;
    });

    let rootfs = '';
    await this.must('machine rootfs ready (debootstrap, cached by recipe hash)', async () => {
      await ensureHostTools(this.shell, info);
      await ensureNspawnRuntimeDir(this.shell);
      const t0 = Date.now();
      const cache = await ensureRootfs(this.shell, this.cacheDir, ROOTFS_RECIPE, info);
      rootfs = path.join(this.runDir, 'rootfs');
      await cloneRootfs(this.shell, cache.dir, rootfs);
      return `recipe ${cache.hash} ${cache.built ? 'built' : 'from cache'}, copied for this run (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
    });

    let world: Partial<World> = {};
    await this.must(
      'stand-ins ready (S3 server, Dalston repo, images, Node, Compose, buildx, udev)',
      async () => {
        const composePlugin = await ensureDockerPlugin(this.shell, this.cacheDir, COMPOSE_PLUGIN, info);
        const buildxPlugin = await ensureDockerPlugin(this.shell, this.cacheDir, BUILDX_PLUGIN, info);
        const work = path.join(this.runDir, 'world');
        await mkdir(work, { recursive: true });
        const bare = path.join(work, 'dalston.git');
        const commit = await createStandinDalston(this.shell, work, bare);
        const tarball = path.join(work, 'standin.tar');
        await buildStandinTarball(this.shell, work, tarball);
        const images = await this.resolveImages(
          composePlugin,
          path.join(work, 'dalston-src'),
          rendered!,
          services,
        );

        const loop = await createLoopVolume(this.shell, path.join(this.runDir, 'ebs.img'), VOLUME_BYTES);
        this.cleanup.add(`detach ${loop.device}`, () => detachLoop(this.shell, loop.device));
        const netns = await createNetNs(this.shell, `dh-rehearsal-${process.pid}`);
        this.cleanup.add(`delete network namespace ${netns.name}`, () => deleteNetNs(this.shell, netns));
        const s3 = await startS3StandIn({
          netns: netns.name,
          dir: path.join(this.runDir, 's3'),
          port: S3_PORT,
          bucket: rendered!.bucket,
          put: { [rendered!.releaseKey]: release!.tgz },
        });
        this.cleanup.add('stop the stand-in S3 server', () => s3.stop());

        // host.json keys the rehearsal cannot take from Terraform as-is (see README).
        const userData = patchHostJson(rendered!.userData, (h) => ({
          ...h,
          volume: { ...(h.volume as object), device: loop.device },
          s3: { ...(h.s3 as object), endpoint: s3.endpoint },
          dalston: { ...(h.dalston as object), repo: `file://${IN_MACHINE.dalstonRepo}` },
        }));
        await installMachineFiles(this.shell, {
          rootfs,
          nodeBinary: process.execPath,
          composePlugin,
          buildxPlugin,
          userData,
          dalstonBareRepo: bare,
          standinTar: tarball,
          images,
          s3Endpoint: s3.endpoint,
        });
        const udev = udevStandinDirs(path.join(this.runDir, 'udev'));
        world = { loop, netns, s3, udev };
        return `EBS ${loop.device} (20 GiB sparse), S3 ${s3.endpoint} in netns ${netns.name}, Dalston ${STANDIN_DALSTON_TAG} (${commit.slice(0, 8)}), ${images.length} image names`;
      },
    );
    this.world = { release: release!, rendered: rendered!, services, rootfs, ...world } as World;
  }

  /** Image names the resolved compose configuration uses for this host's services (all tagged onto the stand-in image). */
  private async resolveImages(
    plugin: string,
    dalstonDir: string,
    rendered: RenderedHost,
    services: readonly string[],
  ): Promise<string[]> {
    const envFile = path.join(this.runDir, 'world', 'compose.env');
    await writeFile(envFile, rendered.composeEnv);
    const out = await runChecked(
      this.shell,
      plugin,
      [
        '-p',
        PROJECT,
        '-f',
        'docker-compose.yml',
        '-f',
        'infra/docker/docker-compose.aws.yml',
        '-f',
        path.join(REPO, 'compose', 'docker-compose.aws.yml'),
        '--env-file',
        envFile,
        'config',
        '--format',
        'json',
        ...services,
      ],
      { cwd: dalstonDir },
    );
    const cfg = JSON.parse(out) as { services: Record<string, { image?: string }> };
    return [...new Set(Object.values(cfg.services).flatMap((s) => (s.image ? [s.image] : [])))];
  }

  // ---- boots ----

  private async boot(label: string, withVolume: boolean): Promise<Machine> {
    const w = this.world!;
    const binds: Bind[] = [
      { host: w.udev.runUdev, machine: '/run/udev' },
      { host: w.udev.devDisk, machine: '/dev/disk' },
    ];
    if (withVolume) binds.push({ host: w.loop.device });
    const m = await Machine.boot(this.shell, {
      rootfs: w.rootfs,
      netnsPath: w.netns.path,
      binds,
      consoleLog: path.join(this.runDir, `console-${label.replace(/\W+/g, '-')}.log`),
    });
    this.cleanup.add(`power off the machine (${label})`, async () => {
      await m.poweroff(60_000);
    });
    // Generous: on a loaded 2-core CI machine dockerd's first start can take a while.
    let last = '';
    await waitFor(
      'systemd and dockerd up in the machine',
      180_000,
      async () => {
        const r = await m.exec('systemctl', ['is-active', 'docker.service'], { timeoutMs: 10_000 });
        last = `docker.service ${r.stdout.trim() || r.stderr.trim() || `exit ${r.exitCode}`}`;
        return r.stdout.trim() === 'active' ? true : undefined;
      },
      () => last,
    );
    this.timeline.mark(
      label,
      'systemUp',
      await m.unitTimestamp('sysinit.target', 'ActiveEnterTimestampMonotonic'),
    );
    return m;
  }

  private async volumeUdev(): Promise<{ uuid?: string; type?: string; label?: string }> {
    const dev = this.world!.loop.device;
    const r = await this.shell.run('blkid', ['-p', '-o', 'export', dev]);
    const get = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(r.stdout)?.[1];
    return { uuid: get('UUID'), type: get('TYPE'), label: get('LABEL') };
  }

  private async writeUdev(withVolume: boolean): Promise<void> {
    const w = this.world!;
    if (!withVolume) return writeUdevStandin(w.udev, undefined);
    const fs = await this.volumeUdev();
    await writeUdevStandin(w.udev, {
      name: path.basename(w.loop.device),
      majorMinor: await majorMinor(this.shell, w.loop.device),
      fsUuid: fs.uuid,
      fsType: fs.type,
      fsLabel: fs.label,
    });
  }

  /** udev's change event after mkfs: the new filesystem's links appear while the machine runs. */
  private watchForFilesystem(m: Machine): void {
    void (async () => {
      while (m.running) {
        const fs = await this.volumeUdev();
        if (fs.uuid) {
          await this.writeUdev(true);
          info(`udev stand-in: ${this.world!.loop.device} now has filesystem ${fs.uuid}`);
          return;
        }
        await sleep(200);
      }
    })();
  }

  private async waitHealthy(m: Machine, timeoutMs: number): Promise<StatusSnapshot> {
    let last = '';
    return waitFor(
      'the agent reporting the stack healthy',
      timeoutMs,
      async () => {
        const s = await agentStatus(m);
        last = isSnapshot(s) ? describeSnapshot(s) : s.error;
        return isSnapshot(s) && s.state === 'healthy' ? s : undefined;
      },
      () => last,
    );
  }

  private async firstBoot(w: World): Promise<Machine> {
    await this.writeUdev(true);
    let m: Machine | undefined;
    await this.must('first boot: the machine boots (systemd PID 1, its own dockerd)', async () => {
      m = await this.boot('first boot', true);
      this.watchForFilesystem(m);
      return `PID 1 is ${m.leader} on the host, docker.service active`;
    });
    const machine = m!;

    await this.must('first boot: user-data ran (release from S3, SHA-256 checked, bootstrap)', async () => {
      const props = await waitFor(
        'the user-data to finish',
        8 * 60_000,
        async () => {
          const p = await unitProps(machine, IN_MACHINE.userDataUnit, ['ActiveState', 'Result']);
          return p.ActiveState === 'active' || p.ActiveState === 'failed' ? p : undefined;
        },
        () => 'still running',
        1000,
      );
      const log = (await machine.exec('cat', [IN_MACHINE.userDataLog])).stdout.trim().split('\n');
      if (props.Result !== 'success')
        fail(`user-data failed (${props.Result}); its log ends:\n${log.slice(-8).join('\n')}`);
      return log[log.length - 1]?.replace(/^\S+ /, '') ?? '';
    });
    this.timeline.mark(
      'first boot',
      'bootstrapDone',
      await machine.unitTimestamp(IN_MACHINE.userDataUnit, 'ExecMainExitTimestampMonotonic'),
    );

    await this.must('first boot: the agent reports the stack healthy (/status)', async () => {
      const s = await this.waitHealthy(machine, 5 * 60_000);
      this.timeline.mark(
        'first boot',
        'stackHealthy',
        Number(process.hrtime.bigint() - machine.startedAtNs) / 1e9,
      );
      return describeSnapshot(s);
    });
    // Read once the stack is healthy: the bootstrap's units step does not wait for the agent's READY=1.
    this.timeline.mark(
      'first boot',
      'agentReady',
      await machine.unitTimestamp('dalston.service', 'ActiveEnterTimestampMonotonic'),
    );
    await this.checkRunningHost(machine, 'first boot');
    await this.checks.check('first boot: fstab holds the data volume UUID line', async () => {
      const { uuid } = await this.volumeUdev();
      if (!uuid) fail(`${w.loop.device} has no filesystem UUID`);
      const fstab = await machine.execChecked('cat', ['/etc/fstab']);
      const line = fstab.split('\n').find((l) => l.startsWith(`UUID=${uuid} /data `));
      if (!line) fail(`no "UUID=${uuid} /data …" line in /etc/fstab:\n${fstab.trim()}`);
      return line;
    });
    await this.checks.check('first boot: Postgres writes to /data/postgres on the data volume', async () => {
      const src = (
        await machine.execChecked('findmnt', ['-n', '-o', 'SOURCE', '-T', '/data/postgres'])
      ).trim();
      if (src !== w.loop.device) fail(`/data/postgres is on ${src}, not the data volume ${w.loop.device}`);
      const pg = await containerOf(machine, PROJECT, 'postgres');
      await machine.execChecked('docker', [
        'exec',
        pg.id,
        'sh',
        '-c',
        `echo ${this.nonce} > ${PG_DATA}/rehearsal-data && sync`,
      ]);
      const onDisk = (await machine.execChecked('cat', [`/data/postgres/18/docker/rehearsal-data`])).trim();
      if (onDisk !== this.nonce) fail(`wrote ${this.nonce} in the container, /data/postgres has "${onDisk}"`);
      return `${src} mounted at /data; marker ${this.nonce} written through the container`;
    });
    await this.checks.check('first boot: every published port is on loopback', async () => {
      const out = await machine.execChecked('docker', ['ps', '--format', '{{.Names}} {{.Ports}}']);
      const bad = out.split('\n').filter((l) => /(0\.0\.0\.0|\[::\]|:::)\S*->/.test(l));
      if (bad.length > 0) fail(`published beyond loopback: ${bad.join('; ')}`);
      const n = (out.match(/->/g) ?? []).length;
      return `${n} published ports, all on 127.0.0.0/8`;
    });
    await this.checks.check('first boot: the agent uploads its status snapshot to S3', async () => {
      const key = await waitFor(
        'a status snapshot in the stand-in S3',
        90_000,
        async () => {
          const r = await this.shell.run('find', [w.s3.dir, '-path', '*/status/*', '-name', 'latest.json*']);
          return r.stdout.trim().split('\n').filter(Boolean)[0];
        },
        () => 'nothing under status/',
        1000,
      );
      return path.relative(w.s3.dir, key).replace(/\._S3rver_object$/, '');
    });
    return machine;
  }

  /** Issue §4 on a running host: is-active, the status line, /status. */
  private async checkRunningHost(m: Machine, label: string): Promise<void> {
    await this.checks.check(`${label}: systemctl is-active dalston → active`, async () => {
      const r = await m.exec('systemctl', ['is-active', 'dalston.service']);
      if (r.stdout.trim() !== 'active') fail(`is-active says "${r.stdout.trim()}"`);
      return 'active';
    });
    await this.checks.check(`${label}: systemctl status dalston shows the agent's status line`, async () => {
      const line = await waitFor(
        'a "healthy N/N" Status: line',
        60_000,
        async () => {
          const r = await m.exec('systemctl', ['status', '--no-pager', '--lines=0', 'dalston.service']);
          const l = r.stdout.split('\n').find((x) => /^\s*Status: "/.test(x));
          const mm = l ? /Status: "healthy (\d+)\/(\d+)/.exec(l) : null;
          return mm && mm[1] === mm[2] ? l!.trim() : undefined;
        },
        () => '',
        1000,
      );
      return line;
    });
  }

  // ---- faults ----

  private async faults(m: Machine): Promise<void> {
    const svcStatus = async (name: string) => {
      const s = await agentStatus(m);
      return isSnapshot(s) ? { snap: s, svc: s.services.find((x) => x.name === name) } : undefined;
    };

    await this.checks.check('fault: redis made unhealthy → the agent heals it, once', async () => {
      const before = await svcStatus('redis');
      if (!before?.svc) fail('redis is not in /status');
      const r0 = before.svc.agentRestarts;
      const c = await containerOf(m, PROJECT, 'redis');
      const t0 = Date.now();
      await m.execChecked('docker', ['exec', c.id, 'rm', '-f', '/tmp/healthy']);
      let last = '';
      const healed = await waitFor(
        'redis healed',
        4 * 60_000,
        async () => {
          const s = await svcStatus('redis');
          last = s?.svc
            ? `${s.svc.state}/${s.svc.health}, agentRestarts ${s.svc.agentRestarts}`
            : 'no status';
          return s?.svc &&
            s.svc.agentRestarts > r0 &&
            s.svc.health === 'healthy' &&
            s.snap.state === 'healthy'
            ? s.svc
            : undefined;
        },
        () => last,
        1000,
      );
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      await sleep(5_000);
      const after = await svcStatus('redis');
      const actions = (after?.svc?.agentRestarts ?? 0) - r0;
      if (actions !== 1) fail(`the agent acted ${actions} times on redis (expected exactly 1)`);
      return `healed in ${secs} s by one ${healed.lastAction?.action ?? 'action'} (${healed.lastAction?.reason ?? ''})`;
    });

    await this.checks.check(
      'fault: orchestrator container killed (its process SIGKILLed) → back',
      async () => {
        // A crash, not an operator's `docker kill`: Docker counts the latter as a deliberate stop.
        const c = await containerOf(m, PROJECT, 'orchestrator');
        const pid = (await m.execChecked('docker', ['inspect', '--format', '{{.State.Pid}}', c.id])).trim();
        if (!/^[1-9]\d*$/.test(pid)) fail(`orchestrator has no process (pid "${pid}")`);
        const t0 = Date.now();
        await m.execChecked('kill', ['-KILL', pid]);
        let last = '';
        const s = await waitFor(
          'orchestrator back and the stack healthy',
          3 * 60_000,
          async () => {
            const x = await svcStatus('orchestrator');
            last = x?.svc ? `${x.svc.state}, stack ${x.snap.state}` : 'no status';
            const now = await containerOf(m, PROJECT, 'orchestrator').catch(() => undefined);
            const back = now?.running && now.startedAt !== c.startedAt;
            return x?.svc && x.svc.state === 'running' && x.snap.state === 'healthy' && back
              ? x.svc
              : undefined;
          },
          () => last,
          1000,
        );
        const secs = ((Date.now() - t0) / 1000).toFixed(0);
        const restarts = (
          await m.execChecked('docker', ['inspect', '--format', '{{.RestartCount}}', c.id])
        ).trim();
        const by = Number(restarts) > 0 ? `Docker's restart policy (RestartCount ${restarts})` : 'the agent';
        return `running again after ${secs} s, brought back by ${by}; agent actions on it: ${s.agentRestarts}`;
      },
    );

    await this.checks.check(
      'fault: agent killed with SIGKILL → systemd restarts it, stack untouched',
      async () => {
        const before = await unitProps(m, 'dalston.service', ['MainPID', 'NRestarts']);
        const containers = await projectContainers(m, PROJECT);
        const pid = before.MainPID ?? '0';
        if (pid === '0') fail('dalston.service has no main PID');
        const t0 = Date.now();
        await m.execChecked('kill', ['-KILL', pid]);
        const after = await waitFor(
          'dalston.service restarted',
          90_000,
          async () => {
            const p = await unitProps(m, 'dalston.service', [
              'MainPID',
              'NRestarts',
              'ActiveState',
              'SubState',
            ]);
            return p.ActiveState === 'active' &&
              p.SubState === 'running' &&
              p.MainPID !== pid &&
              p.MainPID !== '0'
              ? p
              : undefined;
          },
          () => '',
          500,
        );
        const secs = ((Date.now() - t0) / 1000).toFixed(0);
        await this.waitHealthy(m, 90_000);
        const now = await projectContainers(m, PROJECT);
        const changed = containers.filter(
          (c) => !now.some((n) => n.id === c.id && n.startedAt === c.startedAt),
        );
        if (changed.length > 0)
          fail(`containers restarted or replaced: ${changed.map((c) => c.service).join(', ')}`);
        return `new agent PID ${after.MainPID} after ${secs} s (NRestarts ${before.NRestarts} → ${after.NRestarts}); ${containers.length} containers untouched`;
      },
    );
  }

  // ---- stop/start ----

  private async powerOff(m: Machine, label: string): Promise<boolean> {
    return this.checks.check(`${label}: the machine powers off cleanly`, async () => {
      const r = await m.poweroff(4 * 60_000);
      if (!r.clean) fail(`systemctl poweroff did not finish within 240 s; the machine was killed`);
      return `in ${r.seconds.toFixed(1)} s`;
    });
  }

  private async stop(m: Machine, w: World): Promise<void> {
    if (!(await this.powerOff(m, 'stop'))) throw new Abort('stop');
    await this.checks.check(
      'stop: the agent stopped the stack gracefully (Postgres stand-in: clean shutdown)',
      async () => {
        const mnt = await mkdtemp(path.join(this.runDir, 'inspect-'));
        await runChecked(this.shell, 'mount', ['-o', 'ro,noload', w.loop.device, mnt]);
        try {
          const dir = path.join(mnt, 'postgres', '18', 'docker');
          const shutdowns = await readFile(path.join(dir, 'rehearsal-shutdowns.log'), 'utf8').catch(() => '');
          const pidLeft = await readFile(path.join(dir, 'postmaster.pid'), 'utf8').then(
            () => true,
            () => false,
          );
          if (!shutdowns.trim())
            fail('no clean shutdown recorded in /data/postgres (SIGTERM never reached Postgres)');
          if (pidLeft) fail('postmaster.pid is still there: Postgres did not shut down cleanly');
          return shutdowns.trim().split('\n').pop();
        } finally {
          await runChecked(this.shell, 'umount', [mnt]);
        }
      },
    );
  }

  private async secondBoot(w: World): Promise<Machine> {
    await this.writeUdev(true);
    let m: Machine | undefined;
    await this.must('second boot: the machine boots again', async () => {
      m = await this.boot('second boot', true);
      return `PID 1 is ${m.leader} on the host`;
    });
    const machine = m!;
    await this.checks.check(
      "stop: the agent stopped the stack before shutdown (previous boot's journal)",
      async () => {
        const j = await machine.exec('journalctl', [
          '-b',
          '-1',
          '-u',
          'dalston.service',
          '-o',
          'cat',
          '--no-pager',
        ]);
        const msgs = j.stdout
          .split('\n')
          .map((l) => {
            try {
              return (JSON.parse(l) as { msg?: string }).msg ?? '';
            } catch {
              return l;
            }
          })
          .filter(Boolean);
        const stopping = msgs.findIndex((x) => /stopping the stack/i.test(x));
        const stopped = msgs.findIndex((x) => /stack stopped/i.test(x));
        if (stopping < 0 || stopped < stopping) {
          fail(
            `no "stopping the stack" … "stack stopped" in the last boot's journal; it ends:\n${msgs.slice(-6).join('\n')}`,
          );
        }
        return msgs.slice(stopping, stopped + 1).join(' → ');
      },
    );
    await this.checks.check('second boot: /data mounted from fstab by systemd', async () => {
      const p = await waitFor(
        'data.mount active',
        120_000,
        async () => {
          const x = await unitProps(machine, 'data.mount', [
            'ActiveState',
            'What',
            'FragmentPath',
            'SourcePath',
          ]);
          return x.ActiveState === 'active' ? x : undefined;
        },
        () => '',
        500,
      );
      const srcs = (
        await machine.execChecked('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', '/data'])
      ).trim();
      if (srcs !== w.loop.device)
        fail(`/data has "${srcs.replace(/\n/g, ', ')}" mounted, expected ${w.loop.device} once`);
      // Who mounted it: systemd's mount job, or someone racing it (its mount(8) then fails with
      // "already mounted", which systemd logs but still reports as "Mounted").
      const j = (await machine.exec('journalctl', ['-b', '-u', 'data.mount', '-o', 'cat', '--no-pager']))
        .stdout;
      const boot = await machine.exec('journalctl', [
        '-b',
        '-u',
        'dalston-bootstrap.service',
        '-o',
        'cat',
        '--no-pager',
      ]);
      const mountStep = parseBootstrapSteps(boot.stdout).find((x) => x.step === 'mount');
      const jobFailed = j.split('\n').find((l) => /Mount process exited|already mounted/.test(l));
      if (mountStep?.result === 'done' || jobFailed || !/^Mounted /m.test(j)) {
        fail(
          'systemd did not mount /data from fstab by itself' +
            (mountStep?.result === 'done'
              ? `; dalston-bootstrap.service mounted it: ${mountStep.detail}`
              : '') +
            (jobFailed ? `; data.mount: ${jobFailed.trim()}` : ''),
        );
      }
      return `data.mount (${p.SourcePath || p.FragmentPath}) mounted ${p.What}`;
    });
    await this.checks.check('second boot: the bootstrap re-ran as a no-op', async () => {
      const p = await waitFor(
        'dalston-bootstrap.service finished',
        5 * 60_000,
        async () => {
          const x = await unitProps(machine, 'dalston-bootstrap.service', [
            'ActiveState',
            'Result',
            'ExecMainStatus',
          ]);
          return x.ActiveState === 'active' || x.ActiveState === 'failed' ? x : undefined;
        },
        () => '',
        500,
      );
      const journal = (
        await machine.exec('journalctl', ['-b', '-u', 'dalston-bootstrap.service', '-o', 'cat', '--no-pager'])
      ).stdout;
      if (p.Result !== 'success')
        fail(
          `dalston-bootstrap.service: ${p.Result} (exit ${p.ExecMainStatus}):\n${journal.trim().split('\n').slice(-6).join('\n')}`,
        );
      const steps = parseBootstrapSteps(journal);
      if (steps.length === 0)
        fail(
          `no step records in the bootstrap's journal:\n${journal.trim().split('\n').slice(-6).join('\n')}`,
        );
      const changed = steps.filter((s) => s.result !== 'unchanged' && s.result !== 'skipped');
      if (changed.length > 0)
        fail(
          `steps changed something: ${changed.map((s) => `${s.step} ${s.result}: ${s.detail}`).join('; ')}`,
        );
      return `${steps.map((s) => `${s.step} ${s.result}`).join(', ')}`;
    });
    this.timeline.mark(
      'second boot',
      'bootstrapDone',
      await machine.unitTimestamp('dalston-bootstrap.service', 'ExecMainExitTimestampMonotonic'),
    );
    await this.checks.check('second boot: the stack is healthy again', async () => {
      const s = await this.waitHealthy(machine, 5 * 60_000);
      this.timeline.mark(
        'second boot',
        'stackHealthy',
        Number(process.hrtime.bigint() - machine.startedAtNs) / 1e9,
      );
      return describeSnapshot(s);
    });
    this.timeline.mark(
      'second boot',
      'agentReady',
      await machine.unitTimestamp('dalston.service', 'ActiveEnterTimestampMonotonic'),
    );
    await this.checkRunningHost(machine, 'second boot');
    await this.checks.check('second boot: data written before the stop is intact', async () => {
      const pg = await containerOf(machine, PROJECT, 'postgres');
      const got = (
        await machine.execChecked('docker', ['exec', pg.id, 'cat', `${PG_DATA}/rehearsal-data`])
      ).trim();
      if (got !== this.nonce) fail(`read "${got}", wrote ${this.nonce}`);
      const rec = await machine.exec('cat', ['/data/postgres/18/docker/rehearsal-recoveries.log']);
      if (rec.exitCode === 0 && rec.stdout.trim())
        fail(`Postgres stand-in found an unclean shutdown: ${rec.stdout.trim()}`);
      return `marker ${this.nonce} read back through the new Postgres container`;
    });
    return machine;
  }

  // ---- missing volume ----

  private async missingVolume(): Promise<void> {
    await this.writeUdev(false);
    let m: Machine | undefined;
    await this.must('missing volume: the machine boots without its data volume', async () => {
      m = await this.boot('missing volume', false);
      return 'docker.service active; no block device bound';
    });
    const machine = m!;
    await this.checks.check(
      'missing volume: dalston.service does not start (RequiresMountsFor=/data)',
      async () => {
        // data.mount waits for its device (x-systemd.device-timeout in the fstab line), then fails,
        // and dalston.service fails with it instead of starting on the root disk.
        let last = '';
        const p = await waitFor(
          'dalston.service to give up on /data',
          150_000,
          async () => {
            const x = await unitProps(machine, 'dalston.service', [
              'ActiveState',
              'Result',
              'ExecMainStartTimestampMonotonic',
            ]);
            last = `dalston ${x.ActiveState}`;
            if (x.ActiveState === 'active' || x.ActiveState === 'activating')
              fail('dalston.service started without /data');
            const j = (
              await machine.exec('journalctl', ['-b', '--no-pager', '-o', 'cat', '-u', 'dalston.service'])
            ).stdout;
            return /Dependency failed/i.test(j)
              ? { started: x.ExecMainStartTimestampMonotonic ?? '0', journal: j }
              : undefined;
          },
          () => last,
          2000,
        );
        if (p.started !== '0') fail('the agent process was started');
        return p.journal
          .trim()
          .split('\n')
          .filter((l) => /Dependency failed/i.test(l))[0];
      },
    );
    await this.checks.check('missing volume: nothing written under the empty /data', async () => {
      const mp = await machine.exec('mountpoint', ['-q', '/data']);
      if (mp.exitCode === 0) fail('/data is a mount point');
      const files = (await machine.execChecked('find', ['/data', '-mindepth', '1'])).trim();
      if (files) fail(`found on the root disk under /data: ${files.split('\n').slice(0, 5).join(', ')}`);
      // Containers stopped at the last shutdown still exist in dockerd (root disk); none may run.
      const running = (await machine.execChecked('docker', ['ps', '--format', '{{.Names}}'])).trim();
      if (running) fail(`containers running without the data volume: ${running.split('\n').join(', ')}`);
      return '/data is empty and not a mount point; no container running';
    });
    await this.checks.check('missing volume: the status says why', async () => {
      const st = (
        await machine.exec('systemctl', [
          'status',
          '--no-pager',
          '--lines=20',
          'dalston.service',
          'data.mount',
          'dalston-bootstrap.service',
        ])
      ).stdout;
      const reasons = st
        .split('\n')
        .filter((l) =>
          /Dependency failed|Timed out waiting for device|waiting for|not found|not attached|not mounted/i.test(
            l,
          ),
        )
        .map((l) => {
          const text = l.replace(/^.*?\]: /, '').trim();
          // The bootstrap logs pino JSON under systemd; show its message.
          try {
            return (JSON.parse(text) as { msg?: string }).msg ?? text;
          } catch {
            return text;
          }
        });
      if (reasons.length === 0)
        fail(`systemctl status names no reason:\n${st.split('\n').slice(0, 12).join('\n')}`);
      return [...new Set(reasons)].slice(0, 3).join(' / ');
    });
    await this.powerOff(machine, 'missing volume');
  }

  timelineReport(totalSeconds: number): TimelineReport {
    const passed = this.checks.results.filter((r) => r.ok).length;
    return {
      unit: TIMELINE_UNIT,
      generatedAt: new Date().toISOString(),
      totalSeconds: Math.round(totalSeconds),
      host: { cpus: os.cpus().length, node: process.version },
      boots: this.timeline.ordered(),
      checks: { passed, failed: this.checks.results.length - passed },
    };
  }
}

async function main(): Promise<number> {
  let values: { keep?: boolean; 'cache-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        keep: { type: 'boolean' },
        'cache-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`rehearse: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    print(USAGE);
    return 0;
  }
  if (process.platform !== 'linux') {
    process.stderr.write('rehearse: needs Linux (systemd-nspawn, loop devices, network namespaces)\n');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'rehearse: needs root (it boots a machine and attaches a loop device): sudo npm run rehearse\n',
    );
    return 2;
  }
  const shell = new ZxShell();
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'dalston-rehearsal-'));
  const r = new Rehearsal(shell, runDir, values['cache-dir'] ?? DEFAULT_CACHE_DIR);
  if (values.keep) info(`run directory (kept): ${runDir}`);
  else r.cleanup.add('remove the run directory', () => rm(runDir, { recursive: true, force: true }));
  r.cleanup.trapSignals();
  const t0 = Date.now();
  try {
    await r.run();
  } catch (err) {
    if (!(err instanceof Abort)) {
      r.checks.blocked('rehearsal ran to the end', err instanceof Error ? err.message : String(err));
    } else {
      info(`stopped after "${err.message}" failed`);
    }
  } finally {
    await r.cleanup.run();
  }
  const report = r.timelineReport((Date.now() - t0) / 1000);
  await mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  await writeFile(
    path.join(REPO, 'bench', 'results', 'rehearsal.json'),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  for (const line of formatTimeline(r.timeline.ordered())) info(line);
  info(`total ${((Date.now() - t0) / 1000).toFixed(0)} s; timeline in bench/results/rehearsal.json`);
  const first = r.timeline.get('first boot', 'stackHealthy');
  print(summaryLine(r.checks.results, first));
  return r.checks.failed > 0 || r.checks.results.length === 0 ? 1 : 0;
}

// Explicit exit: everything the run started is cleaned up by now, and a stray timer must not hold the process.
process.exit(await main());

/**
 * Agent start → stack healthy, side by side with a bare `docker compose up -d --wait`
 * of the same stack in the same run (`npm run bench:startup`, result in
 * bench/results/startup.json).
 *
 * The stack is Dalston's real compose files — the fixture copies of its
 * docker-compose.yml and infra/docker/docker-compose.aws.yml, our overlay
 * compose/docker-compose.aws.yml and the services of compose/services.cpu.json —
 * with every image replaced by a stand-in built from the harness's busybox image.
 * The stand-ins answer Dalston's own healthcheck commands (pg_isready, redis-cli,
 * curl, python -c socket), so the healthcheck intervals and depends_on conditions
 * are Dalston's. The runs alternate (A B, B A, …) and start from no containers.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { dataPaths } from '../shared/config/data-paths.ts';
import { removeComposeProject } from '../test/harness/docker.ts';
import setup from '../test/harness/global-setup.ts';
import { writeHostSecrets } from '../test/harness/host-secrets.ts';
import { AgentProcess } from '../test/integration/agent/agent-process.ts';
import { machineInfo, round } from './machine-info.ts';
import { buildRelease, unitEnvironment } from './release-bundle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Stand-ins for Dalston's processes (the image's CMD) and for the tools its healthchecks call. */
const SCRIPTS: Record<string, string> = {
  'standin-postgres': `#!/bin/sh
trap 'rm -f /tmp/healthy; exit 0' TERM INT
sleep 1
touch /tmp/healthy
while :; do sleep 3600 & wait $!; done
`,
  'redis-server': `#!/bin/sh
trap 'exit 0' TERM INT
touch /tmp/healthy
while :; do sleep 3600 & wait $!; done
`,
  // Like Dalston's gateway (a Python app), it answers HTTP only once its app has loaded, a few seconds after start.
  'standin-gateway': `#!/bin/sh
trap 'exit 0' TERM INT
sleep 3
mkdir -p /www && echo ok > /www/health
httpd -f -p 8000 -h /www &
wait $!
`,
  'standin-worker': `#!/bin/sh
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
`,
  'standin-engine': `#!/bin/sh
mkdir -p /www && echo ok > /www/index.html
trap 'exit 0' TERM INT
httpd -f -p 9000 -h /www &
wait $!
`,
  pg_isready: `#!/bin/sh
[ -f /tmp/healthy ] && echo "/var/run/postgresql:5432 - accepting connections"
`,
  'redis-cli': `#!/bin/sh
[ "$1" = ping ] && [ -f /tmp/healthy ] && echo PONG
`,
  curl: `#!/bin/sh
for a in "$@"; do url="$a"; done
timeout 4 wget -q -O - "$url" >/dev/null
`,
  // python -c "import socket; ... s.connect(('localhost', 9000))": connects to the port it names.
  python: `#!/bin/sh
port=$(echo "$2" | sed -n "s/.*'localhost', *\\([0-9]*\\).*/\\1/p")
[ -n "$port" ] && timeout 2 wget -q -O /dev/null "http://localhost:$port/"
`,
};

/** Which stand-in process each service's image runs. */
const ROLE: Record<string, string> = {
  postgres: 'standin-postgres',
  redis: 'standin-worker', // the fixture's `command:` runs redis-server
  gateway: 'standin-gateway',
  orchestrator: 'standin-worker',
  'stt-prepare': 'standin-worker',
  'stt-transcribe-faster-whisper': 'standin-engine',
};

const ENV_FILE = [
  'DALSTON_S3_BUCKET=dalston-artifacts-bench',
  'DALSTON_S3_REGION=eu-west-2',
  'AWS_REGION=eu-west-2',
  'DALSTON_IMAGE_TAG=v0.0.0-bench',
  'DALSTON_REF=v0.0.0-bench',
  '',
].join('\n');

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Relative `-f` files resolve against the working directory, as the agent runs compose.
    execFile(cmd, args, { env, cwd, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function buildImage(docker: Docker, context: string, tag: string): Promise<void> {
  const stream = await docker.buildImage({ context, src: ['Dockerfile', 'bin'] }, { t: tag, rm: true });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(`building ${tag}: ${failed!.error}`));
        else resolve();
      },
      () => {},
    ),
  );
}

async function main() {
  const started = Date.now();
  const teardown = await setup({ provide() {} } as never);
  const base = process.env.DALSTON_TEST_IMAGE!;
  const docker = new Docker();
  const dir = await mkdtemp(join(os.tmpdir(), 'dh-startup-bench-'));
  const project = `dhbench-startup-${Math.random().toString(16).slice(2, 6)}`;
  const pairs = Number(process.env.BENCH_PAIRS ?? 5);
  const results: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    machine: machineInfo(),
  };
  let agent: AgentProcess | null = null;
  try {
    // BENCH_AGENT_BUNDLE: a bundle built earlier (e.g. from another commit, for a before/after figure).
    const bundle = process.env.BENCH_AGENT_BUNDLE ?? buildRelease();
    const services = JSON.parse(await readFile(join(root, 'compose/services.cpu.json'), 'utf8')) as string[];
    const work = join(dir, 'dalston');
    const dataDir = join(dir, 'data');
    await cp(join(root, 'test/fixtures/dalston-compose'), work, { recursive: true });
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dir, 'compose.env'), ENV_FILE);
    await writeHostSecrets(dataDir);
    const files = [
      'docker-compose.yml',
      'infra/docker/docker-compose.aws.yml',
      join(root, 'compose/docker-compose.aws.yml'),
    ];
    const composeArgs = ['compose', '-p', project, '--project-directory', work];
    for (const f of files) composeArgs.push('-f', f);
    // The same env files as the agent's (composeTarget adds the host's secrets last).
    composeArgs.push('--env-file', join(dir, 'compose.env'), '--env-file', dataPaths(dataDir).secretsEnv);
    const composeEnv = { ...process.env, DALSTON_DATA_DIR: dataDir };

    // One stand-in image per image name the resolved configuration uses.
    const cfg = await run('docker', [...composeArgs, 'config', '--format', 'json'], composeEnv, work);
    if (cfg.code !== 0) throw new Error(`docker compose config failed: ${cfg.stderr}`);
    const resolved = JSON.parse(cfg.stdout) as { services: Record<string, { image: string }> };
    const ctx = join(dir, 'image');
    await mkdir(join(ctx, 'bin'), { recursive: true });
    for (const [name, body] of Object.entries(SCRIPTS)) {
      await writeFile(join(ctx, 'bin', name), body, { mode: 0o755 });
    }
    const images: string[] = [];
    for (const s of services) {
      const image = resolved.services[s]?.image;
      if (!image)
        throw new Error(`service ${s} of compose/services.cpu.json has no image in the resolved stack`);
      await writeFile(
        join(ctx, 'Dockerfile'),
        `FROM ${base}\nCOPY bin/ /usr/local/bin/\nCMD ["/usr/local/bin/${ROLE[s] ?? 'standin-worker'}"]\n`,
      );
      await buildImage(docker, ctx, image);
      images.push(image);
    }
    log(`stand-in images: ${images.join(', ')}`);

    const configFile = join(dir, 'host.json');
    await writeFile(
      configFile,
      JSON.stringify({
        dataDir,
        compose: { project, workingDir: work, files, services, envFiles: [join(dir, 'compose.env')] },
        // The defaults a host runs with (reconcile interval, gateway URL, grace), except the listen
        // address (any free port) and the mount check (the data dir is no separate volume here).
        agent: { listen: '127.0.0.1:0', requireDataMount: false, stateDir: join(dir, 'state') },
      }),
    );

    const down = async () => {
      const r = await run(
        'docker',
        [...composeArgs, 'down', '--timeout', '5', '--remove-orphans'],
        composeEnv,
        work,
      );
      if (r.code !== 0) throw new Error(`docker compose down failed: ${r.stderr}`);
    };

    /** A: the release bundle as dalston.service runs it, from spawn to its "stack is healthy" line. */
    const runAgent = async () => {
      const t0 = Date.now();
      agent = new AgentProcess(configFile, { ...unitEnvironment(), LOG_LEVEL: 'info' }, bundle);
      const healthy = await agent.waitForLine(
        (l) => l.msg === 'stack is healthy',
        180_000,
        'stack is healthy',
      );
      const at = (msg: string) => {
        const l = agent!.lines.find((x) => x.msg === msg);
        return l ? round((Date.parse(l.time as string) - t0) / 1000, 2) : null;
      };
      const seconds = (Date.parse(healthy.time as string) - t0) / 1000;
      const marks = {
        preflightDone: at('docker compose answers'),
        composeUpDone: at('compose up done'),
        agentReady: at('agent ready'),
      };
      agent.kill('SIGTERM');
      const exit = await agent.exit;
      if (exit.code !== 0) throw new Error(`agent exited ${exit.code ?? exit.signal}: ${agent.stderr}`);
      agent = null;
      return { seconds, marks };
    };

    /** B: `docker compose up -d --wait` of the same services, from spawn to exit. */
    const runBare = async () => {
      const t0 = Date.now();
      const r = await run('docker', [...composeArgs, 'up', '-d', '--wait', ...services], composeEnv, work);
      const seconds = (Date.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`docker compose up --wait failed: ${r.stderr}`);
      return { seconds };
    };

    await down();
    const agentRuns: Array<{ seconds: number; marks: Record<string, number | null> }> = [];
    const bareRuns: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 === 0 ? (['agent', 'bare'] as const) : (['bare', 'agent'] as const);
      for (const which of order) {
        if (which === 'agent') {
          const r = await runAgent();
          agentRuns.push(r);
          log(`pair ${i + 1}: agent ${r.seconds.toFixed(2)} s ${JSON.stringify(r.marks)}`);
        } else {
          const r = await runBare();
          bareRuns.push(r.seconds);
          log(`pair ${i + 1}: bare compose ${r.seconds.toFixed(2)} s`);
        }
        await down();
      }
    }
    const agentMedian = median(agentRuns.map((r) => r.seconds));
    const bareMedian = median(bareRuns);
    results.startToHealthy = {
      pairs,
      services,
      agent: {
        medianSeconds: round(agentMedian, 2),
        runs: agentRuns.map((r) => round(r.seconds, 2)),
        preflightDoneSeconds: agentRuns.map((r) => r.marks.preflightDone),
        composeUpDoneSeconds: agentRuns.map((r) => r.marks.composeUpDone),
        agentReadySeconds: agentRuns.map((r) => r.marks.agentReady),
      },
      bareComposeUpWait: { medianSeconds: round(bareMedian, 2), runs: bareRuns.map((s) => round(s, 2)) },
      ratio: round(agentMedian / bareMedian, 3),
      // Each pair ran back to back, so its own ratio is less exposed to load from other work on the machine.
      medianPairRatio: round(median(agentRuns.map((r, i) => r.seconds / bareRuns[i]!)), 3),
      note:
        'agent: release bundle spawned with dalston.service environment and default agent settings, until its ' +
        '"stack is healthy" log line (every service healthy or without healthcheck, gateway URL answering); ' +
        'bare: `docker compose up -d --wait` of the same services; alternating order, each from no containers',
    };
    results.targets = {
      'agent start→healthy ≤ 1.1× bare compose up --wait': agentMedian / bareMedian <= 1.1,
    };
    log(`startup: ${JSON.stringify(results.startToHealthy)}`);
  } finally {
    (agent as AgentProcess | null)?.kill('SIGKILL');
    await removeComposeProject(project, docker).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await teardown();
  }
  results.runtimeSeconds = Math.round((Date.now() - started) / 1000);
  results.loadAverageAtEnd = os.loadavg().map((l) => round(l, 2));
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/startup.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
process.exit(0);

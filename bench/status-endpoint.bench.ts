/**
 * Benchmark: GET /status latency under 50 concurrent clients (target p99 ≤ 20 ms).
 * A real server on 127.0.0.1 with a six-service snapshot that is replaced every
 * 100 ms (so re-serialization is part of the cost), 50 keep-alive clients each
 * issuing requests back to back from a worker thread. Writes bench/results/status-endpoint.json.
 * Run: npx tsx bench/status-endpoint.bench.ts   (npm run bench:status, or import runStatusEndpointBench)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { startStatusServer } from '../agent/report/http-server.ts';
import { AgentMetrics } from '../agent/report/metrics.ts';
import { createLogger } from '../shared/logger.ts';
import type { StatusSnapshot } from '../shared/status/snapshot.ts';

const SERVICES = [
  'postgres',
  'redis',
  'gateway',
  'orchestrator',
  'stt-transcribe-faster-whisper',
  'stt-diarize',
];

function snapshotAt(n: number): StatusSnapshot {
  const at = new Date(Date.UTC(2026, 0, 1) + n * 100).toISOString();
  return {
    state: 'healthy',
    project: 'dalston',
    version: '0.1.0',
    generatedAt: at,
    instance: 'i-0123456789abcdef0',
    heartbeatSeconds: 300,
    services: SERVICES.map((name, i) => ({
      name,
      containerId: `${i}`.repeat(64).slice(0, 64),
      state: 'running',
      health: 'healthy',
      agentRestarts: n % 3,
      dockerRestarts: 0,
      circuitOpen: false,
      lastAction: { action: 'restart', reason: 'health_status: unhealthy', at },
    })),
    host: {
      cpuLoadPercent: (n * 7) % 100,
      memory: { totalBytes: 16 * 2 ** 30, usedBytes: 4 * 2 ** 30 + n },
      dataVolume: { mountPoint: '/data', mounted: true, device: '/dev/nvme1n1', usedPercent: 12.3 },
      gpus: [{ model: 'Tesla T4', memoryTotalMiB: 15360, utilizationPercent: 40 }],
    },
    docker: { connected: true, apiVersion: '1.41', eventsConnected: true, lastEventAt: at },
    gateway: { url: 'http://127.0.0.1:8000/health', ok: true, checkedAt: at },
    s3: { lastUploadAt: at, lastError: null },
  };
}

/**
 * The load generator runs in a worker thread (plain JS), so its own work does not
 * queue on the server's event loop: on a host the agent's loop serves /status alone.
 */
const CLIENT_JS = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { port, clients, total, intervalMs } = workerData;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const latencies = [];
let issued = 0;
const get = () => new Promise((resolve, reject) => {
  const start = process.hrtime.bigint();
  const req = http.request({ host: '127.0.0.1', port, path: '/status', agent }, (res) => {
    res.resume();
    res.on('end', () => res.statusCode === 200
      ? resolve(Number(process.hrtime.bigint() - start) / 1e6)
      : reject(new Error('HTTP ' + res.statusCode)));
  });
  req.on('error', reject);
  req.end();
});
(async () => {
  const t0 = Date.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    // intervalMs 0: back to back (closed loop, a stress test); else each client polls on a fixed cadence.
    let next = Date.now() + Math.random() * intervalMs;
    while (issued < total) {
      if (intervalMs > 0) { await sleep(Math.max(0, next - Date.now())); next += intervalMs; }
      issued++;
      latencies.push(await get());
    }
  }));
  agent.destroy();
  parentPort.postMessage({ latencies, seconds: (Date.now() - t0) / 1000 });
})().catch((err) => parentPort.postMessage({ error: String(err) }));
`;

function runClients(
  port: number,
  clients: number,
  total: number,
  intervalMs: number,
): Promise<{ latencies: number[]; seconds: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(CLIENT_JS, { eval: true, workerData: { port, clients, total, intervalMs } });
    w.once('message', (m: { latencies: number[]; seconds: number; error?: string }) => {
      void w.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    });
    w.once('error', reject);
  });
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/**
 * One run. `intervalMs` 0 is a closed loop (each client fires its next request as
 * soon as the last answer arrives: a stress test whose latency is mostly queueing);
 * a positive value makes each client poll on that cadence, like dashboards do.
 */
export async function runStatusEndpointBench(
  opts: { clients?: number; requests?: number; intervalMs?: number } = {},
) {
  const clients = opts.clients ?? 50;
  const total = opts.requests ?? 20_000;
  const intervalMs = opts.intervalMs ?? 0;
  const logger = createLogger({
    name: 'bench',
    level: 'warn',
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  let n = 0;
  let current = snapshotAt(n);
  const changer = setInterval(() => {
    current = snapshotAt(++n);
  }, 100);
  const server = await startStatusServer({
    listen: '127.0.0.1:0',
    allowPublicListen: false,
    getStatus: () => current,
    getHealth: () => ({ ok: true, failing: [] }),
    metrics: new AgentMetrics({ processMetrics: false }),
    logger,
  });
  const port = Number(server.address.split(':').pop());
  let run: { latencies: number[]; seconds: number };
  // Process CPU per request (server plus the client worker): unlike latency, other load barely inflates it.
  const cpu0 = process.cpuUsage();
  const load0 = os.loadavg()[0]!;
  let cpu: NodeJS.CpuUsage;
  try {
    run = await runClients(port, clients, total, intervalMs);
    cpu = process.cpuUsage(cpu0);
  } finally {
    clearInterval(changer);
    await server.close();
  }
  const { latencies, seconds } = run;
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    name: 'status-endpoint',
    target: 'GET /status p99 <= 20 ms under 50 concurrent clients',
    mode: intervalMs > 0 ? `each client polls every ${intervalMs} ms` : 'closed loop (back to back)',
    clients,
    requests: sorted.length,
    snapshotChanges: n,
    requestsPerSecond: Math.round(sorted.length / seconds),
    latencyMs: {
      p50: round(pct(sorted, 50)),
      p95: round(pct(sorted, 95)),
      p99: round(pct(sorted, 99)),
      max: round(sorted.at(-1)!),
    },
    p99WithinTarget: pct(sorted, 99) <= 20,
    // Server and load generator together: an upper bound for the server alone.
    serverCpuMicrosPerRequest: Math.round((cpu.user + cpu.system) / sorted.length),
    // Latency is partly scheduling: it grows with whatever else runs on the machine.
    loadAverage1mBefore: Math.round(load0 * 100) / 100,
    node: process.version,
    cpus: os.cpus().length,
    at: new Date().toISOString(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = [
    await runStatusEndpointBench({ intervalMs: 0, requests: 20_000 }),
    await runStatusEndpointBench({ intervalMs: 50, requests: 10_000 }),
  ];
  const out = new URL('./results/status-endpoint.json', import.meta.url);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

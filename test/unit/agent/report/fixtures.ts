import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../../shared/logger.ts';
import type { ServiceStatus, StatusSnapshot } from '../../../../shared/status/snapshot.ts';

export function service(name: string, over: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    name,
    containerId: `c-${name}`,
    state: 'running',
    health: 'healthy',
    agentRestarts: 0,
    dockerRestarts: 0,
    circuitOpen: false,
    lastAction: null,
    ...over,
  };
}

export const SIX = [
  'postgres',
  'redis',
  'gateway',
  'orchestrator',
  'stt-transcribe-faster-whisper',
  'stt-diarize',
];

export function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    state: 'healthy',
    project: 'dalston',
    version: '0.1.0',
    generatedAt: '2026-01-01T00:00:00.000Z',
    instance: 'i-0123456789abcdef0',
    heartbeatSeconds: 300,
    services: SIX.map((n) => service(n)),
    host: {
      cpuLoadPercent: 12.5,
      memory: { totalBytes: 8 * 2 ** 30, usedBytes: 2 * 2 ** 30 },
      dataVolume: { mountPoint: '/data', mounted: true, device: '/dev/nvme1n1', usedPercent: 12.3 },
      gpus: [],
    },
    docker: { connected: true, apiVersion: '1.41', eventsConnected: true, lastEventAt: null },
    gateway: { url: 'http://127.0.0.1:8000/health', ok: true, checkedAt: '2026-01-01T00:00:00.000Z' },
    s3: { lastUploadAt: null, lastError: null },
    ...over,
  };
}

/** A logger whose JSON lines are kept in `lines`. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'debug', destination }), lines };
}

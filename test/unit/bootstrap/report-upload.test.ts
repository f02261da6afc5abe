import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { uploadBootstrapReport } from '../../../bootstrap/report-upload.ts';
import type { ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import type { BootstrapReport } from '../../../shared/status/bootstrap-report.ts';

const log = pino({ level: 'silent' });
const config = parseConfig({ s3: { bucket: 'dalston-artifacts-123456789012', statusPrefix: 'hosts/' } });
const report: BootstrapReport = {
  version: '0.1.0',
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:01:00.000Z',
  ok: false,
  dryRun: false,
  exitCode: 1,
  path: 'full',
  steps: [{ name: 'tailscale', result: 'failed', detail: 'tailscale up failed', durationMs: 900 }],
};

describe('uploadBootstrapReport', () => {
  it('puts the report (with the instance name) under the status prefix', async () => {
    const puts: [string, string][] = [];
    const store: ObjectStore = { putObject: async (k, b) => void puts.push([k, String(b)]) };
    const r = await uploadBootstrapReport(config, report, log, {
      store: async () => store,
      instanceName: async () => 'i-0abc0abc0abc0abc0',
    });
    expect(r).toEqual({
      ok: true,
      url: 's3://dalston-artifacts-123456789012/hosts/i-0abc0abc0abc0abc0/bootstrap.json',
    });
    expect(JSON.parse(puts[0]![1])).toEqual({ ...report, instance: 'i-0abc0abc0abc0abc0' });
  });

  it('a store that never answers is abandoned at the deadline, its request aborted', async () => {
    let signal: AbortSignal | undefined;
    const store: ObjectStore = {
      putObject: (_k, _b, _t, opts) =>
        new Promise((_resolve, reject) => {
          signal = opts?.signal;
          signal?.addEventListener('abort', () => reject(new Error('aborted')));
        }),
    };
    const t0 = Date.now();
    const r = await uploadBootstrapReport(
      config,
      report,
      log,
      { store: async () => store, instanceName: async () => 'i-0abc0abc0abc0abc0' },
      100,
    );
    expect(r).toEqual({ ok: false, reason: 'gave up after 0.1 s' });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(signal?.aborted).toBe(true);
  });

  it('an instance lookup that hangs is bounded too; no bucket means no upload', async () => {
    const r = await uploadBootstrapReport(
      config,
      report,
      log,
      { instanceName: () => new Promise(() => {}), store: async () => ({ putObject: async () => {} }) },
      50,
    );
    expect(r).toEqual({ ok: false, reason: 'gave up after 0.05 s' });
    expect(await uploadBootstrapReport(parseConfig({}), report, log)).toEqual({
      ok: false,
      reason: 's3.bucket is not set',
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StatusServer, startStatusServer } from '../../../agent/report/http-server.ts';
import { AgentMetrics } from '../../../agent/report/metrics.ts';
import { ZxShell } from '../../../shared/shell.ts';
import { checkMetrics, ensurePromtool } from '../../harness/promtool.ts';
import { memoryLogger, service, snapshot } from '../../unit/agent/report/fixtures.ts';

/**
 * The agent's /metrics as Prometheus's own linter reads it: promtool from Debian's
 * `prometheus` package (test/harness/promtool.ts), on the text the status server
 * serves with every series set (process metrics on, as the agent runs it; a backup,
 * an idle countdown, an action and a reconcile observed). The agent run in
 * test/integration/agent/agent.test.ts checks a live agent's output too.
 */
describe('promtool check metrics on the agent’s /metrics', () => {
  const shell = new ZxShell();
  const { logger } = memoryLogger();
  const metrics = new AgentMetrics();
  let server: StatusServer;
  let promtool: string;
  let base: string;

  beforeAll(async () => {
    promtool = await ensurePromtool(shell);
    const status = snapshot({
      state: 'degraded',
      services: [service('postgres'), service('gateway', { health: 'unhealthy', circuitOpen: true })],
      maintenance: null,
      backup: {
        lastRun: null,
        lastSuccess: {
          at: '2025-12-31T04:20:00.000Z',
          key: 'backups/postgres/2025-12-31.dump',
          sizeBytes: 1_234_567,
          sha256: 'ab'.repeat(32),
          alembicRevision: null,
          durationSeconds: 12,
        },
        failuresTotal: 1,
        consecutiveFailures: 0,
        problem: null,
      },
      idle: {
        state: 'idle',
        summary: 'idle 55 min — stopping in 5 min',
        since: '2025-12-31T23:05:00.000Z',
        stopAt: '2026-01-01T00:05:00.000Z',
        reasons: ['redis: unreadable (no connection)'],
        lease: null,
        checkedAt: '2026-01-01T00:00:00.000Z',
      },
    });
    metrics.observeSnapshot(status);
    metrics.incAgentAction('gateway', 'restart');
    metrics.incEventReconnect();
    metrics.observeReconcile(0.12);
    server = await startStatusServer({
      listen: '127.0.0.1:0',
      allowPublicListen: false,
      getStatus: () => status,
      getHealth: () => ({ ok: true, failing: [] }),
      metrics,
      logger,
    });
    base = `http://${server.address}`;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
  });

  it('finds nothing to complain about', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    // The text is the full output, not an empty or partial page.
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toContain('dalston_host_cpu_load_ratio 0.125');
    expect(text).toContain('dalston_agent_actions_total{service="gateway",action="restart"} 1');
    expect(text).toContain('dalston_backup_failures_total 1');
    const r = await checkMetrics(shell, promtool, text);
    expect(r.problems).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('reports what it rejects (the check can fail)', async () => {
    const bad =
      '# HELP nodejs_active_handles_total Number of active libuv handles.\n' +
      '# TYPE nodejs_active_handles_total gauge\n' +
      'nodejs_active_handles_total 3\n';
    const r = await checkMetrics(shell, promtool, bad);
    expect(r.exitCode).not.toBe(0);
    expect(r.problems.join('\n')).toContain('nodejs_active_handles_total');
  });
});

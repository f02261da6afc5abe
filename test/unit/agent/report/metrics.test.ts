import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../../agent/report/metrics.ts';
import { service, snapshot } from './fixtures.ts';

describe('AgentMetrics', () => {
  it('renders per-service, stack, docker, gateway and host series from a snapshot', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    m.observeSnapshot(
      snapshot({
        state: 'degraded',
        services: [
          service('postgres'),
          service('whisper', { health: 'unhealthy', circuitOpen: true, dockerRestarts: 4 }),
          service('orphan', { state: 'missing', containerId: null, health: 'none' }),
        ],
      }),
    );
    const text = await m.render();
    expect(m.contentType).toMatch(/^text\/plain/);
    expect(text).toContain('dalston_service_up{service="postgres"} 1');
    expect(text).toContain('dalston_service_up{service="orphan"} 0');
    expect(text).toContain('dalston_service_health{service="whisper",health="unhealthy"} 1');
    expect(text).toContain('dalston_service_health{service="whisper",health="healthy"} 0');
    expect(text).toContain('dalston_service_health{service="postgres",health="healthy"} 1');
    expect(text).toContain('dalston_service_circuit_open{service="whisper"} 1');
    expect(text).toContain('dalston_service_circuit_open{service="postgres"} 0');
    expect(text).toContain('dalston_service_docker_restarts{service="whisper"} 4');
    expect(text).toContain('dalston_stack_state{state="degraded"} 1');
    expect(text).toContain('dalston_stack_state{state="healthy"} 0');
    expect(text).toContain('dalston_docker_connected 1');
    expect(text).toContain('dalston_docker_events_connected 1');
    expect(text).toContain('dalston_gateway_up 1');
    // Ratios 0–1, from the snapshot's percentages.
    expect(text).toContain('dalston_host_cpu_load_ratio 0.125');
    expect(text).toContain(`dalston_host_memory_total_bytes ${8 * 2 ** 30}`);
    expect(text).toContain(`dalston_host_memory_used_bytes ${2 * 2 ** 30}`);
    expect(text).toContain('dalston_data_volume_mounted{mount_point="/data"} 1');
    const used = /^dalston_data_volume_used_ratio\{mount_point="\/data"\} (\S+)$/m.exec(text);
    expect(Number(used?.[1])).toBeCloseTo(0.123, 10);
    // `instance` is the label Prometheus gives every scraped target; ours must not collide with it.
    expect(text).toContain(
      'dalston_agent_info{version="0.1.0",project="dalston",instance_id="i-0123456789abcdef0"} 1',
    );
    expect(text).not.toMatch(/[{,](instance|job)=/);
    expect(text).not.toMatch(/_percent\b/);
    // No process metrics when turned off.
    expect(text).not.toContain('process_resident_memory_bytes');
  });

  it('drops services that left the snapshot and unknown host values', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    m.observeSnapshot(snapshot({ services: [service('a'), service('b')] }));
    const s = snapshot({ services: [service('a')] });
    s.host = {
      cpuLoadPercent: null,
      memory: null,
      dataVolume: { mountPoint: '/data', mounted: false, device: null, usedPercent: null },
      gpus: [],
    };
    m.observeSnapshot(s);
    const text = await m.render();
    expect(text).toContain('dalston_service_up{service="a"} 1');
    expect(text).not.toContain('service="b"');
    // prom-client spells NaN 'Nan'; Prometheus parses it case-insensitively.
    expect(text).toMatch(/^dalston_host_cpu_load_ratio nan$/im);
    expect(text).toMatch(/^dalston_host_memory_used_bytes nan$/im);
    expect(text).toContain('dalston_data_volume_mounted{mount_point="/data"} 0');
    expect(text).not.toMatch(/^dalston_data_volume_used_ratio\{/m);
  });

  it('counts actions, reconnects and reconcile durations', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    m.incAgentAction('whisper', 'restart');
    m.incAgentAction('whisper', 'restart');
    m.incAgentAction('redis', 'recreate');
    m.incEventReconnect();
    m.observeReconcile(0.03);
    m.observeReconcile(2);
    const text = await m.render();
    expect(text).toContain('dalston_agent_actions_total{service="whisper",action="restart"} 2');
    expect(text).toContain('dalston_agent_actions_total{service="redis",action="recreate"} 1');
    expect(text).toContain('dalston_agent_event_stream_reconnects_total 1');
    expect(text).toContain('dalston_agent_reconcile_duration_seconds_count 2');
    expect(text).toContain('dalston_agent_reconcile_duration_seconds_sum 2.03');
    expect(text).toContain('dalston_agent_reconcile_duration_seconds_bucket{le="0.05"} 1');
  });

  it('keeps registries apart', async () => {
    const a = new AgentMetrics({ processMetrics: false });
    const b = new AgentMetrics({ processMetrics: false });
    a.incEventReconnect();
    expect(await a.render()).toContain('dalston_agent_event_stream_reconnects_total 1');
    expect(await b.render()).toContain('dalston_agent_event_stream_reconnects_total 0');
  });

  it('renders the idle time, the stop time and the unreadable signals; zeros while busy', async () => {
    const m = new AgentMetrics({ processMetrics: false });
    const idle = {
      state: 'announce' as const,
      summary: 'idle 55 min — stopping in 5 min',
      since: '2025-12-31T23:05:00.000Z',
      stopAt: '2026-01-01T00:05:00.000Z',
      reasons: [],
      lease: null,
      checkedAt: '2026-01-01T00:00:00.000Z',
    };
    m.observeSnapshot(snapshot({ idle }));
    let text = await m.render();
    expect(text).toContain('dalston_idle_seconds 3300');
    expect(text).toContain(`dalston_idle_stop_at_timestamp_seconds ${Date.parse(idle.stopAt) / 1000}`);
    expect(text).toContain('dalston_idle_signals_unreadable 0');
    m.observeSnapshot(
      snapshot({
        idle: {
          ...idle,
          state: 'busy',
          since: null,
          stopAt: null,
          reasons: [
            'redis: unreadable (no connection)',
            'database jobs: 1 pending',
            'database: unreadable (x)',
          ],
        },
      }),
    );
    text = await m.render();
    expect(text).toContain('dalston_idle_seconds 0');
    expect(text).toContain('dalston_idle_stop_at_timestamp_seconds 0');
    expect(text).toContain('dalston_idle_signals_unreadable 2');
  });
});

import { describe, expect, it } from 'vitest';
import { STATUS_LINE_MAX, statusLine } from '../../../../agent/report/status-line.ts';
import { SIX, service, snapshot } from './fixtures.ts';

describe('statusLine', () => {
  it('summarises a healthy stack', () => {
    expect(statusLine(snapshot())).toBe('healthy 6/6 · /data 12% · gateway ok');
  });

  it('names the worst service of a degraded stack, circuit first', () => {
    const s = snapshot({
      state: 'degraded',
      services: SIX.map((n) =>
        n === 'stt-transcribe-faster-whisper'
          ? service(n, { health: 'unhealthy', circuitOpen: true })
          : service(n),
      ),
    });
    // In full this line is 81 characters: the service name gives way, never the problem.
    expect(statusLine(s)).toBe(
      'degraded 5/6 · stt-transcribe-faster-whisp… unhealthy (circuit open) · /data 12%',
    );
    const short = snapshot({
      state: 'degraded',
      services: SIX.map((n) =>
        n === 'stt-diarize' ? service(n, { health: 'unhealthy', circuitOpen: true }) : service(n),
      ),
    });
    expect(statusLine(short)).toBe('degraded 5/6 · stt-diarize unhealthy (circuit open) · /data 12%');
  });

  it('counts further problems and orders by severity', () => {
    const s = snapshot({
      state: 'degraded',
      services: [
        service('a', { health: 'starting' }),
        service('b', { state: 'missing', containerId: null, health: 'none' }),
        service('c', { health: 'unhealthy' }),
        service('d'),
      ],
    });
    expect(statusLine(s)).toBe('degraded 1/4 · c unhealthy +2 more · /data 12%');
  });

  it('counts a running service without healthcheck as up, an exited one as not', () => {
    const s = snapshot({
      state: 'degraded',
      services: [service('a', { health: 'none' }), service('b', { state: 'exited', health: 'none' })],
    });
    expect(statusLine(s)).toBe('degraded 1/2 · b exited · /data 12%');
  });

  it('reports a gateway that does not answer', () => {
    const s = snapshot({ state: 'degraded', gateway: { url: 'x', ok: false, checkedAt: null } });
    expect(statusLine(s)).toBe('degraded 6/6 · /data 12% · gateway down');
  });

  it('says when docker does not answer', () => {
    const s = snapshot({
      state: 'degraded',
      docker: { connected: false, apiVersion: null, eventsConnected: false, lastEventAt: null },
    });
    expect(statusLine(s)).toBe('degraded 6/6 · docker not answering · /data 12%');
  });

  it('says stopping…', () => {
    expect(statusLine(snapshot({ state: 'stopping' }))).toBe('stopping…');
  });

  it('gives a clear reason when the data volume is not mounted', () => {
    const s = snapshot({
      state: 'starting',
      services: SIX.map((n) => service(n, { containerId: null, state: 'missing', health: 'none' })),
    });
    s.host.dataVolume = { mountPoint: '/data', mounted: false, device: null, usedPercent: null };
    expect(statusLine(s)).toBe('starting · data volume not mounted at /data: stack not started');
  });

  it('warns about a missing mount while the stack runs anyway (requireDataMount off)', () => {
    const s = snapshot();
    s.host.dataVolume = { mountPoint: '/data', mounted: false, device: null, usedPercent: null };
    expect(statusLine(s)).toBe('healthy 6/6 · /data not mounted · gateway ok');
  });

  it('shows a mounted volume of unknown usage', () => {
    const s = snapshot();
    s.host.dataVolume.usedPercent = null;
    expect(statusLine(s)).toBe('healthy 6/6 · /data mounted · gateway ok');
  });

  it('stays within 80 characters by shortening the service name', () => {
    const long = 'a-very-long-service-name-that-goes-on-and-on-and-on-and-on-forever-and-ever';
    const s = snapshot({
      state: 'degraded',
      services: [service(long, { health: 'unhealthy', circuitOpen: true }), service('b')],
      gateway: { url: 'x', ok: false, checkedAt: null },
    });
    const line = statusLine(s);
    expect(line.length).toBeLessThanOrEqual(STATUS_LINE_MAX);
    expect(line).toMatch(
      /^degraded 1\/2 · a-very-long-.*… unhealthy \(circuit open\) · \/data 12% · gateway down$/,
    );
  });

  it('caps even an absurd mount point at 80 characters', () => {
    const s = snapshot();
    s.host.dataVolume.mountPoint = `/${'x'.repeat(200)}`;
    expect(statusLine(s).length).toBe(STATUS_LINE_MAX);
  });
});

describe('statusLine: backups and maintenance', () => {
  it('a failed last backup shows right after the count, where truncation does not reach', () => {
    const s = snapshot({
      backup: {
        lastRun: {
          startedAt: '2026-11-28T04:15:00.000Z',
          finishedAt: '2026-11-28T04:16:00.000Z',
          result: 'failure',
          trigger: 'timer',
          key: null,
          sizeBytes: null,
          durationSeconds: null,
          error: 'S3 unreachable',
        },
        lastSuccess: null,
        failuresTotal: 1,
        consecutiveFailures: 1,
        problem: null,
      },
    });
    expect(statusLine(s)).toBe('healthy 6/6 · backup failed · /data 12% · gateway ok');
  });

  it('maintenance names the restore', () => {
    const s = snapshot({
      maintenance: {
        reason: 'restore backups/postgres/20260501T041503.123Z.dump',
        holder: 'dalston-host restore',
        pid: 42,
        since: '2026-05-01T04:20:00.000Z',
        expiresAt: '2026-05-01T04:22:00.000Z',
        services: ['postgres', 'gateway'],
      },
    });
    expect(statusLine(s)).toMatch(/^healthy 6\/6 · maintenance: restore 20260501T041503\.123Z\.dump · /);
  });
});

describe('statusLine: idle stop', () => {
  const idle = (state: 'busy' | 'idle' | 'announce' | 'stopping', summary: string) => ({
    state,
    summary,
    since: null,
    stopAt: null,
    reasons: [],
    lease: null,
    checkedAt: null,
  });

  it('shows the countdown right after the state, and nothing while busy', () => {
    expect(statusLine(snapshot({ idle: idle('announce', 'idle 55 min — stopping in 5 min') }))).toBe(
      'healthy 6/6 · idle 55 min — stopping in 5 min · /data 12% · gateway ok',
    );
    expect(statusLine(snapshot({ idle: idle('idle', 'idle 12 min') }))).toBe(
      'healthy 6/6 · idle 12 min · /data 12% · gateway ok',
    );
    expect(statusLine(snapshot({ idle: idle('busy', 'busy (queue x: 1 waiting)') }))).toBe(
      'healthy 6/6 · /data 12% · gateway ok',
    );
  });

  it('says why the stack is stopping when idle stopped it', () => {
    const s = snapshot({
      state: 'stopping',
      idle: idle('stopping', 'idle 60 min — stopping now'),
      shutdown: { reason: 'idle', at: '2026-12-01T04:00:00.000Z', detail: 'idle since …' },
    });
    expect(statusLine(s)).toBe('stopping… · idle stop');
  });
});

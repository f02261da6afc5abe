import { describe, expect, it } from 'vitest';
import { buildSnapshot, type SnapshotParts } from '../../../agent/status/build-snapshot.ts';
import { statusSnapshotSchema } from '../../../shared/status/snapshot.ts';
import { service, snapshot } from './report/fixtures.ts';

const T = Date.UTC(2026, 0, 1, 12);

function parts(over: Partial<SnapshotParts['supervisor']> = {}, gatewayOk = true): SnapshotParts {
  const services = [service('db'), service('api')];
  return {
    supervisor: {
      stopping: false,
      lastReconcileAt: T - 1_000,
      dockerConnected: true,
      bringUp: { done: true, failing: false, failures: 0 },
      services,
      conditions: new Map([
        ['db', 'ok'],
        ['api', 'ok'],
      ]),
      circuitOpen: new Set(),
      busy: new Set(),
      dataVolume: { missing: false, reason: null },
      ...over,
    },
    watcher: { connected: true, disconnectedSince: null, lastEventAt: T - 500, reconnects: 0 },
    host: snapshot().host,
    gateway: { url: 'http://127.0.0.1:8000/health', ok: gatewayOk, checkedAt: new Date(T).toISOString() },
    s3: { lastUploadAt: null, lastError: 'NoSuchBucket' },
    project: 'dalston',
    version: '1.2.3',
    instance: 'i-0abc12345',
    apiVersion: '1.41',
    now: T,
  };
}

describe('buildSnapshot', () => {
  it('assembles a snapshot the shared schema accepts, with ISO times', () => {
    const s = buildSnapshot(parts());
    expect(statusSnapshotSchema.parse(s)).toEqual(s);
    expect(s).toMatchObject({
      state: 'healthy',
      generatedAt: '2026-01-01T12:00:00.000Z',
      docker: {
        connected: true,
        apiVersion: '1.41',
        eventsConnected: true,
        lastEventAt: '2026-01-01T11:59:59.500Z',
      },
      s3: { lastUploadAt: null, lastError: 'NoSuchBucket' },
    });
    expect(s.services.map((x) => x.name)).toEqual(['db', 'api']);
  });

  it('derives the state from the supervisor view and the gateway', () => {
    expect(buildSnapshot(parts({}, false)).state).toBe('degraded');
    expect(buildSnapshot(parts({ lastReconcileAt: null })).state).toBe('starting');
    expect(buildSnapshot(parts({ bringUp: { done: false, failing: true, failures: 2 } })).state).toBe(
      'degraded',
    );
    expect(buildSnapshot(parts({ stopping: true })).state).toBe('stopping');
    expect(
      buildSnapshot(
        parts({
          busy: new Set(['api']),
          conditions: new Map([
            ['db', 'ok'],
            ['api', 'missing'],
          ]),
        }),
      ).state,
    ).toBe('starting');
  });
});

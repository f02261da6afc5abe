import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DesiredStatePoll } from '../../../agent/converge/desired-state-poll.ts';
import { type ConditionalRead, S3ObjectStore } from '../../../shared/aws/s3-object-store.ts';
import { type ConvergenceRecord, settledDesiredVersion } from '../../../shared/desired/convergence-record.ts';
import type { ConvergenceState } from '../../../shared/desired/convergence-status.ts';
import { DESIRED_STATE_KEY } from '../../../shared/desired/desired-state.ts';
import type { DesiredStateStore } from '../../../shared/desired/desired-state-source.ts';
import { createLogger } from '../../../shared/logger.ts';
import { type LocalS3, S3RVER_CREDENTIALS, startS3rver } from '../../helpers/s3rver.ts';

// The agent's poll against a real S3-compatible server: every S3 request it makes is counted with
// what the server answered, so an unchanged object is seen to cost one 304 and no download.

let s3: LocalS3;
let real: S3ObjectStore;

/** The real store, with a log of each request and its answer (body length for a download). */
function countingStore(): DesiredStateStore & { requests: string[] } {
  const requests: string[] = [];
  return {
    bucket: real.bucket,
    requests,
    async getIfChanged(key: string, etag: string | null): Promise<ConditionalRead> {
      const r = await real.getIfChanged(key, etag);
      requests.push(
        r.kind === 'ok'
          ? `GET ${etag ? 'If-None-Match' : 'plain'} → 200 (${r.body.length} bytes)`
          : `GET → ${r.kind}`,
      );
      return r;
    },
  };
}

const doc = (ref: string) =>
  JSON.stringify({
    schemaVersion: 1,
    release: { version: '0.3.0', key: 'releases/dalston-host-0.3.0.tgz', sha256: 'a'.repeat(64) },
    host: { dalston: { ref } },
  });
const publish = (body: string) =>
  s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: DESIRED_STATE_KEY, Body: body }));

beforeAll(async () => {
  s3 = await startS3rver(`poll-${process.pid}`);
  real = new S3ObjectStore({ bucket: s3.bucket, endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS });
});
afterAll(async () => {
  real?.destroy();
  await s3?.close();
});

const emptyRecord: ConvergenceRecord = {
  state: 'converged',
  running: { release: '0.3.0', dalstonRef: 'v1.5.0', imageTag: '1.5.0', services: [] },
  desired: null,
  desiredVersion: null,
  checkedAt: null,
  step: null,
  summary: '',
  lastResult: null,
  problem: null,
  history: [],
};

function poller(
  store: DesiredStateStore,
  opts: { running?: () => boolean; held?: () => string | null; lastSynced?: () => string | null } = {},
) {
  const started: number[] = [];
  const poll = new DesiredStatePoll({
    store,
    intervalSeconds: 60,
    logger: createLogger({ name: 'test', level: 'silent' }),
    startSync: async () => void started.push(started.length + 1),
    syncRunning: async () => opts.running?.() ?? false,
    held: async () => opts.held?.() ?? null,
    ...(opts.lastSynced ? { lastSynced: async () => opts.lastSynced?.() ?? null } : {}),
  });
  return { poll, started };
}

describe('desired-state poll against s3rver', () => {
  it('downloads and starts sync once; an unchanged object costs one 304, no download, no sync', async () => {
    await publish(doc('v1.2.3'));
    const store = countingStore();
    const { poll, started } = poller(store);
    expect(await poll.poll()).toBe('sync-started');
    expect(await poll.poll()).toBe('unchanged');
    expect(await poll.poll()).toBe('unchanged');
    expect(store.requests).toEqual([
      expect.stringMatching(/^GET plain → 200 \(\d+ bytes\)$/),
      'GET → not-modified',
      'GET → not-modified',
    ]);
    expect(started).toEqual([1]);

    await publish(doc('v1.3.0'));
    expect(await poll.poll()).toBe('sync-started');
    expect(store.requests.at(-1)).toMatch(/^GET If-None-Match → 200/);
    expect(started).toEqual([1, 2]);
  });

  it('a change seen while a sync runs starts one at the next poll; never while a backup or restore holds the host', async () => {
    await publish(doc('v1.4.0'));
    const store = countingStore();
    let running = true;
    let held: string | null = 'maintenance: restore 2026.dump';
    const { poll, started } = poller(store, { running: () => running, held: () => held });
    expect(await poll.poll()).toBe('held');
    expect(store.requests).toEqual([]);
    held = null;
    expect(await poll.poll()).toBe('sync-running');
    expect(started).toEqual([]);
    running = false;
    expect(await poll.poll()).toBe('sync-started');
    expect(await poll.poll()).toBe('unchanged');
    expect(started).toEqual([1]);
  });

  it('a restarted agent starts no sync for the version the last finished sync worked towards', async () => {
    await publish(doc('v1.5.0'));
    const head = await real.getIfChanged(DESIRED_STATE_KEY, null);
    if (head.kind !== 'ok') throw new Error(`desired state not readable: ${head.kind}`);
    const version = head.versionId ?? head.etag;
    // The record of a sync that finished on this version (converged, rolled back or failed alike).
    let record: { state: ConvergenceState; desiredVersion: string | null } = {
      state: 'converged',
      desiredVersion: version,
    };
    const settled = () => settledDesiredVersion({ kind: 'ok', record: { ...emptyRecord, ...record } });

    const store = countingStore();
    const restarted = poller(store, { lastSynced: settled });
    expect(await restarted.poll.poll()).toBe('already-synced');
    expect(await restarted.poll.poll()).toBe('unchanged');
    expect(restarted.started).toEqual([]);
    expect(store.requests.at(-1)).toBe('GET → not-modified');

    // A step still in progress (the agent restarted mid-step) must be resumed: sync starts.
    record = { state: 'converging', desiredVersion: version };
    const midStep = poller(countingStore(), { lastSynced: settled });
    expect(await midStep.poll.poll()).toBe('sync-started');
    // An older version in the record (the bootstrap applied a newer object at boot): sync starts.
    record = { state: 'converged', desiredVersion: 'an-older-version' };
    const older = poller(countingStore(), { lastSynced: settled });
    expect(await older.poll.poll()).toBe('sync-started');
    expect([midStep.started, older.started]).toEqual([[1], [1]]);
  });
});

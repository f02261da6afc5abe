import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DalstonApi, HttpAnswer } from '../../../cli/dalston-api.ts';
import { GatewayUnreachable } from '../../../cli/dalston-api.ts';
import { plain } from '../../../cli/render/format.ts';
import {
  CheckFailed,
  judgeAuth,
  judgeHeartbeat,
  judgeInstance,
  judgeJob,
  judgeSubmit,
  missingArtifacts,
  renderVerify,
  runVerify,
  type VerifyDeps,
} from '../../../cli/verify.ts';
import { toneWav, VERIFY_AUDIO_NAME } from '../../../cli/verify-audio.ts';
import { fixtureSnapshot } from './helpers.ts';

const ans = (status: number, json: unknown = null): HttpAnswer => ({
  status,
  json,
  text: json === null ? '' : JSON.stringify(json),
});
const ID = '3f0c9a52-0d7e-4b55-9d3e-2f5a1e6b7c80';
const NOW = Date.parse('2026-12-01T11:00:00.000Z');

describe('verify: the recording', () => {
  it('is a 0.8 s 16 kHz mono 16-bit WAV, the committed file byte for byte', () => {
    const w = toneWav();
    expect(w.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(w.subarray(8, 12).toString('ascii')).toBe('WAVE');
    expect(w.readUInt32LE(24)).toBe(16_000);
    expect(w.readUInt16LE(22)).toBe(1);
    expect(w.readUInt16LE(34)).toBe(16);
    expect(w.readUInt32LE(40)).toBe(0.8 * 16_000 * 2);
    expect(w.length).toBe(44 + 0.8 * 16_000 * 2);
    // Not silence: the tone is there, and it fades in from zero.
    expect(w.readInt16LE(44)).toBe(0);
    expect(
      Math.max(...Array.from({ length: 1000 }, (_, i) => w.readInt16LE(44 + 2 * (4000 + i)))),
    ).toBeGreaterThan(9000);
    expect(readFileSync(new URL(`../../../cli/assets/${VERIFY_AUDIO_NAME}`, import.meta.url))).toEqual(w);
  });
});

describe('verify: the decisions', () => {
  it('instance: only running passes; pending says wait, anything else says up', () => {
    expect(judgeInstance('running')).toBe('running');
    expect(() => judgeInstance('pending')).toThrow(CheckFailed);
    try {
      judgeInstance('stopped');
    } catch (e) {
      expect((e as CheckFailed).next).toContain('dalston-aws up');
    }
  });

  it('heartbeat: missing, malformed and stale fail; fresh passes with its age', () => {
    const snap = { ...fixtureSnapshot('snapshot-healthy.json'), generatedAt: '2026-12-01T10:59:00.000Z' };
    expect(judgeHeartbeat({ kind: 'ok', snapshot: snap, key: 'k' }, 's3://b/k', NOW)).toMatch(
      /^60 s old \(stale after 600 s\)/,
    );
    const stale = { ...snap, generatedAt: '2026-12-01T10:49:00.000Z' };
    expect(() => judgeHeartbeat({ kind: 'ok', snapshot: stale, key: 'k' }, 's3://b/k', NOW)).toThrow(
      /660 s old \(stale after 600 s\)/,
    );
    expect(() => judgeHeartbeat({ kind: 'missing', key: 'k' }, 's3://b/k', NOW)).toThrow(
      /no heartbeat at s3:\/\/b\/k/,
    );
    expect(() => judgeHeartbeat({ kind: 'malformed', key: 'k', reason: 'bad' }, 's3://b/k', NOW)).toThrow(
      /malformed: bad/,
    );
  });

  it('auth: 401/403 is a rejected key, 404 for no such job is an accepted one, 5xx is the stack', () => {
    expect(judgeAuth(ans(404, { detail: 'not found' }))).toMatch(/accepted/);
    expect(() => judgeAuth(ans(401, { detail: 'Invalid API key' }))).toThrow(
      /refused the API key \(HTTP 401\)/,
    );
    expect(() => judgeAuth(ans(403))).toThrow(/HTTP 403/);
    expect(() => judgeAuth(ans(500))).toThrow(/HTTP 500/);
  });

  it('submit: 201 with an id passes; no id, 401 and other codes fail', () => {
    expect(judgeSubmit(ans(201, { id: ID, status: 'pending' }))).toEqual({ id: ID, status: 'pending' });
    expect(() => judgeSubmit(ans(201, { status: 'pending' }))).toThrow(/without a job id/);
    expect(() => judgeSubmit(ans(401))).toThrow(/refused the API key on submit/);
    expect(() => judgeSubmit(ans(422, { detail: 'model unknown' }))).toThrow(/HTTP 422: .*model unknown/);
  });

  it('job: completed, failed with its error, or still working with progress', () => {
    expect(judgeJob(ans(200, { status: 'completed' }), ID)).toEqual({ kind: 'completed' });
    expect(judgeJob(ans(200, { status: 'failed', error: 'boom' }), ID)).toEqual({
      kind: 'failed',
      status: 'failed',
      error: 'boom',
    });
    expect(judgeJob(ans(200, { status: 'running', progress: 42.4 }), ID)).toEqual({
      kind: 'working',
      status: 'running',
      progress: 42.4,
    });
    expect(judgeJob(ans(200, { status: 'pending' }), ID)).toEqual({
      kind: 'working',
      status: 'pending',
      progress: null,
    });
    expect(() => judgeJob(ans(404), ID)).toThrow(/HTTP 404/);
  });

  it('artifacts: audio/original.<ext> and transcript.json under jobs/<id>/', () => {
    const p = `jobs/${ID}/`;
    expect(
      missingArtifacts([`${p}audio/original.mp3`, `${p}transcript.json`, `${p}tasks/x/out.json`], ID),
    ).toEqual([]);
    expect(missingArtifacts([`${p}transcript.json`], ID)).toEqual(['audio/original.<ext>']);
    expect(missingArtifacts([`${p}audio/original.wav`], ID)).toEqual(['transcript.json']);
    expect(missingArtifacts([`jobs/other/audio/original.wav`, `jobs/other/transcript.json`], ID)).toEqual([
      'audio/original.<ext>',
      'transcript.json',
    ]);
  });
});

describe('verify: the sequence', () => {
  function deps(over: Partial<VerifyDeps> & { jobAnswers?: HttpAnswer[] } = {}) {
    let t = NOW;
    const answers = [
      ...(over.jobAnswers ?? [
        ans(200, { status: 'running', progress: 10 }),
        ans(200, { status: 'completed' }),
      ]),
    ];
    const progress: string[] = [];
    const api: DalstonApi = {
      health: async () => ans(200, { status: 'healthy' }),
      getJob: async (id) => (id === ID ? answers.shift()! : ans(404)),
      submit: async () => ans(201, { id: ID, status: 'pending' }),
    };
    const d: VerifyDeps = {
      instanceState: async () => 'running',
      heartbeat: async () => ({
        kind: 'ok',
        snapshot: { ...fixtureSnapshot('snapshot-healthy.json'), generatedAt: new Date(NOW).toISOString() },
        key: 'k',
      }),
      heartbeatLocation: 's3://b/k',
      gatewayBase: 'http://dalston:8000',
      apiKey: async () => 'dk_x',
      api: () => api,
      jobObjects: async (id) => [`jobs/${id}/audio/original.wav`, `jobs/${id}/transcript.json`],
      bucket: 'b',
      audio: { bytes: new Uint8Array(4), name: 'a.wav' },
      model: 'faster-whisper',
      pollMs: 1000,
      timeoutMs: 5000,
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
      progress: (l) => progress.push(l),
      ...over,
    };
    return { d, progress };
  }

  it('all pass: six checks, progress lines as the job moves', async () => {
    const { d, progress } = deps();
    const r = await runVerify(d);
    expect(r.failed).toBeNull();
    expect(r.checks.map((c) => c.ok)).toEqual([true, true, true, true, true, true]);
    expect(progress).toEqual([`job ${ID} pending`, `job ${ID} running 10% (0:00)`]);
    expect(renderVerify(r, 'head', plain)).toMatch(/verify: 6 checks passed in \d+\.\d s\n$/);
  });

  it('a job that never finishes fails at the timeout, naming its state', async () => {
    const { d } = deps({ jobAnswers: Array(20).fill(ans(200, { status: 'running' })) });
    const r = await runVerify(d);
    expect(r.failed?.name).toBe('transcription');
    expect(r.failed?.detail).toMatch(/still running after 5s/);
  });

  it('an unreachable gateway is named with the tailnet hint; later checks do not run', async () => {
    const { d } = deps({
      api: () => ({
        health: async () => {
          throw new GatewayUnreachable('http://dalston:8000/health', 'ENOTFOUND');
        },
        getJob: async () => ans(500),
        submit: async () => ans(500),
      }),
    });
    const r = await runVerify(d);
    expect(r.failed).toMatchObject({
      name: 'gateway',
      detail: 'cannot reach the gateway: no answer from http://dalston:8000/health: ENOTFOUND',
    });
    expect(r.failed?.next).toContain('tailscale status');
    expect(r.checks).toHaveLength(3);
    const text = renderVerify(r, 'head', plain);
    expect(text).toMatch(/– api key +not run/);
    expect(text).toContain('verify: failed at gateway');
  });
});

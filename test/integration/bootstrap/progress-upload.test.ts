import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_ORDER, type Step, type StepName } from '../../../bootstrap/steps/step.ts';
import { readBootstrapReport } from '../../../cli/aws/bootstrap-reports.ts';
import { S3ObjectReader } from '../../../cli/aws/snapshots.ts';
import { bootstrapView, describeRunning } from '../../../cli/bootstrap-view.ts';
import { bootstrapAgainstS3rver } from '../../helpers/bootstrap-s3rver.ts';
import { type LocalS3, startS3rver } from '../../helpers/s3rver.ts';

// The real bootstrap command and uploader (S3 adapter → s3rver) publish the run's progress
// while it runs: the images step does not end until the test has read, through the CLI's
// own reader, a running report naming it. Only the steps that need a real disk, network or
// package manager are stand-ins.
const INSTANCE = 'i-0fb0000000000000a';

let s3: LocalS3;
let dir: string;
beforeAll(async () => {
  s3 = await startS3rver(`bootstrap-progress-${process.pid}`);
  dir = mkdtempSync(path.join(process.env.DALSTON_TEST_TMP ?? os.tmpdir(), 'dalston-progress-'));
});
afterAll(async () => {
  await s3?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bootstrap progress in the bucket', () => {
  it('a running report naming the current step appears before the bootstrap ends; the result replaces it', async () => {
    const root = path.join(dir, 'host-root');
    mkdirSync(path.join(root, 'etc/dalston'), { recursive: true });
    writeFileSync(
      path.join(root, 'etc/dalston/host.json'),
      JSON.stringify({
        dalston: { ref: 'v1' },
        s3: { bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1' },
      }),
    );
    const reader = new S3ObjectReader(s3.client);
    const read = () => readBootstrapReport(reader, s3.bucket, 'status/', INSTANCE);

    // The images step waits (no timer: vitest's test timeout bounds it) until the test has seen it.
    let seen: Awaited<ReturnType<typeof read>> | null = null;
    const images: Step = {
      name: 'images',
      run: async () => {
        for (;;) {
          const r = await read();
          if (r.kind === 'ok' && r.report.state === 'running' && r.report.currentStep?.name === 'images') {
            seen = r;
            return { result: 'done', detail: 'images (stand-in, seen by the laptop)' };
          }
          await new Promise((res) => setTimeout(res, 100));
        }
      },
    };
    const steps: Partial<Record<StepName, Step>> = { images };
    for (const n of STEP_ORDER) {
      if (n === 'desired' || n === 'images') continue;
      steps[n] = { name: n, run: async () => ({ result: 'done', detail: `${n} (stand-in)` }) };
    }
    const code = await bootstrapAgainstS3rver(root, steps, INSTANCE);
    expect(code).toBe(0);

    expect(seen).not.toBeNull();
    const running = seen!;
    if (running.kind !== 'ok') throw new Error('unreachable');
    const imagesAt = STEP_ORDER.indexOf('images');
    expect(running.report).toMatchObject({
      state: 'running',
      instance: INSTANCE,
      path: 'full',
      ok: true,
      currentStep: { name: 'images' },
      stepsDone: imagesAt,
      stepsTotal: STEP_ORDER.length,
    });
    // The steps that ended before it are there, as in the result.
    expect(running.report.steps.map((s) => s.name)).toEqual([
      'desired',
      'config',
      ...STEP_ORDER.slice(1, imagesAt),
    ]);
    const view = bootstrapView(running, `s3://${s3.bucket}/${running.key}`, null);
    expect(describeRunning(view, Date.parse(running.report.startedAt) + 190_000)).toBe(
      `bootstrap: step images (${imagesAt + 1}/${STEP_ORDER.length}), 3m 10s`,
    );

    // Progress uploads were closed before the result: the result is what stays.
    const final = await read();
    expect(final).toMatchObject({
      kind: 'ok',
      report: { state: 'finished', ok: true, instance: INSTANCE, path: 'full' },
    });
    if (final.kind !== 'ok') throw new Error('unreachable');
    expect(final.report.currentStep).toBeUndefined();
    expect(final.report.steps.at(-1)?.name).toBe(STEP_ORDER.at(-1));
  });
});

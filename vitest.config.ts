import { defineConfig } from 'vitest/config';

// Two layers: `unit` (no IO, runs anywhere) and `integration` (real dockerd,
// compose v2, loop devices, terraform; the harness in test/harness sets them up).
export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts (vitest's own summary is for people).
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // No IO, but the unit project runs beside the integration one on 2 cores: the
          // default 5 s is too tight for the few CPU-heavy ones (HCL parsing, bundling).
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          // Tests share one dockerd, a handful of loop devices and 2 cores: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});

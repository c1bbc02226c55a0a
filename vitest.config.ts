import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 90_000,
    maxWorkers: 2,
    // The Google clients otherwise probe for a metadata server that a laptop or CI box does not have.
    env: { METADATA_SERVER_DETECTION: 'none' },
    projects: [
      {
        // Fast tests: pure core, fakes, the simulator in-process. No emulators.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/simulator/**/*.test.ts'] },
      },
      {
        // Suites that need Google's Firestore/Pub/Sub emulators, started once by the global setup.
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/local-stack/**/*.test.ts', 'test/cli/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
        },
      },
      {
        // Fault injection, hostile input, load (test/reliability/). Reduced inside `npm test`;
        // `npm run test:reliability` runs it at full size (RELIABILITY_FULL=1).
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
        },
      },
      {
        // The dashboard in a real browser (Debian's chromium through playwright-core) over the emulators.
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 120_000,
        },
      },
    ],
  },
});

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
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});

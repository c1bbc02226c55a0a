import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 90_000,
    maxWorkers: 2,
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

/**
 * Pipelines on the local stack (Google's Firestore and Pub/Sub emulators, the Earth
 * Engine simulator, the scheduler stand-in ticking pollExports): a daily schedule
 * created with backfillFrom three days ago submits exactly the three missed windows,
 * once each, with the window dates in the requests Earth Engine receives.
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor, apiCaller, until } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';

const missing = missingEmulators(`the local stack's pipeline runs`);

const stateDir = stateDirFor('pipelines');

const KEY = 'pipelines-test-key-0123456789abcdef';
const DAY = 86_400_000;

const api = apiCaller(KEY);


const day = (t: number) => new Date(t).toISOString().slice(0, 10);

describe.skipIf(missing.length > 0)('pipelines on the local stack', () => {
  it('a daily schedule with backfillFrom three days ago submits exactly the missed windows, once each, dates substituted', async () => {
    const stack = await startLocalStack({ mode: 'emulators', ports: 'free', stateDir, print: () => {}, pollEverySeconds: 1, env: { API_AUTH: 'api-key', API_KEYS: KEY } });
    try {
      const midnight = Math.floor(Date.now() / DAY) * DAY;
      const created = await api(stack, 'POST', '/v1/schedules', {
        scheduleId: 'daily-backfill',
        cadence: { cron: '0 0 * * *', timeZone: 'UTC' },
        backfillFrom: day(midnight - 3 * DAY),
        request: {
          description: 'daily {{window.startDate}} to {{window.endDate}}',
          expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/daily' } } } } } },
          fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'daily/{{window.startDate}}' }, fileFormat: 'GEO_TIFF' },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const expected = [3, 2, 1].map((k) => `daily ${day(midnight - k * DAY)} to ${day(midnight - (k - 1) * DAY)}`);
      const store = stack.services.adapters.store;
      const runs = () => store.listJobs({ pageSize: 50 }).then((p) => p.jobs.filter((j) => j.source.kind === 'schedule'));
      await until('three finished runs', async () => {
        const jobs = await runs();
        return jobs.length === 3 && jobs.every((j) => j.state === 'SUCCEEDED') && jobs;
      });
      // More scheduler ticks change nothing: the windows ran once.
      const before = (await store.getSchedule('daily-backfill'))!.version;
      await until('more ticks', async () => (await store.getSchedule('daily-backfill'))!.version === before && (await new Promise((r) => setTimeout(r, 3_000)), true));
      const jobs = await runs();
      expect(jobs.map((j) => j.description).sort()).toEqual(expected);
      const tasks = stack.simulator.tasks();
      expect(tasks.map((t) => String(t.request.description)).sort()).toEqual(expected);
      expect(tasks.map((t) => (t.request.fileExportOptions as { cloudStorageDestination: { filenamePrefix: string } }).cloudStorageDestination.filenamePrefix).sort()).toEqual([3, 2, 1].map((k) => `daily/${day(midnight - k * DAY)}`));
      const view = await api(stack, 'GET', '/v1/schedules/daily-backfill');
      expect(view.body).toMatchObject({ runCount: 3 });
      expect((view.body!.nextRuns as { windowStart: string }[])[0]!.windowStart).toBe(`${day(midnight)}T00:00:00Z`);
      expect((view.body!.runs as { state: string }[]).map((r) => r.state)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    } finally {
      await stack.stop();
    }
  }, 120_000);
});

/**
 * Data-driven schedules on the local stack (Google's Firestore and Pub/Sub emulators, the
 * Earth Engine simulator with an image collection, the scheduler stand-in ticking
 * pollExports): a schedule on new images runs each image once, with the image's id and
 * date in the request Earth Engine receives; repeated ticks add nothing; a new image
 * (found on the next look, here forced with :backfill) adds exactly one run.
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor, apiCaller, until } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';

const missing = missingEmulators(`the local stack's new-image schedule run`);

const stateDir = stateDirFor('new-images');

const KEY = 'new-images-test-key-0123456789abcdef';
const COLLECTION = 'projects/eeport-data/assets/s2';

const api = apiCaller(KEY);


describe.skipIf(missing.length > 0)('schedules on new images on the local stack', () => {
  it('one run per new image, once, with the image substituted; a new image adds one run', async () => {
    const stack = await startLocalStack({ mode: 'emulators', ports: 'free', stateDir, print: () => {}, pollEverySeconds: 1, env: { API_AUTH: 'api-key', API_KEYS: KEY } });
    try {
      const day = (k: number) => new Date(Date.now() - k * 86_400_000).toISOString().slice(0, 10);
      stack.simulator.assets.addImages(COLLECTION, [
        { id: 'too_old', startTime: `${day(9)}T10:00:00Z` },
        { id: 'first', startTime: `${day(2)}T10:00:00Z` },
        { id: 'second', startTime: `${day(1)}T10:00:00Z` },
      ]);
      const created = await api(stack, 'POST', '/v1/schedules', {
        scheduleId: 's2-new',
        cadence: { newImages: COLLECTION, checkEveryMinutes: 60 },
        backfillFrom: day(3),
        request: {
          description: 'scene {{image.date}}',
          expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: '{{image.id}}' } } } } } },
          fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'scenes/{{image.date}}' }, fileFormat: 'GEO_TIFF' },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const store = stack.services.adapters.store;
      const runs = () => store.listJobs({ pageSize: 50 }).then((p) => p.jobs.filter((j) => j.source.kind === 'schedule'));
      await until('two finished runs', async () => {
        const jobs = await runs();
        return jobs.length === 2 && jobs.every((j) => j.state === 'SUCCEEDED') && jobs;
      });
      // More scheduler ticks change nothing.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await runs()).toHaveLength(2);
      const loaded = () => stack.simulator.tasks().map((t) => ((t.request.expression as { values: Record<string, { functionInvocationValue: { arguments: { id: { constantValue: string } } } }> }).values['0']!.functionInvocationValue.arguments.id.constantValue)).sort();
      expect(loaded()).toEqual([`${COLLECTION}/first`, `${COLLECTION}/second`]);
      expect(stack.simulator.tasks().map((t) => String(t.request.description)).sort()).toEqual([`scene ${day(2)}`, `scene ${day(1)}`]);

      // A new image; the next look at the collection (forced now) runs it, and only it.
      stack.simulator.assets.addImages(COLLECTION, [{ id: 'third', startTime: `${day(0)}T00:00:01Z` }]);
      expect((await api(stack, 'POST', '/v1/schedules/s2-new:backfill', { from: day(3) })).status).toBe(200);
      await until('the third run finished', async () => {
        const jobs = await runs();
        return jobs.length === 3 && jobs.every((j) => j.state === 'SUCCEEDED');
      });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await runs()).toHaveLength(3);
      expect(loaded()).toEqual([`${COLLECTION}/first`, `${COLLECTION}/second`, `${COLLECTION}/third`]);
      const view = await api(stack, 'GET', '/v1/schedules/s2-new');
      expect(view.body).toMatchObject({ runCount: 3, imageCursor: `${day(0)}T00:00:01Z`, nextRuns: [] });
      expect((view.body!.runs as { imageId: string }[]).map((r) => r.imageId)).toEqual([`${COLLECTION}/first`, `${COLLECTION}/second`, `${COLLECTION}/third`]);
    } finally {
      await stack.stop();
    }
  }, 120_000);
});

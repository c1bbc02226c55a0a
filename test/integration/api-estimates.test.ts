/**
 * Estimates end to end: functions-framework test server → Firestore and Pub/Sub
 * emulators → the Earth Engine simulator (EECU from the work a task does). A job and a
 * 4-child fan-out are estimated with nothing reaching Earth Engine; a probe is the one
 * thing that does, labelled as one; the poller records its estimate, and accuracy reads it.
 */
import { describe, it, expect } from 'vitest';
import '../../functions/src/entry/api.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { expectError, useApiStack } from '../harness/api-stack.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { EstimateAccuracyResponseSchema, EstimateResponseSchema, JobViewSchema } from '../../functions/src/core/api/api-contract.ts';

const emu = emulatorsOrSkip('api estimates integration');

const grid = { dimensions: { width: 2000, height: 1000 }, crsCode: 'EPSG:4326' };
const template = {
  description: 'tile {{value}}',
  grid,
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/{{value}}' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'tiles/{{value}}' }, fileFormat: 'GEO_TIFF' },
};

describe.skipIf(!emu)('api: estimates (emulators + simulator)', () => {
  // The estimates cache each project's history for a minute; the test steps past it.
  let skew = 0;
  const api = useApiStack(emu, {
    adapters: (a) => ({ ...a, clock: { now: () => new Date(Date.now() + skew) } }),
    env: { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true', ESTIMATE_MIN_SAMPLES: '1', EECU_BUDGETS: JSON.stringify([{ eeProject: 'ee-test-project', monthlyEecuSeconds: 3600 }]) },
    simulator: { rateLimitPerSecond: 0, eecuModel: 'work' },
    fresh: 'each',
  });

  const estimate = async (body: unknown, query = '') => {
    const res = await api.post(`/v1/estimates${query}`, body);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return EstimateResponseSchema.parse(JSON.parse(text));
  };

  it('a job and a 4-child fan-out: low ≤ expected ≤ high, tasks 4 for the batch, and nothing reaches Earth Engine', async () => {
    const job = await estimate({ request: assetLoadRequest('projects/p/assets/a', { grid }), labels: { team: 'forest' } });
    const batch = await estimate({ batch: { template, fanOut: { values: ['a', 'b', 'c', 'd'] } } });
    for (const e of [job, batch]) {
      expect(e.eecuSeconds.low).toBeLessThanOrEqual(e.eecuSeconds.expected);
      expect(e.eecuSeconds.expected).toBeLessThanOrEqual(e.eecuSeconds.high);
      expect(e.method).toBe('prior');
      expect(e.budget).toEqual([expect.objectContaining({ budget: expect.stringMatching(/^ee-test-project~all~/), limitEecuSeconds: 3600 })]);
    }
    expect(job).toMatchObject({ tasks: 1, pixels: 2_000_000 });
    expect(batch).toMatchObject({ tasks: 4, pixels: 8_000_000 });
    expect(api.sim.tasks()).toEqual([]);
    expect((await api.stack.firestore.collection('jobs').get()).size).toBe(0);
    await expectError(await api.post('/v1/estimates', { batch: { template, fanOut: { values: [] } } }), 400, 'BATCH.INVALID');
  });

  it('?probe=true: the one task that reaches Earth Engine is a labelled probe; once it finished, estimates rest on it and accuracy counts it', async () => {
    const first = await estimate(assetLoadRequest('projects/p/assets/a', { grid }), '?probe=true');
    expect(first.probe).toMatchObject({ pixels: 65_536 });
    const probeId = (first.probe as { jobId: string }).jobId;
    const tasks = api.sim.tasks();
    expect(tasks).toHaveLength(1);
    const job = JobViewSchema.parse(await (await api.call(`/v1/jobs/${probeId}`)).json());
    expect(job.labels).toEqual({ 'eeport-probe': 'true' });
    expect(job.request?.grid?.dimensions).toEqual({ width: 256, height: 256 });
    for (let i = 0; i < 12 && (await (await api.call(`/v1/jobs/${probeId}`)).json()).state !== 'SUCCEEDED'; i++) {
      await api.stack.services.pollExports().run();
      api.sim.clock.advance(65_000);
    }
    const done = JobViewSchema.parse(await (await api.call(`/v1/jobs/${probeId}`)).json());
    expect(done.state).toBe('SUCCEEDED');
    expect(done.estimate?.method).toBe('prior');
    expect(done.eecuSeconds).toBeGreaterThan(0);
    // The history is cached for a minute per instance.
    skew += 61_000;
    const next = await estimate(assetLoadRequest('projects/p/assets/a', { grid }), '?probe=true');
    expect(next.method).toBe('probe');
    expect(next.probe).toBeUndefined();
    expect(next.eecuSeconds.expected).toBeCloseTo((done.eecuSeconds! * 2_000_000) / 65_536, 0);
    expect(api.sim.tasks()).toHaveLength(1);
    const acc = EstimateAccuracyResponseSchema.parse(await (await api.call('/v1/estimates/accuracy')).json());
    expect(acc.methods).toEqual([expect.objectContaining({ method: 'prior', jobs: 1 })]);
  });
});

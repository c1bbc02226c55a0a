/**
 * Estimates' faces on the use cases as the composition wires them: POST /v1/estimates
 * and GET /v1/estimates/accuracy on the API handler, the topic's dry run
 * (action=estimate → one event), and probes. Nothing reaches Earth Engine but a probe.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../functions/src/config.ts';
import { buildServices, type Services } from '../../functions/src/composition-root.ts';
import { intakePolicy } from '../../functions/src/composition/instance.ts';
import { createApiHandler, createApiLogEvents, EstimateAccuracyResponseSchema, EstimateResponseSchema } from '../../functions/src/core/api/index.ts';
import { ApiErrorBodySchema } from '../../functions/src/core/api/api-contract.ts';
import { createEstimateApi, createEstimates, ESTIMATE_EVENT_TYPE, expressionFingerprint, PROBE_LABEL } from '../../functions/src/core/estimates/index.ts';
import type { ApiRequest } from '../../functions/src/core/api/api-handler.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { topicMessage } from '../fakes/messages.ts';

const gridded = (id = 'projects/p/assets/a', w = 2000, h = 1000) => assetLoadRequest(id, { grid: { dimensions: { width: w, height: h }, crsCode: 'EPSG:4326' } });
const template = {
  ...assetLoadRequest('projects/p/assets/{{value}}'),
  description: 'tile {{value}}',
  grid: { dimensions: { width: 1000, height: 1000 }, crsCode: 'EPSG:4326' },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'tiles/{{value}}' }, fileFormat: 'GEO_TIFF' },
};
const fanOut = { batch: { template, fanOut: { values: ['a', 'b', 'c', 'd'] } } };

describe('estimates on the API and the topic', () => {
  let config: Config;
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let publisher: MemoryPublisher;
  let services: Services;
  let api: ReturnType<typeof createApiHandler>;
  const now = new Date('2026-05-10T12:00:00Z');

  beforeEach(() => {
    config = loadConfig({ EE_PROJECT: 'ee-test', EECU_BUDGETS: JSON.stringify([{ eeProject: 'ee-test', monthlyEecuSeconds: 50 }]), EXPORT_ALLOWED_BUCKETS: 'eeport-out' });
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    publisher = new MemoryPublisher();
    const adapters = { store, ee, publisher, clock: { now: () => now }, logSink: new CapturingLogSink(), schedulerVerifier: { verify: async () => ({ ok: true as const, email: 'x' }) } };
    services = buildServices(config, adapters as never);
    const estimates = createEstimates({ store, clock: adapters.clock, settings: { minSamples: 3, priorEecuPerMegapixel: 5, priorEecuPerTask: 100, priorSpread: 10, historyJobs: 500, cacheSeconds: 0, budgets: config.EECU_BUDGETS } });
    let ids = 0;
    api = createApiHandler({
      submit: services.submitExport(),
      cancel: services.cancelJob(),
      batches: services.batches(),
      store,
      clock: adapters.clock,
      logs: createApiLogEvents(new CapturingLogSink()),
      newId: () => `id-${++ids}`,
      openApi: () => ({}),
      settings: { intake: intakePolicy(config), maxBodyBytes: 1_000_000, staleSubmitSeconds: 300, budgets: config.EECU_BUDGETS },
      estimates: createEstimateApi({ estimates, submit: services.submitExport(), newId: () => `p-${++ids}` }),
    });
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const req: ApiRequest = {
      method,
      path: path.split('?')[0]!,
      query: new URLSearchParams(path.split('?')[1] ?? ''),
      header: (n) => (n.toLowerCase() === 'content-type' && body !== undefined ? 'application/json' : undefined),
      body: body === undefined ? null : new TextEncoder().encode(JSON.stringify(body)),
    };
    return api.handle(req);
  };

  it('a job and a 4-child fan-out: low ≤ expected ≤ high, tasks 1 and 4, budget shares; nothing stored, nothing sent to Earth Engine', async () => {
    const job = await call('POST', '/v1/estimates', { request: gridded(), labels: { team: 'a' } });
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    const j = EstimateResponseSchema.parse(job.body);
    expect(j).toMatchObject({ tasks: 1, pixels: 2_000_000, method: 'prior' });
    expect(j.eecuSeconds.low).toBeLessThanOrEqual(j.eecuSeconds.expected);
    expect(j.eecuSeconds.expected).toBeLessThanOrEqual(j.eecuSeconds.high);
    expect(j.budget).toEqual([expect.objectContaining({ budget: 'ee-test~all~2026-05', remainingEecuSeconds: 50, shareOfRemaining: 0.2, wouldExceed: false, mayExceed: true })]);

    const batch = EstimateResponseSchema.parse((await call('POST', '/v1/estimates', fanOut)).body);
    expect(batch).toMatchObject({ tasks: 4, pixels: 4_000_000, method: 'prior' });
    expect(batch.eecuSeconds.low).toBeLessThanOrEqual(batch.eecuSeconds.expected);
    expect(batch.eecuSeconds.expected).toBeLessThanOrEqual(batch.eecuSeconds.high);
    expect(batch.budget[0]).toMatchObject({ wouldExceed: false, mayExceed: true });
    expect(batch.basis).toEqual([expect.objectContaining({ tasks: 4, method: 'prior' })]);

    expect(store.jobs.size).toBe(0);
    expect(ee.calls).toEqual([]);
    expect(publisher.published).toEqual([]);
  });

  it('invalid bodies are answered as their submission would be; bad queries and methods too', async () => {
    const bad = ApiErrorBodySchema.parse((await call('POST', '/v1/estimates', { request: { expression: 1 } })).body);
    expect(bad.error.code).toBe('EXPORT.INVALID_REQUEST');
    const badBatch = await call('POST', '/v1/estimates', { batch: { template, fanOut: { values: [] } } });
    expect(badBatch.status).toBe(400);
    expect(ApiErrorBodySchema.parse(badBatch.body).error.code).toBe('BATCH.INVALID');
    expect(ApiErrorBodySchema.parse((await call('POST', '/v1/estimates', { ...fanOut, eeProject: 'x' })).body).error.code).toBe('BATCH.INVALID');
    expect((await call('POST', '/v1/estimates?probe=maybe', gridded())).status).toBe(400);
    expect((await call('GET', '/v1/estimates')).status).toBe(405);
    expect((await call('GET', '/v1/estimates/accuracy?jobs=0')).status).toBe(400);
    expect(store.jobs.size).toBe(0);
  });

  it('?probe=true starts one labelled probe, a 256×256 sample written beside the destination; asking again finds it', async () => {
    const first = EstimateResponseSchema.parse((await call('POST', '/v1/estimates?probe=true', gridded())).body);
    expect(first.probe).toMatchObject({ pixels: 65_536, state: 'PENDING' });
    const probeId = (first.probe as { jobId: string }).jobId;
    const probe = (await store.getJob(probeId))!;
    expect(probe.labels[PROBE_LABEL]).toBe('true');
    expect(probe.request?.grid?.dimensions).toEqual({ width: 256, height: 256 });
    expect(probe.request?.fileExportOptions?.cloudStorageDestination?.filenamePrefix).toMatch(/^eeport-probe\//);
    expect(ee.tasksStarted()).toBe(1);
    const again = EstimateResponseSchema.parse((await call('POST', '/v1/estimates?probe=true', gridded('projects/p/assets/a', 500, 500))).body);
    expect((again.probe as { jobId: string }).jobId).toBe(probeId);
    expect(ee.tasksStarted()).toBe(1);
    // Without ?probe nothing starts.
    await call('POST', '/v1/estimates', gridded('projects/p/assets/other'));
    expect(ee.tasksStarted()).toBe(1);
  });

  it('finished jobs make the history: the same computation is estimated from them, and accuracy reports per method', async () => {
    const base = (await store.listJobs({ pageSize: 1 })).jobs.length;
    expect(base).toBe(0);
    for (let i = 0; i < 4; i++) {
      const out = await services.submitExport().submitCommand({ request: gridded() as never, eeProject: 'ee-test', labels: {}, callbackUrl: null, identity: { kind: 'key', key: `h${i}` }, source: { kind: 'api' }, tenantId: null } as never);
      const j = out.job;
      store.jobs.set(j.jobId, { ...j, state: 'SUCCEEDED', eecuSeconds: 10 + i, startTime: now.toISOString(), endTime: new Date(now.getTime() + 60_000).toISOString(), estimate: { method: 'prior', pixels: 2_000_000, fingerprint: expressionFingerprint(j.request!), eecuSeconds: { low: 1, expected: 10, high: 100 }, runSeconds: null, basis: 'prior', samples: 0, at: now.toISOString() } });
    }
    const e = EstimateResponseSchema.parse((await call('POST', '/v1/estimates', gridded('projects/p/assets/a', 4000, 1000))).body);
    expect(e.method).toBe('history:expression');
    expect(e.eecuSeconds.expected).toBeCloseTo(23, 0);
    const acc = EstimateAccuracyResponseSchema.parse((await call('GET', '/v1/estimates/accuracy')).body);
    expect(acc).toEqual({ jobs: 4, methods: [{ method: 'prior', jobs: 4, medianAbsoluteError: 1.5, medianAbsolutePercentError: expect.any(Number), bandCoverage: 1 }] });
  });

  it('topic dry run: action=estimate answers with one event (ok or not), stores nothing and starts nothing', async () => {
    const handle = services.requestMessages();
    await handle(topicMessage(fanOut, { action: 'estimate', correlationId: 'q-1' }, 'm-est'));
    await handle(topicMessage({ request: { expression: 1 } }, { action: 'estimate' }, 'm-bad'));
    await handle(topicMessage(gridded(), { action: 'estimate', eeProject: 'ee-test' }, 'm-attr'));
    expect(store.jobs.size).toBe(0);
    expect(ee.calls).toEqual([]);
    expect(publisher.published.map((e) => [e.type, e.id, e.subject])).toEqual([
      [ESTIMATE_EVENT_TYPE, 'estimate.m-est', 'q-1'],
      [ESTIMATE_EVENT_TYPE, 'estimate.m-bad', 'm-bad'],
      [ESTIMATE_EVENT_TYPE, 'estimate.m-attr', 'm-attr'],
    ]);
    const [ok, bad, attr] = publisher.published.map((e) => e.data as unknown as { ok: boolean; estimate?: { tasks: number; eecuSeconds: { low: number; expected: number; high: number } }; error?: { code: string } });
    expect(ok).toMatchObject({ ok: true, correlationId: 'q-1', estimate: { tasks: 4 } });
    expect(EstimateResponseSchema.parse(ok!.estimate).method).toBe('prior');
    expect(bad).toMatchObject({ ok: false, error: { code: 'EXPORT.INVALID_REQUEST' } });
    expect(attr).toMatchObject({ ok: false, error: { code: 'EXPORT.INVALID_ENVELOPE' } });
  });
});

import { describe, it, expect, beforeEach } from 'vitest';
import { BatchSpecSchema, expandBatch, expandedBytes, tileGrid } from '../../functions/src/core/batches/batch-spec.ts';
import { createBatches } from '../../functions/src/core/batches/batches.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createPollExports } from '../../functions/src/core/poll/poll-exports.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const template = {
  description: 'tile {{tile}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'tiles/t' }, fileFormat: 'GEO_TIFF' },
};

describe('batch expansion', () => {
  it('fans a template out over values', () => {
    const r = expandBatch({ template: { ...template, description: 'day {{value}}' }, fanOut: { values: ['2024-01-01', '2024-01-02'] } });
    expect(r.ok && r.children.map((c) => c.description)).toEqual(['day 2024-01-01', 'day 2024-01-02']);
  });

  it('tiles a region: grid per tile, edge tiles cut, names from the tile index', () => {
    const tiles = tileGrid({ region: { west: 0, south: 0, east: 1, north: 0.5 }, crsCode: 'EPSG:4326', scale: 0.01, tileWidth: 30, tileHeight: 30 });
    expect(tiles).toHaveLength(4 * 2); // 100×50 px in 30×30 tiles
    expect(tiles[3]).toMatchObject({ row: 0, col: 3, width: 10, height: 30 });
    expect(tiles[7]).toMatchObject({ row: 1, col: 3, width: 10, height: 20 });
    const r = expandBatch({ template, tiles: { region: { west: 0, south: 0, east: 1, north: 0.5 }, scale: 0.01, tileWidth: 30, tileHeight: 30 } });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const c = r.children[5]!;
    expect(c.grid).toMatchObject({ dimensions: { width: 30, height: 20 }, crsCode: 'EPSG:4326', affineTransform: { scaleX: 0.01, scaleY: -0.01 } });
    expect(c.grid!.affineTransform!.translateX).toBeCloseTo(0.3);
    expect(c.grid!.affineTransform!.translateY).toBeCloseTo(0.2);
    expect(c.description).toBe('tile r1-c1');
    expect((c.fileExportOptions as { cloudStorageDestination: { filenamePrefix: string } }).cloudStorageDestination.filenamePrefix).toBe('tiles/t_r1-c1');
  });

  it('is not fooled by floating point: 0.4° at 0.001°/px is 400 px, not 401', () => {
    expect(tileGrid({ region: { west: 10, south: 45, east: 10.4, north: 45.25 }, crsCode: 'EPSG:4326', scale: 0.001, tileWidth: 10, tileHeight: 10 })).toHaveLength(1000);
  });

  it.each([
    [{ requests: [assetLoadRequest(), { expression: 5 }] }, /batch\.children\[1\]\.expression/],
    [{ requests: [] }, /batch\.requests/],
    [{ template, fanOut: { values: [1] }, tiles: { region: { west: 0, south: 0, east: 1, north: 1 }, scale: 1, tileWidth: 1, tileHeight: 1 } }, /exactly one of requests, fanOut or tiles/],
    [{ fanOut: { values: [1] } }, /need a template/],
    [{ template, tiles: { region: { west: 1, south: 0, east: 0, north: 1 }, scale: 1, tileWidth: 1, tileHeight: 1 } }, /east must exceed west/],
    [{ template, tiles: { region: { west: 0, south: 0, east: 1, north: 1 }, scale: 0.0001, tileWidth: 10, tileHeight: 10 } }, /makes 1000000 tiles/],
    [{ requests: [assetLoadRequest()], surprise: 1 }, /surprise|Unrecognized/],
  ])('rejects a bad batch whole: %j', (spec, message) => {
    const r = expandBatch(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')).toMatch(message);
  });
});

describe('the expansion budget (BATCH_MAX_EXPANDED_BYTES)', () => {
  /** A valid template padded to about `bytes` bytes of JSON (its description carries the padding and the value). */
  const padded = (bytes: number) => ({ ...template, description: `{{value}}-${'p'.repeat(bytes - JSON.stringify(template).length - 20)}` });

  it('a 60 KB template × 5,000 values (300 MB of requests) is refused before a child is made, at once', () => {
    const spec = { template: padded(60_000), fanOut: { values: Array.from({ length: 5_000 }, (_, i) => `2024-${i}`) } };
    const t0 = performance.now();
    const r = expandBatch(spec);
    const ms = performance.now() - t0;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ path: 'batch', message: expect.stringMatching(/about \d{9} bytes of requests \(5000 children × a \d{5}-byte template\); at most 67108864 \(BATCH_MAX_EXPANDED_BYTES\)/) }]);
    // Expanding would take seconds and hundreds of MB; judging the spec takes milliseconds.
    expect(ms).toBeLessThan(200);
    console.log(`[batches] 60 KB × 5,000 fan-out refused in ${ms.toFixed(1)} ms`);
  });

  it('the estimate is close to what expansion makes (fan-out with long values, tiles), and never far below it', () => {
    const fan = { template: { ...template, description: '{{value}} {{value}} {{index}}' }, fanOut: { values: Array.from({ length: 300 }, (_, i) => `v${'x'.repeat(i % 40)}`) } };
    const tiles = { template, tiles: { region: { west: 0, south: 0, east: 1, north: 1 }, scale: 0.01, tileWidth: 10, tileHeight: 10 } };
    for (const spec of [fan, tiles]) {
      const estimate = expandedBytes(BatchSpecSchema.parse(spec)).bytes;
      const r = expandBatch(spec);
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const actual = r.children.reduce((n, c) => n + JSON.stringify(c).length, 0);
      expect(estimate / actual).toBeGreaterThan(0.9);
      expect(estimate / actual).toBeLessThan(2);
    }
  });

  it('the limit is a setting: just over it is refused, at it accepted; an explicit list counts its own size', () => {
    const spec = { template: { ...template, description: 'c{{value}}' }, fanOut: { values: Array.from({ length: 100 }, (_, i) => i) } };
    const bytes = expandedBytes(BatchSpecSchema.parse(spec)).bytes;
    expect(expandBatch(spec, { maxExpandedBytes: bytes }).ok).toBe(true);
    expect(expandBatch(spec, { maxExpandedBytes: bytes - 1 })).toMatchObject({ ok: false, errors: [{ path: 'batch' }] });
    const list = { requests: [assetLoadRequest(), assetLoadRequest()] };
    expect(expandBatch(list, { maxExpandedBytes: 100 })).toMatchObject({ ok: false, errors: [{ message: expect.stringMatching(/2 requests/) }] });
  });
});

describe('batches (core, with fakes)', () => {
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let publisher: MemoryPublisher;
  let now: Date;
  const build = (maxResubmissions = 0) => {
    const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
    const cancel = createCancelJob({ ...base, settings: { eventSource: '//t' } });
    const batches = createBatches({ ...base, cancel, settings: { eventSource: '//t', defaultEeProject: 'ee-project-1', allowedEeProjects: [] } });
    const submit = createSubmitExport({ ...base, settings: { eventSource: '//t', maxInFlightPerProject: 3, submitLeaseMs: 60_000, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
    const poll = createPollExports({
      ...base,
      submit,
      cancel,
      refreshBatches: () => batches.refreshBatches(),
      holder: 'p',
      settings: {
        eventSource: '//t', leaseName: 'poller', windowMs: 0, maxIntervalMs: 1, minIntervalMs: 1, getThreshold: 5, listPageSize: 500, maxJobsPerCycle: 10_000,
        maxInFlightPerProject: 3, operationMaxAgeMs: 864_000_000, staleSubmitMs: 300_000, getConcurrency: 4, maxResubmissions, resubmitBackoffMs: 0,
      },
    });
    return { batches, poll };
  };
  /** Finishes every live operation: failures by description. */
  const finishAll = (fail: Record<string, { code: number; message: string }> = {}) => {
    for (const [name, op] of ee.operations) {
      if (op.done) continue;
      const f = fail[op.metadata?.description ?? ''];
      ee.operations.set(name, f ? { ...op, done: true, error: f, metadata: { ...op.metadata, state: 'FAILED' } } : { ...op, done: true, metadata: { ...op.metadata, state: 'SUCCEEDED', batchEecuUsageSeconds: 2, destinationUris: [`gs://b/${name}`] } });
    }
  };
  async function drive(poll: ReturnType<typeof build>['poll'], fail: Record<string, { code: number; message: string }> = {}, cycles = 30) {
    const lease = (await poll.acquireLease()) as never;
    for (let i = 0; i < cycles; i++) {
      await poll.runCycle(lease);
      finishAll(fail);
    }
    await poll.runCycle(lease);
  }

  beforeEach(() => {
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    publisher = new MemoryPublisher();
    now = new Date('2026-02-01T00:00:00Z');
  });

  it('runs a batch under the in-flight cap and finishes with aggregates and exactly one completion event', async () => {
    const { batches, poll } = build();
    const out = await batches.submitBatch({ batchId: 'b1', template: { ...template, description: 'v{{value}}' }, fanOut: { values: Array.from({ length: 12 }, (_, i) => i) } }, { kind: 'random', value: 'x' }, { kind: 'api' });
    expect(out.kind).toBe('accepted');
    expect(out.batch).toMatchObject({ state: 'RUNNING', total: 12 });
    expect((await batches.submitBatch({ batchId: 'b1', template, fanOut: { values: [1] } }, { kind: 'random', value: 'y' }, { kind: 'api' })).kind).toBe('duplicate');
    let maxLive = 0;
    const lease = (await poll.acquireLease()) as never;
    for (let i = 0; i < 20; i++) {
      await poll.runCycle(lease);
      maxLive = Math.max(maxLive, [...store.jobs.values()].filter((j) => ['SUBMITTING', 'PENDING', 'RUNNING'].includes(j.state)).length);
      finishAll();
    }
    expect(maxLive).toBeLessThanOrEqual(3);
    const b = (await store.getBatch(out.batch.batchId))!;
    expect(b).toMatchObject({ state: 'SUCCEEDED', counts: { SUCCEEDED: 12 }, eecuSeconds: 24, progress: 1 });
    expect(b.destinationUris).toHaveLength(12);
    const done = publisher.published.filter((e) => e.type.startsWith('dev.eeport.batch.v1.') && e.type !== 'dev.eeport.batch.v1.submitted');
    expect(done.map((e) => e.type)).toEqual(['dev.eeport.batch.v1.succeeded']);
  });

  it('3 transient + 2 permanent failures: resubmits only the 3, ends PARTIALLY_FAILED', async () => {
    const { batches, poll } = build(1);
    const out = await batches.submitBatch({ template: { ...template, description: 'c{{value}}' }, fanOut: { values: [0, 1, 2, 3, 4, 5, 6, 7] } }, { kind: 'random', value: 'x' }, { kind: 'api' });
    const fail = { c0: { code: 13, message: 'Internal error' }, c1: { code: 13, message: 'Internal error' }, c2: { code: 4, message: 'Deadline exceeded' }, c3: { code: 3, message: 'Export too large: specified 1e12 pixels' }, c4: { code: 7, message: 'Permission denied' } };
    const lease = (await poll.acquireLease()) as never;
    for (let i = 0; i < 10; i++) {
      await poll.runCycle(lease);
      // Transient failures happen once; their resubmissions succeed.
      const first = Object.fromEntries(Object.entries(fail).filter(([d]) => ![...store.jobs.values()].some((j) => j.description === d && j.resubmissions > 0)));
      finishAll(first);
    }
    await poll.runCycle(lease);
    const b = (await store.getBatch(out.batch.batchId))!;
    expect(b.state).toBe('PARTIALLY_FAILED');
    expect(b.counts).toEqual({ SUCCEEDED: 6, FAILED: 2 });
    const exports = ee.calls.filter((c) => c.method === 'export');
    expect(exports).toHaveLength(8 + 3);
    expect([...store.jobs.values()].filter((j) => j.resubmissions > 0).map((j) => j.description).sort()).toEqual(['c0', 'c1', 'c2']);
  });

  it('retry resubmits only children that failed for transient reasons; cancel cancels the live ones', async () => {
    const { batches, poll } = build(0);
    const out = await batches.submitBatch({ template: { ...template, description: 'c{{value}}' }, fanOut: { values: [0, 1, 2, 3] } }, { kind: 'random', value: 'x' }, { kind: 'api' });
    await drive(poll, { c0: { code: 13, message: 'Internal error' }, c1: { code: 3, message: 'Invalid argument' } });
    expect((await store.getBatch(out.batch.batchId))!.state).toBe('PARTIALLY_FAILED');
    const r = await batches.retryBatch(out.batch.batchId);
    expect(r).toMatchObject({ kind: 'retrying', children: 1 });
    await drive(poll);
    const b = (await store.getBatch(out.batch.batchId))!;
    expect(b.counts).toEqual({ SUCCEEDED: 3, FAILED: 1 });
    expect(publisher.published.filter((e) => e.type === 'dev.eeport.batch.v1.partially_failed')).toHaveLength(2);

    const c = await batches.submitBatch({ template: { ...template, description: 'k{{value}}' }, fanOut: { values: [0, 1, 2, 3, 4, 5] } }, { kind: 'random', value: 'z' }, { kind: 'api' });
    const lease = (await poll.acquireLease()) as never;
    await poll.runCycle(lease);
    expect((await batches.cancelBatch(c.batch.batchId)).kind).toBe('cancelling');
    await drive(poll);
    const cancelled = (await store.getBatch(c.batch.batchId))!;
    expect(cancelled.state).toBe('CANCELLED');
    expect(cancelled.counts.CANCELLED).toBeGreaterThan(0);
  });

  it('over the configured budget: refused unexpanded on every way in (checkBatch, submitBatch), nothing written', async () => {
    const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
    const cancel = createCancelJob({ ...base, settings: { eventSource: '//t' } });
    const batches = createBatches({ ...base, cancel, settings: { eventSource: '//t', defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxExpandedBytes: 100_000 } });
    const spec = { template, fanOut: { values: Array.from({ length: 1_000 }, (_, i) => i) } };
    expect(batches.checkBatch(spec)).toMatchObject({ ok: false, errors: [{ path: 'batch', message: expect.stringMatching(/at most 100000 \(BATCH_MAX_EXPANDED_BYTES\)/) }] });
    const out = await batches.submitBatch(spec, { kind: 'random', value: 'x' }, { kind: 'api' });
    expect(out.kind).toBe('rejected');
    expect(store.jobs.size).toBe(0);
  });

  it('writes a large batch in chunks of at most 500 jobs', async () => {
    const { batches } = build();
    const sizes: number[] = [];
    const create = store.createJobsIfAbsent.bind(store);
    store.createJobsIfAbsent = async (jobs) => {
      sizes.push(jobs.length);
      return create(jobs);
    };
    const out = await batches.submitBatch({ template: { ...template, description: 'c{{value}}' }, fanOut: { values: Array.from({ length: 1_234 }, (_, i) => i) } }, { kind: 'random', value: 'x' }, { kind: 'api' });
    expect(out.batch).toMatchObject({ state: 'RUNNING', total: 1_234, written: 1_234 });
    expect(sizes).toEqual([500, 500, 234]);
    expect(store.jobs.size).toBe(1_234);
    expect([...store.jobs.values()].map((j) => j.batchIndex).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 1_234 }, (_, i) => i));
  });

  it('rejects an invalid batch whole, with reasons and a rejected event', async () => {
    const { batches } = build();
    const out = await batches.submitBatch({ requests: [assetLoadRequest(), { expression: 1 }] }, { kind: 'random', value: 'x' }, { kind: 'api' });
    expect(out.kind).toBe('rejected');
    expect(out.batch.error!.message).toMatch(/children\[1\]/);
    expect(store.jobs.size).toBe(0);
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.batch.v1.rejected']);
  });
});

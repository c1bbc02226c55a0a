/** Operation lifecycle and the operation methods: get, cancel, wait, delete, 404s. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Operation, type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type GoogleErrorBody, PROJECT, call, getOp, opPath, submit } from './helpers.ts';

const START = Date.parse('2025-03-01T00:00:00Z');
// The clock keeps running across tests (reset() does not rewind it): times are relative to each test's start.
let base = START;
const iso = (ms: number): string => new Date(base + ms).toISOString();

describe('operation lifecycle and methods', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual', start: START }, rateLimitPerSecond: 0, taskDurationMs: 100_000, eecuPerSecond: 2, waitMaxRealMs: 2_000 });
  });
  beforeEach(() => {
    sim.reset();
    base = sim.clock.now();
  });
  afterAll(() => sim.close());

  it('reports PENDING → RUNNING (progress, stages, attempt, EECU) → SUCCEEDED with destination URIs', async () => {
    const created = await submit(sim, { description: 'life', priority: 42, fileExportOptions: { cloudStorageDestination: { bucket: 'out', filenamePrefix: 'tiles/run1/img' }, fileFormat: 'GEO_TIFF' } });
    expect(created).toEqual({
      name: expect.stringMatching(new RegExp(`^projects/${PROJECT}/operations/[A-Z0-9]{24}$`)),
      done: false,
      metadata: {
        '@type': 'type.googleapis.com/google.earthengine.v1.OperationMetadata',
        state: 'PENDING',
        description: 'life',
        type: 'EXPORT_IMAGE',
        priority: 42,
        createTime: iso(0),
        updateTime: iso(0),
      },
    });

    sim.clock.advance(5_000 + 50_000); // 5 s queued, then half of the 100 s run
    const mid = await getOp(sim, created);
    expect(mid.done).toBe(false);
    expect(mid.metadata).toMatchObject({ state: 'RUNNING', startTime: iso(5_000), attempt: 1, progress: 0.5, batchEecuUsageSeconds: 100 });
    expect(mid.metadata.stages?.map((s) => [s.displayName, s.completeWorkUnits, s.totalWorkUnits])).toEqual([
      ['Create Tiles', 1, 1],
      ['Compute Tiles', 50, 100],
      ['Write Files', 0, 1],
    ]);
    expect(Date.parse(mid.metadata.updateTime)).toBeGreaterThan(base + 5_000);
    expect(Date.parse(mid.metadata.updateTime)).toBeLessThanOrEqual(base + 55_000);
    expect(mid.metadata.endTime).toBeUndefined();
    expect(mid.metadata.destinationUris).toBeUndefined();

    sim.clock.advance(50_000);
    const done = await getOp(sim, created);
    expect(done).toMatchObject({
      done: true,
      response: { '@type': 'type.googleapis.com/google.protobuf.Empty' },
      metadata: { state: 'SUCCEEDED', progress: 1, endTime: iso(105_000), updateTime: iso(105_000), batchEecuUsageSeconds: 200, destinationUris: ['https://console.developers.google.com/storage/browser/out/tiles/run1/'] },
    });
    expect(done.error).toBeUndefined();
  });

  it.each([
    ['drive', { driveDestination: { folder: 'exports', filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF' }, /^https:\/\/drive\.google\.com\/#folders\/\w+$/],
  ])('builds %s destination URIs', async (_kind, fileExportOptions, uri) => {
    const op = await submit(sim, { fileExportOptions });
    sim.clock.advance(200_000);
    expect((await getOp(sim, op)).metadata.destinationUris?.[0]).toMatch(uri);
  });

  it('builds asset destination URIs', async () => {
    const op = await submit(sim, { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/out/x' } } });
    sim.clock.advance(200_000);
    expect((await getOp(sim, op)).metadata.destinationUris).toEqual(['https://code.earthengine.google.com/?asset=projects/p/assets/out/x']);
  });

  it('fails a task whose grid exceeds maxPixels when it starts', async () => {
    const op = await submit(sim, { maxPixels: 1000, grid: { dimensions: { width: 100, height: 20 } } });
    sim.clock.advance(5_000);
    const failed = await getOp(sim, op);
    expect(failed).toMatchObject({ done: true, metadata: { state: 'FAILED', startTime: iso(5_000), endTime: iso(5_000) } });
    expect(failed.error).toEqual({ code: 3, message: 'Export too large: specified 2000 pixels (max: 1000). Specify higher maxPixels value if you intend to export a large area.', details: [] });
    expect(failed.response).toBeUndefined();
  });

  it('sizes exports from clipToBoundsAndScale width/height too (default maxPixels 1e8)', async () => {
    const fine = await submit(sim, { maxPixels: undefined });
    const big = await submit(sim, {
      maxPixels: undefined,
      expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: { valueReference: '1' }, width: { valueReference: '2' }, height: { valueReference: '2' } } } }, '1': { functionInvocationValue: { functionName: 'Image.constant', arguments: { value: { constantValue: 1 } } } }, '2': { constantValue: 20000 } } },
    });
    sim.clock.advance(5_000);
    expect((await getOp(sim, big)).error?.message).toMatch(/^Export too large: specified 400000000 pixels \(max: 100000000\)/);
    expect((await getOp(sim, fine)).metadata.state).toBe('RUNNING');
  });

  describe('cancel', () => {
    const cancel = (op: Operation) => call<GoogleErrorBody | Record<string, never>>(sim, 'POST', `${opPath(op)}:cancel`, {});

    it('cancels a PENDING task at once (error code 1 "Cancelled.")', async () => {
      const op = await submit(sim);
      expect(await cancel(op)).toMatchObject({ status: 200, body: {} });
      const after = await getOp(sim, op);
      expect(after).toMatchObject({ done: true, error: { code: 1, message: 'Cancelled.' }, metadata: { state: 'CANCELLED', endTime: after.metadata.createTime } });
      sim.clock.advance(10_000);
      expect(sim.stats().tasksDispatched).toBe(0);
    });

    it('moves a RUNNING task through CANCELLING to CANCELLED and frees its slot', async () => {
      const ops = [await submit(sim), await submit(sim), await submit(sim)];
      sim.clock.advance(5_000 + 30_000);
      expect((await cancel(ops[0] as Operation)).status).toBe(200);
      const cancelling = await getOp(sim, ops[0] as Operation);
      expect(cancelling).toMatchObject({ done: false, metadata: { state: 'CANCELLING', progress: 0.3 } });
      expect((await cancel(ops[0] as Operation)).status).toBe(200); // repeated cancel is a no-op
      sim.clock.advance(2_000);
      const cancelled = await getOp(sim, ops[0] as Operation);
      expect(cancelled).toMatchObject({ done: true, error: { code: 1, message: 'Cancelled.' }, metadata: { state: 'CANCELLED', progress: 0.3, endTime: iso(37_000) } });
      expect(sim.tasks().map((t) => t.state)).toEqual(['CANCELLED', 'RUNNING', 'RUNNING']);
    });

    it('answers 400 FAILED_PRECONDITION for a finished task', async () => {
      const op = await submit(sim);
      sim.clock.advance(200_000);
      const r = await cancel(op);
      expect(r.status).toBe(400);
      expect((r.body as GoogleErrorBody).error).toMatchObject({ status: 'FAILED_PRECONDITION', message: expect.stringContaining('SUCCEEDED') });
    });

    it("ignores cancels of finished tasks with cancelTerminal: 'ignore'", async () => {
      const lenient = await startSimulator({ cancelTerminal: 'ignore', auth: 'off' });
      try {
        const op = await submit(lenient);
        lenient.clock.advance(100_000);
        expect((await call(lenient, 'POST', `${opPath(op)}:cancel`, {})).status).toBe(200);
        expect((await getOp(lenient, op)).metadata.state).toBe('SUCCEEDED');
      } finally {
        await lenient.close();
      }
    });

    it('rejects a cancel body with unknown fields', async () => {
      const op = await submit(sim);
      expect((await call(sim, 'POST', `${opPath(op)}:cancel`, { force: true })).status).toBe(400);
    });
  });

  describe('wait', () => {
    it('returns when the task finishes (clock advanced meanwhile)', async () => {
      const op = await submit(sim);
      const waiting = call<Operation>(sim, 'POST', `${opPath(op)}:wait`, { timeout: '3600s' });
      await new Promise((r) => setTimeout(r, 20));
      sim.clock.advance(200_000);
      const r = await waiting;
      expect(r.status).toBe(200);
      expect(r.body.metadata.state).toBe('SUCCEEDED');
    });

    it('returns the current state after the simulated timeout', async () => {
      const op = await submit(sim);
      const waiting = call<Operation>(sim, 'POST', `${opPath(op)}:wait`, { timeout: '3.5s' });
      await new Promise((r) => setTimeout(r, 20));
      sim.clock.advance(3_500);
      const r = await waiting;
      expect(r.body).toMatchObject({ done: false, metadata: { state: 'PENDING' } });
    });

    it('returns at once for a finished task or a zero timeout', async () => {
      const op = await submit(sim);
      expect((await call<Operation>(sim, 'POST', `${opPath(op)}:wait`, { timeout: '0s' })).body.metadata.state).toBe('PENDING');
      sim.clock.advance(200_000);
      expect((await call<Operation>(sim, 'POST', `${opPath(op)}:wait`, {})).body.metadata.state).toBe('SUCCEEDED');
    });

    it('gives up after the real-time cap when nobody advances a manual clock', async () => {
      const capped = await startSimulator({ auth: 'off', waitMaxRealMs: 50 });
      try {
        const op = await submit(capped);
        const t0 = Date.now();
        const r = await call<Operation>(capped, 'POST', `${opPath(op)}:wait`, { timeout: '600s' });
        expect(r.body.metadata.state).toBe('PENDING');
        expect(Date.now() - t0).toBeLessThan(1_000);
      } finally {
        await capped.close();
      }
    });

    it('rejects a malformed timeout', async () => {
      const op = await submit(sim);
      const r = await call<GoogleErrorBody>(sim, 'POST', `${opPath(op)}:wait`, { timeout: 'soon' });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toContain('timeout');
    });
  });

  describe('delete', () => {
    it('removes the record but does not cancel a running task', async () => {
      const op = await submit(sim);
      sim.clock.advance(10_000);
      expect(await call(sim, 'DELETE', opPath(op))).toMatchObject({ status: 200, body: {} });
      expect((await call(sim, 'GET', opPath(op))).status).toBe(404);
      expect((await call(sim, 'GET', `/v1/projects/${PROJECT}/operations`)).body).toEqual({});
      expect(sim.tasks()[0]).toMatchObject({ deleted: true, state: 'RUNNING' });
      sim.clock.advance(100_000);
      expect(sim.tasks()[0]).toMatchObject({ deleted: true, state: 'SUCCEEDED' });
    });
  });

  describe('unknown operations', () => {
    it.each([
      ['GET', ''],
      ['POST', ':cancel'],
      ['POST', ':wait'],
      ['DELETE', ''],
    ])('%s …/operations/UNKNOWN%s answers 404 NOT_FOUND', async (method, suffix) => {
      const r = await call<GoogleErrorBody>(sim, method, `/v1/projects/${PROJECT}/operations/ABCDEFGHIJKLMNOPQRSTUVWX${suffix}`, method === 'POST' ? {} : undefined);
      expect(r.status).toBe(404);
      expect(r.body.error).toMatchObject({ code: 404, status: 'NOT_FOUND', details: [] });
    });

    it('answers 404 for an operation of another project', async () => {
      const op = await submit(sim);
      const id = op.name.split('/').at(-1);
      expect((await call(sim, 'GET', `/v1/projects/other/operations/${id}`)).status).toBe(404);
    });

    it('answers 404 for unknown paths', async () => {
      expect((await call(sim, 'GET', '/v1/projects/p/images')).status).toBe(404);
      expect((await call(sim, 'GET', '/v2/projects/p/operations')).status).toBe(404);
      expect((await call(sim, 'GET', `/v1/projects/${PROJECT}/image:export`)).status).toBe(404);
    });
  });

  it('expires finished tasks after the retention period (10 days)', async () => {
    const op = await submit(sim);
    sim.clock.advance(200_000);
    sim.clock.advance(10 * 24 * 3600 * 1000 - 200_000);
    expect((await call(sim, 'GET', opPath(op))).status).toBe(200);
    sim.clock.advance(200_000);
    expect((await call(sim, 'GET', opPath(op))).status).toBe(404);
  });
});

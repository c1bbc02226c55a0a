/** Every fault kind, through sim.faults and through POST /_sim/faults. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type GoogleErrorBody, PROJECT, call, exportBody, getOp, submit } from './helpers.ts';

const listPath = `/v1/projects/${PROJECT}/operations`;

describe('fault injection', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimitPerSecond: 0, taskDurationMs: 100_000, pendingDelayMs: 0 });
  });
  beforeEach(() => sim.reset());
  afterAll(() => sim.close());

  describe('request faults', () => {
    it('adds latency to matching methods only, until cleared', async () => {
      const id = sim.faults.inject({ kind: 'latency', ms: 120, method: 'list' });
      const timed = async (path: string): Promise<number> => {
        const t0 = performance.now();
        await call(sim, 'GET', path);
        return performance.now() - t0;
      };
      expect(await timed(listPath)).toBeGreaterThanOrEqual(110);
      expect(await timed(listPath)).toBeGreaterThanOrEqual(110);
      expect(await timed(`/v1/projects/${PROJECT}/algorithms`)).toBeLessThan(100);
      sim.faults.clear(id);
      expect(await timed(listPath)).toBeLessThan(100);
    });

    it('answers the next N matching calls with a Google error body', async () => {
      sim.faults.inject({ kind: 'http-error', httpStatus: 503, times: 2, method: ['list', 'get'] });
      const r1 = await call<GoogleErrorBody>(sim, 'GET', listPath);
      expect(r1.status).toBe(503);
      expect(r1.body.error).toEqual({ code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE', details: [] });
      expect((await call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody())).status).toBe(200);
      expect((await call(sim, 'GET', listPath)).status).toBe(503);
      expect((await call(sim, 'GET', listPath)).status).toBe(200);
      expect(sim.stats().errorsByStatus).toEqual({ 503: 2 });
    });

    it('answers 429 RESOURCE_EXHAUSTED with Retry-After, for one project only', async () => {
      sim.faults.inject({ kind: 'http-error', httpStatus: 429, project: 'busy', retryAfterSeconds: 7, message: 'Too many concurrent aggregations.' });
      expect((await call(sim, 'GET', listPath)).status).toBe(200);
      const r = await call<GoogleErrorBody>(sim, 'GET', '/v1/projects/busy/operations');
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('7');
      expect(r.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Too many concurrent aggregations.' });
    });

    it('supports an explicit status and 500s', async () => {
      sim.faults.inject({ kind: 'http-error', httpStatus: 500, status: 'INTERNAL', message: 'boom' });
      expect((await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody())).body.error).toEqual({ code: 500, message: 'boom', status: 'INTERNAL', details: [] });
      expect(sim.tasks()).toHaveLength(0);
    });

    it("drops the connection before the call takes effect ('before')", async () => {
      sim.faults.inject({ kind: 'drop-connection', method: 'export' });
      await expect(call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody())).rejects.toThrow();
      expect(sim.tasks()).toHaveLength(0);
      expect(sim.stats()).toMatchObject({ droppedConnections: 1, requests: { export: 1 } });
      expect((await call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody())).status).toBe(200);
    });

    it("drops the response after the task was created ('after'); a retry with the same requestId is told it already exists", async () => {
      sim.faults.inject({ kind: 'drop-connection', phase: 'after', method: 'export' });
      const body = exportBody({ requestId: 'lost-response-1' });
      await expect(call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, body)).rejects.toThrow();
      expect(sim.tasks()).toHaveLength(1);
      // The default answer to the repeat is 409 ALREADY_EXISTS: the task exists, its name is not said.
      const retry = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, body);
      expect(retry.status).toBe(409);
      expect(retry.body.error.status).toBe('ALREADY_EXISTS');
      expect(sim.stats().tasksStarted).toBe(1);
    });
  });

  describe('task faults', () => {
    it('fails the next task at a given progress with the given code and message', async () => {
      sim.faults.inject({ kind: 'task-failure', atProgress: 0.25, code: 3, message: 'Image.load: Asset not found.' });
      const failing = await submit(sim);
      const fine = await submit(sim);
      sim.clock.advance(25_000);
      expect(await getOp(sim, failing)).toMatchObject({ done: true, error: { code: 3, message: 'Image.load: Asset not found.' }, metadata: { state: 'FAILED', progress: 0.25 } });
      expect((await getOp(sim, fine)).metadata.state).toBe('RUNNING');
    });

    it('fails tasks matched by description regex, at a named stage', async () => {
      sim.faults.inject({ kind: 'task-failure', match: { description: '^nightly-' }, atStage: 'Write Files', code: 13, message: 'Write failed.' });
      const a = await submit(sim, { description: 'nightly-1' });
      const b = await submit(sim, { description: 'adhoc' });
      sim.clock.advance(100_000);
      const failed = await getOp(sim, a);
      expect(failed.metadata.state).toBe('FAILED');
      expect(failed.metadata.progress).toBe(0.95);
      expect(failed.metadata.stages?.map((s) => s.completeWorkUnits)).toEqual([1, 100, 0]);
      expect((await getOp(sim, b)).metadata.state).toBe('SUCCEEDED');
      // Unlimited by default when matching: the next nightly fails too.
      const c = await submit(sim, { description: 'nightly-2' });
      sim.clock.advance(100_000);
      expect((await getOp(sim, c)).error?.message).toBe('Write failed.');
    });

    it('matches tasks by requestId and by stage index, a limited number of times', async () => {
      sim.faults.inject({ kind: 'task-failure', match: { requestId: 'doomed' }, atStage: 0, times: 1 });
      const a = await submit(sim, { requestId: 'doomed' });
      sim.clock.advance(100_000);
      expect(await getOp(sim, a)).toMatchObject({ metadata: { state: 'FAILED', progress: 0.05 }, error: { code: 13, message: 'An internal error has occurred.' } });
      expect(sim.faults.list()).toEqual([]);
    });

    it('retries internally, bumping attempt and restarting progress', async () => {
      sim.faults.inject({ kind: 'task-retry', retries: 2, atProgress: 0.5 });
      const op = await submit(sim);
      sim.clock.advance(50_000);
      expect((await getOp(sim, op)).metadata).toMatchObject({ state: 'RUNNING', attempt: 2, progress: 0 });
      sim.clock.advance(75_000);
      expect((await getOp(sim, op)).metadata).toMatchObject({ state: 'RUNNING', attempt: 3, progress: 0.25 });
      sim.clock.advance(75_000);
      const done = await getOp(sim, op);
      expect(done.metadata).toMatchObject({ state: 'SUCCEEDED', attempt: 3, batchEecuUsageSeconds: 200 });
    });

    it('fails a task that keeps breaking after maxAttempts (5)', async () => {
      sim.faults.inject({ kind: 'task-retry', retries: 10, atProgress: 0.1 });
      const op = await submit(sim);
      sim.clock.advance(10 * 100_000);
      expect(await getOp(sim, op)).toMatchObject({ done: true, metadata: { state: 'FAILED', attempt: 5 }, error: { code: 13 } });
    });

    it('holds matching tasks PENDING until cancelled (hold-pending), others run', async () => {
      sim.faults.inject({ kind: 'hold-pending', match: { description: '^stuck' } });
      const held = await submit(sim, { description: 'stuck one' });
      const other = await submit(sim, { description: 'fine' });
      sim.clock.advance(10 * 100_000);
      expect((await getOp(sim, held)).metadata).toMatchObject({ state: 'PENDING' });
      expect((await getOp(sim, other)).metadata).toMatchObject({ state: 'SUCCEEDED' });
      expect((await call(sim, 'POST', `/v1/${held.name}:cancel`, {})).status).toBe(200);
      expect(await getOp(sim, held)).toMatchObject({ done: true, metadata: { state: 'CANCELLED' }, error: { code: 1 } });
    });

    it('holds the next task PENDING for forMs, then runs it', async () => {
      sim.faults.inject({ kind: 'hold-pending', forMs: 50_000 });
      const op = await submit(sim);
      sim.clock.advance(49_000);
      expect((await getOp(sim, op)).metadata).toMatchObject({ state: 'PENDING' });
      sim.clock.advance(1_000 + 100_000);
      expect((await getOp(sim, op)).metadata).toMatchObject({ state: 'SUCCEEDED' });
      expect(sim.faults.list()).toEqual([]);
    });
  });

  describe('admin endpoint', () => {
    it('injects, lists and clears faults over HTTP without auth', async () => {
      const r = await call<{ id: string }>(sim, 'POST', '/_sim/faults', { kind: 'http-error', httpStatus: 502, times: 3 }, { token: null });
      expect(r.status).toBe(200);
      expect(r.body.id).toMatch(/^fault-\d+$/);
      const listed = await call<{ faults: Array<{ id: string; remaining: number }> }>(sim, 'GET', '/_sim/faults');
      expect(listed.body.faults).toEqual([expect.objectContaining({ id: r.body.id, remaining: 3 })]);
      expect((await call(sim, 'GET', listPath)).status).toBe(502);
      await call(sim, 'DELETE', `/_sim/faults/${r.body.id}`);
      expect((await call(sim, 'GET', listPath)).status).toBe(200);

      await call(sim, 'POST', '/_sim/faults', { kind: 'task-failure', match: { description: 'x$' } });
      await call(sim, 'DELETE', '/_sim/faults');
      expect(sim.faults.list()).toEqual([]);
    });

    it('rejects an invalid fault spec with 400', async () => {
      const r = await call<GoogleErrorBody>(sim, 'POST', '/_sim/faults', { kind: 'earthquake' });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/^Invalid fault/);
      expect(() => sim.faults.inject({ kind: 'latency', ms: -1 })).toThrow();
    });
  });
});

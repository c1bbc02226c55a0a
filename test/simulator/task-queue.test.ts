/** The per-project queue: dedupe by requestId, priority then FIFO, concurrency limit, queue cap. */
import { afterEach, describe, expect, it } from 'vitest';
import { type Operation, type Simulator, type SimulatorOptions, startSimulator } from '../../tools/ee-simulator/index.ts';
import { resolveOptions } from '../../tools/ee-simulator/options.ts';
import { type GoogleErrorBody, PROJECT, call, exportBody, submit } from './helpers.ts';

let sim: Simulator | undefined;
async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator({ rateLimitPerSecond: 0, ...options });
  return sim;
}
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const running = (s: Simulator): string[] => s.tasks().filter((t) => t.state === 'RUNNING').map((t) => t.description);

describe('requestId deduplication', () => {
  it("defaults to the harsher reading: a repeated requestId from the same caller answers 409 ALREADY_EXISTS, naming no task", async () => {
    expect(resolveOptions()).toMatchObject({ duplicateRequestId: 'error', queueFullStatus: 429 });
    const s = await start();
    const first = await submit(s, { requestId: 'strict' });
    const r = await call<GoogleErrorBody>(s, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody({ requestId: 'strict' }));
    expect(r.status).toBe(409);
    expect(r.body.error.status).toBe('ALREADY_EXISTS');
    expect(r.body.error.message).not.toContain(first.name);
    expect(s.tasks()).toHaveLength(1);
  });

  it('10 concurrent duplicate posts start one task: one 200, nine 409 (error) or ten times the same operation (return-existing)', async () => {
    for (const mode of ['error', 'return-existing'] as const) {
      const s = await start({ duplicateRequestId: mode });
      const body = exportBody({ requestId: `dup-${mode}` });
      const replies = await Promise.all(Array.from({ length: 10 }, () => call<Operation>(s, 'POST', `/v1/projects/${PROJECT}/image:export`, body)));
      const ok = replies.filter((r) => r.status === 200);
      if (mode === 'error') {
        expect(ok).toHaveLength(1);
        expect(replies.filter((r) => r.status === 409)).toHaveLength(9);
      } else {
        expect(ok).toHaveLength(10);
        expect(new Set(ok.map((r) => r.body.name)).size).toBe(1);
      }
      expect(s.tasks()).toHaveLength(1);
      expect(s.stats().tasksStarted).toBe(1);
      expect(s.stats().requests.export).toBe(10);
      await s.close();
      sim = undefined;
    }
  });

  it('uses a server-assigned operation id unrelated to the requestId', async () => {
    const s = await start();
    const op = await submit(s, { requestId: 'my-request-1' });
    expect(op.name).toMatch(new RegExp(`^projects/${PROJECT}/operations/[A-Z0-9]{24}$`));
    expect(op.name).not.toContain('my-request-1');
  });

  it('scopes requestIds to the caller, not the project: the same caller is refused in another project, another caller is not', async () => {
    const s = await start();
    await submit(s, { requestId: 'same' }, 'project-a');
    const again = await call<GoogleErrorBody>(s, 'POST', '/v1/projects/project-b/image:export', exportBody({ requestId: 'same' }));
    expect(again.status).toBe(409);
    const other = await call<Operation>(s, 'POST', '/v1/projects/project-a/image:export', exportBody({ requestId: 'same' }), { token: 'another-user' });
    expect(other.status).toBe(200);
    expect(s.tasks()).toHaveLength(2);
  });

  it("return-existing: the existing operation even when it has finished (and from another project); nothing is deduped without a requestId", async () => {
    const s = await start({ duplicateRequestId: 'return-existing' });
    const first = await submit(s, { requestId: 'again' });
    s.clock.advance(10 * 60_000);
    const second = await submit(s, { requestId: 'again' });
    expect(second.name).toBe(first.name);
    expect(second.metadata.state).toBe('SUCCEEDED');
    const elsewhere = await submit(s, { requestId: 'again' }, 'project-b');
    expect(elsewhere.name).toBe(first.name);
    await submit(s, { requestId: undefined });
    await submit(s, { requestId: undefined });
    expect(s.tasks()).toHaveLength(3);
  });
});

describe('scheduling', () => {
  it('runs at most maxConcurrentPerProject tasks per project at once', async () => {
    const s = await start({ maxConcurrentPerProject: 2, taskDurationMs: 60_000 });
    for (let i = 0; i < 5; i++) await submit(s, { description: `t${i}` });
    await submit(s, { description: 'other' }, 'other-project');
    s.clock.advance(5_000);
    expect(running(s)).toEqual(['t0', 't1', 'other']);
    s.clock.advance(60_000);
    expect(running(s)).toEqual(['t2', 't3']);
    s.clock.advance(60_000);
    expect(running(s)).toEqual(['t4']);
    s.clock.advance(60_000);
    expect(s.tasks().every((t) => t.state === 'SUCCEEDED')).toBe(true);
    expect(s.stats().tasksDispatched).toBe(6);
  });

  it('orders the queue by priority (higher first), then submit time', async () => {
    const s = await start({ maxConcurrentPerProject: 1, taskDurationMs: 10_000 });
    await submit(s, { description: 'first', priority: 100 });
    s.clock.advance(5_000); // "first" takes the only slot
    const order = [
      ['low-a', 10],
      ['high-a', 500],
      ['mid', 100],
      ['high-b', { value: 500 }],
      ['low-b', 10],
      ['top', 9999],
    ] as const;
    for (const [description, priority] of order) {
      await submit(s, { description, priority });
      s.clock.advance(1);
    }
    const started: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = s.tasks().find((t) => t.state === 'RUNNING');
      if (r) started.push(r.description);
      s.clock.advance(10_000);
    }
    expect(started).toEqual(['first', 'top', 'high-a', 'high-b', 'mid', 'low-a', 'low-b']);
  });

  it('refuses new tasks with 429 once queueCap tasks are PENDING', async () => {
    const s = await start({ queueCap: 3, maxConcurrentPerProject: 1 });
    for (let i = 0; i < 3; i++) await submit(s);
    const r = await call<GoogleErrorBody>(s, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody());
    expect(r.status).toBe(429);
    expect(r.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Too many tasks already in the queue (3). Please wait for some of them to complete.' });
    // Another project has its own queue.
    await submit(s, {}, 'other-project');
    // A running task no longer counts as queued.
    s.clock.advance(5_000);
    await submit(s);
    expect(s.tasks(PROJECT)).toHaveLength(4);
  });

  it.each([400, 403, 503] as const)('answers queue-full with HTTP %i when configured (the status is undocumented), same status name and message', async (code) => {
    const s = await start({ queueCap: 1, maxConcurrentPerProject: 1, queueFullStatus: code });
    await submit(s);
    const r = await call<GoogleErrorBody>(s, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody());
    expect(r.status).toBe(code);
    expect(r.body.error).toMatchObject({ code, status: 'RESOURCE_EXHAUSTED', message: 'Too many tasks already in the queue (1). Please wait for some of them to complete.' });
  });

  it('defaults to the documented limits: 3000 queued, 2 running per project', () => {
    expect(resolveOptions()).toMatchObject({ queueCap: 3000, maxConcurrentPerProject: 2, rateLimitPerSecond: 100, maxConcurrentRequests: 40 });
  });

  it('accepts a task duration function of the request', async () => {
    const s = await start({ taskDurationMs: (req) => (req.description === 'long' ? 600_000 : 1_000), maxConcurrentPerProject: 5 });
    await submit(s, { description: 'long' });
    await submit(s, { description: 'short' });
    s.clock.advance(5_000 + 1_000);
    expect(s.tasks().map((t) => [t.description, t.state])).toEqual([
      ['long', 'RUNNING'],
      ['short', 'SUCCEEDED'],
    ]);
  });
});

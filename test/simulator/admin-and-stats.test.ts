/** The admin endpoints, sim.tasks()/stats()/reset(), and the algorithms catalogue. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorStats, type TaskSnapshot, startSimulator } from '../../tools/ee-simulator/index.ts';
import { PROJECT, call, exportBody, opPath, submit } from './helpers.ts';

describe('admin endpoints and counters', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimitPerSecond: 0 });
  });
  beforeEach(() => sim.reset());
  afterAll(() => sim.close());

  it('counts requests per method and tasks started (benchmarks count EE calls with this)', async () => {
    await call(sim, 'GET', `/v1/projects/${PROJECT}/algorithms`);
    const a = await submit(sim, { requestId: 'r1' });
    await call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody({ requestId: 'r1' })); // 409: a call, not a task
    const b = await submit(sim);
    await call(sim, 'GET', opPath(a));
    await call(sim, 'GET', opPath(a));
    await call(sim, 'GET', `/v1/projects/${PROJECT}/operations`);
    await call(sim, 'POST', `${opPath(a)}:wait`, { timeout: '0s' });
    await call(sim, 'POST', `${opPath(b)}:cancel`, {});
    await call(sim, 'DELETE', opPath(b));
    await call(sim, 'GET', `/v1/projects/${PROJECT}/operations/NOPE`);
    sim.clock.advance(5_000);

    const expected: SimulatorStats = {
      requests: { algorithms: 1, export: 3, get: 3, list: 1, wait: 1, cancel: 1, delete: 1, listImages: 0 },
      totalRequests: 11,
      errorsByStatus: { 404: 1, 409: 1 },
      droppedConnections: 0,
      tasksStarted: 2,
      tasksDispatched: 1,
      tasksByState: { RUNNING: 1 },
    };
    expect(sim.stats()).toEqual(expected);
    expect((await call(sim, 'GET', '/_sim/stats')).body).toEqual(expected);
  });

  it('snapshots tasks with their request, per project, via sim.tasks() and GET /_sim/tasks', async () => {
    const op = await submit(sim, { description: 'snap', requestId: 'snap-1' });
    await submit(sim, { description: 'elsewhere' }, 'other-project');
    const [snap] = sim.tasks(PROJECT);
    expect(snap).toMatchObject({ name: op.name, project: PROJECT, requestId: 'snap-1', state: 'PENDING', done: false, description: 'snap', priority: 100, attempt: 0, deleted: false, durationMs: 60_000 });
    expect(snap?.id).toBe(op.name.split('/').at(-1));
    expect(snap?.request['requestId']).toBe('snap-1');
    expect(snap?.operation).toEqual(op);
    expect(sim.tasks()).toHaveLength(2);
    const viaHttp = await call<{ tasks: TaskSnapshot[] }>(sim, 'GET', `/_sim/tasks?project=${PROJECT}`);
    expect(viaHttp.body.tasks).toEqual(sim.tasks(PROJECT));
  });

  it('resets tasks, faults and counters (POST /_sim/reset), keeping the clock', async () => {
    await submit(sim);
    sim.faults.inject({ kind: 'latency', ms: 1 });
    const before = sim.clock.now();
    expect((await call(sim, 'POST', '/_sim/reset', {})).status).toBe(200);
    expect(sim.tasks()).toEqual([]);
    expect(sim.faults.list()).toEqual([]);
    expect(sim.stats().totalRequests).toBe(0);
    expect(sim.clock.now()).toBe(before);
  });

  it('answers health checks and 404 for unknown admin paths', async () => {
    expect((await call(sim, 'GET', '/_sim/health', undefined, { token: null })).body).toEqual({ ok: true });
    expect((await call(sim, 'GET', '/_sim/nothing')).status).toBe(404);
  });
});

describe('algorithms catalogue', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.close());

  it('lists algorithms in the REST shape the official client converts', async () => {
    const r = await call<{ algorithms: Array<{ name: string; returnType: string; arguments: Array<{ argumentName: string; type: string; optional?: boolean }> }> }>(sim, 'GET', '/v1/projects/any/algorithms');
    expect(r.status).toBe(200);
    const byName = new Map(r.body.algorithms.map((a) => [a.name, a]));
    for (const name of ['Image.load', 'Image.loadGeoTIFF', 'Image.select', 'Image.clip', 'Image.clipToBoundsAndScale', 'Image.reproject', 'Image.rename', 'Image.constant', 'GeometryConstructors.Polygon', 'Feature', 'Collection', 'Projection']) {
      expect(byName.has(`algorithms/${name}`), name).toBe(true);
    }
    expect(byName.get('algorithms/Image.load')).toMatchObject({
      returnType: 'Image',
      arguments: [
        { argumentName: 'id', type: 'String' },
        { argumentName: 'version', type: 'Long', optional: true },
      ],
    });
  });
});

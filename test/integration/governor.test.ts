/**
 * The governor on the emulators and the simulator: running tasks' partial EECU counted
 * toward a budget (and not counted twice once they finish), threshold events once each,
 * a stop-batches budget stopping a batch (STOPPED, OUT_OF_BUDGET) with its queued
 * children held, `:resume` refused while the budget is still used up and accepted once
 * its limit is raised; and a request's priority reaching Earth Engine as it was given.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import '../../functions/src/entry/api.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import type { Batch } from '../../functions/src/core/batches/batch.ts';
import type { BudgetUsage } from '../../functions/src/core/budgets/budgets.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/events.ts';
import { BudgetsResponseSchema } from '../../functions/src/core/api/api-contract.ts';

const emu = emulatorsOrSkip('governor integration');

const template = {
  description: 'part {{value}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'parts/p' }, fileFormat: 'GEO_TIFF' },
};

describe.skipIf(!emu)('governor (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  const events: CloudEvent[] = [];
  const env = (limit: number) => ({
    POLL_WINDOW_SECONDS: '0',
    POLL_AUTH_DISABLED: 'true',
    MAX_IN_FLIGHT_PER_PROJECT: '2',
    // Each simulated task reports 1 EECU-second per running second: 60 when it ends.
    EECU_BUDGETS: JSON.stringify([{ eeProject: 'ee-test-project', label: { key: 'team', value: 'tiles' }, monthlyEecuSeconds: limit, onExceeded: 'stop-batches' }]),
  });

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 10, taskDurationMs: 60_000, rateLimitPerSecond: 0 });
    await emu!.clear();
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  const poll = async () => {
    expect((await stack.http('pollExports', '', { method: 'POST' })).status).toBe(200);
    events.push(...(await stack.drainEvents()));
  };
  const batch = async (): Promise<Batch> => (await stack.firestore.collection('batches').get()).docs[0]!.data() as Batch;
  const usage = async (): Promise<BudgetUsage> => (await stack.firestore.collection('budgets').get()).docs[0]!.data() as BudgetUsage;
  const running = (u: BudgetUsage) => Object.values(u.runningEecuSeconds ?? {}).reduce((n, v) => n + v, 0);
  const resume = (id: string) => stack.http('api', `/v1/batches/${id}:resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

  it('counts running use, emits thresholds once, stops the batch at the limit, and resumes it once the limit is raised', async () => {
    stack = await startTestStack(testConfig(emu!, sim.url, env(100)));
    // A job outside the budget, with Earth Engine's own priority field: sent as given.
    await stack.deliverUntilAcked('submitExport', pushMessage({ request: { ...template, description: 'urgent', priority: 250 } }));
    expect(sim.tasks('ee-test-project').find((t) => t.description === 'urgent')?.priority).toBe(250);
    sim.clock.advance(70_000);
    await poll(); // the urgent job ends and frees its slot
    expect(events.some((e) => e.type === 'dev.eeport.export.v1.succeeded')).toBe(true);
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch: { template, labels: { team: 'tiles' }, fanOut: { values: [1, 2, 3, 4, 5, 6] } } }));
    await poll(); // releases two children (the in-flight cap)
    sim.clock.advance(30_000);
    await poll();
    // Two children RUNNING, 30 s in: their partial use counts, before either has finished.
    let u = await usage();
    expect(u.usedEecuSeconds).toBe(0);
    expect(running(u)).toBeGreaterThanOrEqual(50);
    expect(events.filter((e) => e.type === 'dev.eeport.budget.v1.threshold').map((e) => (e.data as unknown as { percent: number }).percent)).toEqual([50]);
    sim.clock.advance(40_000);
    await poll();
    await poll();
    u = await usage();
    const finished = sim.tasks('ee-test-project').filter((t) => t.state === 'SUCCEEDED' && t.description !== 'urgent');
    expect(finished).toHaveLength(2);
    // Counted once: the final figures, the running entries gone.
    expect(u.usedEecuSeconds).toBeCloseTo(finished.reduce((n, t) => n + (t.operation.metadata?.batchEecuUsageSeconds ?? 0), 0), 3);
    expect(running(u)).toBe(0);
    expect(events.filter((e) => e.type === 'dev.eeport.budget.v1.threshold').map((e) => (e.data as unknown as { percent: number }).percent)).toEqual([50, 80, 100]);
    // Used up: the next release stops the batch instead, and its queued children stay.
    let b = await batch();
    expect(b.state).toBe('STOPPED');
    expect(b.stop).toMatchObject({ reason: 'OUT_OF_BUDGET' });
    for (let i = 0; i < 3; i++) {
      sim.clock.advance(70_000);
      await poll();
    }
    expect(sim.tasks('ee-test-project')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'dev.eeport.batch.v1.stopped')).toHaveLength(1);
    const refused = await resume(b.batchId);
    expect(refused.status).toBe(409);
    expect(await refused.text()).toMatch(/BATCH.STILL_STOPPED.*used up/);
    const budgets = BudgetsResponseSchema.parse(await (await stack.http('api', '/v1/budgets')).json()).budgets[0]!;
    expect(budgets).toMatchObject({ onExceeded: 'stop-batches', thresholdsCrossed: [50, 80, 100], exceeded: true, runningEecuSeconds: 0 });
    expect(budgets.projectedEecuSeconds).toBeGreaterThanOrEqual(budgets.usedEecuSeconds);

    // The limit raised (a new deployment of the config): :resume is accepted and the rest run.
    await stack.close();
    stack = await startTestStack(testConfig(emu!, sim.url, env(10_000)));
    const ok = await resume(b.batchId);
    expect(ok.status, await ok.clone().text()).toBe(200);
    for (let i = 0; i < 10 && (await batch()).state !== 'SUCCEEDED'; i++) {
      await poll();
      sim.clock.advance(70_000);
    }
    b = await batch();
    expect(b.state).toBe('SUCCEEDED');
    expect(b.counts).toEqual({ SUCCEEDED: 6 });
    expect(events.filter((e) => e.type === 'dev.eeport.batch.v1.resumed')).toHaveLength(1);
  }, 180_000);
});

/** The governor (docs/budgets.md, ADR 0014): tier presets, month-to-date use with running tasks, projected burn, threshold events once per month, reserved shares. */
import { describe, it, expect, beforeEach } from 'vitest';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createPollExports, type PollSettings } from '../../functions/src/core/poll/poll-exports.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { budgetId, BudgetsSchema, projectBudget, usedTotal, type Budget } from '../../functions/src/core/budgets/budgets.ts';
import { budgetViews } from '../../functions/src/core/api/api-contract.ts';
import { createBatches } from '../../functions/src/core/batches/batches.ts';
import { createApiHandler } from '../../functions/src/core/api/api-handler.ts';
import { createApiLogEvents } from '../../functions/src/core/api/api-log-events.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let now: Date;

const pollSettings = (budgets: Budget[], inFlight: number): PollSettings => ({
  eventSource: '//eeport/test', leaseName: 'poller', windowMs: 0, maxIntervalMs: 10_000, minIntervalMs: 2_000, getThreshold: 50, listPageSize: 500, maxJobsPerCycle: 1000,
  maxInFlightPerProject: inFlight, operationMaxAgeMs: 10 * 86_400_000, staleSubmitMs: 300_000, getConcurrency: 4, maxResubmissions: 0, resubmitBackoffMs: 0, budgets,
});

function services(budgets: Budget[], inFlight = 5) {
  const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
  const submit = createSubmitExport({ ...base, settings: { eventSource: '//eeport/test', maxInFlightPerProject: inFlight, submitLeaseMs: 60_000, budgets, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
  const poll = createPollExports({ ...base, submit, cancel: createCancelJob({ ...base, settings: { eventSource: '//eeport/test' } }), settings: pollSettings(budgets, inFlight), holder: 'p', sleep: async () => undefined });
  return { submit, poll };
}
const msg = (i: number, attributes: Record<string, string> = {}) => ({
  data: new TextEncoder().encode(JSON.stringify(assetLoadRequest(`projects/p/assets/a${i}`))),
  attributes,
  messageId: `m${i}`,
  eventSource: '//pubsub/test',
});
function setAll(state: 'RUNNING' | 'SUCCEEDED', eecu: number) {
  for (const [name, op] of ee.operations) if (!op.done) ee.operations.set(name, { ...op, done: state === 'SUCCEEDED', metadata: { ...op.metadata, state, batchEecuUsageSeconds: eecu } });
}
const thresholdEvents = () => publisher.published.filter((e) => e.type === 'dev.eeport.budget.v1.threshold');
const pct = (e: { data: unknown }) => (e.data as { percent: number }).percent;
const one = (b: unknown) => BudgetsSchema.parse([b])[0]!;

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  now = new Date('2026-03-10T00:00:00Z');
});

describe('budget tiers and configuration', () => {
  it('tier presets give the quota tiers’ EECU-hours as EECU-seconds; a number is EECU-hours', () => {
    expect(one({ eeProject: 'p', tier: 'community' }).monthlyEecuSeconds).toBe(150 * 3600);
    expect(one({ eeProject: 'p', tier: 'contributor' }).monthlyEecuSeconds).toBe(1_000 * 3600);
    expect(one({ eeProject: 'p', tier: 'partner' }).monthlyEecuSeconds).toBe(100_000 * 3600);
    expect(one({ eeProject: 'p', tier: 2.5 }).monthlyEecuSeconds).toBe(9000);
    expect(one({ eeProject: 'p', monthlyEecuSeconds: 10 }).thresholds).toEqual([50, 80, 100]);
  });

  it('refuses a budget with both or neither of tier and monthlyEecuSeconds, an unknown tier, and reserves that leave nothing', () => {
    expect(() => one({ eeProject: 'p', tier: 'community', monthlyEecuSeconds: 10 })).toThrow(/exactly one of monthlyEecuSeconds or tier/);
    expect(() => one({ eeProject: 'p' })).toThrow(/exactly one of monthlyEecuSeconds or tier/);
    expect(() => one({ eeProject: 'p', tier: 'gold' })).toThrow();
    expect(() => one({ eeProject: 'p', tier: 1, reserve: [{ label: { key: 'env', value: 'prod' }, share: 0.6 }, { workloadTag: 'x', share: 0.4 }] })).toThrow(/add up to 1/);
    expect(() => one({ eeProject: 'p', tier: 1, reserve: [{ share: 0.3 }] })).toThrow(/exactly one of label or workloadTag/);
  });
});

describe('month-to-date use and thresholds', () => {
  it('counts running tasks’ reported partial use, then their final use once, without double counting', async () => {
    const budget = one({ eeProject: 'ee-project-1', monthlyEecuSeconds: 1000 });
    const { submit, poll } = services([budget]);
    await submit.submitMessage(msg(1));
    await submit.submitMessage(msg(2));
    const lease = (await poll.acquireLease()) as never;
    setAll('RUNNING', 100);
    await poll.runCycle(lease);
    const id = budgetId(budget, '2026-03');
    let u = (await store.transact((tx) => tx.getBudgetUsage(id)))!;
    expect(u.usedEecuSeconds).toBe(0);
    expect(usedTotal(u)).toBe(200);
    setAll('RUNNING', 300);
    await poll.runCycle(lease);
    u = (await store.transact((tx) => tx.getBudgetUsage(id)))!;
    expect(usedTotal(u)).toBe(600);
    setAll('SUCCEEDED', 350);
    await poll.runCycle(lease);
    u = (await store.transact((tx) => tx.getBudgetUsage(id)))!;
    expect(u.usedEecuSeconds).toBe(700);
    expect(u.runningEecuSeconds).toEqual({});
    expect(usedTotal(u)).toBe(700);
    expect(u.dailyEecuSeconds).toEqual({ '10': 700 });
    // Crossed 50 % (running), then 80 % is not reached: 700 of 1000.
    expect(thresholdEvents().map((e) => pct(e))).toEqual([50]);
  });

  it('writes a running task’s partial use only when it moved by 0.1 % of the limit or more', async () => {
    const budget = one({ eeProject: 'ee-project-1', monthlyEecuSeconds: 1_000_000 });
    const { submit, poll } = services([budget], 20);
    let budgetWrites = 0;
    const transact = store.transact.bind(store);
    store.transact = ((fn: Parameters<typeof transact>[0]) => transact((tx) => fn({ ...tx, setBudgetUsage: (u) => (budgetWrites++, tx.setBudgetUsage(u)) }))) as typeof store.transact;
    for (let i = 0; i < 20; i++) await submit.submitMessage(msg(i));
    const lease = (await poll.acquireLease()) as never;
    // Ten reports 50 EECU-s apart (0.005 % of the limit each): the first is written, then one more once they add up to 1,000.
    for (let c = 1; c <= 25; c++) {
      setAll('RUNNING', c * 50);
      await poll.runCycle(lease);
    }
    const running = budgetWrites;
    setAll('SUCCEEDED', 1300);
    await poll.runCycle(lease);
    // Per task: the first report (50), the one at 1,050 (1,000 past it); then the finish.
    expect(running).toBe(20 * 2);
    expect(budgetWrites - running).toBe(20);
    expect(usedTotal((await store.transact((tx) => tx.getBudgetUsage(budgetId(budget, '2026-03'))))!)).toBe(20 * 1300);
  });

  it('emits each threshold once per month, again in the next month', async () => {
    const budget = one({ eeProject: 'ee-project-1', monthlyEecuSeconds: 100, thresholds: [80, 50, 100] });
    const { submit, poll } = services([budget], 10);
    const lease = (await poll.acquireLease()) as never;
    for (const [i, eecu] of [30, 30, 30, 30].entries()) {
      await submit.submitMessage(msg(i));
      setAll('SUCCEEDED', eecu);
      await poll.runCycle(lease);
    }
    const march = thresholdEvents();
    expect(march.map((e) => pct(e))).toEqual([50, 80, 100]);
    expect(new Set(march.map((e) => e.id)).size).toBe(3);
    expect(march[0]!.data).toMatchObject({ budget: budgetId(budget, '2026-03'), month: '2026-03', limitEecuSeconds: 100, usedEecuSeconds: 60 });
    now = new Date('2026-04-02T00:00:00Z');
    for (const i of [10, 11, 12]) {
      await submit.submitMessage(msg(i));
      setAll('SUCCEEDED', 40);
      await poll.runCycle(lease);
    }
    const april = thresholdEvents().slice(3);
    expect(april.map((e) => [(e.data as unknown as { month: string }).month, pct(e)])).toEqual([['2026-04', 50], ['2026-04', 80], ['2026-04', 100]]);
  });

  it('projects the month-end burn from the last 7 days’ rate, running use included', () => {
    const daily: Record<string, number> = {};
    for (let d = 1; d <= 10; d++) daily[String(d).padStart(2, '0')] = d <= 3 ? 1000 : 100;
    const u = { month: '2026-03', usedEecuSeconds: 3700, runningEecuSeconds: { j: 50 }, dailyEecuSeconds: daily };
    // 2026-03-11T00:00Z: the window is days 4..10 (7 days × 100) plus 50 running: 750 / 7 a day, 21 days left.
    const p = projectBudget(u, '2026-03-11T00:00:00Z');
    expect(p.usedEecuSeconds).toBe(3750);
    expect(p.ratePerDay).toBeCloseTo(750 / 7, 6);
    expect(p.projectedEecuSeconds).toBeCloseTo(3750 + (750 / 7) * 21, 6);
    const view = budgetViews([one({ eeProject: 'ee-project-1', tier: 1 })], [{ ...u, id: budgetId(one({ eeProject: 'ee-project-1', tier: 1 }), '2026-03'), eeProject: 'ee-project-1', scope: 'all', limitEecuSeconds: 3600, exceededNotified: false, updateTime: '2026-03-10T00:00:00Z' }], '2026-03', '2026-03-11T00:00:00Z')[0]!;
    expect(view).toMatchObject({ tier: 1, limitEecuSeconds: 3600, usedEecuSeconds: 3750, finishedEecuSeconds: 3700, runningEecuSeconds: 50, thresholdsCrossed: [50, 80, 100], exceeded: true });
  });
});

describe('reserved share', () => {
  it('work a reserve does not name stops at (1 − share) of the limit; reserved work may use the whole', async () => {
    const budget = one({ eeProject: 'ee-project-1', monthlyEecuSeconds: 100, reserve: [{ label: { key: 'env', value: 'prod' }, share: 0.3 }] });
    const { submit, poll } = services([budget], 10);
    const lease = (await poll.acquireLease()) as never;
    await submit.submitMessage(msg(1));
    setAll('SUCCEEDED', 75);
    await poll.runCycle(lease);
    const explore = await submit.submitMessage(msg(2, { labels: '{"env":"dev"}' }));
    expect(explore.job.state).toBe('QUEUED');
    expect(explore.job.queuedReason).toMatch(/75 of 70 EECU-seconds \(the share not reserved for env=prod\)/);
    const prod = await submit.submitMessage(msg(3, { labels: '{"env":"prod"}' }));
    expect(prod.job.state).toBe('PENDING');
    setAll('SUCCEEDED', 30);
    await poll.runCycle(lease);
    const prod2 = await submit.submitMessage(msg(4, { labels: '{"env":"prod"}' }));
    expect(prod2.job.state).toBe('QUEUED');
    expect(prod2.job.queuedReason).toMatch(/105 of 100 EECU-seconds in 2026-03/);
  });
});

describe('batches at the limit and past their cap', () => {
  const template = { ...assetLoadRequest('projects/p/assets/x'), description: 'part {{value}}' };
  function batchServices(budgets: Budget[], inFlight = 2) {
    const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
    const cancel = createCancelJob({ ...base, settings: { eventSource: '//eeport/test' } });
    const batches = createBatches({ ...base, cancel, settings: { eventSource: '//eeport/test', defaultEeProject: 'ee-project-1', allowedEeProjects: [], budgets } });
    const submit = createSubmitExport({ ...base, settings: { eventSource: '//eeport/test', maxInFlightPerProject: inFlight, submitLeaseMs: 60_000, budgets, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
    const poll = createPollExports({ ...base, submit, cancel, refreshBatches: () => batches.refreshBatches(), settings: pollSettings(budgets, inFlight), holder: 'p', sleep: async () => undefined });
    return { batches, poll };
  }
  const children = async (batchId: string) => (await store.listBatchChildren(batchId, { limit: 100 })).map((j) => j.state);
  const batchEvents = (kind: string) => publisher.published.filter((e) => e.type === `dev.eeport.batch.v1.${kind}`);

  it('stop-batches: at the limit the batch goes STOPPED (OUT_OF_BUDGET) and its queued children stay; :resume is refused until the month rolls over', async () => {
    const budget = one({ eeProject: 'ee-project-1', monthlyEecuSeconds: 100, onExceeded: 'stop-batches' });
    const { batches, poll } = batchServices([budget]);
    const out = await batches.submitBatch({ template, fanOut: { values: [1, 2, 3, 4, 5, 6] } }, { kind: 'key', key: 'b1' }, { kind: 'api', requestId: 'r' } as never);
    const batchId = out.batch.batchId;
    const lease = (await poll.acquireLease()) as never;
    await poll.runCycle(lease);
    setAll('SUCCEEDED', 60);
    await poll.runCycle(lease);
    // 120 of 100 used: the next release stops the batch instead.
    let b = (await store.getBatch(batchId))!;
    expect(b.state).toBe('STOPPED');
    expect(b.stop).toMatchObject({ reason: 'OUT_OF_BUDGET', budget: budgetId(budget, '2026-03') });
    expect(batchEvents('stopped')).toHaveLength(1);
    for (let i = 0; i < 3; i++) await poll.runCycle(lease);
    expect((await children(batchId)).filter((s) => s === 'QUEUED')).toHaveLength(4);
    expect(ee.tasksStarted()).toBe(2);
    expect(await batches.resumeBatch(batchId)).toMatchObject({ kind: 'still-stopped', reason: expect.stringMatching(/used up: 120 of 100.*next month/) });
    now = new Date('2026-04-01T00:00:10Z');
    expect(await batches.resumeBatch(batchId)).toMatchObject({ kind: 'resumed', batch: { state: 'RUNNING', stop: null } });
    expect(batchEvents('resumed')).toHaveLength(1);
    await poll.runCycle(lease);
    expect(ee.tasksStarted()).toBe(4);
    b = (await store.getBatch(batchId))!;
    expect(b.state).toBe('RUNNING');
    expect(await batches.resumeBatch(batchId)).toMatchObject({ kind: 'not-stopped' });
  });

  it('a batch past its own maxEecuSeconds stops (EECU_CAP, one eecu_cap_exceeded event), its queued children wait, and resumes only with a higher cap', async () => {
    const { batches, poll } = batchServices([], 2);
    const out = await batches.submitBatch({ template, fanOut: { values: [1, 2, 3, 4, 5] }, maxEecuSeconds: 50 }, { kind: 'key', key: 'b2' }, { kind: 'api', requestId: 'r' } as never);
    const batchId = out.batch.batchId;
    const lease = (await poll.acquireLease()) as never;
    await poll.runCycle(lease);
    setAll('RUNNING', 20);
    await poll.runCycle(lease);
    expect((await store.getBatch(batchId))!.state).toBe('RUNNING');
    // Two running children report 30 each: 60 > 50, counted while they still run.
    setAll('RUNNING', 30);
    await poll.runCycle(lease);
    const b = (await store.getBatch(batchId))!;
    expect(b.state).toBe('STOPPED');
    expect(b.stop).toMatchObject({ reason: 'EECU_CAP', limitEecuSeconds: 50, usedEecuSeconds: 60, message: expect.stringContaining('EECU guard') });
    setAll('SUCCEEDED', 30);
    for (let i = 0; i < 3; i++) await poll.runCycle(lease);
    expect(batchEvents('eecu_cap_exceeded')).toHaveLength(1);
    expect(ee.tasksStarted()).toBe(2);
    expect((await children(batchId)).filter((s) => s === 'QUEUED')).toHaveLength(3);
    expect(await batches.resumeBatch(batchId)).toMatchObject({ kind: 'still-stopped', reason: expect.stringMatching(/higher maxEecuSeconds/) });
    expect(await batches.resumeBatch(batchId, undefined, { maxEecuSeconds: 60 })).toMatchObject({ kind: 'still-stopped' });
    expect(await batches.resumeBatch(batchId, undefined, { maxEecuSeconds: 500 })).toMatchObject({ kind: 'resumed', batch: { maxEecuSeconds: 500 } });
    await poll.runCycle(lease);
    expect(ee.tasksStarted()).toBe(4);
  });

  it('POST /v1/batches/{id}:resume answers 409 BATCH.STILL_STOPPED with the reason, 409 BATCH.NOT_STOPPED, 400 for a bad body, 200 once resumed', async () => {
    const { batches, poll } = batchServices([], 1);
    const out = await batches.submitBatch({ template, fanOut: { values: [1, 2, 3] }, maxEecuSeconds: 10 }, { kind: 'key', key: 'b3' }, { kind: 'api', requestId: 'r' } as never);
    const lease = (await poll.acquireLease()) as never;
    await poll.runCycle(lease);
    setAll('RUNNING', 11);
    await poll.runCycle(lease);
    const api = createApiHandler({
      submit: {} as never,
      cancel: {} as never,
      batches,
      store,
      clock: { now: () => now },
      logs: createApiLogEvents(new CapturingLogSink()),
      newId: () => 'x',
      openApi: () => ({}),
      settings: { intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 }, maxBodyBytes: 10_000, staleSubmitSeconds: 300, budgets: [] },
    } as never);
    const call = (body: unknown) =>
      api.handle({ method: 'POST', path: `/v1/batches/${out.batch.batchId}:resume`, query: new URLSearchParams(), header: (n: string) => (n.toLowerCase() === 'content-type' ? 'application/json' : undefined), body: new TextEncoder().encode(JSON.stringify(body)) });
    let r = await call({});
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).toMatch(/BATCH.STILL_STOPPED.*EECU_CAP/);
    r = await call({ maxEecuSeconds: -1 });
    expect(r.status).toBe(400);
    r = await call({ maxEecuSeconds: 100, other: 1 });
    expect(r.status).toBe(400);
    r = await call({ maxEecuSeconds: 100 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'resumed', batch: { state: 'RUNNING', maxEecuSeconds: 100 } });
    r = await call({});
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).toMatch(/BATCH.NOT_STOPPED/);
  });
});

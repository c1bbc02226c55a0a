/** The runaway guard: a running task past its EECU cap is cancelled once (EECU_CAP, one event); without reported EECU the time guard acts; estimates are recorded. */
import { describe, it, expect, beforeEach } from 'vitest';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createPollExports, type PollSettings } from '../../functions/src/core/poll/poll-exports.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { BudgetsSchema, type Budget } from '../../functions/src/core/budgets/budgets.ts';
import { createEstimates } from '../../functions/src/core/estimates/index.ts';
import type { Job } from '../../functions/src/core/jobs/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { jsClientRequest } from '../fakes/requests.ts';

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let now: Date;

const settings = (budgets: Budget[]): PollSettings => ({
  eventSource: '//eeport/test', leaseName: 'poller', windowMs: 0, maxIntervalMs: 10_000, minIntervalMs: 2_000, getThreshold: 50, listPageSize: 500, maxJobsPerCycle: 1000,
  maxInFlightPerProject: 5, operationMaxAgeMs: 10 * 86_400_000, staleSubmitMs: 300_000, getConcurrency: 4, maxResubmissions: 0, resubmitBackoffMs: 0, budgets, timeGuardFactor: 1.5,
});

function services(budgets: Budget[]) {
  const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
  const submit = createSubmitExport({ ...base, settings: { eventSource: '//eeport/test', maxInFlightPerProject: 5, submitLeaseMs: 60_000, budgets, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
  const estimates = createEstimates({ store, clock: base.clock, settings: { minSamples: 3, priorEecuPerMegapixel: 5, priorEecuPerTask: 100, priorSpread: 10, historyJobs: 100, cacheSeconds: 0, budgets } });
  const poll = createPollExports({ ...base, submit, cancel: createCancelJob({ ...base, settings: { eventSource: '//eeport/test' } }), settings: settings(budgets), holder: 'p', sleep: async () => undefined, estimates });
  return { submit, poll };
}

const msg = (i: number) => ({ data: new TextEncoder().encode(JSON.stringify({ ...jsClientRequest(), grid: { dimensions: { width: 1000, height: 1000 } } })), attributes: {}, messageId: `m${i}`, eventSource: '//pubsub/test' });

function setRunning(eecu: number | undefined, startTime = '2026-03-10T00:00:00Z') {
  for (const [name, op] of ee.operations) ee.operations.set(name, { ...op, done: false, metadata: { ...op.metadata, state: 'RUNNING', startTime, ...(eecu === undefined ? { batchEecuUsageSeconds: undefined } : { batchEecuUsageSeconds: eecu }) } });
}
const onlyJob = async (): Promise<Job> => (await store.listJobs({ pageSize: 10 })).jobs[0]!;
const capEvents = () => publisher.published.filter((e) => e.type === 'dev.eeport.export.v1.eecu_cap_exceeded');

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  now = new Date('2026-03-10T00:00:00Z');
});

describe('runaway guard', () => {
  const budget = BudgetsSchema.parse([{ eeProject: 'ee-project-1', monthlyEecuSeconds: 1e6, maxEecuSecondsPerJob: 50 }])[0]!;

  it('records an estimate when the poller first follows a job', async () => {
    const { submit, poll } = services([]);
    await submit.submitMessage(msg(1));
    setRunning(1);
    await poll.runCycle((await poll.acquireLease()) as never);
    const job = await onlyJob();
    expect(job.estimate).toMatchObject({ method: 'prior', pixels: 1_000_000, eecuSeconds: { expected: 5 } });
  });

  it('cancels a running task whose reported EECU passes the budget’s per-job cap: EECU_CAP, one event', async () => {
    const { submit, poll } = services([budget]);
    await submit.submitMessage(msg(1));
    setRunning(10);
    const lease = (await poll.acquireLease()) as never;
    await poll.runCycle(lease);
    expect((await onlyJob()).state).toBe('RUNNING');
    setRunning(60);
    await poll.runCycle(lease);
    let job = await onlyJob();
    expect(job.state).toBe('CANCELLING');
    expect(job.runaway).toMatchObject({ guard: 'eecu', capSource: 'budget', limitEecuSeconds: 50, usedEecuSeconds: 60 });
    expect(ee.calls.filter((c) => c.method === 'cancel')).toHaveLength(1);
    setRunning(70);
    await poll.runCycle(lease);
    expect(capEvents()).toHaveLength(1);
    expect(capEvents()[0]!.data).toMatchObject({ guard: 'eecu', message: expect.stringMatching(/^EECU_CAP/) });
    for (const [name, op] of ee.operations) ee.operations.set(name, { ...op, done: true, error: { code: 1, message: 'Cancelled.' }, metadata: { ...op.metadata, state: 'CANCELLED' } });
    await poll.runCycle(lease);
    job = await onlyJob();
    expect(job.state).toBe('CANCELLED');
    expect(job.error?.code).toBe('EECU_CAP');
    expect(capEvents()).toHaveLength(1);
  });

  it('falls back to the time guard when Earth Engine reports no EECU while the task runs, and says so', async () => {
    const { submit, poll } = services([budget]);
    // A history: three finished jobs of this computation, 10 EECU-s and 100 s per megapixel.
    await submit.submitMessage(msg(1));
    const lease = (await poll.acquireLease()) as never;
    const first = await onlyJob();
    await store.createJobsIfAbsent([1, 2, 3].map((i) => ({ ...first, jobId: String(i).padStart(32, 'a'), state: 'SUCCEEDED' as const, eecuSeconds: 10, startTime: '2026-03-09T00:00:00Z', endTime: '2026-03-09T00:01:40Z', operationName: null })));
    setRunning(undefined, '2026-03-10T00:00:00Z');
    await poll.runCycle(lease);
    expect(first.jobId).toBeDefined();
    const est = (await store.getJob(first.jobId))!.estimate!;
    expect(est.method).toBe('history:expression');
    // The cap (50) takes 50 / high × runSeconds.high seconds at the high band's rate; 1.5 × that is far past it.
    const capRun = (50 / est.eecuSeconds.high) * est.runSeconds!.high;
    now = new Date(Date.parse('2026-03-10T00:00:00Z') + capRun * 1000);
    await poll.runCycle(lease);
    expect((await store.getJob(first.jobId))!.runaway).toBeFalsy();
    now = new Date(Date.parse('2026-03-10T00:00:00Z') + capRun * 1.6 * 1000);
    await poll.runCycle(lease);
    const job = (await store.getJob(first.jobId))!;
    expect(job.runaway).toMatchObject({ guard: 'time', usedEecuSeconds: null });
    expect(capEvents()).toHaveLength(1);
    expect(capEvents()[0]!.data).toMatchObject({ message: expect.stringContaining('time guard') });
  });

  it('carries the envelope’s maxEecuSeconds to the job, and cancels at that cap (job cap wins over the budget’s)', async () => {
    const { submit, poll } = services([budget]);
    const body = { request: { ...jsClientRequest(), grid: { dimensions: { width: 1000, height: 1000 } } }, maxEecuSeconds: 20 };
    await submit.submitMessage({ data: new TextEncoder().encode(JSON.stringify(body)), attributes: {}, messageId: 'm-cap', eventSource: '//pubsub/test' });
    expect((await onlyJob()).maxEecuSeconds).toBe(20);
    setRunning(25);
    await poll.runCycle((await poll.acquireLease()) as never);
    expect((await onlyJob()).runaway).toMatchObject({ guard: 'eecu', capSource: 'job', limitEecuSeconds: 20, usedEecuSeconds: 25 });
    expect(capEvents()).toHaveLength(1);
  });

  it('refuses an envelope whose maxEecuSeconds is not a positive number', async () => {
    const { submit } = services([]);
    const out = await submit.submitMessage({ data: new TextEncoder().encode(JSON.stringify({ request: jsClientRequest(), maxEecuSeconds: -5 })), attributes: {}, messageId: 'm-bad', eventSource: '//pubsub/test' });
    expect(out.job.state).toBe('REJECTED');
    expect(out.job.error?.message).toMatch(/maxEecuSeconds: must be a positive number/);
  });

  it('leaves uncapped jobs alone', async () => {
    const { submit, poll } = services([]);
    await submit.submitMessage(msg(1));
    setRunning(1e9);
    await poll.runCycle((await poll.acquireLease()) as never);
    expect((await onlyJob()).state).toBe('RUNNING');
    expect(capEvents()).toHaveLength(0);
  });
});

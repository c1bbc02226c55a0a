import { describe, it, expect, beforeEach } from 'vitest';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createPollExports, type PollSettings } from '../../functions/src/core/poll/poll-exports.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { budgetId, budgetsFor, BudgetsSchema, type Budget } from '../../functions/src/core/budgets/budgets.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let now: Date;

const pollSettings = (budgets: Budget[]): PollSettings => ({
  eventSource: '//eeport/test',
  leaseName: 'poller',
  windowMs: 0,
  maxIntervalMs: 10_000,
  minIntervalMs: 2_000,
  getThreshold: 50,
  listPageSize: 500,
  maxJobsPerCycle: 1000,
  maxInFlightPerProject: 2,
  operationMaxAgeMs: 10 * 86_400_000,
  staleSubmitMs: 300_000,
  getConcurrency: 4,
  maxResubmissions: 0,
  resubmitBackoffMs: 0,
  budgets,
});

function services(budgets: Budget[]) {
  const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
  const submit = createSubmitExport({ ...base, settings: { eventSource: '//eeport/test', maxInFlightPerProject: 2, submitLeaseMs: 60_000, budgets, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
  const poll = createPollExports({ ...base, submit, cancel: createCancelJob({ ...base, settings: { eventSource: '//eeport/test' } }), settings: pollSettings(budgets), holder: 'p', sleep: async () => undefined });
  return { submit, poll };
}
const msg = (i: number, attributes: Record<string, string> = {}) => ({
  data: new TextEncoder().encode(JSON.stringify(assetLoadRequest(`projects/p/assets/a${i}`))),
  attributes,
  messageId: `m${i}`,
  eventSource: '//pubsub/test',
});
function finishAll(eecu: number) {
  for (const [name, op] of ee.operations) ee.operations.set(name, { ...op, done: true, metadata: { ...op.metadata, state: 'SUCCEEDED', batchEecuUsageSeconds: eecu } });
}

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  now = new Date('2026-03-10T00:00:00Z');
});

describe('EECU budgets', () => {
  const budget: Budget = BudgetsSchema.parse([{ eeProject: 'ee-project-1', monthlyEecuSeconds: 100 }])[0]!;

  it('parses budgets and matches them by project, label and workload tag', () => {
    const [b1, b2, b3] = BudgetsSchema.parse([
      { eeProject: 'ee-project-1', monthlyEecuSeconds: 10 },
      { eeProject: 'ee-project-1', monthlyEecuSeconds: 10, label: { key: 'team', value: 'forest' } },
      { eeProject: 'ee-project-1', monthlyEecuSeconds: 10, workloadTag: 'nightly', onExceeded: 'reject' },
    ]);
    const job = { eeProject: 'ee-project-1', labels: { team: 'forest' }, request: { workloadTag: 'adhoc' } as never };
    expect(budgetsFor(job, [b1!, b2!, b3!])).toEqual([b1, b2]);
    expect(budgetId(b2!, '2026-03')).toBe('ee-project-1~label.team=forest~2026-03');
    expect(() => BudgetsSchema.parse([{ eeProject: 'x', monthlyEecuSeconds: -1 }])).toThrow();
  });

  it('a budget reached mid-batch holds the rest in QUEUED with a clear reason and emits one budget.exceeded', async () => {
    const { submit, poll } = services([budget]);
    for (let i = 0; i < 6; i++) await submit.submitMessage(msg(i));
    expect([...store.jobs.values()].map((j) => j.state).sort()).toEqual(['PENDING', 'PENDING', 'QUEUED', 'QUEUED', 'QUEUED', 'QUEUED']);
    const lease = (await poll.acquireLease()) as never;
    finishAll(60); // two tasks × 60 EECU-s = 120 ≥ 100
    await poll.runCycle(lease);
    expect(store.budgets.get('ee-project-1~all~2026-03')!.usedEecuSeconds).toBe(120);
    const queued = [...store.jobs.values()].filter((j) => j.state === 'QUEUED');
    expect(queued).toHaveLength(4);
    // The jobs the release looked at (as many as there are free slots) now say why they wait.
    expect(queued.filter((j) => j.queuedReason === 'EECU budget ee-project-1~all~2026-03 used up: 120 of 100 EECU-seconds in 2026-03')).toHaveLength(2);
    await poll.runCycle(lease);
    await submit.submitMessage(msg(99));
    const exceeded = publisher.published.filter((e) => e.type === 'dev.eeport.budget.v1.exceeded');
    expect(exceeded).toHaveLength(1);
    expect(exceeded[0]!.data).toMatchObject({ usedEecuSeconds: 120, limitEecuSeconds: 100, month: '2026-03' });
    // A new month has a fresh budget: the queue drains.
    now = new Date('2026-04-01T00:00:01Z');
    await poll.runCycle(lease);
    expect([...store.jobs.values()].filter((j) => j.state === 'PENDING')).toHaveLength(2);
  });

  it('onExceeded=reject rejects new submissions once the budget is used up', async () => {
    const rejecting = { ...budget, onExceeded: 'reject' as const };
    const { submit, poll } = services([rejecting]);
    await submit.submitMessage(msg(1));
    const lease = (await poll.acquireLease()) as never;
    finishAll(150);
    await poll.runCycle(lease);
    const out = await submit.submitMessage(msg(2));
    expect(out.kind).toBe('rejected');
    expect(out.job.error).toMatchObject({ code: 'EECU.BUDGET_EXCEEDED' });
  });

  it('a label budget only holds jobs with that label', async () => {
    const labelled = BudgetsSchema.parse([{ eeProject: 'ee-project-1', monthlyEecuSeconds: 1, label: { key: 'team', value: 'forest' } }]);
    const { submit, poll } = services(labelled);
    await submit.submitMessage(msg(1, { labels: '{"team":"forest"}' }));
    const lease = (await poll.acquireLease()) as never;
    finishAll(5);
    await poll.runCycle(lease);
    expect((await submit.submitMessage(msg(2, { labels: '{"team":"forest"}' }))).kind).toBe('queued');
    expect((await submit.submitMessage(msg(3, { labels: '{"team":"ocean"}' }))).kind).toBe('submitted');
  });
});

import { describe, it, expect, beforeEach } from 'vitest';
import { createPollExports, type PollDeps, type PollSettings } from '../../functions/src/core/poll/poll-exports.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import type { IncomingMessage } from '../../functions/src/core/submit/intake.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const settings: PollSettings = {
  eventSource: '//eeport/test',
  leaseName: 'poller',
  windowMs: 50_000,
  maxIntervalMs: 10_000,
  minIntervalMs: 2_000,
  getThreshold: 3,
  listPageSize: 2,
  maxJobsPerCycle: 1000,
  maxInFlightPerProject: 100,
  operationMaxAgeMs: 10 * 86_400_000,
  staleSubmitMs: 300_000,
  getConcurrency: 4,
  maxResubmissions: 2,
  resubmitBackoffMs: 60_000,
};

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let now: Date;
let sleeps: number[];

function deps(holder: string, sleep?: (ms: number) => Promise<void>): PollDeps {
  const base = { store, ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
  const submit = createSubmitExport({ ...base, settings: { eventSource: settings.eventSource, maxInFlightPerProject: 100, submitLeaseMs: 60_000, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } } });
  return {
    ...base,
    submit,
    cancel: createCancelJob({ ...base, settings: { eventSource: settings.eventSource } }),
    settings,
    holder,
    sleep:
      sleep ??
      (async (ms) => {
        sleeps.push(ms);
        now = new Date(now.getTime() + ms);
      }),
  };
}

const msg = (i: number): IncomingMessage => ({
  data: new TextEncoder().encode(JSON.stringify(assetLoadRequest(`projects/p/assets/a${i}`))),
  attributes: {},
  messageId: `m${i}`,
  eventSource: '//pubsub/test',
});

async function submitN(n: number) {
  const s = deps('x').submit;
  for (let i = 0; i < n; i++) await s.submitMessage(msg(i));
}

function setOp(name: string, metadata: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const op = ee.operations.get(name)!;
  ee.operations.set(name, { ...op, ...extra, metadata: { ...op.metadata, ...metadata } });
}

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  now = new Date('2026-01-01T00:00:00Z');
  sleeps = [];
});

describe('pollExports (core, with fakes)', () => {
  it('uses gets for a few jobs and list pages for many', async () => {
    await submitN(3);
    ee.calls = [];
    await createPollExports(deps('a')).runCycle((await createPollExports(deps('a')).acquireLease()) as never);
    expect(ee.calls.filter((c) => c.method === 'get')).toHaveLength(3);
    expect(ee.calls.filter((c) => c.method === 'list')).toHaveLength(0);

    await submitN(7); // 7 live now (ids m0..m6 → 3 duplicates + 4 new)
    ee.calls = [];
    const p = createPollExports(deps('a'));
    const stats = await p.runCycle((await p.acquireLease()) as never);
    expect(stats.live).toBe(7);
    expect(ee.calls.filter((c) => c.method === 'get')).toHaveLength(0);
    // The fake lists everything in one page; calls do not grow with the number of jobs.
    expect(ee.calls.filter((c) => c.method === 'list')).toHaveLength(1);
  });

  it('reads live jobs a page at a time, and a cycle capped at maxJobsPerCycle goes on where the last one stopped', async () => {
    await submitN(7);
    // Each query (where it starts, how many) and the pages it handed over.
    const queries: { after: string | null | undefined; limit: number; pages: string[][] }[] = [];
    const pagedStore = Object.assign(Object.create(store) as MemoryStore, {
      liveJobPages: async function* (q: { after?: string | null; limit: number; pageSize: number }) {
        const seen = { after: q.after, limit: q.limit, pages: [] as string[][] };
        queries.push(seen);
        for await (const page of store.liveJobPages(q)) {
          seen.pages.push(page.map((j) => j.jobId));
          yield page;
        }
      },
    });
    const p = createPollExports({ ...deps('a'), store: pagedStore, settings: { ...settings, maxJobsPerCycle: 5, jobPageSize: 2 } });
    const lease = (await p.acquireLease()) as never;
    const ids = [...store.jobs.keys()].sort();
    const first = await p.runCycle(lease);
    expect(first.live).toBe(5);
    // One query for the cycle, handed over in pages of 2, 2 and the 1 left under the cap.
    expect(queries).toEqual([{ after: null, limit: 5, pages: [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4, 5)] }]);
    queries.length = 0;
    const second = await p.runCycle(lease);
    expect(second.live).toBe(2); // the two the first cycle did not reach, not the first five again
    expect(second.unchanged).toBe(2);
    expect(queries.map((q) => q.after)).toEqual([ids[4]]);
    queries.length = 0;
    const third = await p.runCycle(lease);
    expect(third.live).toBe(5); // round again from the first job
    expect(queries.map((q) => q.after)).toEqual([null]);
  });

  it('writes only jobs whose figures changed, and emits one event per state change', async () => {
    await submitN(2);
    const p = createPollExports(deps('a'));
    const lease = (await p.acquireLease()) as never;
    const txBefore = store.transactions;
    const s1 = await p.runCycle(lease);
    expect(s1.updated).toBe(0);
    expect(s1.unchanged).toBe(2);
    expect(store.transactions - txBefore).toBe(0); // nothing changed: not even a transaction
    const [j0] = [...store.jobs.values()];
    setOp(j0!.operationName!, { state: 'RUNNING', progress: 0.3, stages: [{ displayName: 'Compute', completeWorkUnits: 3, totalWorkUnits: 10 }] });
    const s2 = await p.runCycle(lease);
    expect(s2.updated).toBe(1);
    setOp(j0!.operationName!, { progress: 0.6 });
    const s3 = await p.runCycle(lease);
    expect(s3.updated).toBe(1);
    expect(s3.events).toBe(0); // progress alone is a write, not an event
    setOp(j0!.operationName!, { state: 'SUCCEEDED', progress: 1, destinationUris: ['gs://b/x.tif'], batchEecuUsageSeconds: 12.5, endTime: '2026-01-01T00:10:00Z' }, { done: true });
    await p.runCycle(lease);
    const done = await store.getJob(j0!.jobId);
    expect(done).toMatchObject({ state: 'SUCCEEDED', destinationUris: ['gs://b/x.tif'], eecuSeconds: 12.5, endTime: '2026-01-01T00:10:00Z' });
    expect(publisher.published.filter((e) => e.subject === j0!.jobId).map((e) => e.type.split('.').pop())).toEqual(['submitted', 'running', 'succeeded']);
    // Terminal is final: a later contradictory answer changes nothing.
    setOp(j0!.operationName!, { state: 'RUNNING' }, { done: false });
    await p.runCycle(lease);
    expect((await store.getJob(j0!.jobId))!.state).toBe('SUCCEEDED');
  });

  it('a second poller finds the lease held and stands aside', async () => {
    await submitN(1);
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const a = createPollExports(deps('a', () => blocked)).run();
    await new Promise((r) => setTimeout(r, 10));
    const b = await createPollExports(deps('b')).run();
    expect(b).toEqual({ kind: 'busy', holder: 'a' });
    release();
    now = new Date(now.getTime() + 60_000);
    await a;
  });

  it('a stale poller whose lease was taken over cannot write (fencing token)', async () => {
    await submitN(1);
    const a = createPollExports(deps('a'));
    const leaseA = await a.acquireLease();
    now = new Date(now.getTime() + 120_000); // A's lease expires while it is stuck
    const b = createPollExports(deps('b'));
    const leaseB = await b.acquireLease();
    expect((leaseB as { token: number }).token).toBe((leaseA as { token: number }).token + 1);
    const [j] = [...store.jobs.values()];
    setOp(j!.operationName!, { state: 'RUNNING' });
    await expect(a.runCycle(leaseA as never)).rejects.toMatchObject({ code: 'POLL.LEASE_LOST' });
    expect((await store.getJob(j!.jobId))!.state).toBe('PENDING');
    await b.runCycle(leaseB as never);
    expect((await store.getJob(j!.jobId))!.state).toBe('RUNNING');
  });

  it('fails a job whose operation is gone (404) or older than the 10-day task life', async () => {
    await submitN(2);
    const [j0, j1] = [...store.jobs.values()];
    ee.operations.delete(j0!.operationName!);
    now = new Date(now.getTime() + 11 * 86_400_000);
    const p = createPollExports(deps('a'));
    const stats = await p.runCycle((await p.acquireLease()) as never);
    expect(stats.lost).toBe(2);
    expect((await store.getJob(j0!.jobId))!.error!.message).toMatch(/404/);
    expect((await store.getJob(j1!.jobId))!.error!.message).toMatch(/10-day/);
    expect(await store.inFlight('ee-project-1')).toBe(0);
  });

  it('re-dispatches a SUBMITTING job whose submitter vanished, with the same requestId', async () => {
    ee.failures.push(Object.assign(new Error('boom'), {}) as never);
    await expect(deps('x').submit.submitMessage(msg(1))).rejects.toThrow('boom');
    const [j] = [...store.jobs.values()];
    expect(j!.state).toBe('SUBMITTING');
    now = new Date(now.getTime() + settings.staleSubmitMs + 1);
    const p = createPollExports(deps('a'));
    const stats = await p.runCycle((await p.acquireLease()) as never);
    expect(stats.redispatched).toBe(1);
    const after = await store.getJob(j!.jobId);
    expect(after!.state).toBe('PENDING');
    expect(ee.calls.filter((c) => c.method === 'export').map((c) => c.arg)).toEqual([j!.requestId, j!.requestId]);
  });

  it('keeps cycling within the window, faster while jobs move, and stops when nothing is live', async () => {
    await submitN(1);
    const [j] = [...store.jobs.values()];
    let cycle = 0;
    const p = createPollExports(
      deps('a', async (ms) => {
        sleeps.push(ms);
        now = new Date(now.getTime() + ms);
        cycle++;
        if (cycle === 2) setOp(j!.operationName!, { state: 'RUNNING' });
        if (cycle === 5) setOp(j!.operationName!, { state: 'SUCCEEDED' }, { done: true });
      }),
    );
    const r = await p.run();
    expect(r.kind).toBe('done');
    expect(sleeps[0]).toBe(10_000); // nothing changed: longest interval
    expect(sleeps).toContain(2_000); // a change: look again soon
    expect((await store.getJob(j!.jobId))!.state).toBe('SUCCEEDED');
  });
});

describe('smart resubmission (core, with fakes)', () => {
  async function failCurrent(jobId: string, code: number, message: string) {
    const j = (await store.getJob(jobId))!;
    setOp(j.operationName!, { state: 'FAILED' }, { done: true, error: { code, message } });
  }

  it('resubmits a transient failure through the queue with a new requestId, after the backoff, up to the limit', async () => {
    await submitN(1);
    const [j] = [...store.jobs.values()];
    const p = createPollExports(deps('a'));
    const lease = (await p.acquireLease()) as never;
    await failCurrent(j!.jobId, 13, 'An internal error has occurred.');
    await p.runCycle(lease);
    let cur = (await store.getJob(j!.jobId))!;
    expect(cur.state).toBe('QUEUED');
    expect(cur.resubmissions).toBe(1);
    expect(cur.requestId).toBe(`eeport-${j!.jobId}-r1`);
    expect(cur.previousOperations).toEqual([j!.operationName]);
    expect(cur.lastFailure).toMatchObject({ failureClass: 'transient', rule: 'internal' });
    expect(await store.inFlight('ee-project-1')).toBe(0);
    await p.runCycle(lease); // still in backoff
    expect((await store.getJob(j!.jobId))!.state).toBe('QUEUED');
    now = new Date(now.getTime() + 61_000);
    await p.runCycle(lease);
    cur = (await store.getJob(j!.jobId))!;
    expect(cur.state).toBe('PENDING');
    expect(cur.operationName).not.toBe(j!.operationName);
    // Second and third failures: one more resubmission (limit 2), then FAILED for good.
    await failCurrent(j!.jobId, 14, 'Unavailable');
    await p.runCycle(lease);
    now = new Date(now.getTime() + 121_000);
    await p.runCycle(lease);
    expect((await store.getJob(j!.jobId))!.requestId).toBe(`eeport-${j!.jobId}-r2`);
    await failCurrent(j!.jobId, 13, 'An internal error has occurred.');
    await p.runCycle(lease);
    cur = (await store.getJob(j!.jobId))!;
    expect(cur.state).toBe('FAILED');
    expect(cur.resubmissions).toBe(2);
    expect(ee.calls.filter((c) => c.method === 'export').map((c) => c.arg)).toEqual([j!.requestId, `eeport-${j!.jobId}-r1`, `eeport-${j!.jobId}-r2`]);
    const kinds = publisher.published.filter((e) => e.subject === j!.jobId).map((e) => e.type.split('.').pop());
    expect(kinds).toEqual(['submitted', 'queued', 'submitted', 'queued', 'submitted', 'failed']);
  });

  it('never resubmits a permanent failure', async () => {
    await submitN(1);
    const [j] = [...store.jobs.values()];
    const p = createPollExports(deps('a'));
    const lease = (await p.acquireLease()) as never;
    await failCurrent(j!.jobId, 3, 'Export too large: specified 1e12 pixels (max: 1e8).');
    await p.runCycle(lease);
    const cur = (await store.getJob(j!.jobId))!;
    expect(cur.state).toBe('FAILED');
    expect(cur.lastFailure).toMatchObject({ failureClass: 'permanent', rule: 'too-many-pixels' });
    expect(cur.resubmissions).toBe(0);
  });
});

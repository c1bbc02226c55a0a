/**
 * Exactly once whatever a repeated requestId gets (core, with fakes): a job whose task
 * may exist is never FAILED for it; it finds and adopts its operation, or stays
 * SUBMITTING with `verifying` set while it can't tell; no second task is started; and
 * one client requestId under two identities never makes two jobs share one task.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createSubmitExport, type SubmitDeps } from '../../functions/src/core/submit/submit-export.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { topicMessage } from '../fakes/messages.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';
import { CapturingLogSink, MemoryPublisher, MemoryStore } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { jsClientRequest } from '../fakes/requests.ts';

const msg = topicMessage;

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let sink: CapturingLogSink;
let now: Date;
let deps: SubmitDeps;
const advance = (ms: number) => (now = new Date(now.getTime() + ms));

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  sink = new CapturingLogSink();
  now = new Date('2026-06-01T00:00:00Z');
  ee.clock = () => now;
  deps = {
    store,
    ee,
    publisher,
    clock: { now: () => now },
    logs: createLogEvents(sink),
    settings: {
      eventSource: '//eeport/test',
      maxInFlightPerProject: 10,
      submitLeaseMs: 60_000,
      intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 },
      adopt: { clockSkewMs: 60_000, confirmAfterMs: 30_000, maxPages: 5 },
    },
  };
});

/** A lost answer to image:export (the task was created), then the redelivery. */
async function lostThenRetried(body = jsClientRequest({ description: 'ndvi-2026-06' })): Promise<{ first: Error; retry: Awaited<ReturnType<ReturnType<typeof createSubmitExport>['submitMessage']>> }> {
  const s = createSubmitExport(deps);
  ee.loseResponses = 1;
  const first = await s.submitMessage(msg(body)).then(
    () => new Error('expected the lost answer to throw'),
    (e: Error) => e,
  );
  const retry = await s.submitMessage(msg(body));
  return { first, retry };
}

describe.each(['error', 'return-existing'] as const)('a lost export answer, then a retry, with duplicate requestId mode %s', (mode) => {
  beforeEach(() => {
    ee.duplicateRequestId = mode;
  });

  it('ends with the job following its one task, never FAILED', async () => {
    const { first, retry } = await lostThenRetried();
    expect(first.message).toMatch(/socket hang up/);
    expect(ee.tasksStarted()).toBe(1);
    const [task] = [...ee.operations.keys()];
    if (mode === 'return-existing') {
      expect(retry.kind).toBe('submitted');
      expect(retry.job.operationName).toBe(task);
      return;
    }
    // 409: one candidate, not confirmed yet (a later search must still find it alone): visibly verifying.
    expect(retry.kind).toBe('verifying');
    expect(retry.job.state).toBe('SUBMITTING');
    expect(retry.job.verifying).toMatchObject({ checks: 1, candidates: [task] });
    expect(retry.job.verifying?.note).toMatch(/taking it once a search 30 s later/);
    // Too soon: still not taken.
    advance(10_000);
    expect((await createSubmitExport(deps).dispatch((await store.getJob(retry.job.jobId))!)).kind).toBe('verifying');
    expect(sink.entries.some((e) => e.event === 'export.verifying')).toBe(true);
    // Later (the poller's stale-submit sweep re-dispatches it): adopted.
    advance(31_000);
    const later = await createSubmitExport(deps).dispatch((await store.getJob(retry.job.jobId))!);
    expect(later.kind).toBe('submitted');
    expect(later.job.state).toBe('PENDING');
    expect(later.job.operationName).toBe(task);
    expect(later.job.verifying).toBeNull();
    expect(later.job.history.at(-1)?.reason).toMatch(/adopted .*already exists/);
    expect(ee.tasksStarted()).toBe(1);
    expect(publisher.published.filter((e) => e.type.endsWith('.submitted'))).toHaveLength(1);
    expect(sink.entries.some((e) => e.event === 'export.adopted')).toBe(true);
    expect(await store.inFlight('ee-project-1')).toBe(1);
  });
});

describe('adoption (duplicate requestId answered 409 ALREADY_EXISTS)', () => {
  it('searches more often than the confirmation time still adopt once the candidate has been alone that long', async () => {
    ee.duplicateRequestId = 'error';
    const { retry } = await lostThenRetried(jsClientRequest({ description: 'frequent' }));
    const kinds: string[] = [retry.kind];
    for (let i = 0; i < 3; i++) {
      advance(12_000);
      kinds.push((await createSubmitExport(deps).dispatch((await store.getJob(retry.job.jobId))!)).kind);
    }
    // Checks at 0, 12, 24, 36 s with confirmAfterMs 30 s: the last one adopts.
    expect(kinds).toEqual(['verifying', 'verifying', 'verifying', 'submitted']);
  });

  beforeEach(() => {
    ee.duplicateRequestId = 'error';
  });

  async function verifyingJob(description: string): Promise<Job> {
    const { retry } = await lostThenRetried(jsClientRequest({ description }));
    expect(retry.kind).toBe('verifying');
    return retry.job;
  }

  it('two unclaimed operations with its description: it will not guess; it lists them and stays SUBMITTING', async () => {
    const job = await verifyingJob('same-name');
    // Someone else (outside eeport) started a task with the same description.
    await ee.exportImage('ee-project-1', { description: 'same-name', requestId: 'outsider-1' });
    advance(31_000);
    const out = await createSubmitExport(deps).dispatch((await store.getJob(job.jobId))!);
    expect(out.kind).toBe('verifying');
    expect(out.job.state).toBe('SUBMITTING');
    expect(out.job.verifying?.candidates).toHaveLength(2);
    expect(out.job.verifying?.checks).toBe(2);
    // It stays that way while both stay unclaimed.
    advance(31_000);
    expect((await createSubmitExport(deps).dispatch((await store.getJob(job.jobId))!)).kind).toBe('verifying');
    expect(out.job.verifying?.note).toMatch(/2 unclaimed export operations/);
    expect(ee.tasksStarted()).toBe(2);
  });

  it('an operation another job follows is not a candidate; one with another description or type is not either', async () => {
    // A job that recorded its own task with the same description.
    const other = await createSubmitExport(deps).submitMessage(msg(jsClientRequest({ description: 'shared-name' }), {}, 'other'));
    expect(other.kind).toBe('submitted');
    await ee.exportImage('ee-project-1', { description: 'another-name', requestId: 'outsider-2' });
    const job = await verifyingJob('shared-name');
    advance(31_000);
    const out = await createSubmitExport(deps).dispatch((await store.getJob(job.jobId))!);
    expect(out.kind).toBe('submitted');
    expect(out.job.operationName).not.toBe(other.job.operationName);
    expect(ee.tasksStarted()).toBe(3);
  });

  it('no candidate at all (the list does not show it yet): verifying, never FAILED, no second task', async () => {
    const job = await verifyingJob('invisible');
    ee.operations.clear();
    advance(31_000);
    for (let i = 0; i < 3; i++) {
      const out = await createSubmitExport(deps).dispatch((await store.getJob(job.jobId))!);
      expect(out.kind).toBe('verifying');
      expect(out.job.state).toBe('SUBMITTING');
      expect(out.job.verifying?.note).toMatch(/no unclaimed export operation/);
    }
    expect(ee.calls.filter((c) => c.method === 'export')).toHaveLength(5);
    expect((await store.getJob(job.jobId))?.error).toBeNull();
  });

  it('operations created before the job (less the skew margin) are not candidates', async () => {
    ee.clock = () => new Date(now.getTime() - 10 * 60_000);
    await ee.exportImage('ee-project-1', { description: 'old-name', requestId: 'old-1' });
    ee.clock = () => now;
    const job = await verifyingJob('old-name');
    advance(31_000);
    const out = await createSubmitExport(deps).dispatch((await store.getJob(job.jobId))!);
    expect(out.kind).toBe('submitted');
    expect(out.job.operationName).toBe('projects/ee-project-1/operations/OP0002');
  });
});

describe('one client requestId under two identities', () => {
  it.each(['error', 'return-existing'] as const)('bare, then with an idempotency key: the second is the first job (%s)', async (mode) => {
    ee.duplicateRequestId = mode;
    const s = createSubmitExport(deps);
    const body = jsClientRequest({ requestId: 'client-rid-1' });
    const a = await s.submitMessage(msg(body, {}, 'm1'));
    const b = await s.submitMessage(msg({ request: body, idempotencyKey: 'later-key' }, {}, 'm2'));
    expect(a.kind).toBe('submitted');
    expect(b.kind).toBe('duplicate');
    expect(b.job.jobId).toBe(a.job.jobId);
    expect(store.jobs.size).toBe(1);
    expect(ee.calls.filter((c) => c.method === 'export')).toHaveLength(1);
  });

  it('under two keys, or a key then bare: one job, one task', async () => {
    const s = createSubmitExport(deps);
    const body = jsClientRequest({ requestId: 'client-rid-2' });
    const a = await s.submitMessage(msg({ request: body, idempotencyKey: 'key-a' }, {}, 'm1'));
    const b = await s.submitMessage(msg({ request: body, idempotencyKey: 'key-b' }, {}, 'm2'));
    const c = await s.submitMessage(msg(body, {}, 'm3'));
    expect([b.kind, c.kind]).toEqual(['duplicate', 'duplicate']);
    expect(new Set([a.job.jobId, b.job.jobId, c.job.jobId]).size).toBe(1);
    expect(ee.tasksStarted()).toBe(1);
  });
});

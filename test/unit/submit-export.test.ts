import { describe, it, expect, beforeEach } from 'vitest';
import { createSubmitExport, type SubmitDeps } from '../../functions/src/core/submit/submit-export.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { topicMessage } from '../fakes/messages.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine, transient, permanent, queueFull } from '../fakes/fake-earth-engine.ts';
import { jsClientRequest } from '../fakes/requests.ts';

const msg = topicMessage;

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let sink: CapturingLogSink;
let now: Date;
let deps: SubmitDeps;

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  sink = new CapturingLogSink();
  now = new Date('2026-01-01T00:00:00Z');
  deps = {
    store,
    ee,
    publisher,
    clock: { now: () => now },
    logs: createLogEvents(sink),
    settings: { eventSource: '//eeport/test', maxInFlightPerProject: 3, submitLeaseMs: 60_000, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } },
  };
});

describe('submitExport (core, with fakes)', () => {
  it('turns a valid message into one PENDING job with the operation and a submitted event', async () => {
    const out = await createSubmitExport(deps).submitMessage(msg(jsClientRequest(), { labels: '{"team":"forest"}' }));
    expect(out.kind).toBe('submitted');
    expect(out.job.state).toBe('PENDING');
    expect(out.job.operationName).toMatch(/^projects\/ee-project-1\/operations\//);
    expect(out.job.labels).toEqual({ team: 'forest' });
    expect(out.job.requestId).toBe(`eeport-${out.job.jobId}`);
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.export.v1.submitted']);
    expect(publisher.published[0]!.id).toBe(`${out.job.jobId}.${out.job.version}`);
    expect(await store.inFlight('ee-project-1')).toBe(1);
    expect(sink.entries.some((e) => e.event === 'export.submitted' && e.jobId === out.job.jobId)).toBe(true);
  });

  it('keeps a client requestId and derives the job id from it', async () => {
    const a = await createSubmitExport(deps).submitMessage(msg(jsClientRequest({ requestId: 'abc-123' }), {}, 'm1'));
    const b = await createSubmitExport(deps).submitMessage(msg(jsClientRequest({ requestId: 'abc-123' }), {}, 'm2'));
    expect(a.job.requestId).toBe('abc-123');
    expect(b.kind).toBe('duplicate');
    expect(b.job.jobId).toBe(a.job.jobId);
    expect(ee.tasksStarted()).toBe(1);
  });

  it('an idempotency key wins over the message id', async () => {
    const a = await createSubmitExport(deps).submitMessage(msg({ request: jsClientRequest(), idempotencyKey: 'k1' }, {}, 'm1'));
    const b = await createSubmitExport(deps).submitMessage(msg(jsClientRequest(), { idempotencyKey: 'k1' }, 'm2'));
    expect(b.job.jobId).toBe(a.job.jobId);
    expect(b.kind).toBe('duplicate');
  });

  it('redelivery of a finished submit does nothing', async () => {
    const s = createSubmitExport(deps);
    await s.submitMessage(msg(jsClientRequest()));
    const again = await s.submitMessage(msg(jsClientRequest()));
    expect(again.kind).toBe('duplicate');
    expect(ee.calls.filter((c) => c.method === 'export')).toHaveLength(1);
    expect(publisher.published).toHaveLength(1);
  });

  it('concurrent duplicates: one submits, the others back off (thrown, for redelivery)', async () => {
    const s = createSubmitExport(deps);
    // The first delivery's Earth Engine call is held until the other two have answered: they arrive while it holds the lease.
    const exportImage = ee.exportImage.bind(ee);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ee.exportImage = async (p, r) => (await held, exportImage(p, r));
    const first = s.submitMessage(msg(jsClientRequest()));
    const others = await Promise.allSettled([s.submitMessage(msg(jsClientRequest())), s.submitMessage(msg(jsClientRequest()))]);
    release();
    const results = [...others, ...(await Promise.allSettled([first]))];
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { code: string }).code).toBe('SUBMIT.IN_PROGRESS');
    // The redeliveries converge to the same job, with no second task.
    const redelivered = await s.submitMessage(msg(jsClientRequest()));
    expect(redelivered.kind).toBe('duplicate');
    expect(ee.tasksStarted()).toBe(1);
    expect(store.jobs.size).toBe(1);
  });

  it('a crash between the Earth Engine call and the record converges on the same operation after the lease', async () => {
    const s = createSubmitExport(deps);
    let crash = true;
    store.beforeCommit = () => {
      const pendingWrite = [...ee.operations.keys()].length > 0;
      if (crash && pendingWrite) {
        crash = false;
        throw new Error('process died (injected)');
      }
    };
    await expect(s.submitMessage(msg(jsClientRequest()))).rejects.toThrow('process died');
    store.beforeCommit = undefined;
    const [job] = [...store.jobs.values()];
    expect(job!.state).toBe('SUBMITTING');
    // Redelivered while the lease still holds: backs off.
    await expect(s.submitMessage(msg(jsClientRequest()))).rejects.toMatchObject({ code: 'SUBMIT.IN_PROGRESS' });
    now = new Date(now.getTime() + 61_000);
    const out = await s.submitMessage(msg(jsClientRequest()));
    expect(out.kind).toBe('submitted');
    expect(ee.calls.filter((c) => c.method === 'export')).toHaveLength(2);
    expect(ee.tasksStarted()).toBe(1);
    expect(publisher.published.filter((e) => e.type.endsWith('submitted'))).toHaveLength(1);
  });

  it('a transient Earth Engine error is thrown, noted on the job, and the redelivery succeeds', async () => {
    ee.failures.push(transient());
    const s = createSubmitExport(deps);
    await expect(s.submitMessage(msg(jsClientRequest()))).rejects.toMatchObject({ kind: 'transient' });
    const [job] = [...store.jobs.values()];
    expect(job!.state).toBe('SUBMITTING');
    expect(job!.submitAttempts).toBe(1);
    expect(job!.lastSubmitError).toContain('unavailable');
    expect(job!.submitLeaseUntil).toBeNull();
    const out = await s.submitMessage(msg(jsClientRequest()));
    expect(out.kind).toBe('submitted');
    expect(out.job.submitAttempts).toBe(2);
  });

  it('a permanent Earth Engine error fails the job with the service message, acknowledged', async () => {
    ee.failures.push(permanent('Unknown function: Image.bogus'));
    const out = await createSubmitExport(deps).submitMessage(msg(jsClientRequest()));
    expect(out.kind).toBe('failed');
    expect(out.job.state).toBe('FAILED');
    expect(out.job.error).toMatchObject({ code: 'EE.INVALID_ARGUMENT', message: 'Unknown function: Image.bogus', status: 400 });
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.export.v1.failed']);
    expect(await store.inFlight('ee-project-1')).toBe(0);
  });

  it('queue full sends the job to QUEUED and frees its slot', async () => {
    ee.failures.push(queueFull());
    const out = await createSubmitExport(deps).submitMessage(msg(jsClientRequest()));
    expect(out.kind).toBe('queued');
    expect(out.job.queuedReason).toContain('Too many tasks');
    expect(await store.inFlight('ee-project-1')).toBe(0);
  });

  it('admits up to the in-flight cap, then queues', async () => {
    const s = createSubmitExport(deps);
    const kinds = [];
    for (let i = 0; i < 5; i++) kinds.push((await s.submitMessage(msg(jsClientRequest(), {}, `m${i}`))).kind);
    expect(kinds).toEqual(['submitted', 'submitted', 'submitted', 'queued', 'queued']);
    expect(publisher.published.filter((e) => e.type.endsWith('.queued'))).toHaveLength(2);
  });

  it('rejects bad input as a REJECTED job with the reasons and a rejected event, never throwing', async () => {
    const out = await createSubmitExport(deps).submitMessage(msg('{not json'));
    expect(out.kind).toBe('rejected');
    expect(out.job.state).toBe('REJECTED');
    expect(out.job.error?.code).toBe('EXPORT.INVALID_JSON');
    expect(out.job.rawPreview).toBe('{not json');
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.export.v1.rejected']);
    const again = await createSubmitExport(deps).submitMessage(msg('{not json'));
    expect(again.kind).toBe('duplicate');
    expect(ee.calls).toHaveLength(0);
  });

  it('leaves events in the outbox when publishing fails, without failing the submit', async () => {
    publisher.failNext = 1;
    const out = await createSubmitExport(deps).submitMessage(msg(jsClientRequest()));
    expect(out.kind).toBe('submitted');
    expect(await store.listUnsentEvents(10)).toHaveLength(1);
    expect(sink.entries.some((e) => e.event === 'events.relay_failed')).toBe(true);
  });
});

describe('lone surrogates', () => {
  it.each([
    ['a description', JSON.stringify(jsClientRequest({ description: 'x' })).replace('"x"', '"\\ud800"'), {}],
    ['a label key', JSON.stringify(jsClientRequest()), { labels: '{"\\ud800":"x"}' }],
    ['an envelope key', `{"request":${JSON.stringify(jsClientRequest())},"x\\udfff":1}`, {}],
  ])('in %s: a REJECTED job that says so, never an exception', async (_name, data, attrs) => {
    const out = await createSubmitExport(deps).submitMessage(msg(data, attrs));
    expect(out.kind).toBe('rejected');
    expect(out.job.error!.message).toMatch(/lone UTF-16 surrogate/);
    expect(JSON.stringify(out.job).isWellFormed()).toBe(true);
  });
});

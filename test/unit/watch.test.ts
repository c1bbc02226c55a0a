/** The stalled-task watch: similar jobs, p95, one `stalled` event per attempt, and the bounded cancel-and-resubmit policy. */
import { beforeEach, describe, expect, it } from 'vitest';
import { createLogEvents, newJob, type Job } from '../../functions/src/core/jobs/index.ts';
import { createWatch, descriptionPattern, learnDurations, p95, similarityKey, stallCheck, stallIsCurrent, DEFAULT_WATCH_SETTINGS, type WatchServiceSettings } from '../../functions/src/core/watch/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine, transient } from '../fakes/fake-earth-engine.ts';
import { jsClientRequest } from '../fakes/requests.ts';

const T0 = Date.parse('2026-03-10T00:00:00Z');
let now: number;
let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let sink: CapturingLogSink;

const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function job(id: string, over: Partial<Job> & { tag?: string } = {}): Job {
  const { tag, ...rest } = over;
  const request = { ...jsClientRequest(), description: over.description ?? `ndvi ${id}`, ...(tag ? { workloadTag: tag } : {}) } as Job['request'];
  return newJob(
    {
      jobId: id.padEnd(32, '0'),
      state: 'PENDING',
      eeProject: 'p1',
      request,
      requestId: `eeport-${id}`,
      identity: id,
      labels: {},
      callbackUrl: null,
      source: { kind: 'api' },
      operationName: `projects/p1/operations/OP-${id}`,
      description: request!.description ?? null,
      ...rest,
    },
    at(0),
  );
}

const finished = (id: string, seconds: number, tag?: string) => job(id, { state: 'SUCCEEDED', startTime: at(0), endTime: at(seconds), ...(tag ? { tag } : {}) });

function watch(settings: Partial<WatchServiceSettings> = {}) {
  return createWatch({
    store,
    ee,
    publisher,
    clock: { now: () => new Date(now) },
    logs: createLogEvents(sink),
    logSink: sink,
    settings: { eventSource: '//eeport/test', intervalSeconds: 0, cacheSeconds: 0, pendingSeconds: 3600, runningFactor: 3, minSamples: 5, minRunningSeconds: 0, ...settings },
  });
}

const stalledEvents = () => publisher.published.filter((e) => e.type === 'dev.eeport.export.v1.stalled');

beforeEach(() => {
  now = T0;
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  sink = new CapturingLogSink();
});

describe('similar jobs and their run times', () => {
  it('keys by workload tag, else by the description with its digits made #', () => {
    expect(descriptionPattern('NDVI  2024-05-01 tile 17')).toBe('ndvi #-#-# tile #');
    expect(similarityKey(job('a', { description: 'ndvi 2024-05-01' }))).toBe('description:ndvi #-#-#');
    expect(similarityKey(job('b', { tag: 'landsat' }))).toBe('tag:landsat');
    expect(similarityKey({ description: null, request: null })).toBeNull();
  });

  it('learns run times from startTime to endTime and takes the nearest-rank p95', () => {
    const d = learnDurations([finished('a', 100, 't'), finished('b', 200, 't'), finished('c', 50), job('d', { state: 'SUCCEEDED' })]);
    expect(d.get('tag:t')).toEqual([100, 200]);
    expect(d.get('description:ndvi c')).toEqual([50]);
    expect(p95(Array.from({ length: 20 }, (_, i) => i + 1))).toBe(19);
    expect(p95([7])).toBe(7);
  });

  it('a running task is stalled past factor × p95 and the floor, once there are enough similar jobs', () => {
    const history = learnDurations([100, 110, 120, 130, 140].map((s, i) => finished(`h${i}`, s, 't')));
    const running = job('r', { state: 'RUNNING', tag: 't', startTime: at(0) });
    const s = { ...DEFAULT_WATCH_SETTINGS, minRunningSeconds: 0 };
    expect(stallCheck(running, history, T0 + 419_000, s)).toBeNull();
    expect(stallCheck(running, history, T0 + 421_000, s)).toMatchObject({ kind: 'running', limitSeconds: 420, p95Seconds: 140, samples: 5 });
    expect(stallCheck(running, history, T0 + 421_000, { ...s, minRunningSeconds: 600 })).toBeNull();
    expect(stallCheck(running, history, T0 + 421_000, { ...s, minSamples: 6 })).toBeNull();
    expect(stallCheck(job('o', { state: 'RUNNING', tag: 'other', startTime: at(0) }), history, T0 + 10_000_000, s)).toBeNull();
  });
});

describe('the watch tick', () => {
  it('a task PENDING past the threshold emits exactly one stalled event, through the outbox, and shows as stalled', async () => {
    await store.createJobsIfAbsent([job('a'), job('b', { history: [{ at: at(3000), from: 'SUBMITTING', to: 'PENDING' }] })]);
    const w = watch();
    now = T0 + 3_599_000;
    expect(await w.tickWatch()).toBe(0);
    now = T0 + 3_601_000;
    expect(await w.tickWatch()).toBe(1);
    now = T0 + 7_200_000;
    expect(await w.tickWatch()).toBe(1); // b, which entered PENDING later
    now = T0 + 9_000_000;
    expect(await w.tickWatch()).toBe(0);
    const events = stalledEvents();
    expect(events.map((e) => e.id).sort()).toEqual([`${'a'.padEnd(32, '0')}.stalled`, `${'b'.padEnd(32, '0')}.stalled`]);
    expect(events[0]!.data).toMatchObject({ state: 'PENDING', eeProject: 'p1', stall: { kind: 'pending', limitSeconds: 3600, action: 'none' } });
    const a = (await store.getJob('a'.padEnd(32, '0')))!;
    expect(a.stalled).toMatchObject({ kind: 'pending', attempt: 0, operationName: 'projects/p1/operations/OP-a', elapsedSeconds: 3601 });
    expect(stallIsCurrent(a)).toBe(true);
    expect(a.state).toBe('PENDING');
    expect(await store.listUnsentEvents(10)).toEqual([]);
    expect(sink.entries.filter((e) => e.event === 'job.stalled')).toHaveLength(2);
  });

  it('a running task past 3 × the p95 of its workload tag is stalled; one of another tag is not', async () => {
    await store.createJobsIfAbsent([
      ...[100, 110, 120, 130, 140].map((s, i) => finished(`h${i}`, s, 'landsat')),
      job('r', { state: 'RUNNING', tag: 'landsat', startTime: at(0) }),
      job('q', { state: 'RUNNING', tag: 'sentinel', startTime: at(0) }),
    ]);
    now = T0 + 500_000;
    expect(await watch().tickWatch()).toBe(1);
    expect(stalledEvents().map((e) => e.subject)).toEqual(['r'.padEnd(32, '0')]);
    expect(stalledEvents()[0]!.data).toMatchObject({ stall: { kind: 'running', p95Seconds: 140, limitSeconds: 420, samples: 5 } });
  });

  it('reads the live jobs a page at a time, at most maxJobs a tick, and the next tick goes on after the last one', async () => {
    await store.createJobsIfAbsent(['a', 'b', 'c', 'd', 'e'].map((id) => job(id)));
    const afters: (string | null | undefined)[] = [];
    const pages: number[] = [];
    const counted = Object.assign(Object.create(store) as MemoryStore, {
      liveJobPages: async function* (q: { after?: string | null; limit: number; pageSize: number }) {
        afters.push(q.after);
        for await (const page of store.liveJobPages({ ...q, pageSize: 2 })) {
          pages.push(page.length);
          yield page;
        }
      },
    });
    const w = createWatch({ store: counted, ee, publisher, clock: { now: () => new Date(now) }, logs: createLogEvents(sink), logSink: sink, settings: { eventSource: '//eeport/test', intervalSeconds: 0, pendingSeconds: 3600, runningFactor: 0, maxJobs: 3 } });
    now = T0 + 3_601_000;
    expect(await w.tickWatch()).toBe(3); // a, b, c: the cap
    expect(pages).toEqual([2, 1]);
    expect(await w.tickWatch()).toBe(2); // d, e: after c, not a, b, c again
    expect(afters).toEqual([null, 'c'.padEnd(32, '0')]);
    expect(await w.tickWatch()).toBe(0); // round again from a: all already marked
    expect(afters[2]).toBeNull();
    expect(stalledEvents()).toHaveLength(5);
  });

  it('looks at most every intervalSeconds', async () => {
    await store.createJobsIfAbsent([job('a')]);
    const w = watch({ intervalSeconds: 60 });
    now = T0 + 3_590_000;
    await w.tickWatch();
    now = T0 + 3_620_000;
    expect(await w.tickWatch()).toBe(0);
    now = T0 + 3_651_000;
    expect(await w.tickWatch()).toBe(1);
  });

  it('with WATCH_STALL_RESUBMISSIONS, cancels the stalled task and resubmits through the queue with a new requestId, bounded', async () => {
    const a = job('a', { slotShard: 0 });
    await store.createJobsIfAbsent([a]);
    const w = watch({ maxResubmissions: 1 });
    now = T0 + 3_601_000;
    expect(await w.tickWatch()).toBe(2);
    let cur = (await store.getJob(a.jobId))!;
    expect(cur).toMatchObject({ state: 'QUEUED', requestId: `eeport-${a.jobId}-r1`, resubmissions: 1, stallResubmissions: 1, operationName: null, previousOperations: ['projects/p1/operations/OP-a'], slotShard: null });
    expect(cur.stalled).toMatchObject({ action: 'resubmitted', cancelPending: false, attempt: 0 });
    expect(stallIsCurrent(cur)).toBe(false);
    expect(ee.calls).toEqual([{ method: 'cancel', arg: 'projects/p1/operations/OP-a' }]);
    expect(await store.inFlight('p1')).toBe(0);
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.export.v1.stalled', 'dev.eeport.export.v1.queued']);

    // The poller submits it again; the new attempt stalls too: a second event, no second resubmission.
    await store.transact(async (tx) => {
      const j = (await tx.getJob(a.jobId))!;
      tx.updateJob({ ...j, state: 'PENDING', operationName: 'projects/p1/operations/OP-a2', history: [...j.history, { at: new Date(now).toISOString(), from: 'SUBMITTING', to: 'PENDING' }], version: j.version + 1 });
    });
    now += 3_601_000;
    expect(await w.tickWatch()).toBe(1);
    cur = (await store.getJob(a.jobId))!;
    expect(cur).toMatchObject({ state: 'PENDING', stallResubmissions: 1, stalled: { attempt: 1, action: 'none', operationName: 'projects/p1/operations/OP-a2' } });
    expect(stalledEvents().map((e) => e.id)).toEqual([`${a.jobId}.stalled`, `${a.jobId}.stalled.r1`]);
    expect(ee.calls).toHaveLength(1);
  });

  it('a cancel that fails is sent again once the job is live again', async () => {
    await store.createJobsIfAbsent([job('a')]);
    const w = watch({ maxResubmissions: 1 });
    ee.cancelOperation = async (name: string) => {
      ee.calls.push({ method: 'cancel', arg: name });
      if (ee.calls.length === 1) throw transient();
    };
    now = T0 + 3_601_000;
    expect(await w.tickWatch()).toBe(1);
    expect((await store.getJob('a'.padEnd(32, '0')))!.stalled).toMatchObject({ cancelPending: true });
    await store.transact(async (tx) => {
      const j = (await tx.getJob('a'.padEnd(32, '0')))!;
      tx.updateJob({ ...j, state: 'PENDING', operationName: 'projects/p1/operations/OP-a2', history: [...j.history, { at: new Date(now).toISOString(), from: 'SUBMITTING', to: 'PENDING' }], version: j.version + 1 });
    });
    now += 1000;
    expect(await w.tickWatch()).toBe(1);
    expect(ee.calls.map((c) => c.arg)).toEqual(['projects/p1/operations/OP-a', 'projects/p1/operations/OP-a']);
    expect((await store.getJob('a'.padEnd(32, '0')))!.stalled).toMatchObject({ cancelPending: false });
  });

  it('WATCH_PENDING_SECONDS=0 and WATCH_RUNNING_P95_FACTOR=0 turn it off', async () => {
    await store.createJobsIfAbsent([job('a')]);
    now = T0 + 86_400_000;
    expect(await watch({ pendingSeconds: 0, runningFactor: 0 }).tickWatch()).toBe(0);
    expect(publisher.published).toEqual([]);
  });
});

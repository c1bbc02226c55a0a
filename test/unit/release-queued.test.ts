/**
 * The poller's release of queued jobs in groups (ADR 0017): at most RELEASES_PER_COUNT
 * claims per transaction, each group after a count, by priority then age, never past
 * the cap; Earth Engine calls concurrent but bounded; budgets decided per job as a
 * release of one would; and a poller that dies between a claim and its Earth Engine call
 * (or between the call and its record) loses no job and starts no second task.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { createPollExports, type PollSettings } from '../../functions/src/core/poll/poll-exports.ts';
import { createReleaseQueued } from '../../functions/src/core/poll/release-queued.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { newJob, type Job } from '../../functions/src/core/jobs/job.ts';
import { RELEASES_PER_COUNT } from '../../functions/src/core/jobs/slots.ts';
import { budgetId, BudgetsSchema, emptyUsage, type Budget } from '../../functions/src/core/budgets/budgets.ts';
import type { JobStore, JobTransaction, Lease } from '../../functions/src/core/ports.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const PROJECT = 'ee-project-1';
const settings: PollSettings = {
  eventSource: '//eeport/test',
  leaseName: 'poller',
  windowMs: 0,
  maxIntervalMs: 10_000,
  minIntervalMs: 2_000,
  getThreshold: 50,
  listPageSize: 500,
  maxJobsPerCycle: 1000,
  maxInFlightPerProject: 12,
  operationMaxAgeMs: 10 * 86_400_000,
  staleSubmitMs: 300_000,
  getConcurrency: 4,
  releaseConcurrency: 3,
  maxResubmissions: 0,
  resubmitBackoffMs: 0,
};

let store: MemoryStore;
let ee: FakeEarthEngine;
let publisher: MemoryPublisher;
let now: Date;

function base(s: { store?: JobStore; ee?: FakeEarthEngine } = {}) {
  return { store: s.store ?? store, ee: s.ee ?? ee, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
}
function submitFor(b: ReturnType<typeof base>, budgets?: Budget[]) {
  return createSubmitExport({ ...b, settings: { eventSource: settings.eventSource, maxInFlightPerProject: settings.maxInFlightPerProject, submitLeaseMs: 60_000, ...(budgets ? { budgets } : {}), intake: { defaultEeProject: PROJECT, allowedEeProjects: [], maxRequestBytes: 800_000 } } });
}
function poller(holder: string, s: { store?: JobStore; ee?: FakeEarthEngine; budgets?: Budget[] } = {}) {
  const b = base(s);
  return createPollExports({ ...b, submit: submitFor(b, s.budgets), cancel: createCancelJob({ ...b, settings: { eventSource: settings.eventSource } }), settings: { ...settings, ...(s.budgets ? { budgets: s.budgets } : {}) }, holder, sleep: async () => undefined });
}
/** The release alone, with a fence that always passes (the poll tests hold the lease). */
function releaser(s: { store?: JobStore; budgets?: Budget[]; concurrency?: number; cap?: number; countMaxAgeMs?: number } = {}) {
  const b = base(s);
  const cap = s.cap ?? settings.maxInFlightPerProject;
  return createReleaseQueued({ ...b, submit: submitFor(b, s.budgets), fence: async () => undefined, settings: { eventSource: settings.eventSource, maxInFlightPerProject: cap, staleSubmitMs: settings.staleSubmitMs, releaseConcurrency: s.concurrency ?? 3, countMaxAgeMs: s.countMaxAgeMs ?? 0, ...(s.budgets ? { budgets: s.budgets } : {}) } });
}
const lease: Lease = { name: 'poller', holder: 'test', token: 1, expiresAt: '2099-01-01T00:00:00Z' };

let seq = 0;
/** A job written straight into the store, `minutesAgo` old. */
async function put(state: 'QUEUED' | 'PENDING', opts: { priority?: number; minutesAgo?: number; batchId?: string } = {}): Promise<Job> {
  const id = `job${String(++seq).padStart(4, '0')}`;
  const at = new Date(now.getTime() - (opts.minutesAgo ?? 0) * 60_000).toISOString();
  const request = assetLoadRequest(`projects/p/assets/${id}`, opts.priority !== undefined ? { priority: opts.priority } : {}) as Job['request'];
  const job = newJob({ jobId: id, state, eeProject: PROJECT, request, requestId: `eeport-${id}`, identity: id, labels: {}, callbackUrl: null, source: { kind: 'api' } as never, ...(state === 'PENDING' ? { operationName: `projects/${PROJECT}/operations/X${id}` } : {}), ...(opts.batchId ? { batchId: opts.batchId } : {}) }, at);
  expect((await store.commit({ create: job, events: [] })).ok).toBe(true);
  return job;
}

/** The store, recording what each committed transaction claimed (QUEUED → SUBMITTING) and each count, in order. */
function recording(inner: MemoryStore, log: string[]): JobStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'inFlight')
        return async (p: string) => {
          log.push('count');
          return inner.inFlight(p);
        };
      if (prop === 'transact')
        return <T>(fn: (tx: JobTransaction) => Promise<T>) => {
          let claimed = 0;
          return inner
            .transact((tx) => {
              claimed = 0;
              return fn({
                ...tx,
                getJob: (id) => tx.getJob(id),
                updateJob: (j) => {
                  if (j.state === 'SUBMITTING' && inner.jobs.get(j.jobId)?.state === 'QUEUED') claimed++;
                  tx.updateJob(j);
                },
              });
            })
            .then((r) => {
              if (claimed) log.push(`claim ${claimed}`);
              return r;
            });
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const stateOf = (j: Job) => store.jobs.get(j.jobId)!.state;

beforeEach(() => {
  store = new MemoryStore();
  ee = new FakeEarthEngine();
  publisher = new MemoryPublisher();
  now = new Date('2026-03-10T00:00:00Z');
  seq = 0;
});

describe('releasing queued jobs in groups (core, with fakes)', () => {
  it('claims at most RELEASES_PER_COUNT per transaction, each group after a count, highest priority then oldest first, up to the cap', async () => {
    await put('PENDING');
    await put('PENDING');
    const queued: Job[] = [];
    for (let i = 0; i < 25; i++) queued.push(await put('QUEUED', { priority: i % 3 === 0 ? 200 : 100, minutesAgo: 100 - i }));
    const log: string[] = [];
    const stats = { released: 0, errors: 0 };
    await releaser({ store: recording(store, log) }).releaseQueued(lease, stats);

    // Room for 10 under the cap of 12: two groups of 5, each counted first.
    expect(stats).toEqual({ released: 10, errors: 0 });
    expect(log).toEqual(['count', 'claim 5', 'count', 'claim 5']);
    const expected = [...queued].sort((a, b) => b.priority - a.priority || a.createTime.localeCompare(b.createTime)).slice(0, 10);
    expect(queued.filter((j) => stateOf(j) !== 'QUEUED').map((j) => j.jobId).sort()).toEqual(expected.map((j) => j.jobId).sort());
    expect(expected.every((j) => stateOf(j) === 'PENDING')).toBe(true);
    // One image:export per released job, each with its own requestId.
    expect(ee.calls.filter((c) => c.method === 'export').map((c) => c.arg).sort()).toEqual(expected.map((j) => j.requestId).sort());
    expect(await store.inFlight(PROJECT)).toBe(settings.maxInFlightPerProject);
    expect(RELEASES_PER_COUNT).toBe(5);
  });

  it('far from the cap, a recent count serves the margin’s worth of releases in larger groups; near it, RELEASES_PER_COUNT per count again', async () => {
    // Cap 200: the margin is 50 (rememberedCountMargin), so groups of 50 until 150 are in flight, then 5 per count.
    for (let i = 0; i < 230; i++) await put('QUEUED', { minutesAgo: 300 - i });
    const log: string[] = [];
    const stats = { released: 0, errors: 0 };
    await releaser({ store: recording(store, log), cap: 200, countMaxAgeMs: 1_000, concurrency: 8 }).releaseQueued(lease, stats);
    expect(stats.released).toBe(200);
    const near = Array.from({ length: 10 }, () => ['count', 'claim 5']).flat();
    expect(log).toEqual(['count', 'claim 50', 'count', 'claim 50', 'count', 'claim 50', ...near]);
    expect(await store.inFlight(PROJECT)).toBe(200);
    expect(ee.tasksStarted()).toBe(200);
  });

  it('a count older than countMaxAgeMs (dated from before its query) serves only RELEASES_PER_COUNT releases, though far from the cap', async () => {
    for (let i = 0; i < 30; i++) await put('QUEUED', { minutesAgo: 300 - i });
    const log: string[] = [];
    const recorded = recording(store, log);
    // Each count takes 1.1 s of the clock.
    const slow: JobStore = new Proxy(recorded, {
      get(target, prop, receiver) {
        if (prop === 'inFlight')
          return async (p: string) => {
            const n = await recorded.inFlight(p);
            now = new Date(now.getTime() + 1_100);
            return n;
          };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await releaser({ store: slow, cap: 1_000, countMaxAgeMs: 1_000, concurrency: 8 }).releaseQueued(lease, { released: 0, errors: 0 });
    expect(log).toEqual(Array.from({ length: 6 }, () => ['count', 'claim 5']).flat());
  });

  it('sees admissions made elsewhere at the next count, and stops at the cap', async () => {
    for (let i = 0; i < 20; i++) await put('QUEUED', { minutesAgo: 100 - i });
    const log: string[] = [];
    const recorded = recording(store, log);
    const stats = { released: 0, errors: 0 };
    let admitted = false;
    // After the first group's claim, another instance admits 8 jobs of the project.
    const s: JobStore = new Proxy(recorded, {
      get(target, prop, receiver) {
        if (prop === 'inFlight')
          return async (p: string) => {
            if (log.includes('claim 5') && !admitted) {
              admitted = true;
              for (let i = 0; i < 8; i++) await put('PENDING');
            }
            return recorded.inFlight(p);
          };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await releaser({ store: s }).releaseQueued(lease, stats);
    expect(stats.released).toBe(5);
    expect(log).toEqual(['count', 'claim 5', 'count']);
    expect(await store.inFlight(PROJECT)).toBe(13);
  });

  it('calls Earth Engine for released jobs concurrently, never more than releaseConcurrency at once', async () => {
    for (let i = 0; i < 10; i++) await put('QUEUED');
    let active = 0;
    let most = 0;
    const exportImage = ee.exportImage.bind(ee);
    ee.exportImage = async (p, r) => {
      active++;
      most = Math.max(most, active);
      // Answers come back a few turns of the event loop later, as a network call's would.
      for (let i = 0; i < 5; i++) await new Promise<void>((res) => setImmediate(res));
      active--;
      return exportImage(p, r);
    };
    const stats = { released: 0, errors: 0 };
    await releaser({ concurrency: 3 }).releaseQueued(lease, stats);
    expect(stats.released).toBe(10);
    expect(most).toBe(3);
    expect(active).toBe(0);
    expect(ee.tasksStarted()).toBe(10);
    expect([...store.jobs.values()].every((j) => j.state === 'PENDING')).toBe(true);
  });

  it('stops claiming once the deadline passes; the rest stay QUEUED for the next cycle', async () => {
    for (let i = 0; i < 10; i++) await put('QUEUED');
    const exportImage = ee.exportImage.bind(ee);
    ee.exportImage = async (p, r) => {
      now = new Date(now.getTime() + 1_000);
      return exportImage(p, r);
    };
    const stats = { released: 0, errors: 0 };
    const rel = releaser({ concurrency: 1 });
    await rel.releaseQueued(lease, stats, now.getTime() + 3_000);
    // The first group's calls took 5 s of the clock: no second group.
    expect(stats.released).toBe(5);
    expect([...store.jobs.values()].filter((j) => j.state === 'QUEUED')).toHaveLength(5);
    await rel.releaseQueued(lease, stats);
    expect(stats.released).toBe(10);
  });

  it('a STOPPED batch’s children are passed over in a group, the others released', async () => {
    const batchId = 'b'.repeat(32);
    store.batches.set(batchId, { batchId, state: 'STOPPED' } as never);
    const held = [await put('QUEUED', { batchId, minutesAgo: 3 }), await put('QUEUED', { batchId, minutesAgo: 2 })];
    const free = await put('QUEUED', { minutesAgo: 1 });
    const stats = { released: 0, errors: 0 };
    await releaser().releaseQueued(lease, stats);
    expect(stats.released).toBe(1);
    expect(held.map(stateOf)).toEqual(['QUEUED', 'QUEUED']);
    expect(stateOf(free)).toBe('PENDING');
  });

  const budget = (onExceeded: string) => BudgetsSchema.parse([{ eeProject: PROJECT, monthlyEecuSeconds: 100, onExceeded }])[0]!;
  const usedUp = (b: Budget) => store.budgets.set(budgetId(b, '2026-03'), { ...emptyUsage(b, '2026-03', now.toISOString()), usedEecuSeconds: 120 });
  const exceeded = () => publisher.published.filter((e) => e.type === 'dev.eeport.budget.v1.exceeded');

  it('a used-up budget (queue) holds every job of a group with its reason and writes its exceeded event once', async () => {
    const b = budget('queue');
    usedUp(b);
    const jobs = [await put('QUEUED'), await put('QUEUED'), await put('QUEUED')];
    const stats = { released: 0, errors: 0 };
    await releaser({ budgets: [b] }).releaseQueued(lease, stats);
    expect(stats.released).toBe(0);
    expect(jobs.map((j) => [stateOf(j), store.jobs.get(j.jobId)!.queuedReason])).toEqual(jobs.map(() => ['QUEUED', expect.stringMatching(/used up: 120 of 100/)]));
    expect(exceeded()).toHaveLength(1);
    expect(store.budgets.get(budgetId(b, '2026-03'))!.exceededNotified).toBe(true);
    expect(ee.tasksStarted()).toBe(0);
  });

  it('a used-up budget (reject) fails every job of a group, one failed event each and one exceeded event', async () => {
    const b = budget('reject');
    usedUp(b);
    const jobs = [await put('QUEUED'), await put('QUEUED')];
    await releaser({ budgets: [b] }).releaseQueued(lease, { released: 0, errors: 0 });
    expect(jobs.map(stateOf)).toEqual(['FAILED', 'FAILED']);
    expect(jobs.map((j) => store.jobs.get(j.jobId)!.error?.code)).toEqual(['EECU.BUDGET_EXCEEDED', 'EECU.BUDGET_EXCEEDED']);
    expect(publisher.published.filter((e) => e.type.endsWith('.failed'))).toHaveLength(2);
    expect(exceeded()).toHaveLength(1);
  });
});

/** A process that dies: from the armed point on, every call to the store or Earth Engine throws. */
function killable(s: MemoryStore, e: FakeEarthEngine) {
  const state = { dead: false, armed: null as null | 'after-claim' | 'after-export' };
  const die = () => {
    state.dead = true;
    throw new Error('process killed (injected)');
  };
  const guard = <T extends object>(inner: T, after?: (prop: string, out: unknown) => void): T =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          if (state.dead) die();
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          // Paged reads (async iterables) pass through: the next call after a death throws.
          if (!(out instanceof Promise)) return out;
          return out.then((r) => {
            if (state.dead) die();
            after?.(prop, r);
            return r;
          });
        };
      },
    });
  const store = guard(s, (prop) => {
    // A claim just committed: the poller's process ends before any of its Earth Engine calls.
    if (prop === 'transact' && state.armed === 'after-claim' && [...s.jobs.values()].some((j) => j.state === 'SUBMITTING')) {
      state.armed = null;
      die();
    }
  });
  const ee = guard(e, (prop) => {
    // Earth Engine started the task; the process ends before the answer is recorded.
    if (prop === 'exportImage' && state.armed === 'after-export') {
      state.armed = null;
      die();
    }
  }) as FakeEarthEngine;
  return { state, store, ee };
}

describe('a poller dying mid-release (core, with fakes)', () => {
  for (const at of ['after-claim', 'after-export'] as const) {
    it(`dies ${at === 'after-claim' ? 'after a group’s claim, before its Earth Engine calls' : 'after an Earth Engine call, before its record'}: every job ends with exactly one task, later`, async () => {
      const n = 8;
      for (let i = 0; i < n; i++) await put('QUEUED', { minutesAgo: 10 - i });
      const k = killable(store, ee);
      k.state.armed = at;
      const a = poller('a', { store: k.store, ee: k.ee });
      await expect(a.run()).rejects.toThrow(/killed/);
      const submitting = [...store.jobs.values()].filter((j) => j.state === 'SUBMITTING');
      expect(submitting.length).toBeGreaterThan(0);
      expect(submitting.length).toBeLessThanOrEqual(RELEASES_PER_COUNT);
      expect(ee.tasksStarted()).toBe(at === 'after-claim' ? 0 : 1);

      // The next instance, once the dead one's lease and the claimed jobs' submit leases have run out.
      now = new Date(now.getTime() + settings.staleSubmitMs + 1_000);
      const b = poller('b');
      for (let i = 0; i < 5 && [...store.jobs.values()].some((j) => j.state !== 'PENDING'); i++) {
        now = new Date(now.getTime() + settings.staleSubmitMs + 1_000);
        expect((await b.run()).kind).toBe('done');
      }
      const jobs = [...store.jobs.values()];
      expect(jobs.map((j) => j.state)).toEqual(jobs.map(() => 'PENDING'));
      // Exactly one task per job: Earth Engine saw every requestId, a resent one found its first task.
      expect(ee.tasksStarted()).toBe(n);
      expect(new Set(jobs.map((j) => j.operationName)).size).toBe(n);
      expect(new Set(jobs.map((j) => ee.byRequestId.get(j.requestId)))).toEqual(new Set(jobs.map((j) => j.operationName)));
    });
  }
});

/**
 * Poll: keeps every live job true to Earth Engine, releases queued jobs as room frees,
 * and relays events. One invocation (a Cloud Scheduler tick) holds a fenced lease and
 * runs cycles at an adaptive interval until just before the next tick.
 *
 * Earth Engine is asked efficiently: per-operation `get` when a project has few live
 * jobs, paged `operations.list` when it has many, so calls per cycle grow with pages,
 * not jobs. Only jobs whose state, progress, stage or other figures changed are written.
 */
import { EeportError, isEarthEngineError } from '../kernel/index.ts';
import { resolveFailure, isTerminal, transition, type Job, type JobState, fieldsFromOperation, jobStateOf, type Operation, eventsFor, freesSlot, relayEvents, sweepOutbox, type CloudEvent, type LogEvents } from '../jobs/index.ts';
import { countUsage, readUsages, type Budget } from '../budgets/index.ts';
import type { Clock, EarthEngine, EventPublisher, JobStore, JobTransaction, Lease } from '../ports.ts';
import type { SubmitExport } from '../submit/index.ts';
import type { CancelJob } from '../cancel/index.ts';
import { EECU_CAP_ERROR, capExceededEvent, runawayCheck, runawayMessage } from './runaway-guard.ts';
import { createReleaseQueued, dispatchQuietly } from './release-queued.ts';

export interface PollSettings {
  eventSource: string;
  leaseName: string;
  /** How long one invocation keeps cycling (a little under the scheduler period). */
  windowMs: number;
  /** Interval between cycles when nothing changed; it shrinks to minIntervalMs while jobs move. */
  maxIntervalMs: number;
  minIntervalMs: number;
  /** A project with more live operations than this is read with operations.list. */
  getThreshold: number;
  listPageSize: number;
  /** Live jobs read per cycle, at most; a cycle that stops there goes on from that job the next time. */
  maxJobsPerCycle: number;
  /** Live jobs read per Firestore page (default 500). */
  jobPageSize?: number;
  maxInFlightPerProject: number;
  /** Earth Engine keeps a task at most 10 days; a job older than this without an end is lost. */
  operationMaxAgeMs: number;
  /** A SUBMITTING job untouched this long is re-dispatched (its submitter died and Pub/Sub gave up). */
  staleSubmitMs: number;
  /** Parallel Earth Engine gets per cycle. */
  getConcurrency: number;
  /** Parallel image:export calls for jobs released from the queue (default 8). */
  releaseConcurrency?: number;
  /** How long a count far from the cap may serve more releases (core/poll/release-queued.ts; absent: RELEASES_PER_COUNT per count). */
  countMaxAgeMs?: number;
  /** Automatic resubmissions of a job after transient task failures (0 disables). */
  maxResubmissions: number;
  /** Wait before the first resubmission; doubles for each further one. */
  resubmitBackoffMs: number;
  /** Monthly EECU budgets: usage counted as tasks finish, checked before a queued job is released. */
  budgets?: readonly Budget[];
  /** Runaway guard without reported EECU: stop after this many times the run its estimate gives the cap (RUNAWAY_TIME_GUARD_FACTOR). */
  timeGuardFactor?: number;
}

export interface PollDeps {
  store: JobStore;
  ee: EarthEngine;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  submit: SubmitExport;
  cancel: CancelJob;
  settings: PollSettings;
  sleep?: (ms: number) => Promise<void>;
  /** Sends webhook retries whose time has come (the poller's minute tick drives the long retry schedule). */
  retryWebhooks?: () => Promise<number>;
  /** Updates running batches' aggregates and finishes those whose children all ended. */
  refreshBatches?: () => Promise<number>;
  /** Pipeline work each cycle, before queued jobs are released: due schedule windows, ready chain steps, stalled tasks (core/schedules, chains, watch). Returns how many things it did. */
  tickPipelines?: () => Promise<number>;
  /** Identifies this invocation in the lease. */
  holder: string;
  /** Estimates a job the first time the poller follows it, recorded beside its actual EECU (core/estimates). */
  estimates?: { estimateJob(job: Job): Promise<Job['estimate']> };
}

export interface CycleStats {
  live: number;
  gets: number;
  listPages: number;
  updated: number;
  unchanged: number;
  events: number;
  released: number;
  redispatched: number;
  lost: number;
  cancelsSent: number;
  errors: number;
  swept: number;
  webhooksRetried: number;
  batchesFinished: number;
  pipelineActions: number;
}

export type PollResult = { kind: 'busy'; holder: string } | { kind: 'done'; cycles: number; totals: CycleStats };

const emptyStats = (): CycleStats => ({ live: 0, gets: 0, listPages: 0, updated: 0, unchanged: 0, events: 0, released: 0, redispatched: 0, lost: 0, cancelsSent: 0, errors: 0, swept: 0, webhooksRetried: 0, batchesFinished: 0, pipelineActions: 0 });

/** Runs fn over items with at most n in flight. */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

const sameStages = (a: Job['stages'], b: Job['stages']) => JSON.stringify(a) === JSON.stringify(b);

/** Did the operation tell us anything the job does not already say? */
export function jobChanged(job: Job, target: JobState, f: Partial<Job>): boolean {
  return (
    job.state !== target ||
    job.operationName !== f.operationName ||
    job.progress !== f.progress ||
    !sameStages(job.stages, f.stages ?? job.stages) ||
    job.attempt !== f.attempt ||
    job.eecuSeconds !== f.eecuSeconds ||
    JSON.stringify(job.destinationUris) !== JSON.stringify(f.destinationUris) ||
    job.startTime !== f.startTime ||
    job.endTime !== f.endTime ||
    JSON.stringify(job.error) !== JSON.stringify(f.error)
  );
}

// Shared by every slim copy that has nothing there; frozen, so a slip that writes into one fails loudly.
const NONE = Object.freeze([]) as unknown as never[];
const NO_LABELS = Object.freeze({}) as Record<string, string>;
const NO_SOURCE = Object.freeze({ kind: 'api' }) as Job['source'];

/**
 * The job as a cycle keeps it until its operation comes, one per live job (ADR 0013): only
 * what following it reads — its state and the figures an operation may change, its
 * operation, the times, cancel, estimate and caps, the labels, tenant and project budgets
 * match on, and its request only if it is still to be estimated or a budget matches on its
 * workload tag. Everything else is empty ('' for the ids and times that cannot be null,
 * shared empty arrays and objects): about a third less to hold per job. The transactions
 * that write a job read it whole again.
 */
function slim(job: Job, keepRequest: boolean): Job {
  return {
    ...job,
    request: keepRequest ? job.request : null,
    requestId: '',
    identity: '',
    description: null,
    callbackUrl: null,
    source: NO_SOURCE,
    labels: Object.keys(job.labels).length ? job.labels : NO_LABELS,
    stages: job.stages.length ? job.stages : NONE,
    destinationUris: job.destinationUris.length ? job.destinationUris : NONE,
    queuedReason: null,
    lastSubmitError: null,
    submitLeaseUntil: null,
    rawPreview: null,
    createTime: '',
    updateTime: '',
    nextPollAt: null,
    history: NONE,
    webhook: null,
    previousOperations: NONE,
    lastFailure: null,
    notBefore: null,
    verifying: null,
    stalled: null,
    recovery: null,
    chain: null,
  };
}

export function createPollExports(deps: PollDeps) {
  const { store, ee, clock, logs, settings } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const iso = () => clock.now().toISOString();
  const nowMs = () => clock.now().getTime();

  async function acquireLease(): Promise<Lease | { busy: string }> {
    return store.transact(async (tx) => {
      const cur = await tx.getLease(settings.leaseName);
      if (cur && cur.holder !== deps.holder && cur.expiresAt > iso()) return { busy: cur.holder };
      const lease: Lease = { name: settings.leaseName, holder: deps.holder, token: (cur?.token ?? 0) + 1, expiresAt: new Date(nowMs() + settings.windowMs + 30_000).toISOString() };
      tx.setLease(lease);
      return lease;
    });
  }

  /** Reads the lease inside a transaction and refuses to go on if it is no longer ours. */
  async function fence(tx: JobTransaction, lease: Lease): Promise<void> {
    const cur = await tx.getLease(settings.leaseName);
    if (!cur || cur.token !== lease.token || cur.holder !== lease.holder) {
      throw new EeportError('POLL.LEASE_LOST', `poller lease taken over (token ${cur?.token} ≠ ${lease.token})`, { holder: cur?.holder });
    }
  }

  const { releaseQueued } = createReleaseQueued({ ...deps, fence, settings: { ...settings, releaseConcurrency: settings.releaseConcurrency ?? 8 } });

  async function releaseLease(lease: Lease): Promise<void> {
    await store.transact(async (tx) => {
      const cur = await tx.getLease(settings.leaseName);
      if (cur && cur.token === lease.token) tx.setLease({ ...cur, expiresAt: iso() });
    });
  }

  /** Applies an operation to a job in a fenced transaction; returns the events written. */
  async function applyOperation(lease: Lease, jobId: string, op: Operation, add: Partial<Job> = {}): Promise<CloudEvent[] | null> {
    return store.transact(async (tx) => {
      await fence(tx, lease);
      const cur = await tx.getJob(jobId);
      if (!cur || isTerminal(cur.state) || cur.state === 'QUEUED' || cur.state === 'SUBMITTING') return null;
      let target = jobStateOf(op);
      const fields = fieldsFromOperation(op, cur);
      // Earth Engine may still say RUNNING right after a cancel: keep CANCELLING, update the figures.
      if (target !== cur.state && !transition(cur, target, iso())) target = cur.state;
      if (!jobChanged(cur, target, fields) && !(add.estimate && !cur.estimate)) return null;
      let extra: Partial<Job> = cur.estimate ? {} : add;
      // A task the runaway guard stopped ends cancelled for that reason, not as a plain cancel.
      if (target === 'CANCELLED' && cur.runaway) extra = { ...extra, error: { code: EECU_CAP_ERROR, message: runawayMessage(cur.runaway) } };
      let reason = `Earth Engine: ${op.metadata?.state ?? (op.done ? 'done' : 'unknown')}`;
      if (target === 'FAILED' && fields.error && cur.state !== 'CANCELLING') {
        const r = resolveFailure(cur, op, fields.error, settings, nowMs());
        target = r.target;
        extra = r.extra;
        reason = r.reason ?? reason;
      }
      // A finished attempt (terminal, or failed and resubmitted) adds its EECU to the budgets covering the job;
      // a running one's reported partial use counts too, replaced at each report (countUsage).
      const finishedAttempt = isTerminal(target) || target === 'QUEUED';
      const reported = op.metadata?.batchEecuUsageSeconds ?? 0;
      const counts = settings.budgets?.length && (finishedAttempt || (reported > 0 && reported !== cur.eecuSeconds));
      const usages = counts ? await readUsages(tx, cur, settings.budgets!, iso()) : [];
      const next = transition(cur, target, iso(), { ...fields, nextPollAt: iso(), ...(isTerminal(target) && !fields.endTime ? { endTime: iso() } : {}), ...extra }, reason);
      if (!next) return null;
      // Only releases happen here (a job takes its slot when it is admitted or released from the queue).
      if (freesSlot(cur, target)) next.slotShard = null;
      const budgetEvents = countUsage(tx, usages, cur.jobId, reported, finishedAttempt, iso(), settings.eventSource);
      tx.updateJob(next);
      const events = eventsFor(cur, next, settings.eventSource);
      tx.addEvents(events);
      events.push(...budgetEvents);
      if (cur.state !== next.state) logs.jobTransition(next, cur.state);
      return events;
    });
  }

  async function estimateQuietly(job: Job): Promise<Job['estimate']> {
    try {
      return await deps.estimates!.estimateJob(job);
    } catch (err) {
      logs.pollFailed(err);
      return null;
    }
  }

  /** Cancels a running task past its EECU cap (or, without reported EECU, far past its estimate's time): once, with one event. */
  async function guardRunaway(lease: Lease, job: Job, op: Operation, stats: CycleStats): Promise<CloudEvent[]> {
    if (!runawayCheck(job, op, settings.budgets ?? [], nowMs(), settings.timeGuardFactor ?? 1.5)) return [];
    const r = await store.transact(async (tx) => {
      await fence(tx, lease);
      const cur = await tx.getJob(job.jobId);
      const stop = cur && runawayCheck({ ...cur, estimate: cur.estimate ?? job.estimate ?? null }, op, settings.budgets ?? [], nowMs(), settings.timeGuardFactor ?? 1.5);
      if (!cur || !stop) return null;
      const next: Job = { ...cur, runaway: stop, cancelRequestedAt: iso(), updateTime: iso(), version: cur.version + 1 };
      tx.updateJob(next);
      const events = [capExceededEvent(next, stop, settings.eventSource)];
      tx.addEvents(events);
      return { next, events };
    });
    if (!r) return [];
    try {
      stats.cancelsSent++;
      await deps.cancel.cancelOperation(r.next);
    } catch (err) {
      // cancelRequestedAt is set: the next cycle sends the cancel again.
      stats.errors++;
      logs.pollFailed(err);
    }
    return r.events;
  }

  /** A job Earth Engine no longer knows (404) or that outlived a task's 10-day life. */
  async function markLost(lease: Lease, jobId: string, message: string): Promise<CloudEvent[]> {
    return store.transact(async (tx) => {
      await fence(tx, lease);
      const cur = await tx.getJob(jobId);
      if (!cur || isTerminal(cur.state)) return [];
      const next = transition(cur, 'FAILED', iso(), { error: { code: 'EE.OPERATION_LOST', message }, endTime: iso(), slotShard: null }, 'operation lost');
      if (!next) return [];
      tx.updateJob(next);
      const events = eventsFor(cur, next, settings.eventSource);
      tx.addEvents(events);
      return events;
    });
  }

  /**
   * Hands each of one project's live jobs its operation, or 'not-found': gets for a few,
   * list pages for many. One list page at a time is held (and handled before the next is
   * asked for), so memory does not grow with the project's operations. A job whose
   * operation the list did not show (deleted, or very old) is asked for by a get; one
   * whose get failed is left for the next cycle.
   */
  async function forEachOperation(eeProject: string, followed: Map<string, Job>, stats: CycleStats, handle: (job: Job, op: Operation | 'not-found') => Promise<void>): Promise<void> {
    if (followed.size > settings.getThreshold) {
      let pageToken: string | undefined;
      try {
        do {
          const page = await ee.listOperations(eeProject, { pageSize: settings.listPageSize, ...(pageToken ? { pageToken } : {}) });
          stats.listPages++;
          for (const op of page.operations) {
            const job = followed.get(op.name);
            if (!job) continue;
            followed.delete(op.name);
            await handle(job, op);
          }
          pageToken = page.nextPageToken ?? undefined;
        } while (pageToken && followed.size > 0);
      } catch (err) {
        stats.errors++;
        logs.pollFailed(err);
      }
    }
    // Gets in parallel, a list page's worth at a time; the jobs are then handled one after another, as the list's are.
    const rest = [...followed.values()];
    for (let i = 0; i < rest.length; i += settings.listPageSize) {
      const chunk = rest.slice(i, i + settings.listPageSize);
      const ops = await mapLimit(chunk, settings.getConcurrency, async (j): Promise<Operation | 'not-found' | 'error'> => {
        try {
          stats.gets++;
          return await ee.getOperation(j.operationName!);
        } catch (err) {
          if (isEarthEngineError(err) && err.kind === 'not-found') return 'not-found';
          stats.errors++;
          return 'error';
        }
      });
      for (const [k, j] of chunk.entries()) if (ops[k] !== 'error') await handle(j, ops[k]!);
    }
  }

  /** Takes over SUBMITTING jobs whose submitter is gone (lease expired, untouched for staleSubmitMs). */
  async function redispatchStale(lease: Lease, jobs: Job[], stats: CycleStats): Promise<void> {
    for (const job of jobs) {
      const now = iso();
      if (job.submitLeaseUntil && job.submitLeaseUntil > now) continue;
      if (nowMs() - Date.parse(job.updateTime) < settings.staleSubmitMs) continue;
      const taken = await store.transact(async (tx) => {
        await fence(tx, lease);
        const cur = await tx.getJob(job.jobId);
        if (!cur || cur.state !== 'SUBMITTING' || (cur.submitLeaseUntil && cur.submitLeaseUntil > iso())) return null;
        const next: Job = { ...cur, submitLeaseUntil: new Date(nowMs() + settings.staleSubmitMs).toISOString(), updateTime: iso(), version: cur.version + 1 };
        tx.updateJob(next);
        return next;
      });
      if (!taken) continue;
      stats.redispatched++;
      await dispatchQuietly(deps, taken, stats);
    }
  }

  /** Where the last cycle stopped when it read its maxJobsPerCycle jobs before the end (jobId order); null: from the start. */
  let resumeAfter: string | null = null;

  /**
   * Reads the live jobs a page at a time (at most maxJobsPerCycle a cycle, going on from
   * where the last cycle stopped) and keeps, per Earth Engine project, a slim copy of each
   * job that has an operation: a cycle holds one page of full jobs and one page of
   * operations, not all of them (ADR 0013).
   */
  async function readLive(lease: Lease, stats: CycleStats): Promise<Map<string, Map<string, Job>>> {
    const byProject = new Map<string, Map<string, Job>>();
    const pageSize = Math.min(settings.jobPageSize ?? 500, settings.maxJobsPerCycle);
    const byWorkloadTag = (settings.budgets ?? []).some((b) => b.workloadTag);
    const after = resumeAfter;
    let last: string | null = null;
    for await (const jobs of store.liveJobPages({ after, limit: settings.maxJobsPerCycle, pageSize })) {
      stats.live += jobs.length;
      last = jobs[jobs.length - 1]?.jobId ?? last;
      await redispatchStale(lease, jobs.filter((j) => j.state === 'SUBMITTING'), stats);
      for (const j of jobs) {
        if (j.state === 'SUBMITTING' || !j.operationName) continue;
        let followed = byProject.get(j.eeProject);
        if (!followed) byProject.set(j.eeProject, (followed = new Map()));
        followed.set(j.operationName, slim(j, byWorkloadTag || (!!deps.estimates && !j.estimate)));
      }
    }
    // The last cycle stopped at the very end: start again from the first job rather than read nothing.
    if (stats.live === 0 && after !== null) {
      resumeAfter = null;
      return readLive(lease, stats);
    }
    // A cycle that read its maxJobsPerCycle goes on after its last job the next time.
    resumeAfter = stats.live >= settings.maxJobsPerCycle ? last : null;
    return byProject;
  }

  /** Follows one live job's operation: writes what changed, guards runaways, sends pending cancels, ends lost tasks. */
  async function followJob(lease: Lease, job: Job, op: Operation | 'not-found', stats: CycleStats, events: CloudEvent[]): Promise<void> {
    if (op === 'not-found') {
      stats.lost++;
      events.push(...(await markLost(lease, job.jobId, `Earth Engine no longer knows ${job.operationName} (404): deleted, or expired after its 10-day life`)));
      return;
    }
    // Most live jobs have not changed since the last cycle: compare with the listed copy before paying for a transaction.
    const target = jobStateOf(op);
    const estimate = !job.estimate && job.request && deps.estimates ? await estimateQuietly(job) : null;
    const quiet = !estimate && !job.cancelRequestedAt && !jobChanged(job, target === job.state || transition(job, target, iso()) ? target : job.state, fieldsFromOperation(op, job));
    const written = quiet ? null : await applyOperation(lease, job.jobId, op, estimate ? { estimate } : {});
    events.push(...(await guardRunaway(lease, { ...job, ...(estimate ? { estimate } : {}) }, op, stats)));
    if (written === null) stats.unchanged++;
    else stats.updated++;
    events.push(...(written ?? []));
    // Cancels asked for while the job was still being submitted, or whose EE call failed before.
    if (job.cancelRequestedAt && !isTerminal(target) && job.state !== 'CANCELLING') {
      try {
        stats.cancelsSent++;
        await deps.cancel.cancelOperation(job);
      } catch (err) {
        stats.errors++;
        logs.pollFailed(err);
      }
    }
    if (!isTerminal(target) && job.submitTime && nowMs() - Date.parse(job.submitTime) > settings.operationMaxAgeMs) {
      stats.lost++;
      events.push(...(await markLost(lease, job.jobId, `operation ${job.operationName} still not finished after Earth Engine's 10-day task lifetime`)));
    }
  }

  /** One cycle; `until` (epoch ms): the queue is released until then at most. */
  async function runCycle(lease: Lease, until?: number): Promise<CycleStats> {
    const stats = emptyStats();
    stats.swept = await sweepOutbox(deps);
    const byProject = await readLive(lease, stats);
    for (const [eeProject, followed] of byProject) {
      byProject.delete(eeProject);
      let events: CloudEvent[] = [];
      await forEachOperation(eeProject, followed, stats, async (job, op) => {
        await followJob(lease, job, op, stats, events);
        // Relayed as they come, a page's worth at a time, so a busy cycle does not hold them all.
        if (events.length >= 500) {
          const batch = events;
          events = [];
          stats.events += batch.length;
          await relayEvents(deps, batch);
        }
      });
      stats.events += events.length;
      await relayEvents(deps, events);
    }
    if (deps.tickPipelines) {
      try {
        stats.pipelineActions = await deps.tickPipelines();
      } catch (err) {
        stats.errors++;
        logs.pollFailed(err);
      }
    }
    await releaseQueued(lease, stats, until);
    if (deps.refreshBatches) {
      try {
        stats.batchesFinished = await deps.refreshBatches();
      } catch (err) {
        stats.errors++;
        logs.pollFailed(err);
      }
    }
    if (deps.retryWebhooks) {
      try {
        stats.webhooksRetried = await deps.retryWebhooks();
      } catch (err) {
        stats.errors++;
        logs.pollFailed(err);
      }
    }
    return stats;
  }

  /** One scheduler tick: lease, cycles until the window closes or nothing is left, release. */
  async function run(opts: { windowMs?: number } = {}): Promise<PollResult> {
    const lease = await acquireLease();
    if ('busy' in lease) {
      logs.pollLeaseBusy(lease.busy);
      return { kind: 'busy', holder: lease.busy };
    }
    const windowMs = opts.windowMs ?? settings.windowMs;
    const end = nowMs() + windowMs;
    const totals = emptyStats();
    let cycles = 0;
    let interval = settings.maxIntervalMs;
    try {
      for (;;) {
        // Releasing stops at the window's end (the function's timeout is a few seconds later); a one-cycle run (window 0) releases all it may.
        const s = await runCycle(lease, windowMs > 0 ? end : undefined);
        cycles++;
        for (const k of Object.keys(totals) as (keyof CycleStats)[]) totals[k] += s[k];
        logs.pollCycle({ cycle: cycles, ...s });
        // While jobs move, look again soon; when all is quiet, back off to the longest interval.
        interval = s.updated > 0 || s.released > 0 ? settings.minIntervalMs : Math.min(settings.maxIntervalMs, interval * 2);
        if (s.live === 0 && s.released === 0 && s.swept === 0) break;
        if (nowMs() + interval >= end) break;
        await sleep(interval);
      }
    } catch (err) {
      if (err instanceof EeportError && err.code === 'POLL.LEASE_LOST') {
        logs.pollFailed(err);
        return { kind: 'done', cycles, totals };
      }
      throw err;
    }
    await releaseLease(lease);
    return { kind: 'done', cycles, totals };
  }

  return { run, runCycle, acquireLease, releaseLease };
}

export type PollExports = ReturnType<typeof createPollExports>;

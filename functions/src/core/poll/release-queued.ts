/**
 * Release: QUEUED jobs go to SUBMITTING while their Earth Engine project has room, by
 * priority then age, and are submitted (ADR 0017).
 *
 * - Jobs are claimed in groups, one fenced transaction each, from a count of the
 *   project's jobs in flight plus the poller's own releases since. Near the cap (within
 *   rememberedCountMargin of it) a count serves at most RELEASES_PER_COUNT releases: ADR
 *   0012's soft cap counts the poller as that many admissions deciding at once. Far from
 *   it, as submit's admission gate does, a count younger than countMaxAgeMs serves up to
 *   the margin's worth of releases, in groups of up to RELEASE_GROUP_MAX, while the count
 *   plus them stays more than the margin below the cap.
 * - The claimed jobs are submitted to Earth Engine concurrently (at most `concurrency`
 *   calls at once), while the next group is counted and claimed.
 * - A job is claimed, SUBMITTING with a submit lease, before its Earth Engine call: a
 *   poller that dies in between leaves it SUBMITTING, and the stale-submit sweep sends it
 *   again with the same requestId, which Earth Engine deduplicates. Never lost, never twice.
 */
import { hasRoom, RELEASES_PER_COUNT, rememberedCountMargin, transition, type Job, eventsFor, relayEvents, type CloudEvent, type LogEvents } from '../jobs/index.ts';
import { checkBudgets, notifyExceeded, type Budget, type BudgetUsage, type BudgetVerdict } from '../budgets/index.ts';
import { stopBatch, stopEvent, type Batch } from '../batches/index.ts';
import type { Clock, EventPublisher, JobStore, JobTransaction, Lease } from '../ports.ts';
import type { SubmitExport } from '../submit/index.ts';

export interface ReleaseSettings {
  eventSource: string;
  maxInFlightPerProject: number;
  /** The submit lease a released job gets: a poller that dies before its Earth Engine call leaves it to the stale-submit sweep after this. */
  staleSubmitMs: number;
  /** Earth Engine calls for released jobs at once (POLL_RELEASE_CONCURRENCY). */
  releaseConcurrency: number;
  /** How long a count far from the cap may serve more releases (ADMISSION_COUNT_MAX_AGE_MS; 0: RELEASES_PER_COUNT per count always). */
  countMaxAgeMs?: number;
  budgets?: readonly Budget[];
}

export interface ReleaseDeps {
  store: JobStore;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  submit: SubmitExport;
  settings: ReleaseSettings;
  /** Reads the poller's lease in the transaction and throws if it is no longer this poller's. */
  fence(tx: JobTransaction, lease: Lease): Promise<void>;
}

export interface ReleaseStats {
  released: number;
  errors: number;
}

/** Jobs claimed in one transaction at most, far from the cap: a group's reads and writes stay well inside a commit's 500. */
export const RELEASE_GROUP_MAX = 50;

/**
 * Submits a job the poller owns (released, or taken over from a stale submitter); a
 * transient failure is counted and logged, and leaves it SUBMITTING for the stale-submit sweep.
 */
export async function dispatchQuietly(deps: Pick<ReleaseDeps, 'submit' | 'logs'>, job: Job, stats: { errors: number }): Promise<void> {
  try {
    await deps.submit.dispatch(job);
  } catch (err) {
    stats.errors++;
    deps.logs.exportSubmitRetry(job, err);
  }
}

/** Runs tasks with at most n at once; `add` waits for a free place, `drain` for all. */
function boundedPool(n: number) {
  const running = new Set<Promise<void>>();
  return {
    async add(task: () => Promise<void>): Promise<void> {
      while (running.size >= n) await Promise.race(running);
      const p: Promise<void> = task().finally(() => running.delete(p));
      running.add(p);
    },
    drain: () => Promise.all(running).then(() => undefined),
  };
}

export function createReleaseQueued(deps: ReleaseDeps) {
  const { store, clock, settings } = deps;
  const iso = () => clock.now().toISOString();
  const nowMs = () => clock.now().getTime();

  /**
   * Claims the jobs of one group that are still QUEUED and may go: one transaction whose
   * reads all come first (the lease, the jobs, their batches, the budgets), then the same
   * decision per job as a release of one, in the group's order. Budget-held jobs get
   * their reason; the month's `exceeded` event and a stop-batches stop are written once.
   */
  async function claim(lease: Lease, group: Job[], budgetEvents: CloudEvent[]): Promise<Job[]> {
    const out = await store.transact(async (tx) => {
      await deps.fence(tx, lease);
      const curs = await Promise.all(group.map((j) => tx.getJob(j.jobId)));
      const queued = curs.filter((c): c is Job => c !== null && c.state === 'QUEUED');
      const batches = new Map<string, Batch | null>();
      await Promise.all([...new Set(queued.flatMap((c) => (c.batchId ? [c.batchId] : [])))].map(async (id) => batches.set(id, await tx.getBatch(id))));
      // A group's jobs share budget documents: each is read once.
      const usages = new Map<string, Promise<BudgetUsage | null>>();
      const readOnce = (id: string) => {
        let read = usages.get(id);
        if (!read) usages.set(id, (read = tx.getBudgetUsage(id)));
        return read;
      };
      const reads = { getBudgetUsage: readOnce, setBudgetUsage: (u: BudgetUsage) => tx.setBudgetUsage(u), addEvents: (e: CloudEvent[]) => tx.addEvents(e) };
      const verdicts = new Map<string, BudgetVerdict>();
      if (settings.budgets?.length) for (const c of queued) verdicts.set(c.jobId, await checkBudgets(reads, c, settings.budgets, iso(), settings.eventSource));
      // Reads are done: from here on only writes.
      const taken: Job[] = [];
      const events: CloudEvent[] = [];
      const notified = new Set<string>();
      for (const cur of queued) {
        const batch = cur.batchId ? (batches.get(cur.batchId) ?? null) : null;
        // A STOPPED batch's queued children wait for its :resume.
        if (batch?.state === 'STOPPED') continue;
        const verdict = verdicts.get(cur.jobId) ?? ({ ok: true } as const);
        if (!verdict.ok) {
          // The exceeded event goes out once a month per budget: once here for the whole group.
          const once = verdict.notify && notified.has(verdict.usage.id) ? { ...verdict, notify: null } : verdict;
          notified.add(verdict.usage.id);
          events.push(...notifyExceeded(tx, once, iso()));
          // stop-batches: the child's batch stops (OUT_OF_BUDGET), resumable; a job outside a batch waits as with queue.
          const stopped = verdict.budget.onExceeded === 'stop-batches' && batch ? stopBatch(batch, { reason: 'OUT_OF_BUDGET', message: `OUT_OF_BUDGET: ${verdict.reason}`, at: iso(), budget: verdict.usage.id, limitEecuSeconds: null, usedEecuSeconds: null }, iso()) : null;
          if (stopped) {
            tx.setBatch(stopped);
            batches.set(stopped.batchId, stopped);
            const stopEvents = [stopEvent(stopped, settings.eventSource)];
            tx.addEvents(stopEvents);
            events.push(...stopEvents);
          }
          if (verdict.budget.onExceeded === 'reject') {
            const failed = transition(cur, 'FAILED', iso(), { error: { code: 'EECU.BUDGET_EXCEEDED', message: verdict.reason }, endTime: iso(), queuedReason: null }, 'EECU budget exceeded')!;
            tx.updateJob(failed);
            const failEvents = eventsFor(cur, failed, settings.eventSource);
            tx.addEvents(failEvents);
            events.push(...failEvents);
          } else if (cur.queuedReason !== verdict.reason) {
            tx.updateJob({ ...cur, queuedReason: verdict.reason, updateTime: iso(), version: cur.version + 1 });
          }
          continue;
        }
        const next = transition(cur, 'SUBMITTING', iso(), { queuedReason: null, notBefore: null, submitLeaseUntil: new Date(nowMs() + settings.staleSubmitMs).toISOString() }, 'released from queue');
        if (!next) continue;
        tx.updateJob(next);
        taken.push(next);
      }
      return { taken, events };
    });
    budgetEvents.push(...out.events);
    return out.taken;
  }

  /**
   * Releases queued jobs, project by project, until each project's room is used or
   * `deadline` (epoch ms) passes; returns once every Earth Engine call it started ended.
   */
  async function releaseQueued(lease: Lease, stats: ReleaseStats, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const budgetEvents: CloudEvent[] = [];
    const pool = boundedPool(Math.max(1, settings.releaseConcurrency));
    try {
      for (const eeProject of await store.listQueuedProjects()) {
        if (nowMs() >= deadline) break;
        // Dated from before the query, as submit's gate dates its counts: what is admitted while it runs is unseen too.
        let countedAt = nowMs();
        let inFlight = await store.inFlight(eeProject);
        const room = settings.maxInFlightPerProject - inFlight;
        if (room <= 0) continue;
        const now = iso();
        // Ask for more than the room: jobs in their resubmission backoff are passed over.
        const candidates = (await store.listQueuedJobs(eeProject, room * 2 + 10)).filter((j) => !j.notBefore || j.notBefore <= now).slice(0, room);
        const cap = settings.maxInFlightPerProject;
        const margin = rememberedCountMargin(cap);
        let sinceCount = 0;
        let next = 0;
        while (next < candidates.length && nowMs() < deadline) {
          // Far from the cap a recent count serves a margin's worth of releases; near it, RELEASES_PER_COUNT:
          // submits admit meanwhile, and the poller's releases from one count are admissions deciding at once
          // (core/jobs/slots.ts). A count per release would cost a query each.
          const far = (settings.countMaxAgeMs ?? 0) > 0 && nowMs() - countedAt <= settings.countMaxAgeMs! && inFlight + margin < cap;
          const perCount = far ? Math.min(margin, cap - margin - (inFlight - sinceCount)) : RELEASES_PER_COUNT;
          if (sinceCount >= perCount) {
            [countedAt, inFlight, sinceCount] = [nowMs(), await store.inFlight(eeProject), 0];
            continue;
          }
          if (!hasRoom(inFlight, cap)) break;
          const size = Math.min(far ? RELEASE_GROUP_MAX : RELEASES_PER_COUNT, perCount - sinceCount, cap - inFlight);
          const group = candidates.slice(next, next + size);
          next += group.length;
          const taken = await claim(lease, group, budgetEvents);
          inFlight += taken.length;
          sinceCount += taken.length;
          stats.released += taken.length;
          for (const job of taken) await pool.add(() => dispatchQuietly(deps, job, stats));
        }
      }
    } finally {
      await pool.drain();
      await relayEvents(deps, budgetEvents);
    }
  }

  return { releaseQueued };
}

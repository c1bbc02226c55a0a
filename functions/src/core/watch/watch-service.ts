/**
 * The stalled-task watch's tick, run by the poller every cycle through tickPipelines
 * (at most every `intervalSeconds`): reads the live jobs, learns run times from each
 * project's recent SUCCEEDED jobs (cached), and for every attempt found stalled writes
 * the finding on the job and one `stalled` event in the same transaction (the outbox).
 *
 * With WATCH_STALL_RESUBMISSIONS > 0 the same transaction also sends the job back to
 * QUEUED with a new requestId (eeport-{jobId}-r{n}, as for a transient failure: ADR
 * 0007), so the poller releases it through admission control; the stalled task is then
 * cancelled. A cancel that fails stays marked (`cancelPending`) and is sent again by a
 * later tick.
 */
import { derivedRequestId, eventsFor, freesSlot, relayEvents, transition, type CloudEvent, type Job, type LogEvents } from '../jobs/index.ts';
import { isEarthEngineError } from '../kernel/index.ts';
import type { Clock, EarthEngine, EventPublisher, JobStore, LogSink } from '../ports.ts';
import { DEFAULT_WATCH_SETTINGS, learnDurations, stallCheck, stalledEvent, stallMessage, type WatchSettings } from './watch.ts';

export interface WatchServiceSettings extends WatchSettings {
  eventSource: string;
  /** The watch looks at most this often (WATCH_INTERVAL_SECONDS; 0: every poll cycle). */
  intervalSeconds: number;
  /** Finished jobs read per project to learn run times (WATCH_HISTORY_JOBS). */
  historyJobs: number;
  /** How long the learned run times are kept before they are read again. */
  cacheSeconds: number;
  /** Live jobs looked at per tick. */
  maxJobs: number;
}

export interface WatchDeps {
  store: JobStore;
  ee: Pick<EarthEngine, 'cancelOperation'>;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  logSink: LogSink;
  settings: Partial<WatchServiceSettings> & { eventSource: string };
}

export function createWatch(deps: WatchDeps) {
  const { store, clock, logSink } = deps;
  const s: WatchServiceSettings = { ...DEFAULT_WATCH_SETTINGS, intervalSeconds: 60, historyJobs: 500, cacheSeconds: 300, maxJobs: 10_000, ...deps.settings };
  const cache = new Map<string, { at: number; durations: Map<string, number[]> }>();
  let lastTick = -Infinity;
  let resumeAfter: string | null = null;
  const nowMs = () => clock.now().getTime();
  const iso = () => clock.now().toISOString();

  async function durations(eeProject: string): Promise<Map<string, number[]>> {
    const hit = cache.get(eeProject);
    if (hit && nowMs() - hit.at < s.cacheSeconds * 1000) return hit.durations;
    const page = await store.listJobs({ states: ['SUCCEEDED'], eeProject, pageSize: s.historyJobs });
    const learned = learnDurations(page.jobs);
    cache.set(eeProject, { at: nowMs(), durations: learned });
    return learned;
  }

  /** Records one attempt's stall (and, within the policy, resubmits the job); returns what was written, or null when another writer got there first. */
  async function recordStall(job: Job): Promise<{ next: Job; events: CloudEvent[] } | null> {
    const learned = job.state === 'RUNNING' ? await durations(job.eeProject) : new Map<string, number[]>();
    return store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur || cur.state !== job.state || cur.operationName !== job.operationName) return null;
      const mark = stallCheck(cur, learned, nowMs(), s);
      if (!mark) return null;
      const stalledJob: Job = { ...cur, stalled: mark };
      const events = [stalledEvent(stalledJob, mark, s.eventSource)];
      const used = cur.stallResubmissions ?? 0;
      if (used < s.maxResubmissions && cur.operationName) {
        const n = cur.resubmissions + 1;
        const reason = `stalled (${stallMessage(mark)}); cancelled and resubmitted, stall resubmission ${used + 1} of ${s.maxResubmissions}`;
        const next = transition(
          cur,
          'QUEUED',
          iso(),
          {
            resubmissions: n,
            requestId: derivedRequestId(cur.jobId, n),
            operationName: null,
            previousOperations: [...cur.previousOperations, cur.operationName].slice(-20),
            progress: null,
            stages: [],
            endTime: null,
            error: null,
            notBefore: null,
            queuedReason: reason,
            stalled: { ...mark, action: 'resubmitted', cancelPending: true },
            stallResubmissions: used + 1,
          },
          reason,
        );
        if (next) {
          if (freesSlot(cur, 'QUEUED')) next.slotShard = null;
          tx.updateJob(next);
          events.push(...eventsFor(cur, next, s.eventSource));
          tx.addEvents(events);
          return { next, events };
        }
      }
      const next: Job = { ...stalledJob, updateTime: iso(), version: cur.version + 1 };
      tx.updateJob(next);
      tx.addEvents(events);
      return { next, events };
    });
  }

  /** Cancels a stalled task the job has left behind; clears the mark once Earth Engine took the cancel (or the task is gone or over). */
  async function cancelLeftBehind(job: Job): Promise<boolean> {
    const name = job.stalled!.operationName!;
    try {
      await deps.ee.cancelOperation(name);
    } catch (err) {
      if (!(isEarthEngineError(err) && (err.kind === 'permanent' || err.kind === 'not-found'))) {
        logSink.write({ severity: 'WARNING', event: 'watch.cancel_retry', message: `Could not cancel the stalled task ${name} yet; the next tick tries again`, jobId: job.jobId, operationName: name, error: err instanceof Error ? err.message : String(err) });
        return false;
      }
    }
    await store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur?.stalled?.cancelPending || cur.stalled.operationName !== name) return;
      tx.updateJob({ ...cur, stalled: { ...cur.stalled, cancelPending: false }, updateTime: iso(), version: cur.version + 1 });
    });
    return true;
  }

  /** One look at the live jobs; returns how many things it did (stalls recorded, stalled tasks cancelled). */
  async function tickWatch(): Promise<number> {
    if (nowMs() - lastTick < s.intervalSeconds * 1000) return 0;
    lastTick = nowMs();
    if (s.pendingSeconds <= 0 && s.runningFactor <= 0) return 0;
    let done = 0;
    let seen = 0;
    let last: string | null = null;
    // A page at a time, as the poller reads them (ADR 0013): the live jobs whole at once would grow the
    // instance with their number. A tick stopped by maxJobs goes on after its last job the next time.
    for await (const page of store.liveJobPages({ after: resumeAfter, limit: s.maxJobs, pageSize: 500 })) {
      seen += page.length;
      last = page[page.length - 1]?.jobId ?? last;
      done += await watchPage(page);
    }
    resumeAfter = seen >= s.maxJobs ? last : null;
    return done;
  }

  async function watchPage(live: Job[]): Promise<number> {
    let done = 0;
    for (const job of live) {
      if (job.stalled?.cancelPending && job.stalled.operationName && job.stalled.operationName !== job.operationName) {
        if (await cancelLeftBehind(job)) done++;
      }
      if (job.state !== 'PENDING' && job.state !== 'RUNNING') continue;
      const learned = job.state === 'RUNNING' ? await durations(job.eeProject) : new Map<string, number[]>();
      if (!stallCheck(job, learned, nowMs(), s)) continue;
      const r = await recordStall(job);
      if (!r) continue;
      done++;
      const mark = r.next.stalled!;
      logSink.write({
        severity: 'WARNING',
        event: 'job.stalled',
        message: `Stalled: ${stallMessage(mark)}${mark.action === 'resubmitted' ? '; cancelled and resubmitted' : ''}`,
        jobId: job.jobId,
        operationName: mark.operationName,
        eeProject: job.eeProject,
        stall: mark,
      });
      await relayEvents(deps, r.events);
      if (mark.action === 'resubmitted' && (await cancelLeftBehind(r.next))) done++;
    }
    return done;
  }

  return { tickWatch };
}

export type Watch = ReturnType<typeof createWatch>;

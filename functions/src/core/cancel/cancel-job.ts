/**
 * Cancel: a QUEUED job is cancelled at once; a job with an operation gets
 * operations.cancel and moves to CANCELLING, then the poller follows it to CANCELLED
 * (or to SUCCEEDED/FAILED if it finished first — a cancel is best effort). A job still
 * SUBMITTING is marked, and the poller cancels it once its operation is known.
 */
import { isTerminal, transition, type Job, eventsFor, freesSlot, relayEvents, type LogEvents, type CloudEvent } from '../jobs/index.ts';
import { isEarthEngineError } from '../kernel/index.ts';
import type { Clock, EarthEngine, EventPublisher, JobStore } from '../ports.ts';
import { ADMIN_SCOPE, canSee, type Scope } from '../tenants/index.ts';

export interface CancelDeps {
  store: JobStore;
  ee: EarthEngine;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  settings: { eventSource: string };
}

export type CancelOutcome =
  | { kind: 'not-found' }
  | { kind: 'already-terminal' | 'cancelled' | 'cancelling' | 'requested'; job: Job };

export function createCancelJob(deps: CancelDeps) {
  const { store, ee, clock, settings } = deps;
  const iso = () => clock.now().toISOString();

  /** Calls operations.cancel for a job that has an operation, then records CANCELLING. */
  async function cancelOperation(job: Job): Promise<CancelOutcome> {
    try {
      await ee.cancelOperation(job.operationName!);
    } catch (err) {
      // Already finished or gone: the poller will record what happened instead.
      if (!(isEarthEngineError(err) && (err.kind === 'permanent' || err.kind === 'not-found'))) throw err;
    }
    const r = await store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur || isTerminal(cur.state) || cur.state === 'CANCELLING') return { job: cur, events: [] as CloudEvent[] };
      const next = transition(cur, 'CANCELLING', iso(), { nextPollAt: iso() }, 'cancel requested');
      if (!next) return { job: cur, events: [] as CloudEvent[] };
      tx.updateJob(next);
      const events = eventsFor(cur, next, settings.eventSource);
      tx.addEvents(events);
      return { job: next, events };
    });
    await relayEvents(deps, r.events);
    return r.job && isTerminal(r.job.state) ? { kind: 'already-terminal', job: r.job } : { kind: 'cancelling', job: r.job ?? job };
  }

  /** `scope`: whose jobs the caller may cancel; another tenant's job is "not found", exactly like a missing one. */
  async function cancelJob(jobId: string, reason = 'cancelled on request', scope: Scope = ADMIN_SCOPE): Promise<CancelOutcome> {
    const r = await store.transact(async (tx) => {
      const cur = await tx.getJob(jobId);
      if (!cur || !canSee(scope, cur.tenantId)) return { kind: 'not-found' as const, job: null, events: [] as CloudEvent[] };
      if (isTerminal(cur.state)) return { kind: 'already-terminal' as const, job: cur, events: [] };
      if (cur.state === 'CANCELLING') return { kind: 'cancelling' as const, job: cur, events: [] };
      if (cur.state === 'QUEUED') {
        const next = transition(cur, 'CANCELLED', iso(), { endTime: iso(), cancelRequestedAt: iso(), error: { code: 'EE.CANCELLED', message: reason } }, reason)!;
        // A QUEUED job holds no slot; kept so the rule stays in one place if that ever changes.
        if (freesSlot(cur, 'CANCELLED')) next.slotShard = null;
        tx.updateJob(next);
        const events = eventsFor(cur, next, settings.eventSource);
        tx.addEvents(events);
        return { kind: 'cancelled' as const, job: next, events };
      }
      const marked: Job = { ...cur, cancelRequestedAt: cur.cancelRequestedAt ?? iso(), updateTime: iso(), version: cur.version + 1 };
      tx.updateJob(marked);
      return { kind: cur.operationName ? ('operation' as const) : ('requested' as const), job: marked, events: [] };
    });
    await relayEvents(deps, r.events);
    if (r.kind === 'not-found') return { kind: 'not-found' };
    if (r.kind === 'operation') return cancelOperation(r.job!);
    return { kind: r.kind, job: r.job! };
  }

  return { cancelJob, cancelOperation };
}

export type CancelJob = ReturnType<typeof createCancelJob>;

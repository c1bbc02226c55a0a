/**
 * The tiled-recovery tick (docs/watch.md, ADR 0015), run by the poller through
 * tickPipelines: looks at recently FAILED jobs, and for each that failed for memory,
 * compute time or output size submits its request again as a batch of tiles on the same
 * pixel grid (tiled-recovery.ts), through the ordinary batch path (validation, queue,
 * in-flight caps, budgets). Then records the recovery on the job and writes one
 * `recovered` event, in one transaction.
 *
 * Idempotent: the batch's id is derived from the failed job's (a repeated tick, or a crash
 * between the batch and the record, finds the same batch), and a job with a recovery is
 * never looked at again.
 */
import { relayEvents, type CloudEvent, type Job, type LogEvents, type TiledRecovery } from '../jobs/index.ts';
import type { Batches } from '../batches/index.ts';
import type { Clock, EventPublisher, JobStore, LogSink } from '../ports.ts';
import { computeFailureKind, DEFAULT_RECOVERY_SETTINGS, planRecovery, recoveredEvent, RECOVERY_DEPTH_LABEL, type RecoverySettings } from './tiled-recovery.ts';

export interface RecoveryServiceSettings extends RecoverySettings {
  eventSource: string;
  /** Jobs that failed longer ago than this are left alone (turning the policy on does not tile last year's failures). */
  lookbackSeconds: number;
  /** FAILED jobs looked at per tick. */
  maxJobs: number;
}

export interface RecoveryDeps {
  store: JobStore;
  batches: Pick<Batches, 'submitBatch'>;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  logSink: LogSink;
  settings: Partial<RecoveryServiceSettings> & { eventSource: string };
}

/** The tile batch's name: one per failed job (within its tenant, as batch names are). */
export const recoveryBatchName = (jobId: string) => `recovery-${jobId}`;

export function createTiledRecovery(deps: RecoveryDeps) {
  const { store, clock, logSink } = deps;
  const s: RecoveryServiceSettings = { ...DEFAULT_RECOVERY_SETTINGS, lookbackSeconds: 86_400, maxJobs: 200, ...deps.settings };

  /** Writes the recovery on the job and its event, unless another tick did already. */
  async function record(job: Job, recovery: TiledRecovery): Promise<CloudEvent[] | null> {
    return store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur || cur.state !== 'FAILED' || cur.recovery) return null;
      const next: Job = { ...cur, recovery, updateTime: recovery.at, version: cur.version + 1 };
      const events = [recoveredEvent(next, recovery, s.eventSource)];
      tx.updateJob(next);
      tx.addEvents(events);
      return events;
    });
  }

  /** Tiles one failed job (or records why it cannot be); true when it wrote something. */
  async function recoverOne(job: Job): Promise<boolean> {
    const at = clock.now().toISOString();
    const plan = planRecovery(job, s);
    const kind = computeFailureKind(job.error?.message ?? job.lastFailure?.message);
    if (!plan.ok) {
      // Only a too-big failure gets a record of why it was not tiled; any other failure is not this policy's.
      if (!kind || job.recovery) return false;
      const events = await record(job, { policy: 'tiled', kind, reason: `not tiled: ${plan.reason}`, batchId: null, tiles: 0, depth: 0, at });
      if (events) await relayEvents(deps, events);
      return !!events;
    }
    const spec = {
      batchId: recoveryBatchName(job.jobId),
      description: `tiles of ${(job.description ?? job.jobId).slice(0, 150)}`,
      eeProject: job.eeProject,
      labels: { ...job.labels, [RECOVERY_DEPTH_LABEL]: String(plan.depth) },
      ...(job.callbackUrl ? { callbackUrl: job.callbackUrl } : {}),
      requests: plan.requests,
    };
    const out = await deps.batches.submitBatch(spec, { kind: 'key', key: `recovery:${job.jobId}` }, { kind: 'recovery', jobId: job.jobId }, undefined, job.tenantId);
    if (out.kind === 'rejected') {
      const first = out.batch.error?.details?.[0];
      const why = first ? `${first.path}: ${first.message}` : (out.batch.error?.message ?? 'the batch was refused');
      const events = await record(job, { policy: 'tiled', kind: plan.kind, reason: `not tiled: ${why}`, batchId: null, tiles: 0, depth: plan.depth, at });
      if (events) await relayEvents(deps, events);
      return !!events;
    }
    const recovery: TiledRecovery = { policy: 'tiled', kind: plan.kind, reason: plan.reason, batchId: out.batch.batchId, tiles: plan.rects.length, depth: plan.depth, at };
    const events = await record(job, recovery);
    if (!events) return false;
    logSink.write({ severity: 'NOTICE', event: 'job.recovered', message: `Failed for ${plan.kind}; resubmitted as ${plan.rects.length} tiles on its pixel grid (batch ${out.batch.batchId})`, jobId: job.jobId, batchId: out.batch.batchId, recovery });
    await relayEvents(deps, events);
    return true;
  }

  /** One look at the recently FAILED jobs; returns how many it recovered (or recorded as not recoverable). */
  async function tickRecovery(): Promise<number> {
    if (s.tiles < 2) return 0;
    const since = new Date(clock.now().getTime() - s.lookbackSeconds * 1000).toISOString();
    const page = await store.listJobs({ states: ['FAILED'], updatedAfter: since, pageSize: s.maxJobs });
    let done = 0;
    for (const job of page.jobs) {
      if (job.recovery || !computeFailureKind(job.error?.message ?? job.lastFailure?.message)) continue;
      try {
        if (await recoverOne(job)) done++;
      } catch (err) {
        deps.logs.unexpected(`tiled recovery of job ${job.jobId}`, err);
      }
    }
    return done;
  }

  return { tickRecovery };
}

export type TiledRecoveryService = ReturnType<typeof createTiledRecovery>;

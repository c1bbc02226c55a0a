/**
 * A batch's own document: its state, aggregate progress, counts by child state, summed
 * EECU, and its destination URIs. Children are ordinary jobs (same states, idempotency,
 * queueing and events) carrying `batchId`.
 */
import type { JobState, CloudEvent } from '../jobs/index.ts';

/** STOPPED: its queued children are held (an EECU budget used up, or the batch's own cap passed) until `:resume`; not final. */
export const BATCH_STATES = ['WRITING', 'RUNNING', 'STOPPED', 'SUCCEEDED', 'PARTIALLY_FAILED', 'FAILED', 'CANCELLED', 'REJECTED'] as const;
export type BatchState = (typeof BATCH_STATES)[number];
export const FINAL_BATCH_STATES: ReadonlySet<BatchState> = new Set(['SUCCEEDED', 'PARTIALLY_FAILED', 'FAILED', 'CANCELLED', 'REJECTED']);

export const BATCH_EVENT_PREFIX = 'dev.eeport.batch.v1.';

export interface Batch {
  batchId: string;
  state: BatchState;
  eeProject: string;
  description: string | null;
  labels: Record<string, string>;
  callbackUrl: string | null;
  identity: string;
  total: number;
  /** Children written so far (a batch is written in chunks; WRITING until all are). */
  written: number;
  counts: Partial<Record<JobState, number>>;
  /** 0..1 over all children: finished ones count as 1. */
  progress: number;
  eecuSeconds: number;
  destinationUris: string[];
  destinationUrisTruncated: boolean;
  error: { code: string; message: string; details?: { path: string; message: string }[] } | null;
  cancelRequestedAt: string | null;
  /** The tenant whose batch this is (TENANTS); its children are that tenant's jobs. */
  tenantId: string | null;
  retries: number;
  /** The batch's own EECU cap (spec maxEecuSeconds): past it, summed over its children (running ones' partial use included), the batch stops. */
  maxEecuSeconds?: number | null;
  /** Why the batch is (or was last) STOPPED; cleared by `:resume`. */
  stop?: BatchStop | null;
  createTime: string;
  updateTime: string;
  endTime: string | null;
  version: number;
}

export const BATCH_STOP_REASONS = ['OUT_OF_BUDGET', 'EECU_CAP'] as const;
export type BatchStopReason = (typeof BATCH_STOP_REASONS)[number];

export interface BatchStop {
  reason: BatchStopReason;
  message: string;
  at: string;
  /** OUT_OF_BUDGET: the usage document of the budget that stopped it. */
  budget: string | null;
  /** EECU_CAP: the cap and the summed use that passed it; which guard acted (eecu: reported use). */
  limitEecuSeconds: number | null;
  usedEecuSeconds: number | null;
}

/**
 * The recorded estimates of a batch's current children, summed by the store in one
 * aggregation (no child is read): how many have one, their bands, and what those
 * children have used so far.
 */
export interface BatchEstimateSum {
  estimated: number;
  eecuSeconds: { low: number; expected: number; high: number };
  actualEecuSeconds: number;
}

export interface BatchStats {
  counts: Partial<Record<JobState, number>>;
  eecuSeconds: number;
  /** Sum of progress over children still running. */
  liveProgress: number;
}

export const MAX_BATCH_URIS = 1000;

/** The final state once every child has ended. */
export function finalBatchState(b: Pick<Batch, 'cancelRequestedAt'>, counts: BatchStats['counts']): BatchState {
  const ok = counts.SUCCEEDED ?? 0;
  const bad = (counts.FAILED ?? 0) + (counts.REJECTED ?? 0);
  const cancelled = counts.CANCELLED ?? 0;
  if (b.cancelRequestedAt || (cancelled > 0 && ok === 0 && bad === 0)) return 'CANCELLED';
  if (bad === 0 && cancelled === 0) return 'SUCCEEDED';
  return ok > 0 ? 'PARTIALLY_FAILED' : 'FAILED';
}

export function batchEvent(b: Batch, source: string, kind: string): CloudEvent {
  return {
    specversion: '1.0',
    id: `batch.${b.batchId}.${b.version}`,
    source,
    type: `${BATCH_EVENT_PREFIX}${kind}`,
    subject: b.batchId,
    time: b.updateTime,
    datacontenttype: 'application/json',
    data: {
      batchId: b.batchId,
      tenantId: b.tenantId,
      state: b.state,
      eeProject: b.eeProject,
      description: b.description,
      labels: b.labels,
      total: b.total,
      counts: b.counts,
      progress: b.progress,
      eecuSeconds: b.eecuSeconds,
      destinationUris: b.destinationUris.slice(0, 100),
      destinationUrisTruncated: b.destinationUrisTruncated || b.destinationUris.length > 100,
      error: b.error,
      ...(b.stop ? { stop: b.stop } : {}),
      callbackUrl: b.callbackUrl,
      createTime: b.createTime,
      endTime: b.endTime,
    } as never,
  };
}

/** The batch STOPPED for a reason (its queued children are then held by the poller); null if it is not RUNNING. */
export function stopBatch(cur: Batch, stop: BatchStop, at: string): Batch | null {
  if (cur.state !== 'RUNNING') return null;
  return { ...cur, state: 'STOPPED', stop, updateTime: at, version: cur.version + 1 };
}

/** The event of a stop: `eecu_cap_exceeded` for the batch's cap (once per stop), `stopped` for a budget. */
export function stopEvent(b: Batch, source: string): CloudEvent {
  return batchEvent(b, source, b.stop?.reason === 'EECU_CAP' ? 'eecu_cap_exceeded' : 'stopped');
}

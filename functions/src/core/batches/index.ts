/** Batches: many exports in one submission (list, fan-out, tiles); children are ordinary jobs; one completion event. */
export { BATCH_EVENT_PREFIX, BATCH_STATES, BATCH_STOP_REASONS, FINAL_BATCH_STATES, stopBatch, stopEvent } from './batch.ts';
export type { Batch, BatchState, BatchStats, BatchStop, BatchEstimateSum } from './batch.ts';
export { BatchSpecSchema, DEFAULT_MAX_BATCH_CHILDREN, DEFAULT_MAX_EXPANDED_BYTES, MAX_BATCH_CHILDREN, expandBatch } from './batch-spec.ts';
export { batchIdentity, createBatches } from './batches.ts';
export type { BatchPolicy, Batches } from './batches.ts';

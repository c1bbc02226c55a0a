/**
 * Batches as the CLI names them: by id (32 hex) or by the `batchId` their spec chose.
 */
import { FINAL_BATCH_STATES, type BatchState, batchIdentity } from '../../functions/src/core/batches/index.ts';
import { jobIdFor } from '../../functions/src/core/jobs/index.ts';
import { usageError } from './errors.ts';

export const isFinalBatchState = (s: string) => FINAL_BATCH_STATES.has(s as BatchState);

const BATCH_ID = /^[0-9a-f]{32}$/;
const BATCH_NAME = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * A batch by its id (32 hex) or by the `batchId` its spec named; the id is derived from
 * the name by functions/src/core/batches.ts (the topic's cancel/retry attributes
 * need the id; the API takes either).
 */
export function batchIdOf(arg: string): string {
  if (BATCH_ID.test(arg)) return arg;
  if (BATCH_NAME.test(arg)) return jobIdFor(batchIdentity(arg));
  throw usageError(`"${arg.slice(0, 80)}" is not a batch: give its id (32 hex characters) or the batchId of its spec`);
}

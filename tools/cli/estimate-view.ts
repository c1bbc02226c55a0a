/**
 * Estimates beside actuals (docs/estimates.md): a job's recorded estimate against the
 * EECU it used, and a batch's children's estimates summed against what those children
 * used. The batch's sums come from the API (GET /v1/batches/{id}/estimate: one
 * aggregation, no child read), so they cost the same for a batch of 100,000.
 */
import { BatchEstimateResponseSchema } from '../../functions/src/core/api/index.ts';
import type { z } from 'zod';
import type { ApiClient } from './client.ts';
import { eecu } from './format.ts';

export type BatchEstimateSum = z.infer<typeof BatchEstimateResponseSchema>;

/** The batch's children's recorded estimates, summed by the API. */
export async function sumBatchEstimates(client: ApiClient, batchId: string): Promise<BatchEstimateSum> {
  return (await client.parsed(BatchEstimateResponseSchema, 'GET', `/v1/batches/${batchId}/estimate`, { what: `batch ${batchId}` })).value;
}

/** The `estimate` line of `eeport batch status`. */
export function batchEstimateLine(s: BatchEstimateSum): string {
  if (s.estimated === 0) return `none recorded yet (the poller records a child's estimate when it first follows it)`;
  return `${eecu(s.eecuSeconds.low)}–${eecu(s.eecuSeconds.high)} EECU-s, expected ${eecu(s.eecuSeconds.expected)}, summed over ${s.estimated} of ${s.total} children; they used ${eecu(s.actualEecuSeconds)} (per-method accuracy: eeport estimate-accuracy)`;
}

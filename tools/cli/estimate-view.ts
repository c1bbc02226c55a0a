/**
 * Estimates beside actuals (docs/estimates.md): a job's recorded estimate against the
 * EECU it used, and a batch's children's estimates summed against what those children
 * used. The API keeps no batch-wide estimate, so the batch's is summed here from its
 * children's pages (up to BATCH_ESTIMATE_CHILDREN of them; the answer says when it saw fewer).
 */
import { BatchJobsResponseSchema } from '../../functions/src/core/api/index.ts';
import type { ApiClient } from './client.ts';
import { eecu } from './format.ts';

/** Children read to sum a batch's estimate: a whole batch of the largest size (BATCH_MAX_CHILDREN default), 50 pages of 200. */
export const BATCH_ESTIMATE_CHILDREN = 10_000;

export interface BatchEstimateSum {
  /** Children read (all of them unless `complete` is false). */
  children: number;
  complete: boolean;
  /** Children with a recorded estimate (the poller records it when it first follows a job; queued ones have none yet). */
  estimated: number;
  eecuSeconds: { low: number; expected: number; high: number };
  /** EECU those estimated children used so far (running ones' partial use included, as reported). */
  actualEecuSeconds: number;
  /** Of the estimated children that SUCCEEDED: how many, and how many used an amount inside their band. */
  succeeded: number;
  inBand: number;
  /** Estimated children per method. */
  methods: Record<string, number>;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Sums the recorded estimates of a batch's children, reading its children's pages. */
export async function sumBatchEstimates(client: ApiClient, batchId: string, limit = BATCH_ESTIMATE_CHILDREN): Promise<BatchEstimateSum> {
  const sum: BatchEstimateSum = { children: 0, complete: true, estimated: 0, eecuSeconds: { low: 0, expected: 0, high: 0 }, actualEecuSeconds: 0, succeeded: 0, inBand: 0, methods: {} };
  let pageToken: string | null = null;
  do {
    const query = new URLSearchParams({ pageSize: '200' });
    if (pageToken) query.set('pageToken', pageToken);
    const page = (await client.parsed(BatchJobsResponseSchema, 'GET', `/v1/batches/${batchId}/jobs`, { query, what: `batch ${batchId}` })).value;
    for (const j of page.jobs) {
      sum.children++;
      const e = j.estimate;
      if (!e) continue;
      sum.estimated++;
      sum.eecuSeconds.low += e.eecuSeconds.low;
      sum.eecuSeconds.expected += e.eecuSeconds.expected;
      sum.eecuSeconds.high += e.eecuSeconds.high;
      sum.actualEecuSeconds += j.eecuSeconds ?? 0;
      sum.methods[e.method] = (sum.methods[e.method] ?? 0) + 1;
      if (j.state === 'SUCCEEDED' && j.eecuSeconds !== null && j.eecuSeconds !== undefined) {
        sum.succeeded++;
        if (j.eecuSeconds >= e.eecuSeconds.low && j.eecuSeconds <= e.eecuSeconds.high) sum.inBand++;
      }
    }
    pageToken = page.nextPageToken;
    if (pageToken && sum.children >= limit) sum.complete = false;
  } while (pageToken && sum.complete);
  sum.eecuSeconds = { low: round(sum.eecuSeconds.low), expected: round(sum.eecuSeconds.expected), high: round(sum.eecuSeconds.high) };
  sum.actualEecuSeconds = round(sum.actualEecuSeconds);
  return sum;
}

/** The `estimate` line of `eeport batch status`. */
export function batchEstimateLine(s: BatchEstimateSum, total: number): string {
  if (s.estimated === 0) return `none recorded yet (the poller records a child's estimate when it first follows it)`;
  const methods = Object.entries(s.methods)
    .map(([m, n]) => `${n} ${m}`)
    .join(', ');
  const of = `${s.estimated} of ${s.complete ? total : `the first ${s.children} of ${total}`} children (${methods})`;
  const band = s.succeeded ? `; ${s.inBand} of ${s.succeeded} succeeded in their band` : '';
  return `${eecu(s.eecuSeconds.low)}–${eecu(s.eecuSeconds.high)} EECU-s, expected ${eecu(s.eecuSeconds.expected)}, summed over ${of}; they used ${eecu(s.actualEecuSeconds)}${band}`;
}

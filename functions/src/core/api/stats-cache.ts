/**
 * GET /v1/stats counts jobs with one Firestore count aggregation per state (ten of them).
 * Every dashboard and `eeport stats` refresh would pay for all ten; this keeps each scope's
 * counts for a short time on the instance and shares one count among refreshes that ask
 * at once, so queries grow with time, not with readers. Counts are at most `ttlMs` old,
 * and the answer's `time` says when they were taken.
 */
import type { JobState } from '../jobs/index.ts';
import type { Clock } from '../ports.ts';

export type CountJobsByState = (tenantId?: string | null) => Promise<Record<JobState, number>>;
export interface CountedStats {
  counts: Record<JobState, number>;
  /** When the counts were taken. */
  time: string;
}

export function createStatsCache(count: CountJobsByState, clock: Clock, ttlMs: number): (tenantId?: string | null) => Promise<CountedStats> {
  const entries = new Map<string, { atMs: number; value: Promise<CountedStats> }>();
  return (tenantId) => {
    const key = tenantId === undefined ? 'all' : tenantId === null ? 'no-tenant' : `tenant:${tenantId}`;
    const now = clock.now();
    const hit = entries.get(key);
    if (hit && now.getTime() - hit.atMs < ttlMs) return hit.value;
    const value = count(tenantId).then((counts) => ({ counts, time: now.toISOString() }));
    const entry = { atMs: now.getTime(), value };
    entries.set(key, entry);
    // A failed count is not kept: the next refresh asks again.
    value.catch(() => entries.get(key) === entry && entries.delete(key));
    return value;
  };
}

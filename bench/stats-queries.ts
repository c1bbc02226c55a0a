/**
 * Firestore queries per GET /v1/stats refresh. The real stats cache (core/api/stats-cache.ts)
 * with the default API_STATS_CACHE_SECONDS from loadConfig, in front of a count that costs
 * what the Firestore adapter's countJobsByState costs: one count aggregation per job state.
 * Load: three open dashboards refreshing every 5 s (the dashboard's default), their
 * refreshes offset by 0, 1.7 and 3.1 s, for 10 simulated minutes on a manual clock (no
 * wall time is measured: this is a count). Baseline, same run: the cache off
 * (API_STATS_CACHE_SECONDS=0), which is what every refresh cost before.
 */
import { loadConfig } from '../functions/src/config.ts';
import { createStatsCache } from '../functions/src/core/api/index.ts';
import { JOB_STATES, type JobState } from '../functions/src/core/jobs/index.ts';
import { result, type Result } from './lib.ts';

async function queriesPerRefresh(ttlSeconds: number): Promise<{ perRefresh: number; refreshes: number; queries: number }> {
  let nowMs = Date.parse('2026-01-01T00:00:00Z');
  let queries = 0;
  const count = async () => {
    queries += JOB_STATES.length; // the adapter: one count aggregation per state
    return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  };
  const stats = createStatsCache(count, { now: () => new Date(nowMs) }, ttlSeconds * 1000);
  const times: number[] = [];
  for (const offset of [0, 1_700, 3_100]) for (let t = offset; t < 600_000; t += 5_000) times.push(t);
  times.sort((a, b) => a - b);
  const start = nowMs;
  for (const t of times) {
    nowMs = start + t;
    await stats(undefined);
  }
  return { perRefresh: queries / times.length, refreshes: times.length, queries };
}

export async function statsQueriesFigure(notes: string[]): Promise<Result[]> {
  const ttl = loadConfig({ GOOGLE_CLOUD_PROJECT: 'bench-stats', EE_PROJECT: 'ee-bench' }).API_STATS_CACHE_SECONDS;
  const cached = await queriesPerRefresh(ttl);
  const uncached = await queriesPerRefresh(0);
  notes.push(`stats: ${cached.refreshes} refreshes (3 dashboards every 5 s for 10 min): ${cached.queries} count queries with API_STATS_CACHE_SECONDS=${ttl}, ${uncached.queries} with it off.`);
  return [result({ name: `stats: Firestore queries per refresh (3 dashboards, every 5 s, API_STATS_CACHE_SECONDS=${ttl})`, value: cached.perRefresh, unit: 'queries' }, { name: 'the same refreshes with the cache off (API_STATS_CACHE_SECONDS=0), as before', value: uncached.perRefresh, unit: 'queries' })];
}

import { describe, it, expect } from 'vitest';
import { createStatsCache } from '../../functions/src/core/api/index.ts';
import { JOB_STATES, type JobState } from '../../functions/src/core/jobs/index.ts';

const zero = () => Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;

function setup(ttlMs: number) {
  let now = new Date('2026-01-01T00:00:00Z');
  const calls: (string | null | undefined)[] = [];
  let fail = false;
  let running = 0;
  const count = async (tenantId?: string | null) => {
    calls.push(tenantId);
    await new Promise((r) => setTimeout(r, 1));
    if (fail) throw new Error('count failed (injected)');
    return { ...zero(), RUNNING: ++running };
  };
  const stats = createStatsCache(count, { now: () => now }, ttlMs);
  return { stats, calls, advance: (ms: number) => (now = new Date(now.getTime() + ms)), setFail: (f: boolean) => (fail = f) };
}

describe('GET /v1/stats cache', () => {
  it('counts once for the refreshes within the time to live, and again after it', async () => {
    const { stats, calls, advance } = setup(10_000);
    const first = await stats(undefined);
    advance(9_999);
    expect(await stats(undefined)).toEqual(first);
    expect(first.time).toBe('2026-01-01T00:00:00.000Z');
    advance(1);
    const later = await stats(undefined);
    expect(later.counts.RUNNING).toBe(2);
    expect(later.time).toBe('2026-01-01T00:00:10.000Z');
    expect(calls).toHaveLength(2);
  });

  it('shares one count among refreshes that ask at once', async () => {
    const { stats, calls } = setup(10_000);
    const answers = await Promise.all([stats(undefined), stats(undefined), stats(undefined)]);
    expect(new Set(answers.map((a) => a.counts.RUNNING))).toEqual(new Set([1]));
    expect(calls).toHaveLength(1);
  });

  it('keeps each scope apart: all jobs, jobs of no tenant, each tenant', async () => {
    const { stats, calls } = setup(10_000);
    await Promise.all([stats(undefined), stats(null), stats('t1'), stats('t2'), stats('t1')]);
    expect(calls).toEqual([undefined, null, 't1', 't2']);
  });

  it('does not keep a failed count', async () => {
    const { stats, calls, setFail } = setup(10_000);
    setFail(true);
    await expect(stats(undefined)).rejects.toThrow('injected');
    setFail(false);
    expect((await stats(undefined)).counts.RUNNING).toBe(1); // the first count that succeeded
    expect(calls).toHaveLength(2);
  });

  it('with a time to live of 0 counts at every call', async () => {
    const { stats, calls } = setup(0);
    await stats(undefined);
    await stats(undefined);
    expect(calls).toHaveLength(2);
  });
});

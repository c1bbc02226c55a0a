/**
 * The dashboard's "Duration" (functions/src/dashboard/job-times.js): a job's own start
 * and end for an ended job, the wall clock only against a wall-clock start for a running
 * one, never Earth Engine's clock against eeport's.
 */
import { describe, expect, it } from 'vitest';
import { formatDuration, jobDuration, jobDurationMs, type TimedJob } from '../../functions/src/dashboard/job-times.js';

const WALL = Date.parse('2026-12-02T10:00:00.000Z');
const wall = (s: number) => new Date(WALL + s * 1000).toISOString();
/** Earth Engine's clock under the local stack's simulator: 20 times faster, and ahead. */
const ee = (s: number) => new Date(WALL + 3_600_000 + s * 20_000).toISOString();

const job = (over: Partial<TimedJob> & { state: string }): TimedJob => ({ startTime: null, endTime: null, history: [{ at: wall(0), to: 'SUBMITTING' }], ...over });
const ran = [
  { at: wall(0), to: 'SUBMITTING' },
  { at: wall(1), to: 'PENDING' },
  { at: wall(2), to: 'RUNNING' },
];

describe('dashboard job duration', () => {
  it('an ended job: its own endTime − startTime, whatever the wall clock says (a 6 s run at x20 is 2 simulated minutes, not 5m 04s)', () => {
    const done = job({ state: 'SUCCEEDED', startTime: ee(2), endTime: ee(8), history: [...ran, { at: wall(8), to: 'SUCCEEDED' }] });
    expect(jobDurationMs(done, WALL + 3_600_000)).toBe(120_000);
    expect(jobDuration(done, WALL + 86_400_000)).toBe('2m 00s');
    for (const state of ['FAILED', 'CANCELLED']) expect(jobDuration({ ...done, state }, WALL)).toBe('2m 00s');
  });

  it('a running job: the wall clock since eeport recorded it RUNNING; Earth Engine’s startTime is never set against now', () => {
    const running = job({ state: 'RUNNING', startTime: ee(2), history: ran });
    expect(jobDurationMs(running, WALL + 6_000)).toBe(4_000);
    expect(jobDuration(running, WALL + 6_000)).toBe('4s');
    expect(jobDuration({ ...running, state: 'CANCELLING', history: [...ran, { at: wall(5), to: 'CANCELLING' }] }, WALL + 66_000)).toBe('1m 04s');
    // Resubmitted after a failed attempt: the latest run counts.
    const again = [...ran, { at: wall(10), to: 'QUEUED' }, { at: wall(11), to: 'SUBMITTING' }, { at: wall(12), to: 'PENDING' }, { at: wall(20), to: 'RUNNING' }];
    expect(jobDuration({ ...running, history: again }, WALL + 21_000)).toBe('1s');
  });

  it('no duration for a job that has not run, or ended without running', () => {
    for (const state of ['QUEUED', 'SUBMITTING', 'PENDING']) expect(jobDuration(job({ state }), WALL + 60_000), state).toBe('—');
    expect(jobDuration(job({ state: 'REJECTED', endTime: wall(0) }), WALL + 60_000)).toBe('—');
    expect(jobDuration(job({ state: 'CANCELLED', endTime: ee(3), history: [...ran.slice(0, 2), { at: wall(3), to: 'CANCELLED' }] }), WALL)).toBe('—');
    // Cancel asked while Earth Engine still had it pending: CANCELLING without ever RUNNING.
    expect(jobDuration(job({ state: 'CANCELLING', history: [...ran.slice(0, 2), { at: wall(3), to: 'CANCELLING' }] }), WALL + 9_000)).toBe('—');
  });

  it('formats seconds, minutes, hours and days; a negative span is no duration', () => {
    expect([0, 400, 42_000, 304_000, 7_620_000, 360_000_000].map(formatDuration)).toEqual(['<1s', '<1s', '42s', '5m 04s', '2h 07m', '4d 4h']);
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });
});

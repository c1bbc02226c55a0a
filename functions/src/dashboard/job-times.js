/**
 * How long a job ran, for the dashboard's "Duration", without ever subtracting one
 * clock's time from another's. A job's startTime and endTime come from Earth Engine
 * (the operation's metadata) when it reports them, while createTime, updateTime and the
 * history are eeport's own; the two clocks need not agree (the local stack's simulator
 * runs many times faster than the wall clock).
 *
 * - An ended job that ran: its own endTime − startTime, the run as recorded.
 * - A running one (RUNNING, CANCELLING): the wall clock's now − when eeport recorded it
 *   RUNNING (its latest history entry into RUNNING, eeport's clock too).
 * - Anything else (waiting to run, or ended without running): no duration.
 *
 * Pure: no DOM, no clock of its own, so Node tests it as it is.
 */

const ENDED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED']);
const LIVE_AFTER_START = new Set(['RUNNING', 'CANCELLING']);

/** Milliseconds the job ran (or has been running, at `nowMs`), or null when there is no such span. */
export function jobDurationMs(job, nowMs) {
  if (ENDED.has(job.state)) {
    if (!job.startTime || !job.endTime) return null;
    return Date.parse(job.endTime) - Date.parse(job.startTime);
  }
  if (LIVE_AFTER_START.has(job.state)) {
    const running = (job.history ?? []).findLast((e) => e.to === 'RUNNING');
    return running ? nowMs - Date.parse(running.at) : null;
  }
  return null;
}

/** 42s, 5m 04s, 2h 07m, 3d 4h; '<1s' under a second; '—' for none (or a span that makes no sense). */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !(ms >= 0)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 1) return '<1s';
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

/** The "Duration" text for a job, at `nowMs` on the wall clock. */
export const jobDuration = (job, nowMs) => formatDuration(jobDurationMs(job, nowMs));

/**
 * The runaway guard: a running task whose reported EECU passes its cap is cancelled
 * with reason EECU_CAP and one `eecu_cap_exceeded` event. The cap is the job's own
 * (envelope maxEecuSeconds), else the smallest `maxEecuSecondsPerJob` of the budgets
 * covering it. Whether Earth Engine reports batchEecuUsageSeconds while a task runs is
 * undocumented: when it reports none, the time guard acts instead, once the task has run
 * `timeGuardFactor` times as long as its estimate says the cap takes at the high band's
 * rate. The stop records which guard acted.
 */
import { EVENT_TYPE_PREFIX, isTerminal, type CloudEvent, type Job, type Operation, type RunawayStop } from '../jobs/index.ts';
import { budgetsFor, type Budget } from '../budgets/index.ts';

export const EECU_CAP_EVENT_TYPE = `${EVENT_TYPE_PREFIX}eecu_cap_exceeded`;
export const EECU_CAP_ERROR = 'EECU_CAP';

export function capOf(job: Job, budgets: readonly Budget[]): { limit: number; source: RunawayStop['capSource'] } | null {
  if (job.maxEecuSeconds && job.maxEecuSeconds > 0) return { limit: job.maxEecuSeconds, source: 'job' };
  const caps = budgetsFor(job, budgets).map((b) => b.maxEecuSecondsPerJob).filter((c): c is number => typeof c === 'number' && c > 0);
  return caps.length ? { limit: Math.min(...caps), source: 'budget' } : null;
}

/** Whether a running job must be stopped, and by which guard (null: let it run). */
export function runawayCheck(job: Job, op: Operation, budgets: readonly Budget[], nowMs: number, timeGuardFactor: number): RunawayStop | null {
  if (job.runaway || isTerminal(job.state) || job.cancelRequestedAt || op.metadata?.state !== 'RUNNING') return null;
  const cap = capOf(job, budgets);
  if (!cap) return null;
  const started = op.metadata.startTime ?? job.startTime;
  const runSeconds = started ? Math.max(0, (nowMs - Date.parse(started)) / 1000) : 0;
  const used = op.metadata.batchEecuUsageSeconds;
  const at = new Date(nowMs).toISOString();
  if (typeof used === 'number') {
    return used > cap.limit ? { guard: 'eecu', capSource: cap.source, limitEecuSeconds: cap.limit, usedEecuSeconds: used, runSeconds, at } : null;
  }
  const e = job.estimate;
  if (!e?.runSeconds || !(e.eecuSeconds.high > 0)) return null;
  const capRunSeconds = (cap.limit / e.eecuSeconds.high) * e.runSeconds.high;
  return runSeconds > timeGuardFactor * capRunSeconds ? { guard: 'time', capSource: cap.source, limitEecuSeconds: cap.limit, usedEecuSeconds: null, runSeconds, at } : null;
}

export function runawayMessage(s: RunawayStop): string {
  return s.guard === 'eecu'
    ? `EECU_CAP: the task reported ${Math.round(s.usedEecuSeconds ?? 0)} EECU-seconds, past its ${s.capSource} cap of ${s.limitEecuSeconds} (EECU guard)`
    : `EECU_CAP: Earth Engine reports no EECU while the task runs; after ${Math.round(s.runSeconds)} s it ran far past the time its estimate gives the ${s.capSource} cap of ${s.limitEecuSeconds} EECU-seconds (time guard)`;
}

/** The one event per job: its id does not depend on the job's version, so a retried guard cannot send two. */
export function capExceededEvent(job: Job, stop: RunawayStop, source: string): CloudEvent {
  return {
    specversion: '1.0',
    id: `${job.jobId}.eecu_cap_exceeded`,
    source,
    type: EECU_CAP_EVENT_TYPE,
    subject: job.jobId,
    time: stop.at,
    datacontenttype: 'application/json',
    data: { jobId: job.jobId, state: job.state, eeProject: job.eeProject, operationName: job.operationName, labels: job.labels, batchId: job.batchId, estimate: job.estimate ?? null, ...stop, message: runawayMessage(stop) } as never,
  };
}

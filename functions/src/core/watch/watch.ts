/**
 * The stalled-task watch's rules (docs/watch.md): which finished jobs are "similar", how
 * long they ran, and when a live task counts as stalled. Pure functions; the tick that
 * applies them is in watch-service.ts.
 *
 * Similar jobs share an Earth Engine project and either a workload tag or, without one,
 * a description pattern (the description with every run of digits made `#`, so
 * "ndvi 2024-05-01" and "ndvi 2024-05-02" are alike). A task PENDING longer than the
 * threshold is stalled; a task RUNNING longer than `factor` × the p95 of its similar
 * finished jobs' run times (and at least the floor) is stalled, once there are enough of
 * them to trust.
 */
import { EVENT_TYPE_PREFIX, eventSummary, type CloudEvent, type Job, type JobEventData, type StallMark } from '../jobs/index.ts';

export const STALLED_KIND = 'stalled';
export const STALLED_EVENT_TYPE = `${EVENT_TYPE_PREFIX}${STALLED_KIND}`;

export interface WatchSettings {
  /** A task PENDING at Earth Engine longer than this is stalled (WATCH_PENDING_SECONDS; 0: never). */
  pendingSeconds: number;
  /** A task RUNNING longer than this many times the p95 of similar finished jobs is stalled (WATCH_RUNNING_P95_FACTOR; 0: never). */
  runningFactor: number;
  /** Similar finished jobs needed before their p95 is used (WATCH_MIN_SAMPLES). */
  minSamples: number;
  /** No running task is stalled before it has run this long, whatever its history (WATCH_MIN_RUNNING_SECONDS). */
  minRunningSeconds: number;
  /** Stalled tasks cancelled and resubmitted per job, at most (WATCH_STALL_RESUBMISSIONS; 0: the watch only tells). */
  maxResubmissions: number;
}

export const DEFAULT_WATCH_SETTINGS: WatchSettings = { pendingSeconds: 7200, runningFactor: 3, minSamples: 5, minRunningSeconds: 600, maxResubmissions: 0 };

/** The description with every run of digits made `#`, lower case, spaces squeezed. */
export function descriptionPattern(description: string): string {
  return description.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();
}

/** What makes jobs similar, within a project: the workload tag, else the description pattern; null when the job has neither. */
export function similarityKey(job: Pick<Job, 'description' | 'request'>): string | null {
  const tag = job.request?.workloadTag;
  if (tag) return `tag:${tag}`;
  const d = job.description ?? job.request?.description;
  return d ? `description:${descriptionPattern(d)}` : null;
}

/** How long a finished job's task ran (Earth Engine's startTime to endTime), in seconds; null when it cannot be told. */
export function runSecondsOf(job: Pick<Job, 'startTime' | 'endTime'>): number | null {
  if (!job.startTime || !job.endTime) return null;
  const s = (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : null;
}

/** Run times of finished jobs, by similarity key. */
export function learnDurations(finished: readonly Job[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const j of finished) {
    const key = similarityKey(j);
    const s = runSecondsOf(j);
    if (key === null || s === null) continue;
    const list = out.get(key);
    if (list) list.push(s);
    else out.set(key, [s]);
  }
  return out;
}

/** The 95th percentile by nearest rank. */
export function p95(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
}

/** When the job entered a state for the last time, by its own history; null when the history does not say. */
function enteredAt(job: Job, state: Job['state']): number | null {
  for (let i = job.history.length - 1; i >= 0; i--) {
    const e = job.history[i]!;
    if (e.to === state) return Date.parse(e.at);
  }
  return null;
}

/** Whether the job's latest stall mark is about its current attempt (and so the badge shows). */
export function stallIsCurrent(job: Job): boolean {
  return !!job.stalled && job.stalled.attempt === job.resubmissions && (job.state === 'PENDING' || job.state === 'RUNNING');
}

/**
 * Is this live job's current attempt stalled? Null when not, or when it was already
 * found stalled (one finding per attempt). `durations`: the run times of its project's
 * finished jobs by similarity key.
 */
export function stallCheck(job: Job, durations: ReadonlyMap<string, readonly number[]>, nowMs: number, s: WatchSettings): StallMark | null {
  if (job.stalled && job.stalled.attempt === job.resubmissions) return null;
  if (job.cancelRequestedAt || job.runaway) return null;
  const at = new Date(nowMs).toISOString();
  const base = { attempt: job.resubmissions, operationName: job.operationName, at, action: 'none' as const, cancelPending: false };
  if (job.state === 'PENDING' && s.pendingSeconds > 0) {
    const since = enteredAt(job, 'PENDING') ?? (job.submitTime ? Date.parse(job.submitTime) : null);
    if (since === null) return null;
    const elapsed = (nowMs - since) / 1000;
    if (elapsed <= s.pendingSeconds) return null;
    return { ...base, kind: 'pending', elapsedSeconds: Math.round(elapsed), limitSeconds: s.pendingSeconds, basis: `PENDING longer than the threshold of ${s.pendingSeconds} s`, samples: 0, p95Seconds: null };
  }
  if (job.state === 'RUNNING' && s.runningFactor > 0) {
    const key = similarityKey(job);
    const samples = key ? (durations.get(key) ?? []) : [];
    if (!key || samples.length < s.minSamples) return null;
    // Earth Engine's startTime, like the durations learned; eeport's own record when it has none.
    const since = job.startTime ? Date.parse(job.startTime) : enteredAt(job, 'RUNNING');
    if (since === null || !Number.isFinite(since)) return null;
    const elapsed = (nowMs - since) / 1000;
    const q = p95(samples);
    const limit = Math.max(s.minRunningSeconds, s.runningFactor * q);
    if (elapsed <= limit) return null;
    return {
      ...base,
      kind: 'running',
      elapsedSeconds: Math.round(elapsed),
      limitSeconds: Math.round(limit),
      basis: `RUNNING longer than ${s.runningFactor} × the p95 (${Math.round(q)} s) of ${samples.length} finished jobs with ${key.replace(':', ' ')}${limit > s.runningFactor * q ? ` (floor ${s.minRunningSeconds} s)` : ''}`,
      samples: samples.length,
      p95Seconds: Math.round(q),
    };
  }
  return null;
}

export interface StalledEventData extends JobEventData {
  stall: StallMark;
}

/** The one `stalled` event of an attempt: its id depends on the job and the attempt, never on the job's version. */
export function stalledEvent(job: Job, stall: StallMark, source: string): CloudEvent {
  const data: StalledEventData = { ...eventSummary(job), stall };
  return {
    specversion: '1.0',
    id: `${job.jobId}.${STALLED_KIND}${stall.attempt ? `.r${stall.attempt}` : ''}`,
    source,
    type: STALLED_EVENT_TYPE,
    subject: job.jobId,
    time: stall.at,
    datacontenttype: 'application/json',
    data,
  };
}

export function stallMessage(stall: StallMark): string {
  return `${stall.kind === 'pending' ? 'PENDING' : 'RUNNING'} for ${stall.elapsedSeconds} s, past its limit of ${stall.limitSeconds} s: ${stall.basis}`;
}

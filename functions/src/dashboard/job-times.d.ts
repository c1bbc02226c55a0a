/** Types of job-times.js (a plain browser module, served as it is), for its tests. */
export interface TimedJob {
  state: string;
  startTime: string | null;
  endTime: string | null;
  history?: { at: string; to: string }[];
}
export function jobDurationMs(job: TimedJob, nowMs: number): number | null;
export function formatDuration(ms: number | null | undefined): string;
export function jobDuration(job: TimedJob, nowMs: number): string;

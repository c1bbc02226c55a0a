/**
 * The simulated export task and the pure functions that derive its observable state at
 * a given simulated instant. Progress is a function of time rather than a stored value,
 * so the engine only needs events for transitions, never for progress ticks.
 */
import type { RpcStatus } from './errors.ts';
import type { TimerHandle } from './clock.ts';
import type { ExportImageRequest } from './validate-export.ts';

export type TaskState = 'PENDING' | 'RUNNING' | 'CANCELLING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** A processing stage reported in `metadata.stages`. */
export interface StageSpec {
  displayName: string;
  description: string;
  totalWorkUnits: number;
  /** Share of the task's duration spent in this stage (relative to the other stages). Default 1. */
  weight?: number;
}

/** Stages with weights normalized to fractions of the run: [start, end) in 0..1. */
export interface PlannedStage extends StageSpec {
  from: number;
  to: number;
}

export function planStages(stages: readonly StageSpec[]): PlannedStage[] {
  const total = stages.reduce((s, st) => s + (st.weight ?? 1), 0);
  let at = 0;
  return stages.map((st) => {
    const from = at;
    at += (st.weight ?? 1) / total;
    return { ...st, from, to: at };
  });
}

/** A task failure planned by fault injection. */
export interface PlannedFailure {
  atProgress: number;
  code: number;
  message: string;
}

/** Internal retries planned by fault injection (each bumps `attempt` and restarts progress). */
export interface PlannedRetries {
  remaining: number;
  atProgress: number;
}

export interface Task {
  id: string;
  name: string;
  project: string;
  /** Creation order across the simulator; also the list order and the page-token key. */
  seq: number;
  request: ExportImageRequest;
  state: TaskState;
  createTime: number;
  updateTime: number;
  /** When the task may first leave the queue. */
  readyTime: number;
  startTime?: number;
  endTime?: number;
  attempt: number;
  attemptStart?: number;
  /** Running time of earlier attempts, for EECU accounting. */
  priorRunMs: number;
  /** Progress frozen when the task stopped running (cancel, failure). */
  frozenProgress?: number;
  /** When progress froze, so EECU stops accruing too. */
  frozenAt?: number;
  durationMs: number;
  /** EECU-seconds one full attempt costs under the work model (eecu-model.ts); absent under the time model. */
  workEecu?: number;
  /** The service may not report EECU while a task runs (option eecuWhileRunning). */
  eecuHiddenWhileRunning?: boolean;
  error?: RpcStatus;
  destinationUris?: string[];
  failure?: PlannedFailure;
  retries?: PlannedRetries;
  timer?: TimerHandle;
  /** Hidden from the API by DELETE; keeps running if it was running. */
  deleted: boolean;
  /** caller + requestId, while this task holds the requestId. */
  dedupeKey?: string;
}

export const isDone = (t: Task): boolean => TERMINAL_STATES.has(t.state);

export function progressAt(t: Task, now: number): number {
  if (t.state === 'SUCCEEDED') return 1;
  if (t.frozenProgress !== undefined) return t.frozenProgress;
  if (t.state !== 'RUNNING' || t.attemptStart === undefined) return 0;
  return Math.min(1, Math.max(0, (now - t.attemptStart) / t.durationMs));
}

/** Running milliseconds across attempts up to `now`. */
export function runMsAt(t: Task, now: number): number {
  if (t.attemptStart === undefined) return t.priorRunMs;
  const end = t.state === 'RUNNING' ? now : (t.endTime ?? t.frozenAt ?? now);
  return t.priorRunMs + Math.max(0, end - t.attemptStart);
}

export function stagesAt(t: Task, now: number, plan: readonly PlannedStage[]): Array<{ displayName: string; description: string; completeWorkUnits: number; totalWorkUnits: number }> {
  const p = progressAt(t, now);
  return plan.map((st) => {
    const share = st.to > st.from ? (p - st.from) / (st.to - st.from) : 1;
    const done = Math.floor(Math.min(1, Math.max(0, share)) * st.totalWorkUnits + 1e-9);
    return { displayName: st.displayName, description: st.description, completeWorkUnits: done, totalWorkUnits: st.totalWorkUnits };
  });
}

/**
 * While running, the service bumps updateTime as work units complete; report the time
 * of the last completed unit so repeated polls see it move without it ever passing now.
 */
export function updateTimeAt(t: Task, now: number, plan: readonly PlannedStage[]): number {
  if (t.state !== 'RUNNING' || t.attemptStart === undefined) return t.updateTime;
  const units = plan.reduce((s, st) => s + st.totalWorkUnits, 0) || 1;
  const unitMs = t.durationMs / units;
  const elapsed = Math.min(now, t.attemptStart + t.durationMs) - t.attemptStart;
  const tick = t.attemptStart + Math.floor(elapsed / unitMs) * unitMs;
  return Math.max(t.updateTime, Math.floor(tick));
}

/** Where the export's results can be seen, as the service reports in destinationUris. */
export function destinationUris(request: ExportImageRequest): string[] {
  const d = request.destination;
  switch (d.kind) {
    case 'cloudStorage': {
      const slash = d.filenamePrefix.lastIndexOf('/');
      const dir = slash >= 0 ? d.filenamePrefix.slice(0, slash + 1) : '';
      return [`https://console.developers.google.com/storage/browser/${d.bucket}/${dir}`];
    }
    case 'drive':
      return [`https://drive.google.com/#folders/${driveFolderId(d.folder)}`];
    case 'asset':
      return [`https://code.earthengine.google.com/?asset=${d.name}`];
  }
}

// Drive reports the folder by id, not by name; derive a stable fake id from the name.
function driveFolderId(folder: string): string {
  let h = 2166136261;
  for (const ch of folder || 'root') h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return `1${h.toString(36).padStart(8, '0')}${'x'.repeat(24)}`.slice(0, 33);
}

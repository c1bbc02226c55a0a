/**
 * Simulator options, their defaults, and the one place they are resolved. Every
 * behaviour of the real service that is undocumented is an option here, with the
 * chosen default documented.
 */
import type { ClockConfig } from './clock.ts';
import type { StageSpec } from './task.ts';
import { DEFAULT_EECU_MODEL, type EecuModel } from './eecu-model.ts';
import type { ExportImageRequest } from './validate-export.ts';

export interface SimulatorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default '127.0.0.1'. */
  host?: string;
  /** Simulated time. Default `{ mode: 'manual' }` (time only moves with `sim.clock.advance`). */
  clock?: ClockConfig;
  /** Tasks a project runs at once ("2 on average" for the service's default plan). Default 2. */
  maxConcurrentPerProject?: number;
  /** Maximum PENDING tasks per project before image:export answers 429. Default 3000. */
  queueCap?: number;
  /** Requests per second per project (wall clock, token bucket with a one-second burst); 0 disables. Default 100. */
  rateLimitPerSecond?: number;
  /** Requests in flight at once per project before 429; 0 disables. Default 40 (the service's documented default). */
  maxConcurrentRequests?: number;
  /**
   * Simulated run time of one attempt of a task, in ms, or a function of the request
   * (e.g. to vary durations). Default 60_000.
   */
  taskDurationMs?: number | ((request: ExportImageRequest, project: string) => number);
  /** Stages reported in `metadata.stages`, sharing the run time by `weight`. Default: three stages. */
  stages?: StageSpec[];
  /** EECU-seconds accrued per simulated running second (`batchEecuUsageSeconds`). Default 1. */
  eecuPerSecond?: number;
  /**
   * How `batchEecuUsageSeconds` is made: 'time' (default) is eecuPerSecond × running
   * seconds; 'work' is a cost from the task's pixels and expression with noise and
   * outliers (eecu-model.ts), accrued with progress.
   */
  eecuModel?: 'time' | 'work';
  /** Overrides of the work model's constants (eecuModel 'work'). */
  eecuWork?: Partial<EecuModel>;
  /**
   * Whether a running task reports its partial EECU. Undocumented for the real service;
   * false reports it only once the task has ended. Default true.
   */
  eecuWhileRunning?: boolean;
  /** Minimum simulated time a new task stays PENDING before it may start. Default 5_000. */
  pendingDelayMs?: number;
  /** Simulated time a RUNNING task spends in CANCELLING after a cancel. Default 2_000. */
  cancelDelayMs?: number;
  /** Attempts the service makes before failing a task that keeps breaking internally. Default 5. */
  maxAttempts?: number;
  /** Simulated time a finished task stays listed; Infinity keeps it forever. Default 10 days. */
  retentionMs?: number;
  /** 'required' (default): a Bearer token is needed. 'off': no auth checks. */
  auth?: 'required' | 'off';
  /** Tokens treated as lacking the Earth Engine OAuth scope (403 ACCESS_TOKEN_SCOPE_INSUFFICIENT). */
  insufficientScopeTokens?: string[];
  /** If set, only these tokens are accepted; others get 401. Default: any token is accepted. */
  validTokens?: string[];
  /**
   * A repeated requestId from the same caller (bearer token; the service scopes it per
   * user, whatever the project): 'error' (default, the harsher reading) answers 409
   * ALREADY_EXISTS without naming the task; 'return-existing' answers the original
   * Operation. The service's behaviour is undocumented.
   */
  duplicateRequestId?: 'return-existing' | 'error';
  /**
   * HTTP status of the queue-full answer (RESOURCE_EXHAUSTED, "Too many tasks already in
   * the queue"). Undocumented: 429 in public scripts; 400, 403 and 503 are plausible too. Default 429.
   */
  queueFullStatus?: 429 | 400 | 403 | 503;
  /**
   * Cancelling a finished operation: 'error' (default) answers 400 FAILED_PRECONDITION;
   * 'ignore' answers `{}` and changes nothing.
   */
  cancelTerminal?: 'error' | 'ignore';
  /**
   * Projects the caller may use; any other project gets 403 PERMISSION_DENIED
   * (reason USER_PROJECT_DENIED), as the service answers for a project the caller has no
   * access to. Default: every project is allowed.
   */
  allowedProjects?: string[];
  /** Default `timeout` of operations:wait when the body has none, in simulated ms. Default 60_000. */
  waitDefaultTimeoutMs?: number;
  /** Longest real time an operations:wait call may block ("best effort, may return early"). Default 10_000. */
  waitMaxRealMs?: number;
  /** Default and maximum `pageSize` of operations.list. Default 500. */
  maxPageSize?: number;
}

export const DEFAULT_STAGES: StageSpec[] = [
  { displayName: 'Create Tiles', description: 'Computing the tiles of the image.', totalWorkUnits: 1, weight: 1 },
  { displayName: 'Compute Tiles', description: 'Computing and encoding the tiles.', totalWorkUnits: 100, weight: 8 },
  { displayName: 'Write Files', description: 'Writing the files to their destination.', totalWorkUnits: 1, weight: 1 },
];

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'allowedProjects' | 'validTokens' | 'eecuWork'>> & { eecuWork: EecuModel } &
  Pick<SimulatorOptions, 'allowedProjects' | 'validTokens'>;

const nonNegative = (name: string, v: number): number => {
  if (!(v >= 0)) throw new Error(`Simulator option ${name} must be a number >= 0, got ${v}`);
  return v;
};

export function resolveOptions(o: SimulatorOptions = {}): ResolvedOptions {
  const r: ResolvedOptions = {
    port: o.port ?? 0,
    host: o.host ?? '127.0.0.1',
    clock: o.clock ?? { mode: 'manual' },
    maxConcurrentPerProject: nonNegative('maxConcurrentPerProject', o.maxConcurrentPerProject ?? 2),
    queueCap: nonNegative('queueCap', o.queueCap ?? 3000),
    rateLimitPerSecond: nonNegative('rateLimitPerSecond', o.rateLimitPerSecond ?? 100),
    maxConcurrentRequests: nonNegative('maxConcurrentRequests', o.maxConcurrentRequests ?? 40),
    taskDurationMs: o.taskDurationMs ?? 60_000,
    stages: o.stages ?? DEFAULT_STAGES,
    eecuPerSecond: nonNegative('eecuPerSecond', o.eecuPerSecond ?? 1),
    eecuModel: o.eecuModel ?? 'time',
    eecuWork: { ...DEFAULT_EECU_MODEL, ...o.eecuWork },
    eecuWhileRunning: o.eecuWhileRunning ?? true,
    pendingDelayMs: nonNegative('pendingDelayMs', o.pendingDelayMs ?? 5_000),
    cancelDelayMs: nonNegative('cancelDelayMs', o.cancelDelayMs ?? 2_000),
    maxAttempts: Math.max(1, o.maxAttempts ?? 5),
    retentionMs: nonNegative('retentionMs', o.retentionMs ?? 10 * 24 * 3600 * 1000),
    auth: o.auth ?? 'required',
    insufficientScopeTokens: o.insufficientScopeTokens ?? [],
    validTokens: o.validTokens,
    duplicateRequestId: o.duplicateRequestId ?? 'error',
    queueFullStatus: o.queueFullStatus ?? 429,
    cancelTerminal: o.cancelTerminal ?? 'error',
    allowedProjects: o.allowedProjects,
    waitDefaultTimeoutMs: nonNegative('waitDefaultTimeoutMs', o.waitDefaultTimeoutMs ?? 60_000),
    waitMaxRealMs: nonNegative('waitMaxRealMs', o.waitMaxRealMs ?? 10_000),
    maxPageSize: Math.max(1, o.maxPageSize ?? 500),
  };
  if (r.stages.length === 0) throw new Error('Simulator option stages must list at least one stage');
  if (typeof r.taskDurationMs === 'number') nonNegative('taskDurationMs', r.taskDurationMs);
  return r;
}

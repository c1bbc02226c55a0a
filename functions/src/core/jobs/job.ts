/**
 * The job: one requested export and everything eeport knows about it. Its state machine
 * is the single source of truth for what may happen next; every change goes through
 * transition(), inside a store transaction (see ports.ts).
 */
import type { ExportImageRequest } from '../requests/index.ts';

export const JOB_STATES = [
  'QUEUED',
  'SUBMITTING',
  'PENDING',
  'RUNNING',
  'CANCELLING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'REJECTED',
  // A chain's step that never ran: a step it comes after failed, was cancelled or was skipped (core/chains).
  'SKIPPED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED']);
/** States in which the job holds one of its Earth Engine project's in-flight slots. */
export const IN_FLIGHT_STATES: ReadonlySet<JobState> = new Set(['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']);
/** States the poller looks at: the job has (or should have) a live operation. */
export const LIVE_STATES: readonly JobState[] = ['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING'];

export const isTerminal = (s: JobState) => TERMINAL_STATES.has(s);

/** Allowed transitions. Terminal states have none: a redelivered message for them does nothing. */
const NEXT: Record<JobState, readonly JobState[]> = {
  QUEUED: ['SUBMITTING', 'CANCELLED', 'FAILED'],
  SUBMITTING: ['PENDING', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED'],
  // → QUEUED: a transient task failure is resubmitted (smart resubmission) through the queue.
  PENDING: ['RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED'],
  RUNNING: ['CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED'],
  CANCELLING: ['SUCCEEDED', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
  REJECTED: [],
  // Like REJECTED, a job is born SKIPPED (newJob) and never leaves it.
  SKIPPED: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return from === to || NEXT[from].includes(to);
}

export interface Stage {
  displayName: string;
  description?: string;
  completeWorkUnits?: number;
  totalWorkUnits?: number;
}

export interface JobError {
  code: string;
  message: string;
  /** HTTP status or google.rpc code where Earth Engine gave one. */
  status?: number;
  details?: { path: string; message: string }[];
}

export interface HistoryEntry {
  at: string;
  from: JobState | null;
  to: JobState;
  reason?: string;
}

export interface WebhookAttempt {
  at: string;
  eventId: string;
  status: number | null;
  latencyMs: number | null;
  error: string | null;
}

/** What the job's callback has seen: the state of the latest delivery and its last attempts. */
export interface WebhookSummary {
  url: string;
  state: 'pending' | 'delivered' | 'failed' | 'disabled';
  lastEventId: string;
  /** The last few attempts across this job's events, newest last. */
  attempts: WebhookAttempt[];
  updateTime: string;
}

export const WEBHOOK_ATTEMPTS_KEPT = 10;

export type JobSource =
  | { kind: 'pubsub'; messageId: string; eventSource: string }
  | { kind: 'api'; caller?: string }
  | { kind: 'upload'; bucket: string; name: string; generation: string }
  /** A schedule's run for one window (core/schedules). */
  | { kind: 'schedule'; scheduleId: string; windowStart: string; windowEnd: string }
  /** A chain's step, submitted (or skipped) once the steps it comes after ended (core/chains). */
  | { kind: 'chain'; chainId: string; step: string }
  /** A tile of a failed job resubmitted on its pixel grid (core/watch's tiled recovery). */
  | { kind: 'recovery'; jobId: string };

/**
 * Why a SUBMITTING job's task can't be told yet: Earth Engine answered its requestId
 * "already exists" without naming the operation, and eeport is looking for it
 * (submit/adopt-operation.ts). Visible in the API and dashboard; cleared once adopted.
 */
export interface Verifying {
  since: string;
  /** When the last search was made (eeport's clock). */
  lastCheck: string;
  /** Searches made so far. */
  checks: number;
  /** Operations that could be this job's (none yet, one not yet confirmed, or more than one). */
  candidates: string[];
  /** Since when the searches have found exactly these candidates. */
  candidatesSince: string;
  note: string;
}

export type EstimateMethod = 'history:expression' | 'history:workload-tag' | 'history:project' | 'probe' | 'prior';

/** What a job was expected to cost before it ran (core/estimates; ADR 0011), kept beside its actual eecuSeconds. */
export interface JobEstimate {
  method: EstimateMethod;
  /** Output pixels, when the grid or the expression's region and scale tell them. */
  pixels: number | null;
  /** The computation's fingerprint: function and argument names, and the constants that pick data. */
  fingerprint: string;
  eecuSeconds: { low: number; expected: number; high: number };
  /** Running time the same history took (for the time guard), when it had any. */
  runSeconds: { expected: number; high: number } | null;
  basis: string;
  samples: number;
  at: string;
}

/** Why the runaway guard stopped a job: the EECU it reported passed its cap, or (no EECU reported) it ran far past its estimate. */
export interface RunawayStop {
  guard: 'eecu' | 'time';
  /** Where the cap came from. */
  capSource: 'job' | 'batch' | 'budget';
  limitEecuSeconds: number;
  usedEecuSeconds: number | null;
  runSeconds: number;
  at: string;
}

/** The stalled-task watch's finding on one attempt of a job (core/watch; docs/watch.md). */
export interface StallMark {
  /** pending: queued at Earth Engine past the threshold; running: past a multiple of the p95 of similar finished jobs. */
  kind: 'pending' | 'running';
  /** The attempt it is about (the job's `resubmissions` then) and its operation. */
  attempt: number;
  operationName: string | null;
  at: string;
  elapsedSeconds: number;
  limitSeconds: number;
  /** What the limit rests on: the threshold, or the similar jobs (their key, count and p95). */
  basis: string;
  samples: number;
  p95Seconds: number | null;
  /** What the policy did: nothing, or cancelled the task and resubmitted the job through the queue. */
  action: 'none' | 'resubmitted';
  /** Set after a resubmission until operations.cancel of the stalled task has reached Earth Engine. */
  cancelPending: boolean;
}

/** Recovery that changed the request (core/watch's tiled recovery; docs/watch.md): the failed job resubmitted as a batch of tiles on its pixel grid. */
export interface TiledRecovery {
  policy: 'tiled';
  /** Which too-big failure it was. */
  kind: 'memory' | 'compute-time' | 'too-large';
  /** The failure, or why the job could not be tiled. */
  reason: string;
  /** The batch of tiles (its id), or null when the job could not be tiled (no grid, depth limit). */
  batchId: string | null;
  tiles: number;
  /** 1 for tiles of an ordinary job, n + 1 for tiles of a tile of depth n. */
  depth: number;
  at: string;
}

export interface Job {
  jobId: string;
  state: JobState;
  eeProject: string;
  /** The normalized request as sent to Earth Engine; null when the message was rejected before it parsed. */
  request: ExportImageRequest | null;
  /** The requestId sent to Earth Engine: the client's, or derived from jobId. Fixed for the job's life. */
  requestId: string;
  /** Where the identity came from: which key made jobId (idempotency key, requestId, message, upload). */
  identity: string;
  operationName: string | null;
  description: string | null;
  priority: number;
  labels: Record<string, string>;
  callbackUrl: string | null;
  source: JobSource;
  /** The tenant whose job this is (TENANTS); null without tenants, or for the operators' own. Never changes. */
  tenantId: string | null;
  progress: number | null;
  stages: Stage[];
  attempt: number | null;
  eecuSeconds: number | null;
  destinationUris: string[];
  error: JobError | null;
  /** For QUEUED jobs: why they wait. */
  queuedReason: string | null;
  /** How many times submit called Earth Engine, and the last transient error seen. */
  submitAttempts: number;
  lastSubmitError: string | null;
  /** Set when someone asked to cancel; the poller (or cancel itself) carries it out. */
  cancelRequestedAt: string | null;
  /** While set and in the future, one submitter owns the SUBMITTING job; others back off. */
  submitLeaseUntil: string | null;
  /** First bytes of a rejected message, so a person can see what was sent. */
  rawPreview: string | null;
  createTime: string;
  updateTime: string;
  submitTime: string | null;
  startTime: string | null;
  endTime: string | null;
  nextPollAt: string | null;
  history: HistoryEntry[];
  webhook: WebhookSummary | null;
  /** Automatic resubmissions after transient task failures so far. */
  resubmissions: number;
  /** Operations of earlier (failed, resubmitted) attempts, oldest first. */
  previousOperations: string[];
  /** The failure that caused the latest resubmission, or that ended the job. */
  lastFailure: (JobError & { failureClass: 'transient' | 'permanent'; rule: string }) | null;
  /** A QUEUED job is not released before this time (resubmission backoff). */
  notBefore: string | null;
  /** The batch this job is a child of, its index there, and whether it still counts (false once a batch retry replaced it). */
  batchId: string | null;
  batchIndex: number | null;
  batchCurrent: boolean;
  /** The slot shard this job holds a slot in while in flight (see slots.ts). */
  slotShard: number | null;
  /** Set while the job's task may exist but eeport cannot tell which it is (see Verifying). */
  verifying: Verifying | null;
  /** The estimate recorded when the poller first followed the job (absent on jobs older than estimates). */
  estimate?: JobEstimate | null;
  /** The job's own EECU cap (envelope maxEecuSeconds); a running task past it is cancelled. */
  maxEecuSeconds?: number | null;
  /** Set once the runaway guard cancelled the job. */
  runaway?: RunawayStop | null;
  /** The stalled-task watch's latest finding (core/watch); the badge shows while its attempt is the job's current one. */
  stalled?: StallMark | null;
  /** Resubmissions the stalled-task watch made (bounded by WATCH_STALL_RESUBMISSIONS). */
  stallResubmissions?: number;
  /** Set once the tiled-recovery policy acted on this FAILED job (at most once). */
  recovery?: TiledRecovery | null;
  /** The chain this job is a step of (its root: step "root"); see GET /v1/chains/{chainId}. Absent or null: none. */
  chain?: { chainId: string; step: string } | null;
  /** Incremented by every write; the number of the next event id. */
  version: number;
}

export const HISTORY_LIMIT = 20;

export function appendHistory(history: HistoryEntry[], entry: HistoryEntry, limit = HISTORY_LIMIT): HistoryEntry[] {
  const next = [...history, entry];
  return next.length > limit ? next.slice(next.length - limit) : next;
}

/**
 * Applies a state change and its fields, enforcing the state machine. Returns null when
 * the change is not allowed (a stale or out-of-order update), which callers treat as
 * "nothing to do", never as an error to retry.
 */
export function transition(job: Job, to: JobState, at: string, fields: Partial<Job> = {}, reason?: string): Job | null {
  if (!canTransition(job.state, to)) return null;
  const changed = job.state !== to;
  return {
    ...job,
    ...fields,
    state: to,
    updateTime: at,
    history: changed ? appendHistory(job.history, { at, from: job.state, to, ...(reason ? { reason } : {}) }) : job.history,
    version: job.version + 1,
  };
}

/** A job with every field at its starting value; callers set state, identity and request. */
export function newJob(init: Pick<Job, 'jobId' | 'state' | 'eeProject' | 'request' | 'requestId' | 'identity' | 'labels' | 'callbackUrl' | 'source'> & Partial<Job>, at: string): Job {
  return {
    operationName: null,
    description: init.request?.description ?? null,
    priority: init.request?.priority ?? 100,
    progress: null,
    stages: [],
    attempt: null,
    eecuSeconds: null,
    destinationUris: [],
    error: null,
    queuedReason: null,
    submitAttempts: 0,
    lastSubmitError: null,
    submitLeaseUntil: null,
    cancelRequestedAt: null,
    webhook: null,
    resubmissions: 0,
    previousOperations: [],
    lastFailure: null,
    notBefore: null,
    batchId: null,
    batchIndex: null,
    batchCurrent: true,
    slotShard: null,
    verifying: null,
    tenantId: null,
    rawPreview: null,
    createTime: at,
    updateTime: at,
    submitTime: null,
    startTime: null,
    endTime: null,
    nextPollAt: null,
    history: [{ at, from: null, to: init.state }],
    version: 1,
    ...init,
  };
}

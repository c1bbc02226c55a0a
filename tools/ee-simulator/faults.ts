/**
 * Fault injection: the failures a robust Earth Engine client must survive, on demand.
 * Request faults (latency, error responses, dropped connections) act on the HTTP layer;
 * task faults (failures, internal retries) are attached to tasks when they are created.
 * Specs come from tests directly or from `POST /_sim/faults`, so they are parsed with
 * one schema for both.
 */
import { z } from 'zod';
import { ApiError, type RpcStatusName, errorInfo, statusNameForHttp } from './errors.ts';

export const API_METHODS = ['export', 'get', 'list', 'cancel', 'wait', 'delete', 'algorithms', 'listImages'] as const;
/** The REST methods the simulator serves, as counted in stats and matched by faults. */
export type ApiMethod = (typeof API_METHODS)[number];

const RPC_NAMES = [
  'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
] as const satisfies readonly RpcStatusName[];

const methodMatch = z.union([z.enum(API_METHODS), z.array(z.enum(API_METHODS)).min(1)]).optional();
const times = z.number().int().positive().optional();
const regexLike = z.union([z.string(), z.instanceof(RegExp)]);

const requestMatch = {
  /** Only calls of this method (or these methods). Default: every method. */
  method: methodMatch,
  /** Only calls for this project. Default: every project. */
  project: z.string().optional(),
};

const taskMatch = z
  .object({
    /** Regex (source string or RegExp) tested against the request's `description`. */
    description: regexLike.optional(),
    requestId: z.string().optional(),
    project: z.string().optional(),
  })
  .strict();

/**
 * Earth Engine's messages for a task too big for one worker, as users report them (Earth
 * Engine documents neither the texts nor their google.rpc codes; the codes here are
 * plausible guesses): `task-failure` with `preset` fails a task with one of them.
 */
export const TOO_BIG_FAILURES = {
  'user-memory': { code: 3, message: 'User memory limit exceeded.' },
  'memory-capacity': { code: 8, message: 'Computation failed: memory capacity exceeded.' },
  'compute-time': { code: 4, message: 'Computation timed out.' },
  'output-too-large': { code: 3, message: 'Output of image computation is too large (3 bands for 201326592 pixels = 4.5 GiB > 2 GiB).' },
  'too-many-pixels': { code: 3, message: 'Too many pixels in the region. Found 1200000000, but maxPixels allows only 100000000.' },
} as const;

/** Schema of every fault kind; see {@link FaultSpec}. */
export const faultSpecSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('latency'),
      /** Real (wall-clock) milliseconds added before the call is handled. */
      ms: z.number().nonnegative(),
      /** Number of matching calls to delay. Default: all of them until cleared. */
      times,
      ...requestMatch,
    })
    .strict(),
  z
    .object({
      kind: z.literal('http-error'),
      /** HTTP status to answer. Default 503. */
      httpStatus: z.number().int().min(400).max(599).default(503),
      /** google.rpc status name in the body. Default: derived from httpStatus. */
      status: z.enum(RPC_NAMES).optional(),
      message: z.string().optional(),
      /** Sets a Retry-After header (seconds). */
      retryAfterSeconds: z.number().int().nonnegative().optional(),
      /** Number of matching calls to fail. Default 1. */
      times,
      ...requestMatch,
    })
    .strict(),
  z
    .object({
      kind: z.literal('drop-connection'),
      /**
       * 'before': the socket is destroyed before the call has any effect. 'after': the
       * call takes effect (e.g. a task is created) but its response is lost, which is
       * what makes requestId deduplication matter. Default 'before'.
       */
      phase: z.enum(['before', 'after']).default('before'),
      /** Number of matching calls to drop. Default 1. */
      times,
      ...requestMatch,
    })
    .strict(),
  z
    .object({
      kind: z.literal('task-failure'),
      /** Which new tasks get the fault. Default: any task. */
      match: taskMatch.optional(),
      /** How many matching tasks get it. Default: 1 without `match`, unlimited with `match`. */
      times,
      /** Overall progress (0..1) at which the task fails. Default 0.5, or the middle of `atStage`. */
      atProgress: z.number().min(0).max(1).optional(),
      /** Stage (index or displayName) during which the task fails. */
      atStage: z.union([z.number().int().nonnegative(), z.string()]).optional(),
      /** google.rpc.Code of the operation error. Default 13 (INTERNAL). */
      code: z.number().int().min(1).max(16).default(13),
      message: z.string().default('An internal error has occurred.'),
      /** One of Earth Engine's too-big failures (TOO_BIG_FAILURES): its message and code instead of `message` and `code`. */
      preset: z.enum(['user-memory', 'compute-time', 'output-too-large', 'too-many-pixels', 'memory-capacity']).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('task-retry'),
      match: taskMatch.optional(),
      times,
      /** Internal retries before the task proceeds; each bumps `attempt` and restarts it. Default 1. */
      retries: z.number().int().positive().default(1),
      /** Progress at which each attempt breaks. Default 0.5. */
      atProgress: z.number().min(0).max(1).default(0.5),
    })
    .strict(),
  z
    .object({
      kind: z.literal('hold-pending'),
      /** Which new tasks are held. Default: any task. */
      match: taskMatch.optional(),
      /** How many matching tasks are held. Default: 1 without `match`, unlimited with `match`. */
      times,
      /** Simulated milliseconds the task stays PENDING before it may start. Default: until cancelled. */
      forMs: z.number().nonnegative().optional(),
    })
    .strict(),
]);

/** A fault as accepted by `sim.faults.inject()` and `POST /_sim/faults`. */
export type FaultSpec = z.input<typeof faultSpecSchema>;
type ParsedFault = z.output<typeof faultSpecSchema>;

interface ActiveFault {
  id: string;
  spec: ParsedFault;
  remaining: number;
}

/** What the HTTP layer must do with one call. */
export interface RequestFaults {
  latencyMs: number;
  drop?: 'before' | 'after';
  error?: ApiError;
}

/** What a new task carries, decided at creation. */
export interface TaskFaults {
  failure?: { atProgress?: number; atStage?: number | string; code: number; message: string };
  retries?: { count: number; atProgress: number };
  /** Extra simulated time the task stays PENDING (Infinity: until it is cancelled). */
  holdPendingMs?: number;
}

/** The fault controls exposed as `sim.faults`. */
export interface FaultControls {
  /** Activates a fault; returns its id. Throws on an invalid spec. */
  inject(spec: FaultSpec): string;
  /** Removes one fault, or all of them. */
  clear(id?: string): void;
  /** Active faults with their remaining use counts. */
  list(): Array<{ id: string; remaining: number | null; spec: unknown }>;
}

const matchesMethod = (m: ApiMethod | ApiMethod[] | undefined, method: ApiMethod): boolean =>
  m === undefined || (Array.isArray(m) ? m.includes(method) : m === method);

export class FaultRegistry implements FaultControls {
  private faults: ActiveFault[] = [];
  private nextId = 1;

  inject(spec: FaultSpec): string {
    const parsed = faultSpecSchema.parse(spec);
    const id = `fault-${this.nextId++}`;
    this.faults.push({ id, spec: parsed, remaining: defaultTimes(parsed) });
    return id;
  }

  clear(id?: string): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  list(): Array<{ id: string; remaining: number | null; spec: unknown }> {
    // JSON-friendly: unlimited counts as null, RegExp matchers as their source.
    return this.faults.map((f) => ({
      id: f.id,
      remaining: Number.isFinite(f.remaining) ? f.remaining : null,
      spec: JSON.parse(JSON.stringify(f.spec, (_k, v: unknown) => (v instanceof RegExp ? v.source : v))) as unknown,
    }));
  }

  /** Consumes the request faults that apply to one call. */
  forRequest(method: ApiMethod, project: string | undefined): RequestFaults {
    const out: RequestFaults = { latencyMs: 0 };
    for (const f of this.faults) {
      const s = f.spec;
      if (s.kind !== 'latency' && s.kind !== 'http-error' && s.kind !== 'drop-connection') continue;
      if (!matchesMethod(s.method, method) || (s.project !== undefined && s.project !== project)) continue;
      if (s.kind === 'latency') {
        out.latencyMs += s.ms;
        this.use(f);
      } else if (s.kind === 'drop-connection' && !out.drop && !out.error) {
        out.drop = s.phase;
        this.use(f);
      } else if (s.kind === 'http-error' && !out.drop && !out.error) {
        const status = s.status ?? statusNameForHttp(s.httpStatus);
        out.error = new ApiError(status, s.message ?? defaultMessage(s.httpStatus), {
          httpCode: s.httpStatus,
          details: s.httpStatus === 429 ? [errorInfo('RATE_LIMIT_EXCEEDED')] : [],
          headers: s.retryAfterSeconds !== undefined ? { 'retry-after': String(s.retryAfterSeconds) } : {},
        });
        this.use(f);
      }
    }
    this.prune();
    return out;
  }

  /** Consumes the task faults that apply to a task being created. */
  forTask(task: { project: string; description: string; requestId?: string }): TaskFaults {
    const out: TaskFaults = {};
    for (const f of this.faults) {
      const s = f.spec;
      if (s.kind !== 'task-failure' && s.kind !== 'task-retry' && s.kind !== 'hold-pending') continue;
      if (!taskMatches(s.match, task)) continue;
      if (s.kind === 'hold-pending') {
        if (out.holdPendingMs === undefined) {
          out.holdPendingMs = s.forMs ?? Infinity;
          this.use(f);
        }
        continue;
      }
      if (s.kind === 'task-failure' && !out.failure) {
        const preset = s.preset ? TOO_BIG_FAILURES[s.preset] : null;
        out.failure = { atProgress: s.atProgress, atStage: s.atStage, code: preset?.code ?? s.code, message: preset?.message ?? s.message };
        this.use(f);
      } else if (s.kind === 'task-retry' && !out.retries) {
        out.retries = { count: s.retries, atProgress: s.atProgress };
        this.use(f);
      }
    }
    this.prune();
    return out;
  }

  private use(f: ActiveFault): void {
    f.remaining -= 1;
  }

  private prune(): void {
    this.faults = this.faults.filter((f) => f.remaining > 0);
  }
}

function defaultTimes(s: ParsedFault): number {
  if (s.times !== undefined) return s.times;
  if (s.kind === 'latency') return Infinity;
  if ((s.kind === 'task-failure' || s.kind === 'task-retry' || s.kind === 'hold-pending') && s.match && Object.values(s.match).some((v) => v !== undefined)) return Infinity;
  return 1;
}

function taskMatches(m: z.output<typeof taskMatch> | undefined, t: { project: string; description: string; requestId?: string }): boolean {
  if (!m) return true;
  if (m.project !== undefined && m.project !== t.project) return false;
  if (m.requestId !== undefined && m.requestId !== t.requestId) return false;
  if (m.description !== undefined) {
    const re = m.description instanceof RegExp ? m.description : new RegExp(m.description);
    re.lastIndex = 0;
    if (!re.test(t.description)) return false;
  }
  return true;
}

function defaultMessage(http: number): string {
  switch (http) {
    case 429:
      return 'Too many concurrent requests.';
    case 500:
      return 'An internal error has occurred.';
    case 502:
      return 'Bad Gateway.';
    case 503:
      return 'The service is currently unavailable.';
    case 504:
      return 'Deadline exceeded.';
    default:
      return `Injected error ${http}.`;
  }
}

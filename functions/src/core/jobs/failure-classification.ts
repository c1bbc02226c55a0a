/**
 * Which Earth Engine task failures are worth resubmitting. The one table of rules lives
 * here, with a test for every entry (test/unit/failure-classification.test.ts).
 *
 * Transient: Earth Engine's own trouble — internal/backend errors, deadlines, its
 * resources running out, a worker lost mid-task. Permanent: the request itself — a bad
 * expression, a missing asset, permissions, too many pixels, user memory, an invalid
 * destination. Unknown failures count as permanent: resubmitting something that can
 * never succeed burns EECU and queue slots, which is exactly what users complain about.
 */
import { derivedRequestId } from './ids.ts';
import type { Job, JobError, JobState } from './job.ts';
import type { Operation } from './operation.ts';

export type FailureClass = 'transient' | 'permanent';

export interface FailureRule {
  id: string;
  class: FailureClass;
  /** google.rpc codes this rule applies to (any code when absent). */
  codes?: number[];
  /** Tested against the error message (case-insensitive). */
  pattern: RegExp;
  reason: string;
}

/** First match wins: the permanent rules come first, so "internal error: asset not found" is permanent. */
export const FAILURE_RULES: readonly FailureRule[] = [
  { id: 'cancelled', class: 'permanent', codes: [1], pattern: /.*/, reason: 'cancelled: never resubmitted' },
  { id: 'too-many-pixels', class: 'permanent', pattern: /export too large|too many pixels|maxPixels/i, reason: 'the export is larger than maxPixels allows' },
  { id: 'user-memory', class: 'permanent', pattern: /user memory limit exceeded|memory capacity exceeded/i, reason: 'the computation needs more memory than a task gets' },
  { id: 'missing-asset', class: 'permanent', pattern: /(asset|image|collection|table)[^.]*(not found|does not exist)|not found: projects\//i, reason: 'an input asset does not exist' },
  { id: 'permission', class: 'permanent', codes: [7, 16], pattern: /.*/, reason: 'permission denied or unauthenticated' },
  { id: 'permission-text', class: 'permanent', pattern: /permission|access denied|not authorized|caller does not have/i, reason: 'permission denied' },
  { id: 'destination', class: 'permanent', pattern: /bucket|destination|drive folder|cannot write|already exists/i, reason: 'the destination is invalid or not writable' },
  { id: 'invalid-argument', class: 'permanent', codes: [3, 9, 11], pattern: /.*/, reason: 'the request is invalid' },
  { id: 'bad-expression', class: 'permanent', pattern: /unknown (function|algorithm)|invalid (argument|expression|value)|parse error|cannot be (applied|computed)/i, reason: 'the expression is invalid' },
  { id: 'internal', class: 'transient', codes: [13], pattern: /.*/, reason: 'Earth Engine internal error' },
  { id: 'internal-text', class: 'transient', pattern: /internal error|backend error|server error|an error occurred on the server/i, reason: 'Earth Engine internal error' },
  { id: 'unavailable', class: 'transient', codes: [14, 10], pattern: /.*/, reason: 'Earth Engine unavailable or the task was aborted' },
  { id: 'deadline', class: 'transient', codes: [4], pattern: /.*/, reason: 'deadline exceeded' },
  { id: 'deadline-text', class: 'transient', pattern: /deadline|timed out|timeout/i, reason: 'deadline exceeded' },
  { id: 'exhausted', class: 'transient', codes: [8], pattern: /.*/, reason: 'Earth Engine resources exhausted' },
  { id: 'exhausted-text', class: 'transient', pattern: /resources? exhausted|too many concurrent|capacity|worker (lost|died)|try again/i, reason: 'Earth Engine resources exhausted' },
];

export interface Classification {
  class: FailureClass;
  rule: string;
  reason: string;
}

export function classifyFailure(code: number | undefined, message: string): Classification {
  for (const r of FAILURE_RULES) {
    if (r.codes && (code === undefined || !r.codes.includes(code))) continue;
    if (r.pattern.test(message)) return { class: r.class, rule: r.id, reason: r.reason };
  }
  return { class: 'permanent', rule: 'unknown', reason: 'unrecognised failure: treated as permanent' };
}

export interface ResubmissionPolicy {
  /** Automatic resubmissions after transient task failures (0 disables). */
  maxResubmissions: number;
  /** Wait before the first resubmission; doubles for each further one. */
  resubmitBackoffMs: number;
}

/**
 * What a failed operation does to its job — wherever the failure is first seen (the
 * poller, or a submit that finds its operation already ended): a transient failure
 * within the limit goes back to QUEUED with a new requestId and a backoff; anything else
 * fails the job, recording the classification.
 */
export function resolveFailure(
  cur: Job,
  op: Operation,
  error: JobError,
  policy: ResubmissionPolicy,
  nowMs: number,
): { target: JobState; extra: Partial<Job>; reason: string | null } {
  const c = classifyFailure(op.error?.code, error.message);
  const lastFailure = { ...error, failureClass: c.class, rule: c.rule };
  if (c.class !== 'transient' || cur.resubmissions >= policy.maxResubmissions) return { target: 'FAILED', extra: { lastFailure }, reason: null };
  const n = cur.resubmissions + 1;
  const reason = `transient failure (${c.reason}); resubmission ${n} of ${policy.maxResubmissions}`;
  return {
    target: 'QUEUED',
    reason,
    extra: {
      resubmissions: n,
      requestId: derivedRequestId(cur.jobId, n),
      operationName: null,
      previousOperations: [...cur.previousOperations, op.name].slice(-20),
      lastFailure,
      error: null,
      progress: null,
      stages: [],
      endTime: null,
      notBefore: new Date(nowMs + policy.resubmitBackoffMs * 2 ** (n - 1)).toISOString(),
      queuedReason: reason,
    },
  };
}

/**
 * Errors with a stable code. Expected failures travel as values (Result) through the
 * core; these classes are for what is thrown: transient faults the trigger must retry,
 * and bugs.
 */
export type ErrorCode =
  | 'EXPORT.INVALID_JSON'
  | 'EXPORT.INVALID_REQUEST'
  | 'EXPORT.INVALID_ENVELOPE'
  | 'EXPORT.UNKNOWN_PROJECT'
  | 'EXPORT.TOO_LARGE'
  | 'EE.INVALID_ARGUMENT'
  | 'EE.PERMISSION_DENIED'
  | 'EE.NOT_FOUND'
  | 'EE.QUEUE_FULL'
  | 'EE.RATE_LIMITED'
  | 'EE.UNAVAILABLE'
  | 'EE.ALREADY_EXISTS'
  | 'EE.ABORTED'
  | 'EE.BAD_OPERATION_NAME'
  | 'EE.REQUEST_ID_IN_USE'
  | 'EE.TASK_FAILED'
  | 'EE.CANCELLED'
  | 'EE.OPERATION_LOST'
  | 'EE.BAD_RESPONSE'
  | 'SUBMIT.IN_PROGRESS'
  | 'STORE.CONFLICT'
  | 'POLL.LEASE_LOST';

export class EeportError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly metadata: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EeportError';
  }

  toJSON() {
    return { code: this.code, message: this.message, metadata: this.metadata };
  }
}

/** How an Earth Engine call failed, which decides whether a job fails, waits or is retried. */
export type EarthEngineFailureKind =
  /** 400/403/404 and friends: retrying cannot help; the job fails with the service's message. */
  | 'permanent'
  /** The per-project queue cap ("Too many tasks already in the queue"), whatever the HTTP code: the job goes back to QUEUED. */
  | 'queue-full'
  /** 429 rate limit, 409 ABORTED, 5xx, network: worth retrying later with the same requestId. */
  | 'transient'
  /** 409 ALREADY_EXISTS: the requestId was already used (a task exists) but the service did not hand back the operation. */
  | 'already-exists'
  /** The operation does not exist (any more). */
  | 'not-found';

export class EarthEngineError extends EeportError {
  constructor(
    readonly kind: EarthEngineFailureKind,
    code: ErrorCode,
    message: string,
    readonly httpStatus: number | null,
    metadata: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, { ...metadata, kind, httpStatus }, options);
    this.name = 'EarthEngineError';
  }
}

export function isEarthEngineError(err: unknown): err is EarthEngineError {
  return err instanceof EarthEngineError;
}

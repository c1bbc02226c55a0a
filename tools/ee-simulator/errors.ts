/**
 * Google API error model (google.rpc.Status over HTTP/JSON), so that clients see the
 * same `{"error":{code,message,status,details}}` bodies the real service sends.
 */

/** Canonical google.rpc.Code names. */
export type RpcStatusName =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

export const RPC_CODE: Readonly<Record<RpcStatusName, number>> = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/** The HTTP mapping Google documents for each canonical code (google/rpc/code.proto). */
const HTTP_FOR: Readonly<Record<RpcStatusName, number>> = {
  CANCELLED: 499,
  UNKNOWN: 500,
  INVALID_ARGUMENT: 400,
  DEADLINE_EXCEEDED: 504,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  FAILED_PRECONDITION: 400,
  ABORTED: 409,
  OUT_OF_RANGE: 400,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DATA_LOSS: 500,
  UNAUTHENTICATED: 401,
};

/** Best-effort status name for an arbitrary HTTP code (used by injected faults). */
export function statusNameForHttp(http: number): RpcStatusName {
  switch (http) {
    case 400:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'ABORTED';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 501:
      return 'UNIMPLEMENTED';
    case 502:
    case 503:
      return 'UNAVAILABLE';
    case 504:
      return 'DEADLINE_EXCEEDED';
    default:
      return http >= 500 ? 'INTERNAL' : 'UNKNOWN';
  }
}

/** A google.rpc.Status as it appears inside an Operation (`error`). */
export interface RpcStatus {
  code: number;
  message: string;
  details?: unknown[];
}

export const EE_SERVICE = 'earthengine.googleapis.com';

/** google.rpc.ErrorInfo detail, the machine-readable reason Google attaches to auth and quota errors. */
export function errorInfo(reason: string, metadata: Record<string, string> = {}): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason,
    domain: 'googleapis.com',
    metadata: { service: EE_SERVICE, ...metadata },
  };
}

/** google.rpc.BadRequest detail naming the offending field. */
export function badRequest(field: string, description: string): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/google.rpc.BadRequest',
    fieldViolations: [{ field, description }],
  };
}

/** An error answered to the HTTP caller in Google's JSON error format. */
export class ApiError extends Error {
  readonly status: RpcStatusName;
  readonly httpCode: number;
  readonly details: unknown[];
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: RpcStatusName,
    message: string,
    opts: { details?: unknown[]; httpCode?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.httpCode = opts.httpCode ?? HTTP_FOR[status];
    this.details = opts.details ?? [];
    this.headers = opts.headers ?? {};
  }

  toBody(): { error: { code: number; message: string; status: RpcStatusName; details: unknown[] } } {
    return { error: { code: this.httpCode, message: this.message, status: this.status, details: this.details } };
  }
}

/** 400 INVALID_ARGUMENT naming the field both in the message and in a BadRequest detail. */
export function invalidField(field: string, message: string): ApiError {
  return new ApiError('INVALID_ARGUMENT', message, { details: [badRequest(field, message)] });
}

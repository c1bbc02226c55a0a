/**
 * Exit codes and the one error type the CLI's commands throw. Every failure a user can
 * cause or meet ends up as a CliError with one of these codes and a one-line message;
 * anything else is a bug, reported the same way (exit 4) without a stack trace unless
 * EEPORT_DEBUG=1.
 */

/** What a script can rely on. Documented in `eeport --help` and the README. */
export const EXIT = {
  /** Done; for --wait / watch: every job (or the batch) SUCCEEDED. */
  OK: 0,
  /** The job or batch ended FAILED, REJECTED or CANCELLED (a batch: also PARTIALLY_FAILED); cancel: it had already ended. */
  OUTCOME: 1,
  /** Bad command line, unreadable or invalid input file, or a submission the API refused as invalid (400/413). */
  USAGE: 2,
  /** No such job, batch or topic. */
  NOT_FOUND: 3,
  /** The API (or Pub/Sub) could not be reached, timed out, or answered with an unexpected error. */
  API: 4,
  /** Missing or refused credentials (401/403). */
  AUTH: 5,
  /** Stopped with Ctrl-C (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorDetail {
  path: string;
  message: string;
}

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly extra: { code?: string; status?: number; details?: readonly ErrorDetail[] } = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, details?: readonly ErrorDetail[]) => new CliError(EXIT.USAGE, message, details ? { details } : {});

/** `path: message; path: message` for up to `max` details, then how many more. */
export function joinDetails(details: readonly ErrorDetail[], max = 5): string {
  const shown = details.slice(0, max).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message));
  const more = details.length > max ? `; and ${details.length - max} more` : '';
  return `${shown.join('; ')}${more}`.replace(/\s+/g, ' ');
}

/** The text after the last cause in a chain (fetch hides the real reason in `cause`). */
export function rootCause(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error && e.cause !== undefined; i++) e = e.cause;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

/**
 * The HTTP API's log lines, by name (the export.* lines of the use cases it calls come
 * from log-events.ts). Request bodies are never logged: they are the caller's data and
 * can be a megabyte; the problems found in them are.
 */
import type { LogSink } from '../ports.ts';
import type { Job } from '../jobs/index.ts';
import type { Issue } from './api-contract.ts';

export interface ApiCall {
  method: string;
  path: string;
  caller?: string;
}

const errFields = (err: unknown) => (err instanceof Error ? { error: { name: err.name, message: err.message, ...('code' in err ? { code: String(err.code) } : {}) } } : { error: String(err) });

export function createApiLogEvents(sink: LogSink, trace?: string) {
  const t = trace ? { trace } : {};
  return {
    /** A 4xx for the caller's input: the caller got the reasons synchronously, nothing was stored. */
    apiRejected: (call: ApiCall, status: number, code: string, message: string, details?: readonly Issue[]) =>
      sink.write({ severity: 'WARNING', event: 'api.rejected', message: `${call.method} ${call.path} → ${status} ${code}: ${message}`.slice(0, 500), ...call, status, code, errors: details?.slice(0, 20), ...t }),
    apiUnauthorized: (call: ApiCall, status: number, reason: string) =>
      sink.write({ severity: 'WARNING', event: 'api.unauthorized', message: `${call.method} ${call.path} → ${status}: ${reason}`.slice(0, 500), ...call, status, ...t }),
    /** The job exists but Earth Engine could not be reached: it stays SUBMITTING and the poller submits it. */
    apiSubmitDeferred: (job: Job, err: unknown) =>
      sink.write({
        severity: 'WARNING',
        event: 'api.submit_deferred',
        message: 'Earth Engine unavailable; the job stays SUBMITTING and the poller will submit it',
        jobId: job.jobId,
        eeProject: job.eeProject,
        state: job.state,
        ...errFields(err),
        ...t,
      }),
    apiFailed: (call: ApiCall, err: unknown) => sink.write({ severity: 'ERROR', event: 'api.failed', message: `${call.method} ${call.path} failed`, ...call, ...errFields(err), ...t }),
  };
}

export type ApiLogEvents = ReturnType<typeof createApiLogEvents>;

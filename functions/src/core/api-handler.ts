/**
 * The HTTP API, free of any web framework: a request (method, path, query, headers,
 * body bytes, the caller the authenticator vouched for) in, a status and a JSON body
 * out. adapters/http-api.ts binds it to the functions framework.
 *
 * Submits go through the same intake and use case as the requests topic, with one
 * difference: the caller is still waiting, so invalid input is answered with a 400
 * listing every problem and nothing is stored (a topic message has nobody to answer,
 * so it becomes a REJECTED job instead).
 */
import { intakeBody, type IntakePolicy, type Issue } from './intake.ts';
import { jobIdFor, JOB_ID_PATTERN } from './ids.ts';
import { isTerminal, type Job } from './job.ts';
import { EeportError } from './errors.ts';
import { InvalidPageTokenError } from './page-token.ts';
import { apiErrorBody, CancelBodySchema, jobListItem, jobView, parseListQuery, type ApiErrorCode } from './api-contract.ts';
import type { ApiLogEvents, ApiCall } from './api-log-events.ts';
import type { JobStore } from './ports.ts';
import type { SubmitExport } from './submit-export.ts';
import type { CancelJob } from './cancel-job.ts';

export interface ApiRequest {
  method: string;
  /** The path below the function's URL, as received (still percent-encoded). */
  path: string;
  query: URLSearchParams;
  /** A request header by (case-insensitive) name. */
  header(name: string): string | undefined;
  /** The body bytes, or null when the request had none. */
  body: Uint8Array | null;
  /** Who the authenticator says is calling; recorded as the job's source. */
  caller?: string;
}

export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialisable; null for no body. */
  body: unknown;
}

export interface ApiSettings {
  intake: IntakePolicy;
  /** Larger bodies are refused with 413 (API_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** How long the poller leaves a SUBMITTING job alone before submitting it again (POLL_STALE_SUBMIT_SECONDS). */
  staleSubmitSeconds: number;
}

export interface ApiDeps {
  submit: Pick<SubmitExport, 'submitCommand'>;
  cancel: Pick<CancelJob, 'cancelJob'>;
  store: Pick<JobStore, 'getJob' | 'listJobs'>;
  logs: ApiLogEvents;
  /** A fresh random id, for submissions that name no idempotency key or requestId. */
  newId: () => string;
  /** The OpenAPI document served at /v1/openapi.json. */
  openApi: () => unknown;
  settings: ApiSettings;
}

export type Route = { route: 'jobs' } | { route: 'job'; jobId: string } | { route: 'cancel'; jobId: string } | { route: 'openapi' };

/** Methods each route answers; HEAD goes with GET. */
export const ALLOWED_METHODS: Record<Route['route'], readonly string[]> = {
  jobs: ['GET', 'HEAD', 'POST'],
  job: ['GET', 'HEAD'],
  cancel: ['POST'],
  openapi: ['GET', 'HEAD'],
};

/** Which route a path names, or null. Job ids are checked by the route, so a bad one is a 400, not a 404. */
export function matchRoute(rawPath: string): Route | null {
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (path === '/v1/jobs') return { route: 'jobs' };
  if (path === '/v1/openapi.json') return { route: 'openapi' };
  // Custom methods follow Google's API style: POST /v1/jobs/{id}:cancel.
  const m = /^\/v1\/jobs\/([^/:]+)(?::([^/:]+))?$/.exec(path);
  if (!m) return null;
  if (m[2] === undefined) return { route: 'job', jobId: m[1]! };
  if (m[2] === 'cancel') return { route: 'cancel', jobId: m[1]! };
  return null;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | null {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t ? t : null;
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; status: number; code: ApiErrorCode; message: string };

/**
 * Reads a JSON body: size, then content type, then UTF-8 and JSON. `required` bodies
 * must be there; optional ones may be absent (undefined), but what is sent must be JSON.
 */
export function readJsonBody(body: Uint8Array | null, contentType: string | undefined, maxBytes: number, required: boolean): BodyResult {
  const size = body?.length ?? 0;
  if (size > maxBytes) return { ok: false, status: 413, code: 'API.BODY_TOO_LARGE', message: `request body is ${size} bytes; at most ${maxBytes} are accepted` };
  if (size === 0 && !required) return { ok: true, value: undefined };
  const type = mediaType(contentType);
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (type !== 'application/json' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    return {
      ok: false,
      status: 415,
      code: 'API.UNSUPPORTED_MEDIA_TYPE',
      message: `Content-Type must be application/json (UTF-8), not ${contentType ? `"${contentType}"` : 'missing'}${type === 'application/x-www-form-urlencoded' ? "; with curl, add -H 'Content-Type: application/json'" : ''}`,
    };
  }
  if (size === 0) return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: 'request body is empty; expected a JSON object: an ExportImageRequest, or {"request": {…}, …}' };
  let text: string;
  try {
    // fatal: a stray byte is an error, not a silent U+FFFD in someone's asset id; a BOM is dropped.
    text = new TextDecoder('utf-8', { fatal: true }).decode(body!);
  } catch {
    return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: 'request body is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: `request body is not valid JSON: ${(err as Error).message}` };
  }
}

const summarise = (issues: readonly Issue[]) => {
  const first = issues[0];
  if (!first) return '';
  const one = first.path ? `${first.path}: ${first.message}` : first.message;
  return issues.length > 1 ? `${one} (and ${issues.length - 1} more; see details)` : one;
};

const jobUrl = (jobId: string) => `/v1/jobs/${jobId}`;

export function createApiHandler(deps: ApiDeps) {
  const { store, logs, settings } = deps;

  function fail(call: ApiCall, status: number, code: ApiErrorCode, message: string, details?: readonly Issue[], headers?: Record<string, string>): ApiResponse {
    logs.apiRejected(call, status, code, message, details);
    return { status, body: apiErrorBody(code, message, details), ...(headers ? { headers } : {}) };
  }

  function badJobId(call: ApiCall, jobId: string): ApiResponse | null {
    return JOB_ID_PATTERN.test(jobId)
      ? null
      : fail(call, 400, 'API.INVALID_JOB_ID', `"${jobId.slice(0, 80)}" is not a job id: job ids are 32 lowercase hexadecimal characters`, [{ path: 'jobId', message: 'expected 32 lowercase hex characters' }]);
  }

  function submitted(job: Job, duplicate: boolean, notice?: string): ApiResponse {
    return { status: duplicate ? 200 : 202, body: { jobId: job.jobId, state: job.state, url: jobUrl(job.jobId), duplicate, ...(notice ? { notice } : {}), job: jobView(job) } };
  }

  async function submit(call: ApiCall, req: ApiRequest): Promise<ApiResponse> {
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, true);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    const body = read.value;
    const extra: Record<string, unknown> = {};
    const extraIssues: Issue[] = [];
    const headerKey = req.header('idempotency-key');
    if (headerKey !== undefined) {
      const bodyKey = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).idempotencyKey : undefined;
      if (bodyKey === undefined) extra.idempotencyKey = headerKey;
      else if (bodyKey !== headerKey) extraIssues.push({ path: 'idempotencyKey', message: 'the Idempotency-Key header and the body’s idempotencyKey differ; give one, or the same in both' });
    }
    const intake = intakeBody(body, extra, extraIssues, settings.intake, { kind: 'api', ...(req.caller ? { caller: req.caller } : {}) }, { kind: 'random', value: deps.newId() }, null);
    if (!intake.ok) {
      const code = intake.code === 'EXPORT.INVALID_JSON' ? 'API.MALFORMED_JSON' : intake.code;
      return fail(call, intake.code === 'EXPORT.TOO_LARGE' ? 413 : 400, code, `the submission is invalid: ${summarise(intake.errors)}`, intake.errors);
    }
    const jobId = jobIdFor(intake.command.identity);
    try {
      const out = await deps.submit.submitCommand(intake.command);
      return submitted(out.job, out.kind === 'duplicate');
    } catch (err) {
      // The use case throws where a Pub/Sub delivery would be retried. Here nobody will
      // redeliver, so look at what was recorded before deciding what to answer.
      const job = await store.getJob(jobId);
      if (!job) throw err;
      if (err instanceof EeportError && err.code === 'SUBMIT.IN_PROGRESS') return submitted(job, true);
      if (job.state !== 'SUBMITTING') return submitted(job, false);
      logs.apiSubmitDeferred(job, err);
      return submitted(
        job,
        false,
        `Earth Engine could not be reached (${err instanceof Error ? err.message.slice(0, 300) : String(err)}). The job is recorded and stays SUBMITTING; ` +
          `the poller submits it again, with the same requestId, once it has been untouched for ${settings.staleSubmitSeconds}s (POLL_STALE_SUBMIT_SECONDS). Do not resubmit.`,
      );
    }
  }

  async function getJob(call: ApiCall, jobId: string): Promise<ApiResponse> {
    const job = await store.getJob(jobId);
    return job ? { status: 200, body: jobView(job) } : fail(call, 404, 'API.NOT_FOUND', `no job ${jobId}`);
  }

  async function listJobs(call: ApiCall, req: ApiRequest): Promise<ApiResponse> {
    const parsed = parseListQuery(req.query);
    if (!parsed.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(parsed.issues)}`, parsed.issues);
    try {
      const page = await store.listJobs(parsed.query);
      return { status: 200, body: { jobs: page.jobs.map(jobListItem), nextPageToken: page.nextPageToken } };
    } catch (err) {
      if (err instanceof InvalidPageTokenError) return fail(call, 400, 'API.INVALID_PARAMETER', `pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
      throw err;
    }
  }

  async function cancel(call: ApiCall, req: ApiRequest, jobId: string): Promise<ApiResponse> {
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, false);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    const parsed = CancelBodySchema.optional().safeParse(read.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
      return fail(call, 400, 'API.INVALID_PARAMETER', `invalid cancel body: ${summarise(issues)}`, issues);
    }
    const reason = parsed.data?.reason;
    let outcome: Awaited<ReturnType<CancelJob['cancelJob']>>;
    try {
      // undefined leaves the use case's default reason.
      outcome = await deps.cancel.cancelJob(jobId, reason);
    } catch (err) {
      // operations.cancel failed transiently after the job was marked: the poller sends it.
      const job = await store.getJob(jobId);
      if (!job?.cancelRequestedAt || isTerminal(job.state)) throw err;
      return {
        status: 200,
        body: { outcome: 'requested', notice: `Earth Engine could not be reached (${err instanceof Error ? err.message.slice(0, 300) : String(err)}); the poller sends the cancel.`, job: jobView(job) },
      };
    }
    switch (outcome.kind) {
      case 'not-found':
        return fail(call, 404, 'API.NOT_FOUND', `no job ${jobId}`);
      case 'already-terminal':
        return fail(call, 409, 'API.ALREADY_TERMINAL', `job ${jobId} already ended (${outcome.job.state}); there is nothing to cancel`);
      default:
        return { status: 200, body: { outcome: outcome.kind, job: jobView(outcome.job) } };
    }
  }

  async function handle(req: ApiRequest): Promise<ApiResponse> {
    const call: ApiCall = { method: req.method, path: req.path.slice(0, 200), ...(req.caller ? { caller: req.caller } : {}) };
    try {
      const route = matchRoute(req.path);
      if (!route) return fail(call, 404, 'API.NOT_FOUND', `no such resource: ${req.method} ${call.path} (the API's routes are in GET /v1/openapi.json)`);
      const allow = ALLOWED_METHODS[route.route];
      if (req.method === 'OPTIONS') return { status: 204, headers: { allow: [...allow, 'OPTIONS'].join(', ') }, body: null };
      if (!allow.includes(req.method)) {
        return fail(call, 405, 'API.METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${call.path}; allowed: ${allow.join(', ')}`, undefined, { allow: allow.join(', ') });
      }
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      switch (route.route) {
        case 'openapi':
          return { status: 200, headers: { 'cache-control': 'public, max-age=300' }, body: deps.openApi() };
        case 'jobs':
          return method === 'POST' ? await submit(call, req) : await listJobs(call, req);
        case 'job':
          return badJobId(call, route.jobId) ?? (await getJob(call, route.jobId));
        case 'cancel':
          return badJobId(call, route.jobId) ?? (await cancel(call, req, route.jobId));
      }
    } catch (err) {
      logs.apiFailed(call, err);
      return { status: 500, body: apiErrorBody('API.INTERNAL', 'internal error; it has been logged (event api.failed)') };
    }
  }

  return { handle };
}

export type ApiHandler = ReturnType<typeof createApiHandler>;

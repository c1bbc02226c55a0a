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
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { intakeBody, type IntakePolicy, type SubmitExport } from '../submit/index.ts';
import type { Issue } from '../requests/index.ts';
import { jobIdFor, JOB_ID_PATTERN, isTerminal, JOB_STATES, tenantIdentity, type Job } from '../jobs/index.ts';
import { ADMIN_SCOPE, actingTenant, canSee, listFilter, type Scope, type TenantDirectory } from '../tenants/index.ts';
import { EeportError, decodePageToken, encodePageToken, InvalidPageTokenError } from '../kernel/index.ts';
import {
  apiErrorBody,
  BATCH_REF_PATTERN,
  batchListItem,
  batchView,
  BatchResumeBodySchema,
  budgetViews,
  CancelBodySchema,
  jobListItem,
  jobView,
  parseBatchJobsQuery,
  parseBatchListQuery,
  parseListQuery,
  estimateView,
  parseEstimateAccuracyQuery,
  parseEstimateQuery,
  type ApiErrorCode,
  type BatchJobsQuery,
} from './api-contract.ts';
import { batchIdentity, type Batches, type Batch } from '../batches/index.ts';
import { monthOf, type Budget } from '../budgets/index.ts';
import type { ApiLogEvents, ApiCall } from './api-log-events.ts';
import type { Clock, JobStore } from '../ports.ts';
import type { CancelJob } from '../cancel/index.ts';
import type { EstimateApi } from '../estimates/index.ts';

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

import type { CountedStats } from './stats-cache.ts';

export interface ApiSettings {
  intake: IntakePolicy;
  /** Larger bodies are refused with 413 (API_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** How long the poller leaves a SUBMITTING job alone before submitting it again (POLL_STALE_SUBMIT_SECONDS). */
  staleSubmitSeconds: number;
  /** The configured EECU budgets (EECU_BUDGETS), shown with their usage by GET /v1/budgets. */
  budgets: readonly Budget[];
  /** A tenant's intake policy (TENANTS); null for one TENANTS does not name. */
  intakeFor?: (tenantId: string) => IntakePolicy | null;
}

export interface ApiDeps {
  submit: Pick<SubmitExport, 'submitCommand'>;
  cancel: Pick<CancelJob, 'cancelJob'>;
  batches: Pick<Batches, 'checkBatch' | 'submitBatch' | 'cancelBatch' | 'retryBatch' | 'resumeBatch'>;
  store: Pick<JobStore, 'getJob' | 'listJobs' | 'getBatch' | 'listBatchPage' | 'listBatchChildren' | 'batchEstimate' | 'listBudgetUsages' | 'countJobsByState'>;
  clock: Clock;
  logs: ApiLogEvents;
  /** A fresh random id, for submissions that name no idempotency key or requestId. */
  newId: () => string;
  /** The OpenAPI document served at /v1/openapi.json. */
  openApi: () => unknown;
  /** Routes other capabilities serve (schedules, chains), tried before the API's own; each answers null for a path not its own. */
  routes?: readonly ExtraRoutes[];
  settings: ApiSettings;
  /** Counts for GET /v1/stats, cached on the instance (stats-cache.ts); without it every call counts afresh. */
  countStats?: (tenantId?: string | null) => Promise<CountedStats>;
  /**
   * Whose data each caller reaches (TENANTS). A tenant's caller sees, lists, cancels and
   * retries only its tenant's jobs and batches: another tenant's ids answer 404, exactly
   * as ids that do not exist, never 403. Absent: every caller sees everything.
   */
  tenants?: Pick<TenantDirectory, 'scopeOfCaller'>;
  /** POST /v1/estimates and GET /v1/estimates/accuracy (docs/estimates.md); absent: those routes answer 404. */
  estimates?: Pick<EstimateApi, 'estimateBody' | 'accuracy'>;
}

/** A capability's own routes: it gets the request and a reader of its JSON body (with the API's size and content-type checks). */
export interface ExtraRoutes {
  /** `scope`: whose data the caller reaches (TENANTS); the routes scope what they show and change by it, as the API's own do. */
  handle(req: ApiRequest, readBody: (required: boolean) => BodyResult, scope: Scope): Promise<ApiResponse | null>;
}

export type Route =
  | { route: 'jobs' }
  | { route: 'job'; jobId: string }
  | { route: 'cancel'; jobId: string }
  | { route: 'batches' }
  | { route: 'batch'; batchId: string }
  | { route: 'batchJobs'; batchId: string }
  | { route: 'batchEstimate'; batchId: string }
  | { route: 'batchCancel'; batchId: string }
  | { route: 'batchRetry'; batchId: string }
  | { route: 'batchResume'; batchId: string }
  | { route: 'budgets' }
  | { route: 'stats' }
  | { route: 'estimates' }
  | { route: 'estimateAccuracy' }
  | { route: 'openapi' };

/** Methods each route answers; HEAD goes with GET. */
export const ALLOWED_METHODS: Record<Route['route'], readonly string[]> = {
  jobs: ['GET', 'HEAD', 'POST'],
  job: ['GET', 'HEAD'],
  cancel: ['POST'],
  batches: ['GET', 'HEAD', 'POST'],
  batch: ['GET', 'HEAD'],
  batchJobs: ['GET', 'HEAD'],
  batchEstimate: ['GET', 'HEAD'],
  batchCancel: ['POST'],
  batchRetry: ['POST'],
  batchResume: ['POST'],
  budgets: ['GET', 'HEAD'],
  stats: ['GET', 'HEAD'],
  estimates: ['POST'],
  estimateAccuracy: ['GET', 'HEAD'],
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
  if (path === '/v1/batches') return { route: 'batches' };
  if (path === '/v1/budgets') return { route: 'budgets' };
  if (path === '/v1/stats') return { route: 'stats' };
  if (path === '/v1/estimates') return { route: 'estimates' };
  if (path === '/v1/estimates/accuracy') return { route: 'estimateAccuracy' };
  if (path === '/v1/openapi.json') return { route: 'openapi' };
  // Custom methods follow Google's API style: POST /v1/jobs/{id}:cancel.
  const m = /^\/v1\/jobs\/([^/:]+)(?::([^/:]+))?$/.exec(path);
  if (m) {
    if (m[2] === undefined) return { route: 'job', jobId: m[1]! };
    if (m[2] === 'cancel') return { route: 'cancel', jobId: m[1]! };
    return null;
  }
  const b = /^\/v1\/batches\/([^/:]+)(?::([^/:]+)|\/(jobs|estimate))?$/.exec(path);
  if (!b) return null;
  const batchId = b[1]!;
  if (b[3] === 'jobs') return { route: 'batchJobs', batchId };
  if (b[3] === 'estimate') return { route: 'batchEstimate', batchId };
  if (b[2] === undefined) return { route: 'batch', batchId };
  if (b[2] === 'cancel') return { route: 'batchCancel', batchId };
  if (b[2] === 'retry') return { route: 'batchRetry', batchId };
  if (b[2] === 'resume') return { route: 'batchResume', batchId };
  return null;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | null {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t ? t : null;
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; status: number; code: ApiErrorCode; message: string };

/** Why a Content-Type is not JSON in UTF-8 (the only body the API reads), or null when it is. */
export function jsonContentTypeProblem(contentType: string | undefined): string | null {
  const type = mediaType(contentType);
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (type === 'application/json' && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) return null;
  return `Content-Type must be application/json (UTF-8), not ${contentType ? `"${contentType.slice(0, 100)}"` : 'missing'}${type === 'application/x-www-form-urlencoded' ? "; with curl, add -H 'Content-Type: application/json'" : ''}`;
}

/**
 * Reads a JSON body: size, then content type, then UTF-8 and JSON. `required` bodies
 * must be there; optional ones may be absent (undefined), but what is sent must be JSON,
 * and so must the Content-Type of an empty one if it names one: an empty form post from
 * a browser is not an empty JSON body.
 */
export function readJsonBody(body: Uint8Array | null, contentType: string | undefined, maxBytes: number, required: boolean): BodyResult {
  const size = body?.length ?? 0;
  if (size > maxBytes) return { ok: false, status: 413, code: 'API.BODY_TOO_LARGE', message: `request body is ${size} bytes; at most ${maxBytes} are accepted` };
  const problem = jsonContentTypeProblem(contentType);
  if (size === 0 && !required && (contentType === undefined || !problem)) return { ok: true, value: undefined };
  if (problem) return { ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE', message: problem };
  if (size === 0) return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: 'request body is empty; expected a JSON object: an ExportImageRequest, or {"request": {…}, …}' };
  let text: string;
  try {
    // fatal: a stray byte is an error, not a silent U+FFFD in someone's asset id; a BOM is dropped.
    text = new TextDecoder('utf-8', { fatal: true }).decode(body!);
  } catch {
    return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: 'request body is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: `request body is not valid JSON: ${(err as Error).message}` };
  }
  // Every body the API takes is an object (or, for a batch's requests, an array inside one): a bare string or number is no body of ours.
  if (typeof value !== 'object' || value === null) return { ok: false, status: 400, code: 'API.MALFORMED_JSON', message: `request body must be a JSON object; it starts with ${JSON.stringify(text.trimStart()[0] ?? '')}` };
  return { ok: true, value };
}

const summarise = (issues: readonly Issue[]) => {
  const first = issues[0];
  if (!first) return '';
  const one = first.path ? `${first.path}: ${first.message}` : first.message;
  return issues.length > 1 ? `${one} (and ${issues.length - 1} more; see details)` : one;
};

const jobUrl = (jobId: string) => `/v1/jobs/${jobId}`;
const batchUrl = (batchId: string) => `/v1/batches/${batchId}`;

/**
 * Query names every JavaScript object already answers to (`__proto__`, `constructor`,
 * `toString`, …) plus `prototype`: no route takes one, and a name like these in the
 * wrong place turns into someone's prototype.
 */
const RESERVED_QUERY_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** Batch cancel and retry take no options; an empty object (or no body) is all they accept. */
const NoOptionsBodySchema = z.strictObject({});

/** A batch-children page token is tied to its batch and state filter, like the job list's. */
const childrenFingerprint = (batchId: string, q: BatchJobsQuery) =>
  createHash('sha256')
    .update(JSON.stringify([batchId, [...(q.states ?? [])].sort()]))
    .digest('base64url')
    .slice(0, 12);

/** checkBatch's paths start at the topic message's `batch` member; the API's body is that member itself. */
const bodyPath = (path: string) => path.replace(/^batch(\.|$)/, '');

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

  async function submit(call: ApiCall, req: ApiRequest, scope: Scope): Promise<ApiResponse> {
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
    const tenantId = actingTenant(scope);
    const policy = tenantId === null ? settings.intake : settings.intakeFor?.(tenantId);
    if (!policy) throw new Error(`no intake policy for tenant ${tenantId}`);
    const intake = intakeBody(body, extra, extraIssues, policy, { kind: 'api', ...(req.caller ? { caller: req.caller } : {}) }, { kind: 'random', value: deps.newId() }, null);
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

  async function getJob(call: ApiCall, jobId: string, scope: Scope): Promise<ApiResponse> {
    const job = await store.getJob(jobId);
    return job && canSee(scope, job.tenantId) ? { status: 200, body: jobView(job) } : fail(call, 404, 'API.NOT_FOUND', `no job ${jobId}`);
  }

  async function listJobs(call: ApiCall, req: ApiRequest, scope: Scope): Promise<ApiResponse> {
    const parsed = parseListQuery(req.query);
    if (!parsed.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(parsed.issues)}`, parsed.issues);
    const tenantId = listFilter(scope);
    try {
      const page = await store.listJobs({ ...parsed.query, ...(tenantId !== undefined ? { tenantId } : {}) });
      return { status: 200, body: { jobs: page.jobs.map(jobListItem), nextPageToken: page.nextPageToken } };
    } catch (err) {
      if (err instanceof InvalidPageTokenError) return fail(call, 400, 'API.INVALID_PARAMETER', `pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
      throw err;
    }
  }

  async function cancel(call: ApiCall, req: ApiRequest, jobId: string, scope: Scope): Promise<ApiResponse> {
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
      outcome = await deps.cancel.cancelJob(jobId, reason, scope);
    } catch (err) {
      // operations.cancel failed transiently after the job was marked: the poller sends it.
      const job = await store.getJob(jobId);
      if (!job?.cancelRequestedAt || isTerminal(job.state) || !canSee(scope, job.tenantId)) throw err;
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

  /** The batch a path names, by its id or by the batchId its submitter chose. */
  async function findBatch(call: ApiCall, ref: string, scope: Scope): Promise<{ batch: Batch } | { response: ApiResponse }> {
    if (!BATCH_REF_PATTERN.test(ref)) {
      return {
        response: fail(call, 400, 'API.INVALID_BATCH_ID', `"${ref.slice(0, 80)}" is not a batch id: 32 lowercase hex characters, or the batchId it was submitted with (1–100 letters, digits, _ or -)`, [
          { path: 'batchId', message: 'expected a batch id or batchId' },
        ]),
      };
    }
    // A 32-hex ref is most likely the id; if no batch has it, it may still be a name someone chose.
    // A name is the caller's tenant's; another tenant's batch is as missing as one that never was.
    const visible = (b: Batch | null) => (b && canSee(scope, b.tenantId) ? b : null);
    const batch = visible(JOB_ID_PATTERN.test(ref) ? await store.getBatch(ref) : null) ?? visible(await store.getBatch(jobIdFor(tenantIdentity(actingTenant(scope), batchIdentity(ref)))));
    return batch ? { batch } : { response: fail(call, 404, 'API.NOT_FOUND', `no batch ${ref}`) };
  }

  async function submitBatch(call: ApiCall, req: ApiRequest, scope: Scope): Promise<ApiResponse> {
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, true);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    let spec = read.value;
    const isObject = typeof spec === 'object' && spec !== null && !Array.isArray(spec);
    const issues: Issue[] = [];
    if (isObject && Object.keys(spec as object).length === 1 && 'batch' in (spec as object)) {
      issues.push({ path: 'batch', message: 'send the batch itself, not {"batch": …} (that wrapper is for the requests topic)' });
    }
    const headerKey = req.header('idempotency-key');
    if (headerKey !== undefined && isObject) {
      const bodyId = (spec as Record<string, unknown>).batchId;
      if (!BATCH_REF_PATTERN.test(headerKey)) issues.push({ path: 'Idempotency-Key', message: 'a batch’s Idempotency-Key is its batchId: 1–100 letters, digits, _ or -' });
      else if (bodyId === undefined) spec = { ...(spec as object), batchId: headerKey };
      else if (bodyId !== headerKey) issues.push({ path: 'batchId', message: 'the Idempotency-Key header and the body’s batchId differ; give one, or the same in both' });
    }
    // Everything is checked before anything is written: a bad batch is answered, not recorded.
    const tenantId = actingTenant(scope);
    const check = issues.length ? null : deps.batches.checkBatch(spec, tenantId);
    if (!check?.ok) {
      const errors = check && !check.ok ? check.errors.map((e) => ({ path: bodyPath(e.path), message: e.message })) : issues;
      return fail(call, 400, 'BATCH.INVALID', `the batch is invalid: ${summarise(errors)}`, errors);
    }
    const out = await deps.batches.submitBatch(spec, { kind: 'random', value: deps.newId() }, { kind: 'api', ...(req.caller ? { caller: req.caller } : {}) }, check, tenantId);
    const b = out.batch;
    return { status: out.kind === 'duplicate' ? 200 : 202, body: { batchId: b.batchId, state: b.state, total: b.total, url: batchUrl(b.batchId), duplicate: out.kind === 'duplicate', batch: batchView(b) } };
  }

  async function listBatches(call: ApiCall, req: ApiRequest, scope: Scope): Promise<ApiResponse> {
    const parsed = parseBatchListQuery(req.query);
    if (!parsed.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(parsed.issues)}`, parsed.issues);
    const tenantId = listFilter(scope);
    try {
      const page = await store.listBatchPage({ ...parsed.query, ...(tenantId !== undefined ? { tenantId } : {}) });
      return { status: 200, body: { batches: page.batches.map(batchListItem), nextPageToken: page.nextPageToken } };
    } catch (err) {
      if (err instanceof InvalidPageTokenError) return fail(call, 400, 'API.INVALID_PARAMETER', `pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
      throw err;
    }
  }

  async function batchJobs(call: ApiCall, req: ApiRequest, batch: Batch): Promise<ApiResponse> {
    const parsed = parseBatchJobsQuery(req.query);
    if (!parsed.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(parsed.issues)}`, parsed.issues);
    const q = parsed.query;
    const fingerprint = childrenFingerprint(batch.batchId, q);
    let afterIndex: number | undefined;
    try {
      if (q.pageToken) {
        const [after, issuedFor] = decodePageToken(q.pageToken, 2);
        if (issuedFor !== fingerprint) throw new InvalidPageTokenError('it was issued for another batch or state filter');
        afterIndex = Number(after);
        if (!Number.isInteger(afterIndex) || afterIndex < 0) throw new InvalidPageTokenError('not a token this API issued');
      }
    } catch (err) {
      if (err instanceof InvalidPageTokenError) return fail(call, 400, 'API.INVALID_PARAMETER', `pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
      throw err;
    }
    // One more than a page: whether there is a next page, without a second query.
    const children = await store.listBatchChildren(batch.batchId, { ...(q.states ? { states: q.states } : {}), limit: q.pageSize + 1, ...(afterIndex !== undefined ? { afterIndex } : {}) });
    const page = children.slice(0, q.pageSize);
    const last = page[page.length - 1];
    const nextPageToken = children.length > q.pageSize && last ? encodePageToken([String(last.batchIndex), fingerprint]) : null;
    return { status: 200, body: { jobs: page.map(jobListItem), nextPageToken } };
  }

  /** Reads the optional body of a batch's :cancel or :retry, which must be empty or `{}`. */
  function noOptions(call: ApiCall, req: ApiRequest): ApiResponse | null {
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, false);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    const parsed = NoOptionsBodySchema.optional().safeParse(read.value);
    if (parsed.success) return null;
    const issues = parsed.error.issues.map((i) => ({ path: i.code === 'unrecognized_keys' ? i.keys.join(',') : i.path.map(String).join('.'), message: i.code === 'unrecognized_keys' ? 'this action takes no options' : i.message }));
    return fail(call, 400, 'API.INVALID_PARAMETER', `invalid body: ${summarise(issues)}`, issues);
  }

  async function cancelBatch(call: ApiCall, batch: Batch, scope: Scope): Promise<ApiResponse> {
    const out = await deps.batches.cancelBatch(batch.batchId, scope);
    switch (out.kind) {
      case 'not-found':
        return fail(call, 404, 'API.NOT_FOUND', `no batch ${batch.batchId}`);
      case 'already-final':
        return fail(call, 409, 'API.ALREADY_TERMINAL', `batch ${batch.batchId} already ended (${out.batch.state}); there is nothing to cancel`);
      default:
        return { status: 200, body: { outcome: out.kind, children: out.children, batch: batchView(out.batch) } };
    }
  }

  async function retryBatch(call: ApiCall, batch: Batch, scope: Scope): Promise<ApiResponse> {
    const out = await deps.batches.retryBatch(batch.batchId, scope);
    if (out.kind === 'not-found') return fail(call, 404, 'API.NOT_FOUND', `no batch ${batch.batchId}`);
    return { status: 200, body: { outcome: out.kind, children: out.children, batch: batchView(out.batch) } };
  }

  /** POST /v1/batches/{id}:resume, with an optional {"maxEecuSeconds"} for a batch its own cap stopped. */
  async function resumeBatch(call: ApiCall, req: ApiRequest, batch: Batch, scope: Scope): Promise<ApiResponse> {
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, false);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    const parsed = BatchResumeBodySchema.optional().safeParse(read.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.code === 'unrecognized_keys' ? i.keys.join(',') : i.path.map(String).join('.'), message: i.code === 'unrecognized_keys' ? ':resume takes only maxEecuSeconds' : i.message }));
      return fail(call, 400, 'API.INVALID_PARAMETER', `invalid body: ${summarise(issues)}`, issues);
    }
    const out = await deps.batches.resumeBatch(batch.batchId, scope, parsed.data ?? {});
    switch (out.kind) {
      case 'not-found':
        return fail(call, 404, 'API.NOT_FOUND', `no batch ${batch.batchId}`);
      case 'not-stopped':
        return fail(call, 409, 'BATCH.NOT_STOPPED', `batch ${batch.batchId} is ${out.batch.state}, not STOPPED; there is nothing to resume`);
      case 'still-stopped':
        return fail(call, 409, 'BATCH.STILL_STOPPED', `batch ${batch.batchId} stays STOPPED (${out.batch.stop?.reason}): ${out.reason}`);
      default:
        return { status: 200, body: { outcome: out.kind, batch: batchView(out.batch) } };
    }
  }

  async function budgets(scope: Scope): Promise<ApiResponse> {
    const month = monthOf(deps.clock.now().toISOString());
    const usages = await store.listBudgetUsages(month);
    // A tenant sees its own budgets; the deployment's cover every tenant's jobs, so their usage is not any one tenant's to read.
    const shown = scope.kind === 'admin' ? settings.budgets : settings.budgets.filter((b) => b.tenant !== undefined && b.tenant === scope.tenantId);
    return { status: 200, body: { month, budgets: budgetViews(shown, usages, month, deps.clock.now().toISOString()) } };
  }

  async function stats(scope: Scope): Promise<ApiResponse> {
    // `time`: when the counts were taken (a cached answer is up to API_STATS_CACHE_SECONDS old).
    const { counts: counted, time } = deps.countStats ? await deps.countStats(listFilter(scope)) : { counts: await store.countJobsByState(listFilter(scope)), time: deps.clock.now().toISOString() };
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, counted[s] ?? 0]));
    return { status: 200, body: { counts, total: Object.values(counts).reduce((a, b) => a + b, 0), time } };
  }

  /** POST /v1/estimates: a job's or a batch's body, checked as its submission would be; nothing is stored (unless ?probe=true starts a probe). */
  async function estimate(call: ApiCall, req: ApiRequest, scope: Scope, api: NonNullable<ApiDeps['estimates']>): Promise<ApiResponse> {
    const q = parseEstimateQuery(req.query);
    if (!q.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(q.issues)}`, q.issues);
    const read = readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, true);
    if (!read.ok) return fail(call, read.status, read.code, read.message);
    const tenantId = actingTenant(scope);
    const policy = tenantId === null ? settings.intake : settings.intakeFor?.(tenantId);
    if (!policy) throw new Error(`no intake policy for tenant ${tenantId}`);
    const out = await api.estimateBody(read.value, {
      intake: policy,
      checkBatch: (spec) => deps.batches.checkBatch(spec, tenantId),
      source: { kind: 'api', ...(req.caller ? { caller: req.caller } : {}) },
      probe: q.query.probe,
      visibleBudget: (b) => scope.kind === 'admin' || (b.tenant !== undefined && b.tenant === tenantId),
    });
    if (!out.ok) {
      const code = out.code === 'EXPORT.INVALID_JSON' ? 'API.MALFORMED_JSON' : out.code;
      return fail(call, out.code === 'EXPORT.TOO_LARGE' ? 413 : 400, code, `the ${code === 'BATCH.INVALID' ? 'batch' : 'submission'} is invalid: ${summarise(out.errors)}`, out.errors);
    }
    return { status: 200, body: estimateView(out.answer) };
  }

  async function estimateAccuracy(call: ApiCall, req: ApiRequest, scope: Scope, api: NonNullable<ApiDeps['estimates']>): Promise<ApiResponse> {
    const q = parseEstimateAccuracyQuery(req.query);
    if (!q.ok) return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${summarise(q.issues)}`, q.issues);
    const tenantId = listFilter(scope);
    return { status: 200, body: await api.accuracy({ ...q.query, ...(tenantId !== undefined ? { tenantId } : {}) }) };
  }

  /** Runs `then` on the batch a route names, or answers why there is none. */
  async function withBatch(call: ApiCall, ref: string, scope: Scope, then: (b: Batch) => Promise<ApiResponse>): Promise<ApiResponse> {
    const found = await findBatch(call, ref, scope);
    return 'response' in found ? found.response : then(found.batch);
  }

  async function handle(req: ApiRequest): Promise<ApiResponse> {
    const call: ApiCall = { method: req.method, path: req.path.slice(0, 200), ...(req.caller ? { caller: req.caller } : {}) };
    try {
      // Before any route (the API's own or another capability's) sees the query.
      const reserved = [...req.query.keys()].find((k) => RESERVED_QUERY_NAMES.has(k));
      if (reserved !== undefined) {
        const name = JSON.stringify(reserved);
        return fail(call, 400, 'API.INVALID_PARAMETER', `invalid query: ${name} is not a parameter of any route`, [{ path: reserved, message: 'a reserved name; no route takes it' }]);
      }
      // Pipelines (schedules, chains) scope by tenant themselves; a caller with no scope at all reaches none of them.
      const extraScope = deps.tenants ? deps.tenants.scopeOfCaller(req.caller) : ADMIN_SCOPE;
      for (const extra of extraScope ? (deps.routes ?? []) : []) {
        const answer = await extra.handle(req, (required) => readJsonBody(req.body, req.header('content-type'), settings.maxBodyBytes, required), extraScope as Scope);
        if (answer) {
          if (answer.status >= 400) logs.apiRejected(call, answer.status, (answer.body as { error: { code: ApiErrorCode } }).error.code, (answer.body as { error: { message: string } }).error.message);
          return answer;
        }
      }
      const route = matchRoute(req.path);
      if (!route) return fail(call, 404, 'API.NOT_FOUND', `no such resource: ${req.method} ${call.path} (the API's routes are in GET /v1/openapi.json)`);
      const allow = ALLOWED_METHODS[route.route];
      if (req.method === 'OPTIONS') return { status: 204, headers: { allow: [...allow, 'OPTIONS'].join(', ') }, body: null };
      if (!allow.includes(req.method)) {
        return fail(call, 405, 'API.METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${call.path}; allowed: ${allow.join(', ')}`, undefined, { allow: allow.join(', ') });
      }
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (route.route === 'openapi') return { status: 200, headers: { 'cache-control': 'public, max-age=300' }, body: deps.openApi() };
      const scope = deps.tenants ? deps.tenants.scopeOfCaller(req.caller) : ADMIN_SCOPE;
      if (!scope) return fail(call, 403, 'API.PERMISSION_DENIED', 'this caller belongs to no tenant and is not an operator (TENANTS, API_KEYS, API_ALLOWED_CALLERS)');
      switch (route.route) {
        case 'jobs':
          return method === 'POST' ? await submit(call, req, scope) : await listJobs(call, req, scope);
        case 'job':
          return badJobId(call, route.jobId) ?? (await getJob(call, route.jobId, scope));
        case 'cancel':
          return badJobId(call, route.jobId) ?? (await cancel(call, req, route.jobId, scope));
        case 'batches':
          return method === 'POST' ? await submitBatch(call, req, scope) : await listBatches(call, req, scope);
        case 'batch':
          return await withBatch(call, route.batchId, scope, async (b) => ({ status: 200, body: batchView(b) }));
        case 'batchJobs':
          return await withBatch(call, route.batchId, scope, (b) => batchJobs(call, req, b));
        case 'batchEstimate':
          return await withBatch(call, route.batchId, scope, async (b) => ({ status: 200, body: { batchId: b.batchId, total: b.total, ...(await store.batchEstimate(b.batchId)) } }));
        case 'batchCancel':
          return noOptions(call, req) ?? (await withBatch(call, route.batchId, scope, (b) => cancelBatch(call, b, scope)));
        case 'batchRetry':
          return noOptions(call, req) ?? (await withBatch(call, route.batchId, scope, (b) => retryBatch(call, b, scope)));
        case 'batchResume':
          return await withBatch(call, route.batchId, scope, (b) => resumeBatch(call, req, b, scope));
        case 'budgets':
          return await budgets(scope);
        case 'stats':
          return await stats(scope);
        case 'estimates':
        case 'estimateAccuracy': {
          const api = deps.estimates;
          if (!api) return fail(call, 404, 'API.NOT_FOUND', `no such resource: ${req.method} ${call.path}`);
          return route.route === 'estimates' ? await estimate(call, req, scope, api) : await estimateAccuracy(call, req, scope, api);
        }
      }
    } catch (err) {
      logs.apiFailed(call, err);
      return { status: 500, body: apiErrorBody('API.INTERNAL', 'internal error; it has been logged (event api.failed)') };
    }
  }

  return { handle };
}

export type ApiHandler = ReturnType<typeof createApiHandler>;

/**
 * The HTTP API's wire contract as zod schemas: the job as the API shows it, the list
 * query, the responses and the error body. The OpenAPI document (api-openapi.ts) is
 * generated from these, and the integration tests parse every response with them, so
 * the document cannot drift from what the API sends.
 */
import { z } from 'zod';
import { JOB_STATES, type Job, type JobState } from '../jobs/index.ts';
import { BATCH_STATES, type Batch, type BatchState } from '../batches/index.ts';
import { EeProjectSchema, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, type ExportImageRequest } from '../requests/index.ts';
import type { BatchListQuery, JobListQuery } from '../ports.ts';
import { budgetId, projectBudget, scopeOf, thresholdsCrossed, type Budget, type BudgetUsage } from '../budgets/index.ts';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Every code an API error can carry. Stable: clients branch on them. */
export const API_ERROR_CODES = [
  'API.MALFORMED_JSON',
  'API.BAD_REQUEST',
  'API.UNSUPPORTED_MEDIA_TYPE',
  'API.BODY_TOO_LARGE',
  'API.INVALID_PARAMETER',
  'API.INVALID_JOB_ID',
  'API.INVALID_BATCH_ID',
  'API.NOT_FOUND',
  'API.METHOD_NOT_ALLOWED',
  'API.ALREADY_TERMINAL',
  'API.UNAUTHENTICATED',
  'API.PERMISSION_DENIED',
  'API.MISCONFIGURED',
  'API.INTERNAL',
  // The submit body's validation, the same codes a rejected Pub/Sub message gets.
  'EXPORT.INVALID_REQUEST',
  'EXPORT.INVALID_ENVELOPE',
  'EXPORT.UNKNOWN_PROJECT',
  'EXPORT.DESTINATION_NOT_ALLOWED',
  // Only on the topic (a message from a topic no tenant owns); an API caller's tenant is always known.
  'EXPORT.UNKNOWN_TENANT',
  'EXPORT.TOO_LARGE',
  // A batch that does not expand into valid children (or names options this deployment refuses).
  'BATCH.INVALID',
  // :resume of a batch that is not STOPPED, or whose reason to stop still holds (budget used up, cap not raised).
  'BATCH.NOT_STOPPED',
  'BATCH.STILL_STOPPED',
  // A schedule or chain that cannot run as given (body, cadence, placeholders, cycles).
  'SCHEDULE.INVALID',
  'CHAIN.INVALID',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export const IssueSchema = z.object({
  path: z.string().describe('Where the problem is: a dotted path into the body, or the parameter/header name ("" for the whole body)'),
  message: z.string(),
});

export const ApiErrorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(API_ERROR_CODES),
      message: z.string(),
      details: z.array(IssueSchema).optional(),
    }),
  })
  .meta({ title: 'Error', description: 'Every non-2xx answer: a stable code, a message for people, and for validation errors each problem with its path.' });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

export function apiErrorBody(code: ApiErrorCode, message: string, details?: readonly { path: string; message: string }[]): ApiErrorBody {
  return { error: { code, message, ...(details?.length ? { details: details.slice(0, 100).map((d) => ({ path: d.path, message: d.message })) } : {}) } };
}

// ---------------------------------------------------------------------------
// The job as the API shows it: every field of the stored job.
// ---------------------------------------------------------------------------

const nstr = z.string().nullable();

const JobSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pubsub'), messageId: z.string(), eventSource: z.string() }),
  z.object({ kind: z.literal('api'), caller: z.string().optional().describe('Who called, when the API authenticates in code (service account email, or api-key:<fingerprint>)') }),
  z.object({ kind: z.literal('upload'), bucket: z.string(), name: z.string(), generation: z.string() }),
  z.object({ kind: z.literal('schedule'), scheduleId: z.string(), windowStart: z.string(), windowEnd: z.string() }).describe('A schedule’s run for one window'),
  z.object({ kind: z.literal('chain'), chainId: z.string(), step: z.string() }).describe('A chain’s step, submitted (or skipped) when the steps before it ended'),
  z.object({ kind: z.literal('recovery'), jobId: z.string() }).describe('A tile of a job that failed for memory, compute time or output size, resubmitted on its pixel grid (docs/watch.md)'),
]);

const JobErrorSchema = z.object({
  code: z.string().describe('Stable error code, e.g. EE.INVALID_ARGUMENT, EE.OPERATION_LOST'),
  message: z.string(),
  status: z.number().optional().describe('HTTP status or google.rpc code where Earth Engine gave one'),
  details: z.array(IssueSchema).optional(),
});

const WebhookSummarySchema = z.object({
  url: z.string(),
  state: z.enum(['pending', 'delivered', 'failed', 'disabled']),
  lastEventId: z.string(),
  attempts: z.array(z.object({ at: z.string(), eventId: z.string(), status: z.number().nullable(), latencyMs: z.number().nullable(), error: nstr })),
  updateTime: z.string(),
});

const JobStateSchema = z.enum(JOB_STATES);

/** A job's (or a task's) estimate: see docs/estimates.md. */
export const EstimateSchema = z
  .object({
    method: z.enum(['history:expression', 'history:workload-tag', 'history:project', 'probe', 'prior']),
    pixels: z.number().nullable(),
    fingerprint: z.string(),
    eecuSeconds: z.object({ low: z.number(), expected: z.number(), high: z.number() }),
    runSeconds: z.object({ expected: z.number(), high: z.number() }).nullable(),
    basis: z.string(),
    samples: z.number().int(),
    at: z.string(),
  })
  .meta({ title: 'JobEstimate' });

export const JobViewSchema = z
  .object({
    jobId: z.string().regex(/^[0-9a-f]{32}$/),
    state: JobStateSchema,
    eeProject: z.string(),
    // Documented as a $ref to ExportImageRequest in the OpenAPI document (api-openapi.ts).
    request: z.custom<ExportImageRequest>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)).nullable(),
    requestId: z.string().describe('The requestId sent to Earth Engine; fixed for the job’s life'),
    identity: z.string().describe('The key the job id was derived from (idempotency key, requestId, message, upload, or random)'),
    operationName: nstr,
    description: nstr,
    priority: z.number(),
    labels: z.record(z.string(), z.string()),
    callbackUrl: nstr,
    source: JobSourceSchema,
    tenantId: nstr.describe('The tenant whose job this is (TENANTS); null without tenants, or for the operators’ own'),
    progress: z.number().nullable(),
    stages: z.array(z.object({ displayName: z.string(), description: z.string().optional(), completeWorkUnits: z.number().optional(), totalWorkUnits: z.number().optional() })),
    attempt: z.number().nullable(),
    eecuSeconds: z.number().nullable(),
    destinationUris: z.array(z.string()),
    error: JobErrorSchema.nullable(),
    queuedReason: nstr,
    submitAttempts: z.number(),
    lastSubmitError: nstr,
    cancelRequestedAt: nstr,
    submitLeaseUntil: nstr,
    rawPreview: nstr,
    createTime: z.string(),
    updateTime: z.string(),
    submitTime: nstr,
    startTime: nstr,
    endTime: nstr,
    nextPollAt: nstr,
    history: z.array(z.object({ at: z.string(), from: JobStateSchema.nullable(), to: JobStateSchema, reason: z.string().optional() })),
    webhook: WebhookSummarySchema.nullable(),
    resubmissions: z.number().int().describe('Automatic resubmissions after transient task failures so far'),
    previousOperations: z.array(z.string()).describe('Operations of earlier (failed, resubmitted) attempts, oldest first'),
    lastFailure: JobErrorSchema.extend({ failureClass: z.enum(['transient', 'permanent']), rule: z.string() })
      .nullable()
      .describe('The failure that caused the latest resubmission, or that ended the job'),
    notBefore: nstr.describe('A QUEUED job is not released before this time'),
    batchId: nstr.describe('The batch this job is a child of'),
    batchIndex: z.number().int().nullable().describe('Its index in the batch'),
    batchCurrent: z.boolean().describe('Whether it still counts for its batch (false once a batch retry replaced it)'),
    slotShard: z.number().int().nullable().describe('The in-flight slot shard the job holds a slot in, while in flight'),
    verifying: z
      .object({
        since: z.string(),
        lastCheck: z.string().describe('When the operation list was last searched'),
        checks: z.number().int().describe('Searches of the operation list made so far'),
        candidates: z.array(z.string()).describe('Operations that could be this job’s: none found yet, one not yet confirmed, or more than one'),
        candidatesSince: z.string().describe('Since when the searches have found exactly these candidates'),
        note: z.string(),
      })
      .nullable()
      .describe('Set while the job is SUBMITTING and its task may exist but eeport cannot yet tell which operation it is (Earth Engine answered the requestId "already exists"); cleared once found'),
    estimate: EstimateSchema.nullable().optional().describe('What the job was expected to cost, recorded when the poller first followed it (docs/estimates.md); compare with eecuSeconds'),
    chain: z
      .object({ chainId: z.string(), step: z.string() })
      .nullable()
      .optional()
      .describe('The chain this job is a step of (its root is step "root"): GET /v1/chains/{chainId} (docs/chains.md)'),
    maxEecuSeconds: z.number().nullable().optional().describe('The job’s own EECU cap (envelope maxEecuSeconds): a running task past it is cancelled (EECU_CAP)'),
    runaway: z
      .object({
        guard: z.enum(['eecu', 'time']).describe('eecu: the reported EECU passed the cap; time: no EECU reported, and the task ran far past the time its estimate gives the cap'),
        capSource: z.enum(['job', 'batch', 'budget']),
        limitEecuSeconds: z.number(),
        usedEecuSeconds: z.number().nullable(),
        runSeconds: z.number(),
        at: z.string(),
      })
      .nullable()
      .optional()
      .describe('Set once the runaway guard cancelled the job (error code EECU_CAP)'),
    stalled: z
      .object({
        kind: z.enum(['pending', 'running']).describe('pending: PENDING at Earth Engine past WATCH_PENDING_SECONDS; running: RUNNING past WATCH_RUNNING_P95_FACTOR × the p95 of similar finished jobs'),
        attempt: z.number().int().describe('The attempt it is about (the job’s resubmissions then); the badge shows while it is the current one'),
        operationName: nstr,
        at: z.string(),
        elapsedSeconds: z.number(),
        limitSeconds: z.number(),
        basis: z.string().describe('What the limit rests on: the threshold, or the similar jobs (workload tag or description pattern, count, p95)'),
        samples: z.number().int(),
        p95Seconds: z.number().nullable(),
        action: z.enum(['none', 'resubmitted']).describe('resubmitted: the task was cancelled and the job sent back to QUEUED with a new requestId (WATCH_STALL_RESUBMISSIONS)'),
        cancelPending: z.boolean().describe('After a resubmission: the stalled task’s cancel has not reached Earth Engine yet'),
      })
      .nullable()
      .optional()
      .describe('The stalled-task watch’s latest finding (docs/watch.md); one `stalled` event per attempt'),
    stallResubmissions: z.number().int().optional().describe('Resubmissions the stalled-task watch made'),
    recovery: z
      .object({
        policy: z.literal('tiled'),
        kind: z.enum(['memory', 'compute-time', 'too-large']).describe('The failure: memory, compute time, or output size'),
        reason: z.string().describe('The failure’s message, or why the job could not be tiled'),
        batchId: nstr.describe('The batch of tiles (GET /v1/batches/{batchId}); null when the job could not be tiled'),
        tiles: z.number().int(),
        depth: z.number().int().describe('1 for tiles of an ordinary job; a tile of depth n is tiled again (depth n + 1) only below RECOVERY_MAX_DEPTH'),
        at: z.string(),
      })
      .nullable()
      .optional()
      .describe('Set once the tiled-recovery policy (RECOVERY_TILES) acted on this FAILED job: at most once (docs/watch.md)'),
    version: z.number().int(),
  })
  .meta({ title: 'Job', description: 'One requested export and everything eeport knows about it (the Firestore job document).' });

/** List items leave the request out: it can be most of a megabyte, and GET /v1/jobs/{jobId} has it. */
export const JobListItemSchema = JobViewSchema.omit({ request: true }).meta({ title: 'JobListItem', description: 'A job without its request.' });

export const JobListResponseSchema = z
  .object({
    jobs: z.array(JobListItemSchema),
    nextPageToken: nstr.describe('Pass as pageToken (with the same filters) for the next page; null on the last page'),
  })
  .meta({ title: 'JobList' });

export const SubmitResponseSchema = z
  .object({
    jobId: z.string(),
    state: JobStateSchema,
    url: z.string().describe('The job, relative to the function’s URL: /v1/jobs/{jobId}'),
    duplicate: z.boolean().describe('true when the idempotency key (or requestId) named a job that already existed; nothing new was started'),
    notice: z.string().optional().describe('Set when the job could not reach Earth Engine yet and the poller will submit it'),
    job: JobViewSchema,
  })
  .meta({ title: 'SubmitResponse' });

export const CANCEL_OUTCOMES = ['cancelled', 'cancelling', 'requested'] as const;
export const CancelResponseSchema = z
  .object({
    outcome: z
      .enum(CANCEL_OUTCOMES)
      .describe('cancelled: done (the job was QUEUED); cancelling: Earth Engine was asked, the poller follows it; requested: marked, the poller sends the cancel once the operation is known'),
    notice: z.string().optional(),
    job: JobViewSchema,
  })
  .meta({ title: 'CancelResponse' });

export const CancelBodySchema = z.strictObject({ reason: z.string().max(500).optional().describe('Recorded on the job') }).meta({ title: 'CancelRequest' });

export type JobView = z.infer<typeof JobViewSchema>;

export function jobView(job: Job): JobView {
  return { ...job };
}

export function jobListItem(job: Job): Omit<JobView, 'request'> {
  const { request: _request, ...rest } = job;
  return rest;
}

// ---------------------------------------------------------------------------
// GET /v1/jobs query parameters
// ---------------------------------------------------------------------------

export const PAGE_SIZE = { default: 50, max: 200 } as const;

/** The query parameters of GET /v1/jobs, with what the OpenAPI document says of each. */
export const LIST_PARAMETERS = {
  state: 'Job states to include: repeat the parameter or give a comma-separated list (QUEUED,PENDING).',
  label: 'One label filter, key:value (e.g. team:forest).',
  eeProject: 'Only jobs of this Earth Engine project.',
  updatedAfter: 'RFC 3339 time; jobs last updated at or after it (inclusive).',
  updatedBefore: 'RFC 3339 time; jobs last updated before it (exclusive).',
  pageSize: `Jobs per page, 1–${PAGE_SIZE.max} (default ${PAGE_SIZE.default}).`,
  pageToken: 'nextPageToken of the previous page; keep the other parameters the same.',
} as const;

/** A parameter that may appear at most once; absent is undefined. */
const single = (name: string) =>
  z
    .array(z.string())
    .max(1, `${name} may be given only once`)
    .optional()
    .transform((a) => a?.[0]);
const rfc3339 = (name: string) =>
  single(name)
    .pipe(z.iso.datetime({ offset: true, error: `${name} must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z` }).optional())
    // Stored times are UTC ISO strings compared as text, so offsets are normalised first.
    .transform((v) => (v === undefined ? undefined : new Date(v).toISOString()));

/** `state`, repeated or comma-separated, any case, each one of `states`. */
const stateList = <T extends readonly [string, ...string[]]>(states: T) =>
  z
    .array(z.string())
    .optional()
    .transform((a) => (a ? [...new Set(a.flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean))] : undefined))
    .pipe(z.array(z.enum(states, { error: (iss) => `unknown state "${String(iss.input)}"; one of ${states.join(', ')}` })).optional());
const pageSizeParam = single('pageSize').pipe(
  z.coerce
    .number<string>({ error: 'pageSize must be a whole number' })
    .int('pageSize must be a whole number')
    .min(1, `pageSize must be 1–${PAGE_SIZE.max}`)
    .max(PAGE_SIZE.max, `pageSize must be 1–${PAGE_SIZE.max}`)
    .optional(),
);
const pageTokenParam = single('pageToken').pipe(z.string().min(1).max(2000, 'pageToken is not one this API issued').optional());

const ListParamsSchema = z
  .strictObject({
    state: stateList(JOB_STATES),
    label: single('label').pipe(
      z
        .string()
        .refine((s) => /^[^:]+:/.test(s), 'label must be key:value, e.g. team:forest')
        .transform((s) => ({ key: s.slice(0, s.indexOf(':')), value: s.slice(s.indexOf(':') + 1) }))
        .refine((l) => LABEL_KEY_PATTERN.test(l.key), 'label keys are 1–63 lowercase letters, digits, _ or -, starting with a letter')
        .refine((l) => LABEL_VALUE_PATTERN.test(l.value), 'label values are 0–63 lowercase letters, digits, _ or -')
        .optional(),
    ),
    eeProject: single('eeProject').pipe(EeProjectSchema.optional()),
    updatedAfter: rfc3339('updatedAfter'),
    updatedBefore: rfc3339('updatedBefore'),
    pageSize: pageSizeParam,
    pageToken: pageTokenParam,
  })
  .refine((p) => !p.updatedAfter || !p.updatedBefore || p.updatedAfter < p.updatedBefore, { message: 'updatedAfter must be earlier than updatedBefore', path: ['updatedBefore'] });

export type Issue = { path: string; message: string };

/** Parses a query string with a strict schema of array-valued parameters; every problem names its parameter. */
function parseParams<S extends z.ZodType>(schema: S, params: URLSearchParams, known: object): { ok: true; data: z.output<S> } | { ok: false; issues: Issue[] } {
  // No prototype: a parameter named __proto__ or toString is a key like any other (and an unknown one).
  const grouped: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of params) (grouped[k] ??= []).push(v);
  const r = schema.safeParse(grouped);
  if (r.success) return { ok: true, data: r.data };
  return {
    ok: false,
    issues: r.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? { path: i.keys.join(','), message: `unknown parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}; known: ${Object.keys(known).join(', ')}` }
        : { path: String(i.path[0] ?? ''), message: i.message },
    ),
  };
}

/** Parses GET /v1/jobs's query string; every problem names its parameter. */
export function parseListQuery(params: URLSearchParams): { ok: true; query: JobListQuery } | { ok: false; issues: Issue[] } {
  const r = parseParams(ListParamsSchema, params, LIST_PARAMETERS);
  if (!r.ok) return r;
  const p = r.data;
  const query: JobListQuery = { pageSize: p.pageSize ?? PAGE_SIZE.default };
  if (p.state?.length) query.states = p.state as JobState[];
  if (p.label) query.label = p.label;
  if (p.eeProject) query.eeProject = p.eeProject;
  if (p.updatedAfter) query.updatedAfter = p.updatedAfter;
  if (p.updatedBefore) query.updatedBefore = p.updatedBefore;
  if (p.pageToken) query.pageToken = p.pageToken;
  return { ok: true, query };
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/**
 * What a batch path segment may be: the batch's id (32 lowercase hex, what the API
 * answers with) or the `batchId` its submitter chose (the spec's batchId, which the id
 * is derived from), so `GET /v1/batches/mosaic-2026-11` works too.
 */
export const BATCH_REF_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

const JobCountsSchema = z.partialRecord(JobStateSchema, z.number().int());

export const BatchViewSchema = z
  .object({
    batchId: z.string().regex(/^[0-9a-f]{32}$/).describe('The batch’s id, derived from the batchId its submitter gave (or from the submission)'),
    state: z.enum(BATCH_STATES).describe('WRITING while its children are written, RUNNING (STOPPED while its queued children are held: see stop; POST :resume), then SUCCEEDED, PARTIALLY_FAILED, FAILED or CANCELLED; REJECTED when it never started'),
    eeProject: z.string(),
    description: nstr,
    labels: z.record(z.string(), z.string()),
    callbackUrl: nstr.describe('Called once, when the last child ends'),
    identity: z.string().describe('The key the batch id was derived from: key:batch:<batchId>, or the submission'),
    total: z.number().int().describe('Children'),
    written: z.number().int().describe('Children written so far'),
    counts: JobCountsSchema.describe('Current children by state (refreshed by the poller)'),
    progress: z.number().describe('0..1 over all children; ended ones count as 1'),
    eecuSeconds: z.number().describe('Summed over the children'),
    destinationUris: z.array(z.string()).describe('Of the succeeded children, once the batch has ended (at most 1,000)'),
    destinationUrisTruncated: z.boolean(),
    error: z.object({ code: z.string(), message: z.string(), details: z.array(IssueSchema).optional() }).nullable(),
    cancelRequestedAt: nstr,
    tenantId: nstr.describe('The tenant whose batch this is (TENANTS); null without tenants'),
    retries: z.number().int().describe('Retries of its transient failures so far'),
    maxEecuSeconds: z.number().nullable().optional().describe('The batch’s EECU cap (spec maxEecuSeconds): past it, summed over its children, the batch STOPs with reason EECU_CAP'),
    stop: z
      .object({
        reason: z.enum(['OUT_OF_BUDGET', 'EECU_CAP']),
        message: z.string(),
        at: z.string(),
        budget: nstr.describe('OUT_OF_BUDGET: the budget usage document that stopped it'),
        limitEecuSeconds: z.number().nullable().describe('EECU_CAP: the cap'),
        usedEecuSeconds: z.number().nullable().describe('EECU_CAP: the children’s summed use (finished and running, as Earth Engine reported it) that passed the cap'),
      })
      .nullable()
      .optional()
      .describe('Why the batch is STOPPED (its queued children are held until POST :resume); null once resumed'),
    createTime: z.string(),
    updateTime: z.string(),
    endTime: nstr,
    version: z.number().int(),
  })
  .meta({ title: 'Batch', description: 'A batch: its state and the aggregates of its children (the Firestore batch document).' });
export type BatchView = z.infer<typeof BatchViewSchema>;

/** List items leave the destination URIs out (up to 1,000 each); GET /v1/batches/{batchId} has them. */
export const BatchListItemSchema = BatchViewSchema.omit({ destinationUris: true }).meta({ title: 'BatchListItem', description: 'A batch without its destination URIs.' });

export const batchView = (b: Batch): BatchView => ({ ...b });
export function batchListItem(b: Batch): Omit<BatchView, 'destinationUris'> {
  const { destinationUris: _uris, ...rest } = b;
  return rest;
}

export const BatchListResponseSchema = z
  .object({ batches: z.array(BatchListItemSchema), nextPageToken: nstr.describe('Pass as pageToken (with the same state filter) for the next page; null on the last page') })
  .meta({ title: 'BatchList' });

export const BatchSubmitResponseSchema = z
  .object({
    batchId: z.string(),
    state: z.enum(BATCH_STATES),
    total: z.number().int(),
    url: z.string().describe('The batch, relative to the function’s URL: /v1/batches/{batchId}'),
    duplicate: z.boolean().describe('true when the batchId (or Idempotency-Key) named a batch that already existed; nothing new was written'),
    batch: BatchViewSchema,
  })
  .meta({ title: 'BatchSubmitResponse' });

export const BatchEstimateResponseSchema = z
  .object({
    batchId: z.string(),
    total: z.number().int().describe('Children of the batch'),
    estimated: z.number().int().describe('Current children with a recorded estimate (the poller records one when it first follows a child; docs/estimates.md)'),
    eecuSeconds: z.object({ low: z.number(), expected: z.number(), high: z.number() }).describe('Their estimates’ bands, summed'),
    actualEecuSeconds: z.number().describe('What those same children have used so far'),
  })
  .meta({ title: 'BatchEstimate' });

export const BatchJobsResponseSchema = z
  .object({ jobs: z.array(JobListItemSchema), nextPageToken: nstr.describe('Pass as pageToken (with the same state filter) for the next page; null on the last page') })
  .meta({ title: 'BatchJobList' });

export const BatchCancelResponseSchema = z
  .object({
    outcome: z.literal('cancelling').describe('Every queued or live child was cancelled or asked to cancel; the batch ends CANCELLED once they have all ended'),
    children: z.number().int().describe('Children cancelled or asked to cancel by this call'),
    batch: BatchViewSchema,
  })
  .meta({ title: 'BatchCancelResponse' });

export const BatchResumeResponseSchema = z
  .object({ outcome: z.literal('resumed').describe('The batch is RUNNING again: its queued children are released as slots free'), batch: BatchViewSchema })
  .meta({ title: 'BatchResumeResponse' });

/** :resume's optional body: a new cap for a batch stopped by its own (EECU_CAP). */
export const BatchResumeBodySchema = z.strictObject({ maxEecuSeconds: z.number().positive('must be a positive number of EECU-seconds').optional() });

export const BatchRetryResponseSchema = z
  .object({
    outcome: z.enum(['retrying', 'nothing-to-retry']).describe('retrying: the children that failed for a transient reason were replaced by fresh ones; nothing-to-retry: no child failed for a transient reason'),
    children: z.number().int().describe('Children resubmitted by this call'),
    batch: BatchViewSchema,
  })
  .meta({ title: 'BatchRetryResponse' });

export const BATCH_LIST_PARAMETERS = {
  state: `Batch states to include: repeat the parameter or give a comma-separated list (${BATCH_STATES.join(', ')}).`,
  pageSize: `Batches per page, 1–${PAGE_SIZE.max} (default ${PAGE_SIZE.default}).`,
  pageToken: 'nextPageToken of the previous page; keep the state filter the same.',
} as const;

export const BATCH_JOBS_PARAMETERS = {
  state: 'Child job states to include: repeat the parameter or give a comma-separated list (QUEUED,FAILED).',
  pageSize: `Jobs per page, 1–${PAGE_SIZE.max} (default ${PAGE_SIZE.default}).`,
  pageToken: 'nextPageToken of the previous page; keep the state filter the same.',
} as const;

const BatchListParamsSchema = z.strictObject({ state: stateList(BATCH_STATES), pageSize: pageSizeParam, pageToken: pageTokenParam });
const BatchJobsParamsSchema = z.strictObject({ state: stateList(JOB_STATES), pageSize: pageSizeParam, pageToken: pageTokenParam });

export function parseBatchListQuery(params: URLSearchParams): { ok: true; query: BatchListQuery } | { ok: false; issues: Issue[] } {
  const r = parseParams(BatchListParamsSchema, params, BATCH_LIST_PARAMETERS);
  if (!r.ok) return r;
  const query: BatchListQuery = { pageSize: r.data.pageSize ?? PAGE_SIZE.default };
  if (r.data.state?.length) query.states = r.data.state as BatchState[];
  if (r.data.pageToken) query.pageToken = r.data.pageToken;
  return { ok: true, query };
}

export interface BatchJobsQuery {
  states?: JobState[];
  pageSize: number;
  pageToken?: string;
}

export function parseBatchJobsQuery(params: URLSearchParams): { ok: true; query: BatchJobsQuery } | { ok: false; issues: Issue[] } {
  const r = parseParams(BatchJobsParamsSchema, params, BATCH_JOBS_PARAMETERS);
  if (!r.ok) return r;
  const query: BatchJobsQuery = { pageSize: r.data.pageSize ?? PAGE_SIZE.default };
  if (r.data.state?.length) query.states = r.data.state as JobState[];
  if (r.data.pageToken) query.pageToken = r.data.pageToken;
  return { ok: true, query };
}

// ---------------------------------------------------------------------------
// Budgets and stats (the dashboard's header; useful to scripts as well)
// ---------------------------------------------------------------------------

export const BudgetViewSchema = z
  .object({
    id: z.string().describe('The usage document: {eeProject}~{scope}~{month}'),
    eeProject: z.string(),
    scope: z.string().describe('all, label.{key}={value} or tag.{workloadTag}; a tenant’s budget starts tenant.{id}.'),
    tenant: nstr.describe('The tenant whose jobs it covers (TENANTS); null: every job in its project'),
    label: z.object({ key: z.string(), value: z.string() }).nullable(),
    workloadTag: nstr,
    onExceeded: z.enum(['queue', 'reject', 'stop-batches']).describe('What happens to covered jobs once the budget is used up: they wait, are refused, or their batches stop (STOPPED, OUT_OF_BUDGET)'),
    tier: z.union([z.string(), z.number()]).nullable().describe('The quota tier the limit comes from (community, contributor, partner, or a number of EECU-hours); null: monthlyEecuSeconds'),
    thresholds: z.array(z.number()).describe('Percentages of the limit that emit one budget.threshold event each per month'),
    thresholdsCrossed: z.array(z.number()).describe('The thresholds this month’s use (finished + running) has reached'),
    reserve: z.array(z.object({ label: z.object({ key: z.string(), value: z.string() }).optional(), workloadTag: z.string().optional(), share: z.number() })).describe('Shares of the limit only work with this label or workload tag may use; other work stops at (1 − Σ shares) of the limit'),
    month: z.string().describe('yyyy-mm (UTC)'),
    limitEecuSeconds: z.number().describe('The limit in EECU-seconds as configured now (a tier’s EECU-hours × 3600)'),
    usedEecuSeconds: z.number().describe('Month to date: finished tasks plus running tasks’ reported partial use'),
    finishedEecuSeconds: z.number().describe('Of which tasks that finished this month'),
    runningEecuSeconds: z.number().describe('Of which tasks still running (their latest report)'),
    remainingEecuSeconds: z.number().describe('0 once used up'),
    usedFraction: z.number().describe('used / limit; above 1 when the last tasks overshot it'),
    projectedEecuSeconds: z.number().describe('Projected month-end use: the last 7 days’ use per day carried to the month’s end, added to the use so far'),
    projectionBasis: z.string().describe('How the projection was made'),
    dailyEecuSeconds: z.record(z.string(), z.number()).describe('Finished use by day of the month ("01".."31"): the burn-down chart'),
    exceeded: z.boolean().describe('Used up: covered jobs wait in QUEUED, are refused, or stop their batches (onExceeded) until next month'),
    updateTime: nstr.describe('When usage was last added this month; null if none yet'),
  })
  .meta({ title: 'Budget', description: 'A configured EECU budget (EECU_BUDGETS) and its use this month.' });
export type BudgetView = z.infer<typeof BudgetViewSchema>;

export const BudgetsResponseSchema = z.object({ month: z.string(), budgets: z.array(BudgetViewSchema) }).meta({ title: 'Budgets' });

export const StatsResponseSchema = z
  .object({
    counts: z.record(JobStateSchema, z.number().int()).describe('Jobs in each state (every state, zeros included)'),
    total: z.number().int(),
    time: z.string().describe('When they were counted'),
  })
  .meta({ title: 'Stats' });

/** Each configured budget with this month's usage (a budget nothing has counted against yet has used 0). */
export function budgetViews(budgets: readonly Budget[], usages: readonly BudgetUsage[], month: string, now: string = new Date().toISOString()): BudgetView[] {
  const byId = new Map(usages.map((u) => [u.id, u]));
  return budgets.map((b) => {
    const id = budgetId(b, month);
    const usage = byId.get(id);
    const u = usage ?? { month, usedEecuSeconds: 0, runningEecuSeconds: {}, dailyEecuSeconds: {} };
    const p = projectBudget(u, now);
    const used = p.usedEecuSeconds;
    const limit = b.monthlyEecuSeconds;
    return {
      id,
      eeProject: b.eeProject,
      scope: scopeOf(b),
      tenant: b.tenant ?? null,
      label: b.label ?? null,
      workloadTag: b.workloadTag ?? null,
      onExceeded: b.onExceeded,
      tier: b.tier ?? null,
      thresholds: [...(b.thresholds ?? [50, 80, 100])],
      thresholdsCrossed: thresholdsCrossed(b, u),
      reserve: [...(b.reserve ?? [])],
      month,
      limitEecuSeconds: limit,
      usedEecuSeconds: used,
      finishedEecuSeconds: u.usedEecuSeconds,
      runningEecuSeconds: used - u.usedEecuSeconds,
      remainingEecuSeconds: Math.max(0, limit - used),
      usedFraction: used / limit,
      projectedEecuSeconds: p.projectedEecuSeconds,
      projectionBasis: p.basis,
      dailyEecuSeconds: { ...(u.dailyEecuSeconds ?? {}) },
      // The same test the admission check applies (budgets.ts checkBudgets) for work a reserve names.
      exceeded: used >= limit,
      updateTime: usage?.updateTime ?? null,
    };
  });
}

// ---------------------------------------------------------------------------
// Estimates (docs/estimates.md): what a job or batch would cost, before it runs
// ---------------------------------------------------------------------------

const EstimateMethodSchema = z.enum(['history:expression', 'history:workload-tag', 'history:project', 'probe', 'prior']);
const EecuBandSchema = z.object({ low: z.number(), expected: z.number(), high: z.number() }).describe('EECU-seconds: low ≤ expected ≤ high');

export const EstimateResponseSchema = z
  .object({
    eecuSeconds: EecuBandSchema,
    tasks: z.number().int().describe('Earth Engine tasks it would start: 1 for a job, the number of children for a batch'),
    pixels: z.number().nullable().describe('Output pixels of all tasks; null when some task’s cannot be told (its region is in the expression)'),
    method: EstimateMethodSchema.describe('The method of the least informed task: prior < probe < history:project < history:workload-tag < history:expression'),
    basis: z.array(z.object({ tasks: z.number().int(), method: EstimateMethodSchema, basis: z.string() })).describe('One line per distinct basis, with how many tasks used it'),
    budget: z
      .array(
        z.object({
          budget: z.string().describe('The usage document id: {eeProject}~{scope}~{month}'),
          limitEecuSeconds: z.number(),
          usedEecuSeconds: z.number(),
          remainingEecuSeconds: z.number(),
          shareOfRemaining: z.number().nullable().describe('expected ÷ remaining; null when nothing remains'),
          wouldExceed: z.boolean().describe('used + expected passes the limit'),
          mayExceed: z.boolean().describe('used + high passes the limit'),
        }),
      )
      .describe('Each budget covering it (a tenant sees its own), this UTC month'),
    probe: z
      .union([
        z.object({ jobId: z.string(), state: z.enum(JOB_STATES), pixels: z.number(), url: z.string() }).describe('The probe job started (or found: one per computation and project)'),
        z.object({ notStarted: z.string() }).describe('Why no probe could be started'),
      ])
      .optional()
      .describe('Only with ?probe=true, when the estimate did not rest on the computation’s own history'),
  })
  .meta({ title: 'Estimate' });

export const EstimateAccuracyResponseSchema = z
  .object({
    jobs: z.number().int().describe('Finished jobs with a recorded estimate that were compared'),
    methods: z.array(
      z.object({
        method: EstimateMethodSchema,
        jobs: z.number().int(),
        medianAbsoluteError: z.number().describe('Median |actual − expected|, EECU-seconds'),
        medianAbsolutePercentError: z.number().describe('Median |actual − expected| ÷ actual, percent'),
        bandCoverage: z.number().describe('Share of actuals within [low, high]'),
      }),
    ),
  })
  .meta({ title: 'EstimateAccuracy' });

export const ESTIMATE_ACCURACY_PARAMETERS = {
  eeProject: 'Only jobs of this Earth Engine project',
  jobs: 'How many of the most recent SUCCEEDED jobs to compare (1–5000, default 1000)',
} as const;

const EstimateAccuracyParamsSchema = z.strictObject({
  eeProject: single('eeProject').pipe(EeProjectSchema.optional()),
  jobs: single('jobs').pipe(z.coerce.number<string>({ error: 'jobs must be a whole number' }).int('jobs must be a whole number').min(1, 'jobs must be 1–5000').max(5000, 'jobs must be 1–5000').optional()),
});

export function parseEstimateAccuracyQuery(params: URLSearchParams): { ok: true; query: { eeProject?: string; jobs?: number } } | { ok: false; issues: Issue[] } {
  const r = parseParams(EstimateAccuracyParamsSchema, params, ESTIMATE_ACCURACY_PARAMETERS);
  if (!r.ok) return r;
  return { ok: true, query: { ...(r.data.eeProject ? { eeProject: r.data.eeProject } : {}), ...(r.data.jobs ? { jobs: r.data.jobs } : {}) } };
}

export const ESTIMATE_PARAMETERS = {
  probe: 'true: when the estimate does not rest on the computation’s own history, start one probe (a labelled 256×256 sample export whose cost is counted); default false: nothing reaches Earth Engine',
} as const;

const EstimateParamsSchema = z.strictObject({ probe: single('probe').pipe(z.enum(['true', 'false'], { error: 'probe must be true or false' }).optional()) });

export function parseEstimateQuery(params: URLSearchParams): { ok: true; query: { probe: boolean } } | { ok: false; issues: Issue[] } {
  const r = parseParams(EstimateParamsSchema, params, ESTIMATE_PARAMETERS);
  return r.ok ? { ok: true, query: { probe: r.data.probe === 'true' } } : r;
}

/** The answer as sent: Infinity (nothing of a budget remains) is not JSON, so it is null. */
export function estimateView<T extends { budget: Array<{ shareOfRemaining: number }> }>(answer: T) {
  return { ...answer, budget: answer.budget.map((b) => ({ ...b, shareOfRemaining: Number.isFinite(b.shareOfRemaining) ? b.shareOfRemaining : null })) };
}

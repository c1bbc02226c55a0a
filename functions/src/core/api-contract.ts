/**
 * The HTTP API's wire contract as zod schemas: the job as the API shows it, the list
 * query, the responses and the error body. The OpenAPI document (api-openapi.ts) is
 * generated from these, and the integration tests parse every response with them, so
 * the document cannot drift from what the API sends.
 */
import { z } from 'zod';
import { JOB_STATES, type Job, type JobState } from './job.ts';
import { EeProjectSchema, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from './envelope.schema.ts';
import type { ExportImageRequest } from './export-request.schema.ts';
import type { JobListQuery } from './ports.ts';

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
  'EXPORT.TOO_LARGE',
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

const ListParamsSchema = z
  .strictObject({
    state: z
      .array(z.string())
      .optional()
      .transform((a) => (a ? [...new Set(a.flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean))] : undefined))
      .pipe(z.array(z.enum(JOB_STATES, { error: (iss) => `unknown state "${String(iss.input)}"; one of ${JOB_STATES.join(', ')}` })).optional()),
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
    pageSize: single('pageSize').pipe(
      z.coerce
        .number<string>({ error: 'pageSize must be a whole number' })
        .int('pageSize must be a whole number')
        .min(1, `pageSize must be 1–${PAGE_SIZE.max}`)
        .max(PAGE_SIZE.max, `pageSize must be 1–${PAGE_SIZE.max}`)
        .optional(),
    ),
    pageToken: single('pageToken').pipe(z.string().min(1).max(2000, 'pageToken is not one this API issued').optional()),
  })
  .refine((p) => !p.updatedAfter || !p.updatedBefore || p.updatedAfter < p.updatedBefore, { message: 'updatedAfter must be earlier than updatedBefore', path: ['updatedBefore'] });

export type Issue = { path: string; message: string };

/** Parses GET /v1/jobs's query string; every problem names its parameter. */
export function parseListQuery(params: URLSearchParams): { ok: true; query: JobListQuery } | { ok: false; issues: Issue[] } {
  const grouped: Record<string, string[]> = {};
  for (const [k, v] of params) (grouped[k] ??= []).push(v);
  const r = ListParamsSchema.safeParse(grouped);
  if (!r.success) {
    return {
      ok: false,
      issues: r.error.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? { path: i.keys.join(','), message: `unknown parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}; known: ${Object.keys(LIST_PARAMETERS).join(', ')}` }
          : { path: String(i.path[0] ?? ''), message: i.message },
      ),
    };
  }
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

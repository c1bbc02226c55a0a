/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas the API
 * itself uses (api-contract.ts, the request and envelope schemas), so it cannot drift
 * from what is validated and sent. Served at GET /v1/openapi.json and written to
 * docs/openapi.json by tools/gen-schemas.ts.
 */
import { z } from 'zod';
import { exportRequestJsonSchema, submitEnvelopeJsonSchema } from '../requests/index.ts';
import { JOB_STATES } from '../jobs/index.ts';
import { BATCH_STATES, BatchSpecSchema } from '../batches/index.ts';
import { scheduleOpenApi } from '../schedules/index.ts';
import { chainOpenApi } from '../chains/index.ts';
import {
  ApiErrorBodySchema,
  BATCH_JOBS_PARAMETERS,
  BATCH_LIST_PARAMETERS,
  BatchCancelResponseSchema,
  BatchJobsResponseSchema,
  BatchEstimateResponseSchema,
  BatchListItemSchema,
  BatchListResponseSchema,
  BatchResumeResponseSchema,
  BatchRetryResponseSchema,
  BatchSubmitResponseSchema,
  BatchViewSchema,
  BudgetsResponseSchema,
  BudgetViewSchema,
  CancelBodySchema,
  CancelResponseSchema,
  ESTIMATE_ACCURACY_PARAMETERS,
  ESTIMATE_PARAMETERS,
  EstimateAccuracyResponseSchema,
  EstimateResponseSchema,
  JobListItemSchema,
  JobListResponseSchema,
  JobViewSchema,
  LIST_PARAMETERS,
  PAGE_SIZE,
  StatsResponseSchema,
  SubmitResponseSchema,
} from './api-contract.ts';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Replaces every `$ref` equal to or under `from` with the same under `to`. */
function moveRefs(node: unknown, from: string, to: string): unknown {
  if (Array.isArray(node)) return node.map((n) => moveRefs(n, from, to));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith(from) ? to + v.slice(from.length) : moveRefs(v, from, to)]),
  );
}

/**
 * The request schema as a component: its `$defs` (the recursive ValueNode) become
 * components of their own, since `#/$defs/…` would otherwise point at the document root.
 */
function requestComponents(): Record<string, Json> {
  const { $schema: _schema, $id: _id, $defs, ...request } = exportRequestJsonSchema() as Json & { $defs?: Record<string, Json> };
  const out: Record<string, Json> = { ExportImageRequest: moveRefs(request, '#/$defs/', '#/components/schemas/') as Json };
  for (const [name, def] of Object.entries($defs ?? {})) out[name] = moveRefs(def, '#/$defs/', '#/components/schemas/') as Json;
  return out;
}

/** The API's own schemas, each a component; shared ones (Job) are referenced, not repeated. */
function contractComponents(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  registry.add(JobViewSchema, { id: 'Job' });
  registry.add(JobListItemSchema, { id: 'JobListItem' });
  registry.add(JobListResponseSchema, { id: 'JobList' });
  registry.add(SubmitResponseSchema, { id: 'SubmitResponse' });
  registry.add(CancelBodySchema, { id: 'CancelRequest' });
  registry.add(CancelResponseSchema, { id: 'CancelResponse' });
  registry.add(ApiErrorBodySchema, { id: 'Error' });
  registry.add(BatchSpecSchema, { id: 'BatchSpec' });
  registry.add(BatchViewSchema, { id: 'Batch' });
  registry.add(BatchListItemSchema, { id: 'BatchListItem' });
  registry.add(BatchListResponseSchema, { id: 'BatchList' });
  registry.add(BatchSubmitResponseSchema, { id: 'BatchSubmitResponse' });
  registry.add(BatchJobsResponseSchema, { id: 'BatchJobList' });
  registry.add(BatchEstimateResponseSchema, { id: 'BatchEstimate' });
  registry.add(BatchCancelResponseSchema, { id: 'BatchCancelResponse' });
  registry.add(BatchRetryResponseSchema, { id: 'BatchRetryResponse' });
  registry.add(BatchResumeResponseSchema, { id: 'BatchResumeResponse' });
  registry.add(BudgetViewSchema, { id: 'Budget' });
  registry.add(BudgetsResponseSchema, { id: 'Budgets' });
  registry.add(StatsResponseSchema, { id: 'Stats' });
  registry.add(EstimateResponseSchema, { id: 'Estimate' });
  registry.add(EstimateAccuracyResponseSchema, { id: 'EstimateAccuracy' });
  // io "input": response objects stay open (no additionalProperties: false), so fields can be added without breaking strict clients.
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` }) as {
    schemas: Record<string, Json>;
  };
  const out: Record<string, Json> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    out[name] = rest;
  }
  // zod knows the job's request only as "an object"; say which.
  const job = out.Job as { properties: Record<string, Json> };
  job.properties.request = { anyOf: [ref('ExportImageRequest'), { type: 'null' }], description: 'The normalized request as sent to Earth Engine; null for a REJECTED job' };
  return out;
}

const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);

const batchIdParam = {
  name: 'batchId',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$' },
  description: 'The batch id (32 lowercase hex characters), or the batchId it was submitted with',
};

const pageParameters = (p: { pageSize: string; pageToken: string }): Json[] => [
  { name: 'pageSize', in: 'query', description: p.pageSize, schema: { type: 'integer', minimum: 1, maximum: PAGE_SIZE.max, default: PAGE_SIZE.default } },
  { name: 'pageToken', in: 'query', description: p.pageToken, schema: { type: 'string' } },
];

const jobIdParam = { name: 'jobId', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{32}$' }, description: 'The job id (32 lowercase hex characters)' };

const COMMON_ERRORS = {
  '401': error('Unauthenticated (API_AUTH=api-key: missing or wrong x-api-key; API_AUTH=oidc: missing or invalid ID token)'),
  '403': error('Authenticated, but not an allowed caller (API_ALLOWED_CALLERS)'),
  '500': error('Internal error (logged as api.failed)'),
};

function listParameters(): Json[] {
  const p = LIST_PARAMETERS;
  return [
    { name: 'state', in: 'query', style: 'form', explode: true, description: p.state, schema: { type: 'array', items: { type: 'string', enum: [...JOB_STATES] } } },
    { name: 'label', in: 'query', description: p.label, schema: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}:[a-z0-9_-]{0,63}$' } },
    { name: 'eeProject', in: 'query', description: p.eeProject, schema: { type: 'string' } },
    { name: 'updatedAfter', in: 'query', description: p.updatedAfter, schema: { type: 'string', format: 'date-time' } },
    { name: 'updatedBefore', in: 'query', description: p.updatedBefore, schema: { type: 'string', format: 'date-time' } },
    { name: 'pageSize', in: 'query', description: p.pageSize, schema: { type: 'integer', minimum: 1, maximum: PAGE_SIZE.max, default: PAGE_SIZE.default } },
    { name: 'pageToken', in: 'query', description: p.pageToken, schema: { type: 'string' } },
  ];
}

/** The envelope with `then` (a chain: core/chains, which intake checks it with). */
const withThen = (envelope: Json): Json => ({ ...envelope, properties: { ...(envelope.properties as Json), then: { $ref: '#/components/schemas/Then' } } });

export function apiOpenApiDocument(): Json {
  const { $schema: _schema, $id: _id, ...envelope } = submitEnvelopeJsonSchema('#/components/schemas/ExportImageRequest');
  return {
    openapi: '3.1.0',
    info: {
      title: 'eeport HTTP API',
      version: '1',
      description:
        'Submit, follow, list and cancel Google Earth Engine image exports and batches of them; see EECU budgets and counts by state. Paths are relative to the function’s URL. ' +
        'Every error is JSON with a stable code (see the Error schema). Which security scheme applies depends on the deployment’s API_AUTH.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{}, { apiKey: [] }, { googleIdToken: [] }],
    paths: {
      ...scheduleOpenApi().paths,
      ...chainOpenApi().paths,
      '/v1/jobs': {
        post: {
          operationId: 'submitJob',
          summary: 'Submit an export',
          description:
            'The body is what the requests topic takes: an ExportImageRequest verbatim, or an envelope {request, eeProject, labels, callbackUrl, idempotencyKey}. ' +
            'Invalid input is answered with 400 and every problem; nothing is stored. The same idempotency key (or the request’s own requestId) always names the same job.',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 }, description: 'Same as the envelope’s idempotencyKey (if both are given they must agree)' },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { oneOf: [ref('SubmitEnvelope'), ref('ExportImageRequest')] } } } },
          responses: {
            '202': json(
              ref('SubmitResponse'),
              'A new job. Its state says how far it got: PENDING/RUNNING (Earth Engine accepted it), QUEUED (waiting for a slot), FAILED (Earth Engine refused it), or SUBMITTING with a notice (Earth Engine was unreachable; the poller submits it)',
            ),
            '200': json(ref('SubmitResponse'), 'The idempotency key or requestId named an existing job (duplicate: true); nothing new was started'),
            '400': error('Malformed JSON (API.MALFORMED_JSON) or an invalid submission (EXPORT.INVALID_REQUEST, EXPORT.INVALID_ENVELOPE, EXPORT.UNKNOWN_PROJECT), or an invalid `then` (CHAIN.INVALID: cycles, unknown steps or placeholders, a step’s request), with details'),
            '413': error('Body larger than API_MAX_BODY_BYTES (API.BODY_TOO_LARGE), or a request too large to record (EXPORT.TOO_LARGE)'),
            '415': error('Content-Type is not application/json (API.UNSUPPORTED_MEDIA_TYPE)'),
            ...COMMON_ERRORS,
          },
        },
        get: {
          operationId: 'listJobs',
          summary: 'List jobs, most recently updated first',
          parameters: listParameters(),
          responses: { '200': json(ref('JobList'), 'One page of jobs'), '400': error('A bad query parameter (API.INVALID_PARAMETER), named in details'), ...COMMON_ERRORS },
        },
      },
      '/v1/jobs/{jobId}': {
        get: {
          operationId: 'getJob',
          summary: 'A job, with its request',
          parameters: [jobIdParam],
          responses: { '200': json(ref('Job'), 'The job'), '400': error('Malformed job id (API.INVALID_JOB_ID)'), '404': error('No such job (API.NOT_FOUND)'), ...COMMON_ERRORS },
        },
      },
      '/v1/jobs/{jobId}:cancel': {
        post: {
          operationId: 'cancelJob',
          summary: 'Cancel a job',
          description: 'A QUEUED job is cancelled at once; a running one gets operations.cancel and the poller follows it to CANCELLED (or to its natural end, if it finished first).',
          parameters: [jobIdParam],
          requestBody: { required: false, content: { 'application/json': { schema: ref('CancelRequest') } } },
          responses: {
            '200': json(ref('CancelResponse'), 'The outcome and the job'),
            '400': error('Malformed job id or body'),
            '404': error('No such job (API.NOT_FOUND)'),
            '409': error('The job already ended (API.ALREADY_TERMINAL)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/batches': {
        post: {
          operationId: 'submitBatch',
          summary: 'Submit a batch of exports',
          description:
            'The body is what the requests topic takes as its `batch` member: exactly one of requests, template + fanOut, or template + tiles, and batchId, description, eeProject, labels, callbackUrl. ' +
            'The whole batch is expanded and validated first: invalid input is answered with 400 and every problem (paths into the body; children[i]… for the i-th expanded child), and nothing is stored. ' +
            'Children are written as QUEUED jobs and released by the poller under MAX_IN_FLIGHT_PER_PROJECT. The same batchId always names the same batch.',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$' }, description: 'The batchId, when the body names none (if both are given they must agree)' },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchSpec') } } },
          responses: {
            '202': json(ref('BatchSubmitResponse'), 'A new batch, RUNNING with its children QUEUED'),
            '200': json(ref('BatchSubmitResponse'), 'The batchId named an existing batch (duplicate: true); nothing new was written'),
            '400': error('Malformed JSON (API.MALFORMED_JSON) or an invalid batch (BATCH.INVALID), with details'),
            '413': error('Body larger than API_MAX_BODY_BYTES (API.BODY_TOO_LARGE)'),
            '415': error('Content-Type is not application/json (API.UNSUPPORTED_MEDIA_TYPE)'),
            ...COMMON_ERRORS,
          },
        },
        get: {
          operationId: 'listBatches',
          summary: 'List batches, newest first',
          parameters: [
            { name: 'state', in: 'query', style: 'form', explode: true, description: BATCH_LIST_PARAMETERS.state, schema: { type: 'array', items: { type: 'string', enum: [...BATCH_STATES] } } },
            ...pageParameters(BATCH_LIST_PARAMETERS),
          ],
          responses: { '200': json(ref('BatchList'), 'One page of batches'), '400': error('A bad query parameter (API.INVALID_PARAMETER), named in details'), ...COMMON_ERRORS },
        },
      },
      '/v1/batches/{batchId}': {
        get: {
          operationId: 'getBatch',
          summary: 'A batch, with its aggregates',
          parameters: [batchIdParam],
          responses: { '200': json(ref('Batch'), 'The batch'), '400': error('Malformed batch id (API.INVALID_BATCH_ID)'), '404': error('No such batch (API.NOT_FOUND)'), ...COMMON_ERRORS },
        },
      },
      '/v1/batches/{batchId}/jobs': {
        get: {
          operationId: 'listBatchJobs',
          summary: 'A batch’s current children, by index',
          description: 'Children replaced by a retry are left out; their replacements have the same batchIndex.',
          parameters: [
            batchIdParam,
            { name: 'state', in: 'query', style: 'form', explode: true, description: BATCH_JOBS_PARAMETERS.state, schema: { type: 'array', items: { type: 'string', enum: [...JOB_STATES] } } },
            ...pageParameters(BATCH_JOBS_PARAMETERS),
          ],
          responses: {
            '200': json(ref('BatchJobList'), 'One page of children'),
            '400': error('Malformed batch id (API.INVALID_BATCH_ID) or a bad query parameter (API.INVALID_PARAMETER)'),
            '404': error('No such batch (API.NOT_FOUND)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/batches/{batchId}/estimate': {
        get: {
          operationId: 'getBatchEstimate',
          summary: 'A batch’s children’s recorded estimates, summed, beside what they used',
          description: 'One aggregation over the current children (none is read), so it costs the same for 10 children or 100,000.',
          parameters: [batchIdParam],
          responses: { '200': json(ref('BatchEstimate'), 'The sums'), '400': error('Malformed batch id (API.INVALID_BATCH_ID)'), '404': error('No such batch (API.NOT_FOUND)'), ...COMMON_ERRORS },
        },
      },
      '/v1/batches/{batchId}:cancel': {
        post: {
          operationId: 'cancelBatch',
          summary: 'Cancel a batch',
          description: 'Cancels every queued or live child; the batch ends CANCELLED once they have all ended. Takes no body (or {}).',
          parameters: [batchIdParam],
          responses: {
            '200': json(ref('BatchCancelResponse'), 'The children were cancelled or asked to cancel'),
            '400': error('Malformed batch id (API.INVALID_BATCH_ID) or a body with options (API.INVALID_PARAMETER)'),
            '404': error('No such batch (API.NOT_FOUND)'),
            '409': error('The batch already ended (API.ALREADY_TERMINAL)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/batches/{batchId}:retry': {
        post: {
          operationId: 'retryBatch',
          summary: 'Retry a batch’s transient failures',
          description: 'Each child that failed for a transient reason is replaced by a fresh one with a new requestId (the failed job stays FAILED), and the batch runs again. Takes no body (or {}).',
          parameters: [batchIdParam],
          responses: {
            '200': json(ref('BatchRetryResponse'), 'What was resubmitted (possibly nothing)'),
            '400': error('Malformed batch id (API.INVALID_BATCH_ID) or a body with options (API.INVALID_PARAMETER)'),
            '404': error('No such batch (API.NOT_FOUND)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/batches/{batchId}:resume': {
        post: {
          operationId: 'resumeBatch',
          summary: 'Resume a STOPPED batch',
          description:
            'A batch STOPPED because an EECU budget with onExceeded=stop-batches was used up (OUT_OF_BUDGET), or because its children passed its own maxEecuSeconds (EECU_CAP), runs again: its queued children are released as slots free. Refused (409 BATCH.STILL_STOPPED) while the budget is still used up this month (raise its limit or wait for the next month), or, for EECU_CAP, unless the body {"maxEecuSeconds": n} raises the cap above what the batch has used. Body: none, {} or {"maxEecuSeconds": n}.',
          parameters: [batchIdParam],
          responses: {
            '200': json(ref('BatchResumeResponse'), 'The batch is RUNNING again'),
            '400': error('Malformed batch id (API.INVALID_BATCH_ID) or body (API.INVALID_PARAMETER)'),
            '404': error('No such batch (API.NOT_FOUND)'),
            '409': error('The batch is not STOPPED (BATCH.NOT_STOPPED), or its reason still holds (BATCH.STILL_STOPPED)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/budgets': {
        get: {
          operationId: 'listBudgets',
          summary: 'The EECU budgets and this month’s use of each',
          responses: { '200': json(ref('Budgets'), 'Every budget in EECU_BUDGETS, with its usage this (UTC) month'), ...COMMON_ERRORS },
        },
      },
      '/v1/stats': {
        get: {
          operationId: 'getStats',
          summary: 'How many jobs are in each state',
          description: 'Count aggregations, one per state: cheap at any number of jobs.',
          responses: { '200': json(ref('Stats'), 'Counts by state'), ...COMMON_ERRORS },
        },
      },
      '/v1/estimates': {
        post: {
          operationId: 'estimate',
          summary: 'What a job or a batch would cost, before anything runs',
          description:
            'The body is what POST /v1/jobs takes (an ExportImageRequest or a SubmitEnvelope), or {"batch": …} with what POST /v1/batches takes; it is checked as that submission would be, and nothing is stored. ' +
            'The answer is EECU-seconds with a band (low ≤ expected ≤ high), the tasks it would start, its output pixels, the method (history of the same computation, workload tag or project; a probe; or a wide prior) and the share of each covering budget’s remaining month. ' +
            'Nothing reaches Earth Engine, unless probe=true starts one labelled probe job (docs/estimates.md).',
          parameters: [{ name: 'probe', in: 'query', description: ESTIMATE_PARAMETERS.probe, schema: { type: 'boolean', default: false } }],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { oneOf: [ref('ExportImageRequest'), ref('SubmitEnvelope'), { type: 'object', required: ['batch'], additionalProperties: false, properties: { batch: ref('BatchSpec') } }] } } },
          },
          responses: {
            '200': json(ref('Estimate'), 'The estimate'),
            '400': error('Malformed JSON, an invalid request or envelope (EXPORT.*) or batch (BATCH.INVALID), with details; or a bad query parameter (API.INVALID_PARAMETER)'),
            '413': error('Body larger than API_MAX_BODY_BYTES (API.BODY_TOO_LARGE)'),
            '415': error('Content-Type is not application/json (API.UNSUPPORTED_MEDIA_TYPE)'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/v1/estimates/accuracy': {
        get: {
          operationId: 'getEstimateAccuracy',
          summary: 'How good past estimates were, per method',
          description: 'Over the most recent SUCCEEDED jobs with a recorded estimate: per method, the median absolute error (EECU-seconds and percent of the actual) and the share of actuals within the band.',
          parameters: [
            { name: 'eeProject', in: 'query', description: ESTIMATE_ACCURACY_PARAMETERS.eeProject, schema: { type: 'string' } },
            { name: 'jobs', in: 'query', description: ESTIMATE_ACCURACY_PARAMETERS.jobs, schema: { type: 'integer', minimum: 1, maximum: 5000, default: 1000 } },
          ],
          responses: { '200': json(ref('EstimateAccuracy'), 'Accuracy per method'), '400': error('A bad query parameter (API.INVALID_PARAMETER)'), ...COMMON_ERRORS },
        },
      },
      '/v1/openapi.json': {
        get: { operationId: 'getOpenApi', summary: 'This document', responses: { '200': { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } },
      },
    },
    components: {
      schemas: { ...requestComponents(), SubmitEnvelope: withThen(envelope), ...contractComponents(), ...scheduleOpenApi().schemas, ...chainOpenApi().schemas },
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'API_AUTH=api-key: one of API_KEYS' },
        googleIdToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'API_AUTH=oidc: a Google-signed ID token for API_OIDC_AUDIENCE, from a caller in API_ALLOWED_CALLERS' },
      },
    },
  };
}

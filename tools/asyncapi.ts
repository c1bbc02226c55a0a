/**
 * The AsyncAPI 3.0 document of eeport's topics, generated from the same zod schemas as
 * the JSON Schemas in docs/schemas/ (and the CloudEvent schema below), into
 * docs/asyncapi.json by tools/gen-schemas.ts.
 */
import { z } from 'zod';
import { exportRequestJsonSchema } from '../functions/src/core/requests/index.ts';
import { submitEnvelopeJsonSchema, ATTRIBUTE_NAMES } from '../functions/src/core/requests/index.ts';
import { EXPORT_REQUEST_SCHEMA_ID } from '../functions/src/core/requests/index.ts';
import { EVENT_TYPES } from '../functions/src/core/jobs/index.ts';
import { JOB_STATES } from '../functions/src/core/jobs/index.ts';
import { BATCH_STATES } from '../functions/src/core/batches/index.ts';
import { BUDGET_EVENT_TYPE, BUDGET_THRESHOLD_EVENT_TYPE } from '../functions/src/core/budgets/index.ts';
import { CHAIN_EVENT_TYPES, CHAIN_STATES, STEP_STATES, ThenSchema } from '../functions/src/core/chains/index.ts';
import { ESTIMATE_EVENT_TYPE } from '../functions/src/core/estimates/index.ts';
import { RECOVERED_EVENT_TYPE, STALLED_EVENT_TYPE } from '../functions/src/core/watch/index.ts';
import { batchJsonSchema } from './cli/schemas.ts';

const nullable = <T extends z.ZodType>(t: T) => t.nullable();
const JobEventDataSchema = z.object({
  jobId: z.string(),
  tenantId: nullable(z.string()).describe('The job’s tenant (TENANTS); null without tenants'),
  state: z.enum(JOB_STATES),
  eeProject: z.string(),
  operationName: nullable(z.string()),
  requestId: z.string(),
  description: nullable(z.string()),
  labels: z.record(z.string(), z.string()),
  progress: nullable(z.number()),
  attempt: nullable(z.number()),
  eecuSeconds: nullable(z.number()),
  destinationUris: z.array(z.string()),
  error: nullable(z.object({ code: z.string(), message: z.string(), status: z.number().optional() })),
  createTime: z.string(),
  submitTime: nullable(z.string()),
  startTime: nullable(z.string()),
  endTime: nullable(z.string()),
  callbackUrl: nullable(z.string()),
  stall: z
    .object({
      kind: z.enum(['pending', 'running']),
      attempt: z.number().int(),
      operationName: nullable(z.string()),
      at: z.string(),
      elapsedSeconds: z.number(),
      limitSeconds: z.number(),
      basis: z.string(),
      samples: z.number().int(),
      p95Seconds: nullable(z.number()),
      action: z.enum(['none', 'resubmitted']),
      cancelPending: z.boolean(),
    })
    .optional()
    .describe('Only on …export.v1.stalled (one per attempt; id {jobId}.stalled, then {jobId}.stalled.r{n}): the stalled-task watch’s finding (docs/watch.md)'),
  recovery: z
    .object({
      policy: z.literal('tiled'),
      kind: z.enum(['memory', 'compute-time', 'too-large']),
      reason: z.string(),
      batchId: nullable(z.string()),
      tiles: z.number().int(),
      depth: z.number().int(),
      at: z.string(),
    })
    .optional()
    .describe('Only on …export.v1.recovered (one per job; id {jobId}.recovered): the FAILED job resubmitted as a batch of tiles on its pixel grid, or (batchId null) why it could not be (docs/watch.md)'),
});

const cloudEvent = (types: readonly string[], data: Record<string, unknown>, description: string) => ({
  type: 'object',
  description,
  required: ['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'data'],
  properties: {
    specversion: { const: '1.0' },
    id: { type: 'string', description: 'Stable across re-relays: drop duplicates by id' },
    source: { type: 'string' },
    type: { enum: types },
    subject: { type: 'string', description: 'The job (or batch, or budget) id' },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { const: 'application/json' },
    data,
  },
});

const attr = (description: string) => ({ type: 'string', description });

/** `then` (a chain, docs/chains.md), checked by core/chains' schema. */
function thenJsonSchema(): Record<string, unknown> {
  const then = z.toJSONSchema(ThenSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete then.$schema;
  return then;
}
const withThen = (envelope: Record<string, unknown>) => ({ ...envelope, properties: { ...(envelope.properties as Record<string, unknown>), then: { $ref: '#/components/schemas/Then' } } });

export function asyncApiDocument(): Record<string, unknown> {
  const jobData = z.toJSONSchema(JobEventDataSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  delete jobData.$schema;
  const batchTypes = ['submitted', 'stopped', 'eecu_cap_exceeded', 'resumed', 'succeeded', 'partially_failed', 'failed', 'cancelled', 'rejected'].map((k) => `dev.eeport.batch.v1.${k}`);
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'eeport topics',
      version: '1.0.0',
      description: 'Publish export requests (and cancels, batches) to the requests topic; subscribe to CloudEvents on the events topic.',
    },
    defaultContentType: 'application/json',
    channels: {
      requests: {
        address: 'eeport-requests',
        description:
          'REQUESTS_TOPIC. Message data: an ExportImageRequest verbatim, an envelope, or {"batch": …}; options may travel as attributes. With TENANTS, each tenant publishes to its own {REQUESTS_TOPIC}-{tenant} (same messages): the topic, never the message, says whose a request is.',
        messages: {
          exportRequest: { $ref: '#/components/messages/exportRequest' },
          envelope: { $ref: '#/components/messages/envelope' },
          batch: { $ref: '#/components/messages/batch' },
          cancel: { $ref: '#/components/messages/cancel' },
          estimate: { $ref: '#/components/messages/estimate' },
        },
      },
      events: {
        address: 'eeport-events',
        description: 'EVENTS_TOPIC. One CloudEvent (structured JSON) per job state change, plus batch completion and budget events.',
        messages: { jobEvent: { $ref: '#/components/messages/jobEvent' }, batchEvent: { $ref: '#/components/messages/batchEvent' }, budgetEvent: { $ref: '#/components/messages/budgetEvent' }, chainEvent: { $ref: '#/components/messages/chainEvent' }, estimateEvent: { $ref: '#/components/messages/estimateEvent' } },
      },
    },
    operations: {
      submit: { action: 'send', channel: { $ref: '#/channels/requests' }, summary: 'Submit exports, batches, cancels and batch retries' },
      receiveEvents: { action: 'receive', channel: { $ref: '#/channels/events' }, summary: 'Follow jobs, batches and budgets' },
    },
    components: {
      schemas: {
        ExportImageRequest: exportRequestJsonSchema(),
        SubmitEnvelope: withThen(submitEnvelopeJsonSchema(EXPORT_REQUEST_SCHEMA_ID)),
        Then: thenJsonSchema(),
        Batch: batchJsonSchema(),
        RequestAttributes: {
          type: 'object',
          properties: {
            [ATTRIBUTE_NAMES.eeProject]: attr('Earth Engine project'),
            [ATTRIBUTE_NAMES.labels]: attr('Labels as a JSON object string'),
            [ATTRIBUTE_NAMES.callbackUrl]: attr('Webhook called when the job ends'),
            [ATTRIBUTE_NAMES.idempotencyKey]: attr('Same key, same job'),
            action: { enum: ['submit', 'cancel', 'retry', 'estimate'] },
            correlationId: attr('estimate: echoed in the answer (its subject and data.correlationId)'),
            jobId: attr('cancel: the job'),
            requestId: attr('cancel: the job by its requestId (+ eeProject)'),
            batchId: attr('cancel / retry: the batch'),
          },
        },
        JobEventData: jobData,
        EventAttributes: {
          type: 'object',
          description: 'Pub/Sub attributes mirroring the event, for subscription filters (e.g. attributes.tenant = "forest")',
          properties: {
            'ce-id': attr('The event id'),
            'ce-type': attr('The event type'),
            'ce-subject': attr('The job, batch or budget id'),
            'ce-source': attr('The event source'),
            'ce-specversion': { const: '1.0' },
            state: attr('Job events: the job’s state'),
            tenant: attr('The tenant (TENANTS) the job, batch or budget belongs to; absent when none'),
          },
        },
      },
      messages: {
        exportRequest: { name: 'exportRequest', payload: { $ref: '#/components/schemas/ExportImageRequest' }, headers: { $ref: '#/components/schemas/RequestAttributes' } },
        envelope: { name: 'envelope', payload: { $ref: '#/components/schemas/SubmitEnvelope' }, headers: { $ref: '#/components/schemas/RequestAttributes' } },
        batch: { name: 'batch', payload: { type: 'object', required: ['batch'], properties: { batch: { $ref: '#/components/schemas/Batch' } } } },
        cancel: { name: 'cancel', summary: 'No data; attributes action=cancel and jobId | idempotencyKey | requestId | batchId', headers: { $ref: '#/components/schemas/RequestAttributes' } },
        estimate: {
          name: 'estimate',
          summary: 'A dry run: attribute action=estimate (and optionally correlationId); data as a submission’s (a request, an envelope, or {"batch": …}; options in the envelope, not attributes). Nothing is stored; the answer is an estimateEvent.',
          headers: { $ref: '#/components/schemas/RequestAttributes' },
        },
        estimateEvent: {
          name: 'estimateEvent',
          headers: { $ref: '#/components/schemas/EventAttributes' },
          payload: cloudEvent(
            [ESTIMATE_EVENT_TYPE],
            {
              type: 'object',
              properties: {
                messageId: { type: 'string', description: 'The action=estimate message answered (the event id is estimate.{messageId})' },
                correlationId: { type: ['string', 'null'] },
                tenantId: { type: ['string', 'null'] },
                ok: { type: 'boolean' },
                estimate: { type: 'object', description: 'When ok: what POST /v1/estimates answers (eecuSeconds {low, expected, high}, tasks, pixels, method, basis, budget)' },
                error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } }, description: 'When not ok: why' },
              },
            },
            'The answer to an action=estimate message',
          ),
        },
        jobEvent: {
          name: 'jobEvent',
          payload: cloudEvent([...EVENT_TYPES, 'dev.eeport.export.v1.webhook_failed', STALLED_EVENT_TYPE, RECOVERED_EVENT_TYPE], { $ref: '#/components/schemas/JobEventData' }, 'A job changed state, the stalled-task watch found its task stalled, or tiled recovery resubmitted it as tiles'),
          headers: { $ref: '#/components/schemas/EventAttributes' },
        },
        batchEvent: {
          name: 'batchEvent',
          headers: { $ref: '#/components/schemas/EventAttributes' },
          payload: cloudEvent(batchTypes, { type: 'object', properties: { batchId: { type: 'string' }, tenantId: { type: ['string', 'null'] }, state: { enum: BATCH_STATES }, total: { type: 'integer' }, counts: { type: 'object' }, progress: { type: 'number' }, eecuSeconds: { type: 'number' }, destinationUris: { type: 'array', items: { type: 'string' } }, stop: { type: 'object', description: 'stopped, eecu_cap_exceeded: why the batch is STOPPED (reason OUT_OF_BUDGET or EECU_CAP, message, budget, limitEecuSeconds, usedEecuSeconds)' } } }, 'A batch was submitted, stopped (an EECU budget with onExceeded=stop-batches used up), passed its own EECU cap (eecu_cap_exceeded: stopped, once per stop), was resumed, or ended'),
        },
        chainEvent: {
          name: 'chainEvent',
          headers: { $ref: '#/components/schemas/EventAttributes' },
          payload: cloudEvent(
            CHAIN_EVENT_TYPES,
            {
              type: 'object',
              properties: {
                chainId: { type: 'string', description: 'The root job’s (or batch’s) id; the event id is chain.{chainId}.completed or .failed' },
                tenantId: { type: ['string', 'null'] },
                state: { enum: [...CHAIN_STATES] },
                steps: {
                  type: 'array',
                  items: { type: 'object', properties: { step: { type: 'string' }, kind: { enum: ['job', 'batch'] }, id: { type: 'string' }, state: { enum: [...STEP_STATES] }, reason: { type: ['string', 'null'] }, assetId: { type: ['string', 'null'] }, destinationUris: { type: 'array', items: { type: 'string' } } } },
                },
                createTime: { type: 'string' },
                endTime: { type: ['string', 'null'] },
              },
            },
            'A chain ended: completed (every step SUCCEEDED) or failed (a step failed, was cancelled, rejected or skipped); one per chain',
          ),
        },
        budgetEvent: {
          name: 'budgetEvent',
          headers: { $ref: '#/components/schemas/EventAttributes' },
          payload: cloudEvent([BUDGET_EVENT_TYPE, BUDGET_THRESHOLD_EVENT_TYPE], { type: 'object', properties: { budget: { type: 'string' }, tenantId: { type: 'string', description: 'Set for a tenant’s budget' }, eeProject: { type: 'string' }, scope: { type: 'string' }, month: { type: 'string' }, percent: { type: 'number', description: 'threshold events: the threshold reached, in percent of the limit' }, usedEecuSeconds: { type: 'number', description: 'month to date, running tasks’ partial use included' }, limitEecuSeconds: { type: 'number' } } }, 'exceeded: an EECU budget held, refused or stopped work because it is used up (once per budget and month); threshold: month-to-date use reached one of the budget’s thresholds (default 50, 80, 100 %; once per budget, threshold and month)'),
        },
      },
    },
  };
}

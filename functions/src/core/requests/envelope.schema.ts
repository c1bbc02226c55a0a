/**
 * What travels with a request but is not part of Earth Engine's ExportImageRequest:
 * the target Earth Engine project, labels, a callback URL and an idempotency key.
 * On the topic they come either as message attributes (the data stays the verbatim
 * request) or as an envelope `{"request": {...}, "eeProject": ..., ...}`; the HTTP API
 * takes the envelope as its body.
 */
import { z } from 'zod';

/**
 * A Cloud project id (6–30 lowercase letters, digits or hyphens, starting with a
 * letter) or a project number (digits): Earth Engine takes either in
 * `projects/{project}/…`.
 */
export const EE_PROJECT_PATTERN = /^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[1-9][0-9]{0,18})$/;
/**
 * The pre-Cloud-project project; Earth Engine stopped serving requests in it on
 * 2024-11-13 (Earth Engine docs, project setup). Assets may still be named under it.
 */
export const RETIRED_EE_PROJECTS: readonly string[] = ['earthengine-legacy'];
export const LABEL_KEY_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
export const LABEL_VALUE_PATTERN = /^[a-z0-9_-]{0,63}$/;
/** One problem with a request, named by its JSON path (`request.fileExportOptions.gcsDestination.bucket`). */
export interface Issue {
  path: string;
  message: string;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const EeProjectSchema = z
  .string()
  .regex(EE_PROJECT_PATTERN, 'must be a Cloud project id (6–30 lowercase letters, digits or hyphens, starting with a letter) or a Cloud project number')
  .refine((p) => !RETIRED_EE_PROJECTS.includes(p), {
    error: (iss) => `"${String(iss.input)}" no longer serves Earth Engine requests (since 2024-11-13); name your own Cloud project`,
  })
  .meta({ not: { enum: [...RETIRED_EE_PROJECTS] } });

export const LabelsSchema = z
  .record(
    z.string().regex(LABEL_KEY_PATTERN, 'label keys are 1–63 lowercase letters, digits, _ or -, starting with a letter').refine((k) => !FORBIDDEN_KEYS.has(k), 'reserved key'),
    z.string().regex(LABEL_VALUE_PATTERN, 'label values are 0–63 lowercase letters, digits, _ or -'),
  )
  .refine((o) => Object.keys(o).length <= 64, 'at most 64 labels');

export const CallbackUrlSchema = z
  .string()
  .max(2048, 'callback URL longer than 2048 characters')
  .refine((u) => u.isWellFormed(), 'callback URL is not valid Unicode text')
  .refine((u) => URL.canParse(u), 'not a valid absolute URL')
  .refine((u) => !URL.canParse(u) || ['https:', 'http:'].includes(new URL(u).protocol), 'callback URL must be http(s)')
  .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), 'callback URL must not carry credentials');

export const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(200, 'idempotency key longer than 200 characters')
  .regex(/^[\x21-\x7e]+$/, 'idempotency key must be printable ASCII without spaces');

export const SubmitOptionsSchema = z.strictObject({
  eeProject: EeProjectSchema.optional().describe('Earth Engine (Cloud) project to run the export in; defaults to EE_PROJECT'),
  labels: LabelsSchema.optional().describe('Labels copied onto the job and its events; filterable in the API and CLI'),
  callbackUrl: CallbackUrlSchema.optional().describe('Webhook called (signed) when the job ends'),
  idempotencyKey: IdempotencyKeySchema.optional().describe('Deduplicates submissions: the same key always means the same job'),
  maxEecuSeconds: z.number().positive('must be a positive number of EECU-seconds').optional().describe('The job’s own EECU cap: a running task past it is cancelled (EECU_CAP, docs/estimates.md)'),
});
export type SubmitOptions = z.infer<typeof SubmitOptionsSchema>;

/** The attribute names read from a Pub/Sub message (labels as a JSON object string). */
export const ATTRIBUTE_NAMES = { eeProject: 'eeProject', labels: 'labels', callbackUrl: 'callbackUrl', idempotencyKey: 'idempotencyKey' } as const;

export const SUBMIT_ENVELOPE_SCHEMA_ID = 'urn:eeport:schema:submit-envelope:v1';

const THEN_OUTLINE = {
  type: 'array',
  minItems: 1,
  maxItems: 20,
  items: { type: 'object', required: ['request'], properties: { step: { type: 'string' }, after: { type: 'array', items: { type: 'string' } }, request: { type: 'object' }, eeProject: { type: 'string' }, labels: { type: 'object' } }, additionalProperties: false },
  description: 'Requests to submit once this job SUCCEEDS, with {{previous.assetId}}, {{previous.jobId}}, {{previous.destinationUris[N]}} placeholders: a chain (docs/chains.md)',
};

/**
 * JSON Schema of the envelope `{request, eeProject?, labels?, callbackUrl?, idempotencyKey?}`;
 * `request` refers to the ExportImageRequest schema by its $id. Refinements that JSON
 * Schema cannot say (URL parsing, credential-free URLs) are checked by the zod schema only.
 */
export function submitEnvelopeJsonSchema(requestSchemaId: string): Record<string, unknown> {
  const options = z.toJSONSchema(SubmitOptionsSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as { properties: Record<string, unknown>; [k: string]: unknown };
  return {
    ...options,
    $id: SUBMIT_ENVELOPE_SCHEMA_ID,
    title: 'eeport submit envelope',
    description: 'An ExportImageRequest with the options eeport adds. Publish it as the message data (or POST it to the API); the options may instead travel as message attributes.',
    // `then` (a chain) is checked by core/chains, which depends on this capability; here only its outline (the OpenAPI and AsyncAPI documents give the whole Then schema).
    properties: { request: { $ref: requestSchemaId }, ...options.properties, then: THEN_OUTLINE },
    required: ['request'],
  };
}

/**
 * `eeport schema`: the JSON Schemas of what eeport accepts, generated from the same zod
 * schemas the functions validate with (the request and envelope are exactly the files
 * in docs/schemas/).
 */
import { z } from 'zod';
import { EXPORT_REQUEST_SCHEMA_ID, exportRequestJsonSchema, submitEnvelopeJsonSchema } from '../../functions/src/core/requests/index.ts';
import { BatchSpecSchema } from '../../functions/src/core/batches/index.ts';
import { uploadRulesJsonSchema } from '../../functions/src/core/uploads/index.ts';

export const BATCH_SCHEMA_ID = 'urn:eeport:schema:batch:v1';

/**
 * The batch object (the body of POST /v1/batches; on the topic it travels as
 * `{"batch": …}`). Each entry of `requests` and the `template` refer to the
 * ExportImageRequest schema by its $id; the template may hold placeholders where the
 * request schema wants other types, so it is described, not referenced.
 */
export function batchJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(BatchSpecSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown> & {
    properties: Record<string, Record<string, unknown>>;
  };
  const properties = { ...rest.properties };
  if (properties.requests) properties.requests = { ...properties.requests, items: { $ref: EXPORT_REQUEST_SCHEMA_ID } };
  return {
    $schema,
    $id: BATCH_SCHEMA_ID,
    title: 'eeport batch',
    description:
      'Many exports in one submission: POST it to /v1/batches, or publish {"batch": …} to the requests topic. ' +
      'Exactly one of requests, template + fanOut, or template + tiles. Children are validated as ExportImageRequests once expanded.',
    ...rest,
    properties,
    oneOf: [{ required: ['requests'] }, { required: ['template', 'fanOut'] }, { required: ['template', 'tiles'] }],
  };
}

export const SCHEMAS = {
  request: exportRequestJsonSchema,
  envelope: () => submitEnvelopeJsonSchema(EXPORT_REQUEST_SCHEMA_ID),
  batch: batchJsonSchema,
  'upload-rules': () => uploadRulesJsonSchema(),
} as const;
export type SchemaName = keyof typeof SCHEMAS;

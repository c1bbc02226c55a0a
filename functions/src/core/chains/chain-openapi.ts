/**
 * The chains' part of the OpenAPI document (core/api merges it in): GET /v1/chains, GET /v1/chains/{chainId},
 * the Chain schema, and `Then` (the `then` of a submit envelope or batch), generated
 * from the zod schema intake checks it with.
 */
import { z } from 'zod';
import { CHAIN_STATES, STEP_STATES, ThenSchema } from './chain.ts';

type Json = Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);
const nstr = { type: ['string', 'null'] };
const outputs = {
  type: ['object', 'null'],
  description: 'What the step made, once it SUCCEEDED: the values of its dependants’ {{previous.*}} placeholders',
  properties: { jobId: nstr, batchId: nstr, assetId: nstr, destinationUris: { type: 'array', items: { type: 'string' } } },
};
/** A step as the chain document stores it: the full view adds its outputs and its job's live state, a list shows only these. */
const storedStepProperties: Json = {
  step: { type: 'string' },
  after: { type: 'array', items: { type: 'string' } },
  kind: { type: 'string', enum: ['job', 'batch'] },
  id: { type: 'string', description: 'The step’s job id (derived from the chain and step, known before the job exists), or the root batch’s id' },
  state: { type: 'string', enum: [...STEP_STATES] },
  reason: nstr,
};
const chainSchema: Json = {
  type: 'object',
  description: 'A chain: its root (step "root", the job or batch that declared `then`) and its steps, each with its state, the reason it was skipped or failed, and its outputs.',
  properties: {
    chainId: { type: 'string', description: 'The root’s job or batch id' },
    tenantId: nstr,
    state: { type: 'string', enum: [...CHAIN_STATES] },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ...storedStepProperties,
          outputs,
          jobState: { ...nstr, description: 'The job’s state now (null before it exists)' },
          url: { type: 'string' },
        },
      },
    },
    createTime: { type: 'string' },
    endTime: nstr,
  },
};

const chainListItemSchema: Json = {
  type: 'object',
  description: 'A chain in a list: its state and its steps’ states as stored, without their jobs’ live states or outputs.',
  properties: {
    chainId: { type: 'string' },
    tenantId: nstr,
    state: { type: 'string', enum: [...CHAIN_STATES] },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: storedStepProperties,
      },
    },
    createTime: { type: 'string' },
    updateTime: { type: 'string' },
    endTime: nstr,
    url: { type: 'string' },
  },
};

export function chainOpenApi(): { paths: Json; schemas: Json } {
  const { $schema: _s, ...then } = z.toJSONSchema(ThenSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  return {
    schemas: { Then: then, Chain: chainSchema, ChainListItem: chainListItemSchema },
    paths: {
      '/v1/chains': {
        get: {
          operationId: 'listChains',
          summary: 'List chains, newest first',
          description: 'Each chain with its state and its steps’ states as stored (GET /v1/chains/{chainId} adds their jobs’ live states and outputs). A tenant’s caller sees its tenant’s chains only.',
          parameters: [
            { name: 'pageSize', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'pageToken', in: 'query', schema: { type: 'string' }, description: 'The nextPageToken of the previous page' },
          ],
          responses: {
            '200': json({ type: 'object', properties: { chains: { type: 'array', items: ref('ChainListItem') }, nextPageToken: nstr } }, 'One page'),
            '400': error('A bad pageSize or pageToken, or an unknown parameter (API.INVALID_PARAMETER)'),
            '401': error('Unauthenticated (API_AUTH=api-key: missing or wrong x-api-key; API_AUTH=oidc: missing or invalid ID token)'),
            '403': error('Authenticated, but not an allowed caller'),
            '500': error('Internal error (logged as api.failed)'),
          },
        },
      },
      '/v1/chains/{chainId}': {
        get: {
          operationId: 'getChain',
          summary: 'A chain with its steps',
          description: 'A chain is submitted with its root: `then` on POST /v1/jobs (in the envelope) or POST /v1/batches; its id is the root’s. See docs/chains.md.',
          parameters: [{ name: 'chainId', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{32}$' }, description: 'The root job’s (or batch’s) id' }],
          responses: {
            '200': json(ref('Chain'), 'The chain'),
            '400': error('Not a chain id (API.INVALID_PARAMETER)'),
            '404': error('No such chain (API.NOT_FOUND)'),
            '401': error('Unauthenticated (API_AUTH=api-key: missing or wrong x-api-key; API_AUTH=oidc: missing or invalid ID token)'),
            '403': error('Authenticated, but not an allowed caller'),
            '500': error('Internal error (logged as api.failed)'),
          },
        },
      },
    },
  };
}

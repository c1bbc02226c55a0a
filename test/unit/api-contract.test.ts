import { describe, it, expect, expectTypeOf } from 'vitest';
import type { z } from 'zod';
import {
  API_ERROR_CODES,
  apiErrorBody,
  JobListItemSchema,
  jobListItem,
  jobView,
  JobViewSchema,
  PAGE_SIZE,
  parseListQuery,
  type BatchViewSchema,
} from '../../functions/src/core/api/api-contract.ts';
import type { Batch } from '../../functions/src/core/batches/batch.ts';
import { apiOpenApiDocument } from '../../functions/src/core/api/api-openapi.ts';
import { decodePageToken, encodePageToken, InvalidPageTokenError } from '../../functions/src/core/kernel/page-token.ts';
import { newJob, type Job } from '../../functions/src/core/jobs/job.ts';
import { jsClientRequest } from '../fakes/requests.ts';
import { parseExportRequest } from '../../functions/src/core/requests/export-request.schema.ts';

const job = (): Job => {
  const r = parseExportRequest(jsClientRequest());
  if (!r.ok) throw new Error('fixture');
  return newJob(
    { jobId: 'a'.repeat(32), state: 'PENDING', eeProject: 'ee-project-1', request: r.value, requestId: 'r', identity: 'key:k', labels: { team: 'forest' }, callbackUrl: null, source: { kind: 'api' } },
    '2026-01-01T00:00:00.000Z',
  );
};

describe('the job view', () => {
  it('is the stored job, field for field (a new Job field fails the typecheck until the view has it)', () => {
    type View = z.infer<typeof JobViewSchema>;
    expectTypeOf<keyof View>().toEqualTypeOf<keyof Job>();
    expectTypeOf<Job>().toExtend<View>();
    expectTypeOf<View>().toExtend<Job>();
  });

  it('parses a real job; list items are the same without the request', () => {
    const j = job();
    expect(JobViewSchema.parse(jobView(j))).toEqual(j);
    const item = jobListItem(j);
    expect('request' in item).toBe(false);
    expect(JobListItemSchema.parse(item)).toEqual(item);
  });
});

describe('the batch view', () => {
  it('is the stored batch, field for field (a new Batch field fails the typecheck until the view has it)', () => {
    type View = z.infer<typeof BatchViewSchema>;
    expectTypeOf<keyof View>().toEqualTypeOf<keyof Batch>();
    expectTypeOf<Batch>().toExtend<View>();
    expectTypeOf<View>().toExtend<Batch>();
  });
});

describe('parseListQuery', () => {
  const q = (s: string) => parseListQuery(new URLSearchParams(s));

  it.each([
    ['', { pageSize: PAGE_SIZE.default }],
    ['state=queued,PENDING&state=RUNNING&state=QUEUED', { pageSize: 50, states: ['QUEUED', 'PENDING', 'RUNNING'] }],
    ['label=team:forest', { pageSize: 50, label: { key: 'team', value: 'forest' } }],
    ['label=team:', { pageSize: 50, label: { key: 'team', value: '' } }],
    ['eeProject=ee-project-1&pageSize=200', { pageSize: 200, eeProject: 'ee-project-1' }],
    ['updatedAfter=2026-01-01T02:00:00%2B02:00&updatedBefore=2026-01-02T00:00:00Z', { pageSize: 50, updatedAfter: '2026-01-01T00:00:00.000Z', updatedBefore: '2026-01-02T00:00:00.000Z' }],
    ['pageToken=abc', { pageSize: 50, pageToken: 'abc' }],
  ])('%s → %j', (s, query) => {
    expect(q(s)).toEqual({ ok: true, query });
  });

  it.each([
    ['state=BOGUS', 'state', /unknown state "BOGUS"/],
    ['pageSize=0', 'pageSize', /1–200/],
    ['pageSize=201', 'pageSize', /1–200/],
    ['pageSize=2.5', 'pageSize', /whole number/],
    ['pageSize=x', 'pageSize', /whole number/],
    ['pageSize=1&pageSize=2', 'pageSize', /only once/],
    ['label=nocolon', 'label', /key:value/],
    ['label=9x:y', 'label', /label keys/],
    ['label=team:UPPER', 'label', /label values/],
    ['eeProject=x', 'eeProject', /project id/],
    ['updatedAfter=2026-01-01', 'updatedAfter', /RFC 3339/],
    ['updatedAfter=2026-01-02T00:00:00Z&updatedBefore=2026-01-01T00:00:00Z', 'updatedBefore', /earlier/],
    ['states=QUEUED', 'states', /unknown parameter states/],
    // Names every object already has are parameters like any other (unknown ones), not a TypeError.
    ['__proto__=x', '__proto__', /unknown parameter __proto__/],
    ['constructor=x', 'constructor', /unknown parameter constructor/],
    ['toString=x&pageSize=2', 'toString', /unknown parameter toString/],
  ])('%s → names %s', (s, path, message) => {
    const r = q(s);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });
});

describe('page tokens', () => {
  it('round-trip; anything else is an InvalidPageTokenError', () => {
    expect(decodePageToken(encodePageToken(['a', 'b']), 2)).toEqual(['a', 'b']);
    for (const bad of ['', 'not a token!', encodePageToken(['a']), Buffer.from('[1,2]').toString('base64url'), Buffer.from('{').toString('base64url'), 'x'.repeat(3000)]) {
      expect(() => decodePageToken(bad, 2), bad.slice(0, 20)).toThrow(InvalidPageTokenError);
    }
  });
});

describe('error bodies', () => {
  it('carry code and message, and details only when there are some (at most 100)', () => {
    expect(apiErrorBody('API.NOT_FOUND', 'no job x')).toEqual({ error: { code: 'API.NOT_FOUND', message: 'no job x' } });
    const many = Array.from({ length: 150 }, (_, i) => ({ path: `p${i}`, message: 'm', extra: 1 }));
    const body = apiErrorBody('EXPORT.INVALID_REQUEST', 'bad', many);
    expect(body.error.details).toHaveLength(100);
    expect(body.error.details![0]).toEqual({ path: 'p0', message: 'm' });
  });
});

describe('the OpenAPI document', () => {
  const doc = apiOpenApiDocument() as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { schemas: Record<string, unknown> } };

  it('is OpenAPI 3.1 with every $ref resolving to a component (the request schema’s $defs included)', () => {
    expect(doc.openapi).toBe('3.1.0');
    const text = JSON.stringify(doc);
    expect(text).not.toContain('#/$defs/');
    const refs = [...text.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const r of refs) expect(r.startsWith('#/components/schemas/') && r.slice('#/components/schemas/'.length) in doc.components.schemas, r).toBe(true);
  });

  it('lists every error code, and an error response for every operation', () => {
    const err = doc.components.schemas.Error as { properties: { error: { properties: { code: { enum: string[] } } } } };
    expect(err.properties.error.properties.code.enum).toEqual([...API_ERROR_CODES]);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path === '/v1/openapi.json') continue;
        expect(Object.keys(op.responses).some((s) => s.startsWith('4')), `${method} ${path}`).toBe(true);
      }
    }
  });

  it('documents the job’s request as the ExportImageRequest schema', () => {
    const jobSchema = doc.components.schemas.Job as { properties: { request: unknown } };
    expect(jobSchema.properties.request).toMatchObject({ anyOf: [{ $ref: '#/components/schemas/ExportImageRequest' }, { type: 'null' }] });
  });
});

/**
 * The framework-free API handler with the real use cases over fakes: routing, body
 * reading, and what each outcome of submit and cancel is answered with. The same
 * paths through the functions framework and the emulators are in
 * test/integration/api.test.ts.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { createApiHandler, matchRoute, mediaType, readJsonBody, type ApiRequest } from '../../functions/src/core/api/api-handler.ts';
import { createApiLogEvents } from '../../functions/src/core/api/api-log-events.ts';
import {
  ApiErrorBodySchema,
  BatchJobsResponseSchema,
  BatchListResponseSchema,
  BatchSubmitResponseSchema,
  BatchViewSchema,
  budgetViews,
  CancelResponseSchema,
  StatsResponseSchema,
  SubmitResponseSchema,
} from '../../functions/src/core/api/api-contract.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../functions/src/core/cancel/cancel-job.ts';
import { createBatches } from '../../functions/src/core/batches/batches.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { EeportError } from '../../functions/src/core/kernel/errors.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine, transient } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('matchRoute', () => {
  it.each([
    ['/v1/jobs', { route: 'jobs' }],
    ['/v1/jobs/', { route: 'jobs' }],
    ['/v1/openapi.json', { route: 'openapi' }],
    ['/v1/jobs/abc', { route: 'job', jobId: 'abc' }],
    ['/v1/jobs/abc:cancel', { route: 'cancel', jobId: 'abc' }],
    ['/v1/jobs/abc%3Acancel', { route: 'cancel', jobId: 'abc' }],
    ['/v1/jobs/abc:pause', null],
    ['/v1/batches', { route: 'batches' }],
    ['/v1/batches/mosaic-2026-11', { route: 'batch', batchId: 'mosaic-2026-11' }],
    ['/v1/batches/b1/jobs', { route: 'batchJobs', batchId: 'b1' }],
    ['/v1/batches/b1/estimate', { route: 'batchEstimate', batchId: 'b1' }],
    ['/v1/batches/b1:cancel', { route: 'batchCancel', batchId: 'b1' }],
    ['/v1/batches/b1:retry', { route: 'batchRetry', batchId: 'b1' }],
    ['/v1/batches/b1:pause', null],
    ['/v1/batches/b1/children', null],
    ['/v1/budgets', { route: 'budgets' }],
    ['/v1/stats', { route: 'stats' }],
    ['/v1/jobs/a/b', null],
    ['/v1/jobs/a%2Fb', null],
    ['/v1/jobs/%E0%A4%A', null],
    ['/', null],
    ['/v2/jobs', null],
  ])('%s → %j', (path, route) => {
    expect(matchRoute(path)).toEqual(route);
  });
});

describe('readJsonBody', () => {
  const MAX = 100;
  it.each([
    ['JSON object', '{"a":1}', 'application/json', { ok: true, value: { a: 1 } }],
    ['charset utf-8, any case', '{"a":1}', 'Application/JSON; charset=UTF-8', { ok: true, value: { a: 1 } }],
    ['a BOM is dropped', '\uFEFF{"a":1}', 'application/json', { ok: true, value: { a: 1 } }],
    ['too large', 'x'.repeat(MAX + 1), 'application/json', { ok: false, status: 413, code: 'API.BODY_TOO_LARGE' }],
    ['text/plain', '{"a":1}', 'text/plain', { ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE' }],
    ['no content type', '{"a":1}', undefined, { ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE' }],
    ['latin1', '{"a":1}', 'application/json; charset=latin1', { ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE' }],
    ['+json is not json', '{"a":1}', 'application/merge-patch+json', { ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE' }],
    ['empty', '', 'application/json', { ok: false, status: 400, code: 'API.MALFORMED_JSON' }],
    ['truncated', '{"a":', 'application/json', { ok: false, status: 400, code: 'API.MALFORMED_JSON' }],
  ])('%s', (_name, body, contentType, expected) => {
    expect(readJsonBody(enc(body), contentType, MAX, true)).toMatchObject(expected);
  });

  it('refuses bytes that are not UTF-8, and says so', () => {
    expect(readJsonBody(new Uint8Array([0x7b, 0xff, 0x7d]), 'application/json', MAX, true)).toMatchObject({ ok: false, message: expect.stringMatching(/UTF-8/) });
  });

  it('an optional body may be absent, without a Content-Type or with a JSON one', () => {
    expect(readJsonBody(null, undefined, MAX, false)).toEqual({ ok: true, value: undefined });
    expect(readJsonBody(new Uint8Array(), 'application/json', MAX, false)).toEqual({ ok: true, value: undefined });
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''])('an empty body sent as %j is a 415: a browser form post is not an empty JSON body', (type) => {
    expect(readJsonBody(new Uint8Array(), type, MAX, false)).toMatchObject({ ok: false, status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE' });
  });

  it.each(['"hello"', '42', 'null', 'true', '  "x"'])('a JSON body that is no object or array (%s) is API.MALFORMED_JSON, as the strict parser had it', (text) => {
    expect(readJsonBody(enc(text), 'application/json', MAX, true)).toMatchObject({ ok: false, status: 400, code: 'API.MALFORMED_JSON', message: expect.stringMatching(/must be a JSON object; it starts with/) });
  });

  it('mediaType drops parameters and case', () => {
    expect(mediaType('Application/Json ; charset=utf-8')).toBe('application/json');
    expect(mediaType(undefined)).toBeNull();
    expect(mediaType('')).toBeNull();
  });
});

describe('createApiHandler (real use cases, fakes)', () => {
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let sink: CapturingLogSink;
  let handler: ReturnType<typeof createApiHandler>;
  let ids: number;

  beforeEach(() => {
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    sink = new CapturingLogSink();
    ids = 0;
    const clock = { now: () => new Date('2026-01-01T00:00:00Z') };
    const publisher = new MemoryPublisher();
    const logs = createLogEvents(sink);
    const intake = { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 };
    const cancel = createCancelJob({ store, ee, publisher, clock, logs, settings: { eventSource: '//t' } });
    handler = createApiHandler({
      submit: createSubmitExport({ store, ee, publisher, clock, logs, settings: { eventSource: '//t', maxInFlightPerProject: 10, submitLeaseMs: 60_000, intake } }),
      cancel,
      batches: createBatches({ store, publisher, clock, logs, cancel, settings: { eventSource: '//t', defaultEeProject: 'ee-project-1', allowedEeProjects: [] } }),
      store,
      clock,
      logs: createApiLogEvents(sink),
      newId: () => `id-${++ids}`,
      openApi: () => ({ openapi: '3.1.0' }),
      settings: { intake, maxBodyBytes: 1_000_000, staleSubmitSeconds: 300, budgets: [] },
    });
  });

  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): ApiRequest => {
    const h: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers };
    return {
      method,
      path: path.split('?')[0]!,
      query: new URLSearchParams(path.split('?')[1] ?? ''),
      header: (n) => h[n.toLowerCase()],
      body: body === undefined ? null : enc(typeof body === 'string' ? body : JSON.stringify(body)),
    };
  };

  it('a transient Earth Engine failure after the job was created → 202 SUBMITTING with a notice, and a WARNING', async () => {
    ee.failures.push(transient('503 from Earth Engine'));
    const res = await handler.handle(request('POST', '/v1/jobs', assetLoadRequest()));
    expect(res.status).toBe(202);
    const body = SubmitResponseSchema.parse(res.body);
    expect(body.state).toBe('SUBMITTING');
    expect(body.notice).toMatch(/503 from Earth Engine.*poller.*300s \(POLL_STALE_SUBMIT_SECONDS\)/);
    expect(body.job.identity).toBe('rnd:id-1');
    expect(sink.entries.find((e) => e.event === 'api.submit_deferred')).toMatchObject({ severity: 'WARNING', jobId: body.jobId });
  });

  it('another delivery holding the submit lease → 200 with the job, as a duplicate', async () => {
    const submit = { submitCommand: async () => Promise.reject(new EeportError('SUBMIT.IN_PROGRESS', 'busy')) };
    // Let the real use case create the job first, then answer "busy" like a concurrent submit would.
    await handler.handle(request('POST', '/v1/jobs', { request: assetLoadRequest(), idempotencyKey: 'k' }));
    const busy = createApiHandler({
      submit,
      cancel: { cancelJob: async () => ({ kind: 'not-found' }) },
      batches: { checkBatch: () => ({ ok: false, errors: [], init: {} }), submitBatch: async () => Promise.reject(new Error('unused')), cancelBatch: async () => ({ kind: 'not-found' }), retryBatch: async () => ({ kind: 'not-found' }), resumeBatch: async () => ({ kind: 'not-found' }) },
      store,
      clock: { now: () => new Date('2026-01-01T00:00:00Z') },
      logs: createApiLogEvents(sink),
      newId: () => 'x',
      openApi: () => ({}),
      settings: { intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 }, maxBodyBytes: 1_000_000, staleSubmitSeconds: 300, budgets: [] },
    });
    const res = await busy.handle(request('POST', '/v1/jobs', { request: assetLoadRequest(), idempotencyKey: 'k' }));
    expect(res.status).toBe(200);
    expect(SubmitResponseSchema.parse(res.body).duplicate).toBe(true);
  });

  it('a failure before any job exists → 500 API.INTERNAL, logged as api.failed, with nothing of the error leaked', async () => {
    store.transact = async () => {
      throw new Error('Firestore unavailable: secret-ish detail');
    };
    store.commit = async () => {
      throw new Error('Firestore unavailable: secret-ish detail');
    };
    const res = await handler.handle(request('POST', '/v1/jobs', assetLoadRequest()));
    expect(res.status).toBe(500);
    const body = ApiErrorBodySchema.parse(res.body);
    expect(body.error.code).toBe('API.INTERNAL');
    expect(JSON.stringify(body)).not.toMatch(/Firestore|secret/);
    expect(sink.entries.find((e) => e.event === 'api.failed')).toMatchObject({ severity: 'ERROR', method: 'POST', path: '/v1/jobs' });
  });

  it('cancel: Earth Engine unreachable after the job was marked → 200 requested, the poller sends it', async () => {
    const out = SubmitResponseSchema.parse((await handler.handle(request('POST', '/v1/jobs', assetLoadRequest()))).body);
    expect(out.state).toBe('PENDING');
    ee.cancelOperation = async () => Promise.reject(transient('EE down'));
    const res = await handler.handle(request('POST', `/v1/jobs/${out.jobId}:cancel`));
    expect(res.status).toBe(200);
    const body = CancelResponseSchema.parse(res.body);
    expect(body).toMatchObject({ outcome: 'requested', notice: expect.stringMatching(/EE down.*poller sends the cancel/) });
    expect(body.job.cancelRequestedAt).toBeTruthy();
  });

  it('every 4xx is logged as api.rejected (WARNING) with the code', async () => {
    await handler.handle(request('GET', '/v1/nope'));
    await handler.handle(request('GET', '/v1/jobs?pageSize=0'));
    await handler.handle(request('POST', '/v1/jobs', { expression: 1 }));
    expect(sink.entries.filter((e) => e.event === 'api.rejected').map((e) => [e.severity, e.status, e.code])).toEqual([
      ['WARNING', 404, 'API.NOT_FOUND'],
      ['WARNING', 400, 'API.INVALID_PARAMETER'],
      ['WARNING', 400, 'EXPORT.INVALID_REQUEST'],
    ]);
  });

  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'])('a query parameter named %s is a 400 on every route, never a 500', async (name) => {
    const job = '0123456789abcdef0123456789abcdef';
    const routes: [string, string][] = [
      ['GET', '/v1/jobs'], ['POST', '/v1/jobs'], ['GET', `/v1/jobs/${job}`], ['POST', `/v1/jobs/${job}:cancel`], ['GET', '/v1/batches'], ['POST', '/v1/batches'],
      ['GET', '/v1/batches/b'], ['GET', '/v1/batches/b/jobs'], ['POST', '/v1/batches/b:cancel'], ['POST', '/v1/batches/b:retry'], ['GET', '/v1/budgets'], ['GET', '/v1/stats'], ['GET', '/v1/openapi.json'],
    ];
    for (const [method, path] of routes) {
      const res = await handler.handle(request(method, `${path}?${encodeURIComponent(name)}=x&pageSize=1`, method === 'POST' ? {} : undefined));
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(ApiErrorBodySchema.parse(res.body).error).toMatchObject({ code: 'API.INVALID_PARAMETER', details: [{ path: name }] });
    }
    expect(store.jobs.size + store.batches.size).toBe(0);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('the job source records the authenticated caller', async () => {
    const res = await handler.handle({ ...request('POST', '/v1/jobs', assetLoadRequest()), caller: 'svc@p.iam.gserviceaccount.com' });
    expect(SubmitResponseSchema.parse(res.body).job.source).toEqual({ kind: 'api', caller: 'svc@p.iam.gserviceaccount.com' });
  });

  it('batches over the in-memory store: submit, find by name, list, page the children; stats count them', async () => {
    const spec = { batchId: 'fan', template: assetLoadRequest('projects/p/assets/{{value}}'), fanOut: { values: ['a', 'b', 'c'] } };
    const out = BatchSubmitResponseSchema.parse((await handler.handle(request('POST', '/v1/batches', spec))).body);
    expect(out).toMatchObject({ state: 'RUNNING', total: 3, duplicate: false });
    expect((await handler.handle(request('POST', '/v1/batches', spec))).status).toBe(200);
    expect(BatchViewSchema.parse((await handler.handle(request('GET', '/v1/batches/fan'))).body).batchId).toBe(out.batchId);
    expect(BatchListResponseSchema.parse((await handler.handle(request('GET', '/v1/batches?state=RUNNING'))).body).batches.map((b) => b.batchId)).toEqual([out.batchId]);
    const first = BatchJobsResponseSchema.parse((await handler.handle(request('GET', '/v1/batches/fan/jobs?pageSize=2'))).body);
    const second = BatchJobsResponseSchema.parse((await handler.handle(request('GET', `/v1/batches/fan/jobs?pageSize=2&pageToken=${first.nextPageToken}`))).body);
    expect([...first.jobs, ...second.jobs].map((j) => j.batchIndex)).toEqual([0, 1, 2]);
    expect(second.nextPageToken).toBeNull();
    const stats = StatsResponseSchema.parse((await handler.handle(request('GET', '/v1/stats'))).body);
    expect(stats).toMatchObject({ total: 3, counts: { QUEUED: 3, PENDING: 0 } });
    // Nothing is written for a batch the API refuses.
    const bad = await handler.handle(request('POST', '/v1/batches', { ...spec, batchId: 'bad', fanOut: undefined }));
    expect(bad.status).toBe(400);
    expect(ApiErrorBodySchema.parse(bad.body).error.code).toBe('BATCH.INVALID');
    expect(store.batches.size).toBe(1);
  });
});

describe('budgetViews', () => {
  const month = '2026-01';
  const budgets = [
    { eeProject: 'ee-project-1', monthlyEecuSeconds: 100, onExceeded: 'queue' as const },
    { eeProject: 'ee-project-1', label: { key: 'team', value: 'forest' }, monthlyEecuSeconds: 10, onExceeded: 'reject' as const },
  ];
  it('joins each configured budget with its usage this month; no usage is 0; used ≥ limit is exceeded', () => {
    const usages = [{ id: `ee-project-1~label.team=forest~${month}`, eeProject: 'ee-project-1', scope: 'label.team=forest', month, usedEecuSeconds: 10, limitEecuSeconds: 10, exceededNotified: true, updateTime: 't' }];
    const views = budgetViews(budgets, usages, month, '2026-01-21T00:00:00Z');
    expect(views).toMatchObject([
      { id: `ee-project-1~all~${month}`, eeProject: 'ee-project-1', scope: 'all', tenant: null, label: null, workloadTag: null, onExceeded: 'queue', month, limitEecuSeconds: 100, usedEecuSeconds: 0, remainingEecuSeconds: 100, usedFraction: 0, exceeded: false, updateTime: null },
      { id: `ee-project-1~label.team=forest~${month}`, eeProject: 'ee-project-1', scope: 'label.team=forest', tenant: null, label: { key: 'team', value: 'forest' }, workloadTag: null, onExceeded: 'reject', month, limitEecuSeconds: 10, usedEecuSeconds: 10, remainingEecuSeconds: 0, usedFraction: 1, exceeded: true, updateTime: 't' },
    ]);
    // The governor's figures (ADR 0014): no tier, the default thresholds, no running use, and no daily record to project from.
    expect(views[1]).toMatchObject({ tier: null, thresholds: [50, 80, 100], thresholdsCrossed: [50, 80, 100], finishedEecuSeconds: 10, runningEecuSeconds: 0, projectedEecuSeconds: 10 });
    expect(views[0]).toMatchObject({ thresholdsCrossed: [], projectedEecuSeconds: 0 });
  });
});

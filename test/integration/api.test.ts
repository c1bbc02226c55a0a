/**
 * The `api` HTTP function end to end: functions-framework test server → Firestore and
 * Pub/Sub emulators → the Earth Engine simulator. Every endpoint with good and bad
 * input, what is refused before the body is read (a Content-Encoding, a form post, a body
 * over the limit) and what the framework refuses before the function runs (malformed
 * JSON) answered as JSON, and the three auth modes.
 */
import { describe, it, expect } from 'vitest';
import { generateKeyPairSync, createSign } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import '../../functions/src/entry/api.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { expectError, useApiStack } from '../harness/api-stack.ts';
import { assetLoadRequest, jsClientRequest } from '../fakes/requests.ts';
import { CancelResponseSchema, JobListResponseSchema, JobViewSchema, SubmitResponseSchema, type ApiErrorCode } from '../../functions/src/core/api/api-contract.ts';
import { apiOpenApiDocument } from '../../functions/src/core/api/api-openapi.ts';
import { apiKeyFingerprint } from '../../functions/src/adapters/api-auth.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';

const emu = emulatorsOrSkip('api integration');

async function submitted(res: Response, status: 200 | 202) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return SubmitResponseSchema.parse(JSON.parse(text));
}

describe.skipIf(!emu)('api (emulators + simulator, API_AUTH=none)', () => {
  const api = useApiStack(emu, {
    env: {
      EE_ALLOWED_PROJECTS: 'ee-test-project,ee-other-project',
      MAX_IN_FLIGHT_PER_PROJECT: '2',
      POLL_WINDOW_SECONDS: '0',
      POLL_STALE_SUBMIT_SECONDS: '1',
    },
    fresh: 'each',
  });

  const storedJobs = async (): Promise<Job[]> => (await api.stack.firestore.collection('jobs').get()).docs.map((d) => d.data() as Job);

  describe('POST /v1/jobs', () => {
    it('a bare ExportImageRequest → 202 with jobId, state and url; the job is PENDING with its operation', async () => {
      const out = await submitted(await api.post('/v1/jobs', jsClientRequest()), 202);
      expect(out).toMatchObject({ state: 'PENDING', url: `/v1/jobs/${out.jobId}`, duplicate: false });
      expect(out.job.operationName).toBe(api.sim.tasks()[0]!.name);
      expect(out.job.source).toEqual({ kind: 'api' });
      // No idempotency key or requestId: a random identity, so the same body again is a new job.
      expect(out.job.identity).toMatch(/^rnd:/);
      const again = await submitted(await api.post('/v1/jobs', jsClientRequest()), 202);
      expect(again.jobId).not.toBe(out.jobId);
      expect(api.sim.stats().tasksStarted).toBe(2);
    });

    it('an envelope: eeProject, labels, callbackUrl and idempotencyKey are applied', async () => {
      const out = await submitted(
        await api.post('/v1/jobs', { request: assetLoadRequest(), eeProject: 'ee-other-project', labels: { team: 'forest' }, callbackUrl: 'https://hooks.example.com/eeport', idempotencyKey: 'tile-17' }),
        202,
      );
      expect(out.job).toMatchObject({ eeProject: 'ee-other-project', labels: { team: 'forest' }, callbackUrl: 'https://hooks.example.com/eeport', identity: 'key:tile-17', state: 'PENDING' });
      expect(api.sim.tasks('ee-other-project')).toHaveLength(1);
    });

    it('the same idempotency key in the body → 200 with the existing job; nothing new starts', async () => {
      const body = { request: assetLoadRequest(), idempotencyKey: 'once' };
      const first = await submitted(await api.post('/v1/jobs', body), 202);
      const second = await submitted(await api.post('/v1/jobs', body), 200);
      expect(second).toMatchObject({ jobId: first.jobId, duplicate: true, state: 'PENDING' });
      expect(second.job.operationName).toBe(first.job.operationName);
      expect(api.sim.stats().tasksStarted).toBe(1);
      expect(await storedJobs()).toHaveLength(1);
    });

    it('the Idempotency-Key header deduplicates too, and must agree with the body', async () => {
      const first = await submitted(await api.post('/v1/jobs', assetLoadRequest(), { 'idempotency-key': 'hdr-1' }), 202);
      expect(first.job.identity).toBe('key:hdr-1');
      const second = await submitted(await api.post('/v1/jobs', assetLoadRequest(), { 'idempotency-key': 'hdr-1' }), 200);
      expect(second.jobId).toBe(first.jobId);
      // Header and envelope naming the same key is the same job; different keys are refused.
      expect((await submitted(await api.post('/v1/jobs', { request: assetLoadRequest(), idempotencyKey: 'hdr-1' }, { 'idempotency-key': 'hdr-1' }), 200)).jobId).toBe(first.jobId);
      const err = await expectError(await api.post('/v1/jobs', { request: assetLoadRequest(), idempotencyKey: 'a' }, { 'idempotency-key': 'b' }), 400, 'EXPORT.INVALID_ENVELOPE');
      expect(err.details).toEqual([{ path: 'idempotencyKey', message: expect.stringMatching(/Idempotency-Key header/) }]);
      expect(api.sim.stats().tasksStarted).toBe(1);
    });

    it('a client requestId is an identity: resubmitting it is a duplicate', async () => {
      const body = jsClientRequest({ requestId: 'f956722a-1c70-4b51-bf91-b3b6bc862e6c' });
      const first = await submitted(await api.post('/v1/jobs', body), 202);
      expect((await submitted(await api.post('/v1/jobs', body), 200)).jobId).toBe(first.jobId);
    });

    // [name, body, code, a path the details must name]
    const INVALID: [string, unknown, ApiErrorCode, string][] = [
      ['missing expression', { fileExportOptions: { driveDestination: {}, fileFormat: 'GEO_TIFF' } }, 'EXPORT.INVALID_REQUEST', 'expression'],
      ['bad fileFormat', jsClientRequest({ fileExportOptions: { driveDestination: {}, fileFormat: 'BMP' } }), 'EXPORT.INVALID_REQUEST', 'fileExportOptions.fileFormat'],
      ['typo in a field', jsClientRequest({ fileExportOption: {} }), 'EXPORT.INVALID_REQUEST', ''],
      ['a JSON array', [1, 2], 'EXPORT.INVALID_REQUEST', ''],
      ['envelope: invalid request', { request: { expression: 5 } }, 'EXPORT.INVALID_REQUEST', 'request.expression'],
      ['envelope: unknown option', { request: assetLoadRequest(), priorty: 5 }, 'EXPORT.INVALID_ENVELOPE', ''],
      ['envelope: bad labels', { request: assetLoadRequest(), labels: { Team: 'x' } }, 'EXPORT.INVALID_ENVELOPE', 'labels.Team'],
      ['envelope: ftp callback', { request: assetLoadRequest(), callbackUrl: 'ftp://example.com/x' }, 'EXPORT.INVALID_ENVELOPE', 'callbackUrl'],
      ['a project this deployment does not serve', { request: assetLoadRequest(), eeProject: 'someone-elses-project' }, 'EXPORT.UNKNOWN_PROJECT', 'eeProject'],
    ];

    it(`invalid bodies (${INVALID.length} kinds) → 400 with the code and every problem's path; a WARNING api.rejected; nothing stored`, async () => {
      for (const [name, body, code, path] of INVALID) {
        const err = await expectError(await api.post('/v1/jobs', body), 400, code);
        expect(err.details?.length, name).toBeGreaterThan(0);
        if (path) expect(err.details!.map((d) => d.path), name).toContain(path);
        expect(err.message, name).toMatch(/^the submission is invalid: /);
      }
      expect(await storedJobs()).toEqual([]);
      expect(api.sim.stats().requests.export ?? 0).toBe(0);
      const rejected = api.logs.filter((l) => l.event === 'api.rejected');
      expect(rejected).toHaveLength(INVALID.length);
      expect(rejected.every((l) => l.severity === 'WARNING' && l.status === 400 && Array.isArray(l.errors))).toBe(true);
    });

    it('malformed JSON → 400 API.MALFORMED_JSON as JSON, whether the framework or the API finds it', async () => {
      const cases: [string, string | Uint8Array, RegExp][] = [
        ['truncated', '{"expression":', /not valid JSON/],
        ['trailing comma', '{"a":1,}', /not valid JSON/],
        ['a bare string (body-parser is strict)', '"hello"', /must be a JSON object/],
        ['a bare number', '42', /must be a JSON object/],
        ['empty', '', /empty/],
      ];
      for (const [name, body, message] of cases) {
        const err = await expectError(await api.post('/v1/jobs', body), 400, 'API.MALFORMED_JSON');
        expect(err.message, name).toMatch(message);
        expect(err.message, name).not.toMatch(/at JSON\.parse|<html|node_modules/);
      }
      expect(api.logs.filter((l) => l.event === 'api.rejected' && l.code === 'API.MALFORMED_JSON')).toHaveLength(cases.length);
      expect(await storedJobs()).toEqual([]);
    });

    it('a content type other than application/json → 415 as JSON', async () => {
      const body = JSON.stringify(assetLoadRequest());
      const err = await expectError(await api.call('/v1/jobs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(err.message).toMatch(/application\/json.*text\/plain/);
      // What curl -d sends without -H: the message says how to fix it.
      const form = await expectError(await api.call('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(form.message).toMatch(/curl/);
      await expectError(await api.call('/v1/jobs', { method: 'POST', body: new TextEncoder().encode(body) }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      await expectError(await api.call('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      // Refused by the framework's parser before the function runs, still our JSON.
      const charset = await expectError(await api.post('/v1/jobs', body, { 'content-type': 'application/json; charset=latin1' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(charset.message).toMatch(/charset/);
      await expectError(await api.post('/v1/jobs', body, { 'content-encoding': 'compress' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(await storedJobs()).toEqual([]);
    });

    it('a body above API_MAX_BODY_BYTES (1 MiB) → 413; one just under is read', async () => {
      const limit = api.stack.config.API_MAX_BODY_BYTES;
      const padded = (size: number) => {
        const base = JSON.stringify({ request: assetLoadRequest(), labels: { pad: '' } });
        return base.replace('"pad":""', `"pad":"${'x'.repeat(size - base.length)}"`);
      };
      expect(padded(limit + 1)).toHaveLength(limit + 1);
      const err = await expectError(await api.post('/v1/jobs', padded(limit + 1)), 413, 'API.BODY_TOO_LARGE');
      expect(err.message).toContain(String(limit));
      // At the limit the body is read and judged on its merits (the padding is an invalid label value).
      await expectError(await api.post('/v1/jobs', padded(limit)), 400, 'EXPORT.INVALID_ENVELOPE');
      const huge = await expectError(await api.post('/v1/jobs', `{"a":"${'x'.repeat(5 * limit)}"}`), 413, 'API.BODY_TOO_LARGE');
      expect(huge.message).toMatch(/bytes/);
    });

    it('a transient Earth Engine failure → 202 with the job SUBMITTING and a notice; the poller then submits it', async () => {
      // More 503s than one call's retries (EE_RETRY_*): the use case gives up on this attempt.
      api.sim.faults.inject({ kind: 'http-error', httpStatus: 503, method: 'export', times: 7 });
      const out = await submitted(await api.post('/v1/jobs', { request: assetLoadRequest(), idempotencyKey: 'flaky' }), 202);
      expect(out.state).toBe('SUBMITTING');
      expect(out.duplicate).toBe(false);
      expect(out.notice).toMatch(/poller submits it again.*same requestId.*1s/);
      expect(out.job.submitAttempts).toBe(1);
      expect(out.job.lastSubmitError).toBeTruthy();
      expect(api.logs.some((l) => l.event === 'api.submit_deferred' && l.jobId === out.jobId)).toBe(true);
      expect(api.sim.stats().tasksStarted).toBe(0);
      // POLL_STALE_SUBMIT_SECONDS=1 here: once the job has been untouched that long, a poll cycle submits it.
      await new Promise((r) => setTimeout(r, 1_200));
      await api.stack.services.pollExports().run();
      const job = JobViewSchema.parse(await (await api.call(out.url)).json());
      expect(job.state).toBe('PENDING');
      expect(job.requestId).toBe(out.job.requestId);
      expect(api.sim.stats().tasksStarted).toBe(1);
    });
  });

  describe('GET /v1/jobs/{jobId}', () => {
    it('returns the whole job, request included', async () => {
      const out = await submitted(await api.post('/v1/jobs', { request: jsClientRequest(), labels: { team: 'forest' } }), 202);
      const res = await api.call(`/v1/jobs/${out.jobId}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const job = JobViewSchema.parse(await res.json());
      expect(job).toMatchObject({ jobId: out.jobId, state: 'PENDING', labels: { team: 'forest' }, requestId: `eeport-${out.jobId}` });
      expect(job.request).toMatchObject({ description: 'd', maxPixels: '10000000000', fileExportOptions: { fileFormat: 'GEO_TIFF' } });
      expect(job.history.map((h) => h.to)).toEqual(['SUBMITTING', 'PENDING']);
      // HEAD answers like GET, without a body.
      const head = await api.call(`/v1/jobs/${out.jobId}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
    });

    it('a missing job → 404 API.NOT_FOUND; a malformed id → 400 API.INVALID_JOB_ID', async () => {
      await expectError(await api.call(`/v1/jobs/${'0'.repeat(32)}`), 404, 'API.NOT_FOUND');
      for (const bad of ['abc', 'A'.repeat(32), `${'0'.repeat(31)}g`, '0'.repeat(33), '..%2F..%2Fleases']) {
        const res = await api.call(`/v1/jobs/${bad}`);
        // %2F decodes to a path separator: that is no route at all, not a bad id.
        if (bad.includes('%2F')) await expectError(res, 404, 'API.NOT_FOUND');
        else expect((await expectError(res, 400, 'API.INVALID_JOB_ID')).details).toEqual([{ path: 'jobId', message: expect.any(String) }]);
      }
    });
  });

  describe('GET /v1/jobs', () => {
    /** Seven jobs in two projects; MAX_IN_FLIGHT_PER_PROJECT=2, so some wait in QUEUED. */
    async function seed() {
      const made: { jobId: string; state: string; after: string }[] = [];
      const specs = [
        { eeProject: 'ee-test-project', labels: { team: 'forest' } },
        { eeProject: 'ee-test-project', labels: { team: 'water' } },
        { eeProject: 'ee-test-project', labels: { team: 'forest' } },
        { eeProject: 'ee-other-project', labels: { team: 'forest', run: 'r1' } },
        { eeProject: 'ee-test-project', labels: { team: 'water' } },
        { eeProject: 'ee-other-project', labels: {} },
        { eeProject: 'ee-other-project', labels: { team: 'forest' } },
      ];
      for (const spec of specs) {
        const out = await submitted(await api.post('/v1/jobs', { request: assetLoadRequest(), ...spec }), 202);
        made.push({ jobId: out.jobId, state: out.state, after: new Date().toISOString() });
        await new Promise((r) => setTimeout(r, 5));
      }
      return made;
    }

    const list = async (query: string) => {
      const res = await api.call(`/v1/jobs${query}`);
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return JobListResponseSchema.parse(JSON.parse(text));
    };

    it('filters by state (repeated or comma list), label, eeProject and update time; newest first; no requests in the list', async () => {
      const made = await seed();
      const all = await list('');
      expect(all.jobs.map((j) => j.jobId)).toEqual(made.map((m) => m.jobId).reverse());
      expect(all.nextPageToken).toBeNull();
      expect(all.jobs.every((j) => !('request' in j))).toBe(true);

      const ids = (r: { jobs: { jobId: string }[] }) => r.jobs.map((j) => j.jobId).sort();
      const where = (pred: (i: number) => boolean) => made.filter((_, i) => pred(i)).map((m) => m.jobId).sort();
      expect(made.map((m) => m.state)).toEqual(['PENDING', 'PENDING', 'QUEUED', 'PENDING', 'QUEUED', 'PENDING', 'QUEUED']);
      expect(ids(await list('?state=QUEUED'))).toEqual(where((i) => [2, 4, 6].includes(i)));
      expect(ids(await list('?state=queued,PENDING'))).toEqual(where(() => true));
      expect(ids(await list('?state=QUEUED&state=RUNNING'))).toEqual(where((i) => [2, 4, 6].includes(i)));
      expect(ids(await list('?label=team:forest'))).toEqual(where((i) => [0, 2, 3, 6].includes(i)));
      expect(ids(await list('?label=run:r1'))).toEqual(where((i) => i === 3));
      expect(ids(await list('?eeProject=ee-other-project'))).toEqual(where((i) => [3, 5, 6].includes(i)));
      expect(ids(await list('?eeProject=ee-other-project&state=QUEUED&label=team:forest'))).toEqual(where((i) => i === 6));
      expect(ids(await list(`?updatedAfter=${made[3]!.after}`))).toEqual(where((i) => i > 3));
      expect(ids(await list(`?updatedBefore=${made[3]!.after}`))).toEqual(where((i) => i <= 3));
      expect(ids(await list(`?updatedAfter=${made[1]!.after}&updatedBefore=${made[4]!.after}&label=team:forest`))).toEqual(where((i) => [2, 3].includes(i)));
      // An offset is an offset: the same instant written as +02:00 selects the same jobs.
      const local = new Date(Date.parse(made[3]!.after) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      expect(ids(await list(`?updatedAfter=${encodeURIComponent(local)}`))).toEqual(where((i) => i > 3));
      expect((await list('?label=team:fire')).jobs).toEqual([]);
    });

    it('pages through several pages with pageToken, each job once, in order', async () => {
      const made = await seed();
      const seen: string[] = [];
      let token: string | null = null;
      let pages = 0;
      do {
        const page = await list(`?pageSize=2${token ? `&pageToken=${token}` : ''}`);
        expect(page.jobs.length).toBeLessThanOrEqual(2);
        seen.push(...page.jobs.map((j) => j.jobId));
        token = page.nextPageToken;
        pages++;
      } while (token);
      expect(pages).toBe(4);
      expect(seen).toEqual(made.map((m) => m.jobId).reverse());
      // With a filter, too.
      const first = await list('?label=team:forest&pageSize=3');
      const second = await list(`?label=team:forest&pageSize=3&pageToken=${first.nextPageToken}`);
      expect([...first.jobs, ...second.jobs].map((j) => j.jobId)).toEqual([6, 3, 2, 0].map((i) => made[i]!.jobId));
      expect(second.nextPageToken).toBeNull();
    });

    // [query, the parameter the error must name]
    const BAD: [string, string][] = [
      ['?state=BOGUS', 'state'],
      ['?state=QUEUED,nope', 'state'],
      ['?pageSize=0', 'pageSize'],
      ['?pageSize=201', 'pageSize'],
      ['?pageSize=ten', 'pageSize'],
      ['?pageSize=1.5', 'pageSize'],
      ['?label=team', 'label'],
      ['?label=Team:x', 'label'],
      ['?label=a:b&label=c:d', 'label'],
      ['?eeProject=Not_A_Project', 'eeProject'],
      ['?updatedAfter=yesterday', 'updatedAfter'],
      ['?updatedBefore=2026-13-01T00:00:00Z', 'updatedBefore'],
      ['?updatedAfter=2026-02-01T00:00:00Z&updatedBefore=2026-01-01T00:00:00Z', 'updatedBefore'],
      ['?colour=red', 'colour'],
      ['?pageToken=not-a-token', 'pageToken'],
    ];

    it(`bad parameters (${BAD.length} kinds) → 400 API.INVALID_PARAMETER naming the parameter`, async () => {
      for (const [query, param] of BAD) {
        const err = await expectError(await api.call(`/v1/jobs${query}`), 400, 'API.INVALID_PARAMETER');
        expect(err.details?.map((d) => d.path), query).toContain(param);
      }
    });

    it('a page token used with other filters → 400 naming pageToken', async () => {
      await seed();
      const first = await list('?state=QUEUED&pageSize=1');
      const err = await expectError(await api.call(`/v1/jobs?state=PENDING&pageSize=1&pageToken=${first.nextPageToken}`), 400, 'API.INVALID_PARAMETER');
      expect(err.details).toEqual([{ path: 'pageToken', message: expect.stringMatching(/different filters/) }]);
    });
  });

  describe('POST /v1/jobs/{jobId}:cancel', () => {
    it('QUEUED → cancelled at once; PENDING → cancelling in Earth Engine; ended → 409; missing → 404; bad id → 400', async () => {
      const jobs = [];
      for (const key of ['c1', 'c2', 'c3']) jobs.push(await submitted(await api.post('/v1/jobs', { request: assetLoadRequest(), idempotencyKey: key }), 202));
      const [pending, , queued] = jobs;
      expect(pending!.state).toBe('PENDING');
      expect(queued!.state).toBe('QUEUED');

      const res1 = await api.post(`/v1/jobs/${queued!.jobId}:cancel`, { reason: 'not needed any more' });
      const c1 = CancelResponseSchema.parse(await res1.json());
      expect(res1.status).toBe(200);
      expect(c1.outcome).toBe('cancelled');
      expect(c1.job).toMatchObject({ state: 'CANCELLED', error: { code: 'EE.CANCELLED', message: 'not needed any more' } });

      // No body at all is fine too.
      const res2 = await api.call(`/v1/jobs/${pending!.jobId}:cancel`, { method: 'POST' });
      const c2 = CancelResponseSchema.parse(await res2.json());
      expect(res2.status).toBe(200);
      expect(c2.outcome).toBe('cancelling');
      expect(c2.job.state).toBe('CANCELLING');
      expect(api.sim.tasks().find((t) => t.name === pending!.job.operationName)!.state).toMatch(/CANCEL/);

      const ended = await expectError(await api.post(`/v1/jobs/${queued!.jobId}:cancel`, {}), 409, 'API.ALREADY_TERMINAL');
      expect(ended.message).toMatch(/CANCELLED/);
      await expectError(await api.post(`/v1/jobs/${'f'.repeat(32)}:cancel`, {}), 404, 'API.NOT_FOUND');
      await expectError(await api.post('/v1/jobs/XYZ:cancel', {}), 400, 'API.INVALID_JOB_ID');
      // A body, when there is one, is JSON of a known shape.
      await expectError(await api.call(`/v1/jobs/${pending!.jobId}:cancel`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'please' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      await expectError(await api.post(`/v1/jobs/${pending!.jobId}:cancel`, { why: 'x' }), 400, 'API.INVALID_PARAMETER');
    });

    it('a job still SUBMITTING is marked; the cancel is carried out once its operation is known', async () => {
      api.sim.faults.inject({ kind: 'http-error', httpStatus: 503, method: 'export', times: 7 });
      const out = await submitted(await api.post('/v1/jobs', assetLoadRequest()), 202);
      expect(out.state).toBe('SUBMITTING');
      const res = await api.post(`/v1/jobs/${out.jobId}:cancel`, {});
      const c = CancelResponseSchema.parse(await res.json());
      expect(c.outcome).toBe('requested');
      expect(c.job.cancelRequestedAt).toBeTruthy();
    });
  });

  describe('routing and the OpenAPI document', () => {
    it('GET /v1/openapi.json serves the generated OpenAPI 3.1 document; every $ref resolves', async () => {
      const res = await api.call('/v1/openapi.json');
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
      expect(doc).toEqual(apiOpenApiDocument());
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths).sort()).toEqual([
        '/v1/batches',
        '/v1/batches/{batchId}',
        '/v1/batches/{batchId}/estimate',
        '/v1/batches/{batchId}/jobs',
        '/v1/batches/{batchId}:cancel',
        '/v1/batches/{batchId}:resume',
        '/v1/batches/{batchId}:retry',
        '/v1/budgets',
        '/v1/chains',
        '/v1/chains/{chainId}',
        '/v1/estimates',
        '/v1/estimates/accuracy',
        '/v1/jobs',
        '/v1/jobs/{jobId}',
        '/v1/jobs/{jobId}:cancel',
        '/v1/openapi.json',
        '/v1/schedules',
        '/v1/schedules/{scheduleId}',
        '/v1/schedules/{scheduleId}:backfill',
        '/v1/schedules/{scheduleId}:pause',
        '/v1/schedules/{scheduleId}:resume',
        '/v1/stats',
      ]);
      const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
      for (const r of refs) expect(Object.keys(doc.components.schemas), r).toContain(r.replace(/^"\$ref":"#\/components\/schemas\//, '').replace(/"$/, ''));
    });

    it('unknown routes → 404 JSON; wrong methods → 405 JSON with Allow', async () => {
      // (GET / is the dashboard: test/integration/api-batches.test.ts.)
      for (const path of ['/v2/jobs', '/dashboard/nope.js', '/v1/jobs/x/y', `/v1/jobs/${'0'.repeat(32)}:pause`, '/v1/openapi.yaml']) {
        const err = await expectError(await api.call(path), 404, 'API.NOT_FOUND');
        expect(err.message).toMatch(/openapi\.json/);
      }
      const cases: [string, string, string][] = [
        ['DELETE', '/v1/jobs', 'GET, HEAD, POST'],
        ['PUT', `/v1/jobs/${'0'.repeat(32)}`, 'GET, HEAD'],
        ['GET', `/v1/jobs/${'0'.repeat(32)}:cancel`, 'POST'],
        ['POST', '/v1/openapi.json', 'GET, HEAD'],
      ];
      for (const [method, path, allow] of cases) {
        const res = await api.call(path, { method });
        expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
        await expectError(res, 405, 'API.METHOD_NOT_ALLOWED');
      }
      const options = await api.call('/v1/jobs', { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS');
    });
  });
});

describe.skipIf(!emu)('api authentication (API_AUTH=api-key)', () => {
  const KEYS = ['k-0123456789abcdef', 'k-second-key-0123456'];
  const api = useApiStack(emu, { env: { API_AUTH: 'api-key', API_KEYS: KEYS.join(',') } });

  it('a missing or wrong x-api-key → 401 before anything else; a right one is let in and recorded by fingerprint only', async () => {
    const none = api.client();
    await expectError(await none.call('/v1/jobs'), 401, 'API.UNAUTHENTICATED');
    await expectError(await none.call('/no/such/route'), 401, 'API.UNAUTHENTICATED');
    await expectError(await none.post('/v1/jobs', assetLoadRequest()), 401, 'API.UNAUTHENTICATED');
    const wrong = api.client({ 'x-api-key': 'k-0123456789abcdeX' });
    expect((await expectError(await wrong.call('/v1/jobs'), 401, 'API.UNAUTHENTICATED')).message).toMatch(/unknown API key/);
    const right = api.client({ 'x-api-key': KEYS[1]! });
    expect((await right.call('/v1/jobs')).status).toBe(200);
    const out = await submitted(await right.post('/v1/jobs', assetLoadRequest()), 202);
    expect(out.job.source).toEqual({ kind: 'api', caller: apiKeyFingerprint(KEYS[1]!) });
    expect(JSON.stringify(out.job)).not.toContain(KEYS[1]);
    expect(await api.stack.firestore.collection('jobs').count().get().then((s) => s.data().count)).toBe(1);
  });

  it('nothing expensive before the caller is known: a gzip body is a 415 with or without a key, a form post a 415, a declared body over the limit a 413; nothing stored', async () => {
    const jobs = async () => api.stack.firestore.collection('jobs').count().get().then((s) => s.data().count);
    const before = await jobs();
    // 30 KB of gzip inflating to 30 MB (the reliability suite sends 300 MB and measures the memory).
    const bomb = new Uint8Array(gzipSync(Buffer.from(`{"request":{"description":"${'a'.repeat(30_000_000)}"}}`)));
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    for (const client of [api.client(), api.client({ 'x-api-key': KEYS[0]! })]) {
      const t0 = performance.now();
      const err = await expectError(await client.call('/v1/jobs', { method: 'POST', headers: gz, body: bomb }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(err.message).toMatch(/Content-Encoding "gzip"/);
    }
    const right = api.client({ 'x-api-key': KEYS[0]! });
    // A browser form can post to :cancel without CORS; it is refused whatever it carries.
    await expectError(await right.call('/v1/jobs/0123456789abcdef0123456789abcdef:cancel', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
    await expectError(await api.client().call('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 401, 'API.UNAUTHENTICATED');
    expect(api.logs.filter((l) => l.event === 'api.rejected' && l.code === 'API.UNSUPPORTED_MEDIA_TYPE')).toHaveLength(3);
    expect(await jobs()).toBe(before);
  });

  it('a batch that would expand past BATCH_MAX_EXPANDED_BYTES (60 KB template × 5,000 values) is a 400 before expansion; GET /v1/jobs?__proto__=x is a 400', async () => {
    const right = api.client({ 'x-api-key': KEYS[0]! });
    const template = { ...assetLoadRequest('projects/ee-test-project/assets/x-{{value}}'), description: `{{value}}-${'p'.repeat(60_000)}` };
    const t0 = performance.now();
    const err = await expectError(await right.post('/v1/batches', { template, fanOut: { values: Array.from({ length: 5_000 }, (_, i) => `v${i}`) } }), 400, 'BATCH.INVALID');
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(err.details).toEqual([{ path: '', message: expect.stringMatching(/5000 children × a \d+-byte template\); at most 67108864 \(BATCH_MAX_EXPANDED_BYTES\)/) }]);
    expect(await api.stack.firestore.collection('batches').count().get().then((s) => s.data().count)).toBe(0);
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect((await expectError(await right.call(`/v1/jobs?${name}=x`), 400, 'API.INVALID_PARAMETER')).details).toEqual([{ path: name, message: expect.any(String) }]);
    }
  });
});

describe.skipIf(!emu)('api authentication (API_AUTH=oidc)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const AUD = 'https://europe-west1-project.cloudfunctions.net/api';
  const CALLER = 'pipeline@project.iam.gserviceaccount.com';
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  function token(claims: Record<string, unknown> = {}, key = privateKey): string {
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' });
    const body = b64({ iss: 'https://accounts.google.com', aud: AUD, email: CALLER, email_verified: true, sub: '1', iat: now, exp: now + 600, ...claims });
    return `${head}.${body}.${createSign('RSA-SHA256').update(`${head}.${body}`).sign(key).toString('base64url')}`;
  }

  const certs = async () => ({ k1: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  const api = useApiStack(emu, {
    env: { API_AUTH: 'oidc', API_OIDC_AUDIENCE: AUD, API_ALLOWED_CALLERS: `other@x.iam.gserviceaccount.com,${CALLER}` },
    adapters: (a) => ({ ...a, oidcCerts: certs }),
  });

  it('no token, a bad one, the wrong audience → 401 (WWW-Authenticate: Bearer); a caller not allowed → 403; an allowed one → in, recorded as the caller', async () => {
    const as = (t?: string) => api.client(t ? { authorization: `Bearer ${t}` } : {});
    const missing = await as().call('/v1/jobs');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await expectError(missing, 401, 'API.UNAUTHENTICATED');
    await expectError(await as('not.a.token').call('/v1/jobs'), 401, 'API.UNAUTHENTICATED');
    await expectError(await as(token({}, otherKey)).call('/v1/jobs'), 401, 'API.UNAUTHENTICATED');
    await expectError(await as(token({ aud: 'https://elsewhere.example' })).call('/v1/jobs'), 401, 'API.UNAUTHENTICATED');
    await expectError(await as(token({ iat: 1000, exp: 2000 })).call('/v1/jobs'), 401, 'API.UNAUTHENTICATED');
    const denied = await expectError(await as(token({ email: 'intruder@evil.iam.gserviceaccount.com' })).call('/v1/jobs'), 403, 'API.PERMISSION_DENIED');
    expect(denied.message).toMatch(/intruder@evil/);
    await expectError(await as(token({ email_verified: false })).call('/v1/jobs'), 403, 'API.PERMISSION_DENIED');

    const ok = as(token());
    expect((await ok.call('/v1/jobs')).status).toBe(200);
    const out = await submitted(await ok.post('/v1/jobs', assetLoadRequest()), 202);
    expect(out.job.source).toEqual({ kind: 'api', caller: CALLER });
  });
});

describe.skipIf(!emu)('api configuration on a deployed instance (K_SERVICE set)', () => {
  // Not a local run: the harness's EEPORT_LOCAL=true would itself be refused next to K_SERVICE.
  const api = useApiStack(emu, { env: { K_SERVICE: 'api', EEPORT_LOCAL: 'false', POLL_OIDC_AUDIENCE: 'https://x.example/pollExports', POLL_INVOKER_EMAIL: 'scheduler@x.iam.gserviceaccount.com' } });

  it('API_AUTH=none is refused (500 API.MISCONFIGURED, JSON) unless API_ALLOW_UNAUTHENTICATED=true', async () => {
    const err = await expectError(await api.call('/v1/jobs'), 500, 'API.MISCONFIGURED');
    expect(err.message).toMatch(/api\.misconfigured/);
    await api.restart({ API_ALLOW_UNAUTHENTICATED: 'true' });
    expect((await api.call('/v1/jobs')).status).toBe(200);
  });
});

describe.skipIf(!emu)('api configuration on an instance that is neither deployed nor says it is local', () => {
  const api = useApiStack(emu, { env: { EEPORT_LOCAL: 'false' } });

  it('API_AUTH=none is refused without K_SERVICE too (a VM, a container): 500 API.MISCONFIGURED until EEPORT_LOCAL=true or API_ALLOW_UNAUTHENTICATED=true', async () => {
    await expectError(await api.call('/v1/jobs'), 500, 'API.MISCONFIGURED');
    await api.restart({ EEPORT_LOCAL: 'true' });
    expect((await api.call('/v1/jobs')).status).toBe(200);
    await api.restart({ API_ALLOW_UNAUTHENTICATED: 'true' });
    expect((await api.call('/v1/jobs')).status).toBe(200);
  });
});

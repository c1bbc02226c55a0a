/**
 * The `api` function's batch, budget and stats endpoints, and the dashboard's files,
 * end to end: functions-framework test server → Firestore and Pub/Sub emulators → the
 * Earth Engine simulator (manual clock), with the poller run in between. Every endpoint
 * with good and bad input; every answer is parsed with the contract's schemas.
 */
import { describe, it, expect } from 'vitest';
import '../../functions/src/entry/api.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { expectError, useApiStack } from '../harness/api-stack.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import {
  BatchCancelResponseSchema,
  BatchEstimateResponseSchema,
  BatchJobsResponseSchema,
  BatchListResponseSchema,
  BatchRetryResponseSchema,
  BatchSubmitResponseSchema,
  BatchViewSchema,
  BudgetsResponseSchema,
  JobViewSchema,
  StatsResponseSchema,
  SubmitResponseSchema,
} from '../../functions/src/core/api/api-contract.ts';
import { JOB_STATES } from '../../functions/src/core/jobs/job.ts';

const emu = emulatorsOrSkip('api batches integration');

const template = {
  description: 'tile {{value}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/{{value}}' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'tiles/{{value}}' }, fileFormat: 'GEO_TIFF' },
};
const fanOut = (n: number, extra: Record<string, unknown> = {}) => ({ template, fanOut: { values: Array.from({ length: n }, (_, i) => `t${i}`) }, ...extra });

const BUDGETS = [
  { eeProject: 'ee-test-project', monthlyEecuSeconds: 100_000 },
  // A simulated task uses about 60 EECU-seconds: one finished job uses this one up.
  { eeProject: 'ee-test-project', label: { key: 'team', value: 'forest' }, monthlyEecuSeconds: 50, onExceeded: 'reject' },
  { eeProject: 'ee-other-project', workloadTag: 'nightly', monthlyEecuSeconds: 5_000 },
];

async function ok<T>(res: Response, schema: { parse(v: unknown): T }, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return schema.parse(JSON.parse(text));
}

describe.skipIf(!emu)('api: batches, budgets, stats and the dashboard (emulators + simulator)', () => {
  const api = useApiStack(emu, {
    env: {
      EE_ALLOWED_PROJECTS: 'ee-test-project,ee-other-project',
      MAX_IN_FLIGHT_PER_PROJECT: '4',
      POLL_WINDOW_SECONDS: '0',
      POLL_AUTH_DISABLED: 'true',
      // A transient task failure ends the job FAILED (no automatic resubmission), so a batch retry has something to do.
      MAX_RESUBMISSIONS: '0',
      EECU_BUDGETS: JSON.stringify(BUDGETS),
      // The stats test checks the counts themselves, before and after changes a second apart;
      // the per-instance cache that would answer the second from the first is tested in test/unit/stats-cache.test.ts.
      API_STATS_CACHE_SECONDS: '0',
    },
    // No request-rate limit: the manual clock stands still between advances, so polls would all fall in one simulated second.
    simulator: { rateLimitPerSecond: 0 },
    fresh: 'each',
  });

  const { call, post } = api;
  const submitBatch = async (spec: unknown, status: 200 | 202 = 202, headers: Record<string, string> = {}) => ok(await post('/v1/batches', spec, headers), BatchSubmitResponseSchema, status);
  const getBatch = async (ref: string) => ok(await call(`/v1/batches/${ref}`), BatchViewSchema);
  const stored = async (collection: string) => (await api.stack.firestore.collection(collection).get()).docs.map((d) => d.data());

  /** Poller cycles with the simulated clock moving a minute and more between them, until `done` (or a bound). */
  async function settle(done: () => Promise<boolean>, cycles = 12) {
    for (let i = 0; i < cycles; i++) {
      await api.stack.services.pollExports().run();
      if (await done()) return;
      api.sim.clock.advance(65_000);
    }
    throw new Error(`not settled after ${cycles} poll cycles`);
  }

  describe('POST /v1/batches', () => {
    it('a fan-out → 202 with batchId, state, total and url; its children are QUEUED jobs from the API; the same batchId again → 200, nothing new', async () => {
      const out = await submitBatch(fanOut(5, { batchId: 'mosaic-2026-11', description: 'Alps', labels: { team: 'forest' } }));
      expect(out).toMatchObject({ state: 'RUNNING', total: 5, url: `/v1/batches/${out.batchId}`, duplicate: false });
      expect(out.batchId).toMatch(/^[0-9a-f]{32}$/);
      expect(out.batch).toMatchObject({ identity: 'key:batch:mosaic-2026-11', description: 'Alps', labels: { team: 'forest' }, counts: { QUEUED: 5 }, eeProject: 'ee-test-project' });
      const jobs = await stored('jobs');
      expect(jobs).toHaveLength(5);
      expect(jobs.every((j) => j.state === 'QUEUED' && j.batchId === out.batchId && j.source.kind === 'api' && j.labels.team === 'forest')).toBe(true);
      expect(jobs.map((j) => j.batchIndex).sort()).toEqual([0, 1, 2, 3, 4]);
      // Children wait for the poller: nothing reached Earth Engine yet.
      expect(api.sim.stats().tasksStarted).toBe(0);

      const again = await submitBatch(fanOut(5, { batchId: 'mosaic-2026-11' }), 200);
      expect(again).toMatchObject({ batchId: out.batchId, duplicate: true, total: 5 });
      expect(await stored('jobs')).toHaveLength(5);
      expect(await stored('batches')).toHaveLength(1);
    });

    it('explicit requests and a tiling; without a batchId or Idempotency-Key each POST is a new batch', async () => {
      const a = await submitBatch({ requests: [assetLoadRequest('projects/p/assets/a'), assetLoadRequest('projects/p/assets/b')] });
      const b = await submitBatch({ requests: [assetLoadRequest('projects/p/assets/a'), assetLoadRequest('projects/p/assets/b')] });
      expect(a.batchId).not.toBe(b.batchId);
      expect(a.batch.identity).toMatch(/^rnd:/);
      const tiles = await submitBatch({ template: assetLoadRequest(), tiles: { region: { west: 10, south: 45, east: 10.02, north: 45.01 }, scale: 0.001, tileWidth: 10, tileHeight: 10 } });
      expect(tiles.total).toBe(2);
      expect(await stored('jobs')).toHaveLength(6);
    });

    it('the Idempotency-Key header is the batchId when the body has none, and must agree with one it has', async () => {
      const first = await submitBatch(fanOut(2), 202, { 'idempotency-key': 'nightly-1' });
      expect(first.batch.identity).toBe('key:batch:nightly-1');
      expect((await submitBatch(fanOut(2, { batchId: 'nightly-1' }), 200)).batchId).toBe(first.batchId);
      expect((await submitBatch(fanOut(2, { batchId: 'nightly-1' }), 200, { 'idempotency-key': 'nightly-1' })).batchId).toBe(first.batchId);
      const differ = await expectError(await post('/v1/batches', fanOut(2, { batchId: 'a' }), { 'idempotency-key': 'b' }), 400, 'BATCH.INVALID');
      expect(differ.details).toEqual([{ path: 'batchId', message: expect.stringMatching(/Idempotency-Key header/) }]);
      const bad = await expectError(await post('/v1/batches', fanOut(2), { 'idempotency-key': 'has spaces' }), 400, 'BATCH.INVALID');
      expect(bad.details).toEqual([{ path: 'Idempotency-Key', message: expect.any(String) }]);
      expect(await stored('batches')).toHaveLength(1);
    });

    // [name, body, a path the details must name]
    const INVALID: [string, unknown, string][] = [
      ['none of requests, fanOut or tiles', { template }, ''],
      ['fanOut without a template', { fanOut: { values: [1] } }, 'template'],
      ['an unknown field', { ...fanOut(1), colour: 'red' }, ''],
      ['the topic’s {"batch": …} wrapper', { batch: fanOut(1) }, 'batch'],
      ['an invalid child among valid ones', { requests: [assetLoadRequest(), { ...assetLoadRequest(), fileExportOptions: { driveDestination: {}, fileFormat: 'BMP' } }] }, 'children[1].fileExportOptions.fileFormat'],
      ['a template whose children are invalid', { template: { ...template, maxPixels: 'lots' }, fanOut: { values: [1, 2] } }, 'children[0].maxPixels'],
      ['a tiling of more than 10,000 tiles', { template, tiles: { region: { west: 0, south: 0, east: 10, north: 10 }, scale: 0.001, tileWidth: 10, tileHeight: 10 } }, 'tiles'],
      ['a bad batchId', { ...fanOut(1), batchId: 'no spaces allowed' }, 'batchId'],
      ['bad labels', { ...fanOut(1), labels: { Team: 'x' } }, 'labels.Team'],
      ['a project this deployment does not serve', { ...fanOut(1), eeProject: 'someone-elses-project' }, 'eeProject'],
      ['an http callback (WEBHOOK_ALLOW_HTTP is off)', { ...fanOut(1), callbackUrl: 'http://hooks.example.com/x' }, 'callbackUrl'],
      ['a JSON array', [fanOut(1)], ''],
    ];

    it(`invalid batches (${INVALID.length} kinds) → 400 BATCH.INVALID with every problem's path into the body; logged; nothing stored`, async () => {
      for (const [name, body, path] of INVALID) {
        const err = await expectError(await post('/v1/batches', body), 400, 'BATCH.INVALID');
        expect(err.message, name).toMatch(/^the batch is invalid: /);
        expect(err.details?.map((d) => d.path), name).toContain(path);
      }
      expect(await stored('batches')).toEqual([]);
      expect(await stored('jobs')).toEqual([]);
      expect(api.logs.filter((l) => l.event === 'api.rejected' && l.code === 'BATCH.INVALID')).toHaveLength(INVALID.length);
    });

    it('malformed JSON, another content type, an empty body → the API’s usual 400/415', async () => {
      await expectError(await post('/v1/batches', '{"template":'), 400, 'API.MALFORMED_JSON');
      await expectError(await post('/v1/batches', ''), 400, 'API.MALFORMED_JSON');
      await expectError(await call('/v1/batches', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(fanOut(1)) }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      expect(await stored('batches')).toEqual([]);
    });
  });

  describe('GET /v1/batches/{batchId} and /v1/batches', () => {
    it('finds a batch by its id or by the batchId it was given; 404 for none; 400 for a malformed one', async () => {
      const out = await submitBatch(fanOut(3, { batchId: 'by-name' }));
      expect((await getBatch(out.batchId)).batchId).toBe(out.batchId);
      expect((await getBatch('by-name')).batchId).toBe(out.batchId);
      const res = await call(`/v1/batches/${out.batchId}`);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect((await call(`/v1/batches/${out.batchId}`, { method: 'HEAD' })).status).toBe(200);
      await expectError(await call(`/v1/batches/${'0'.repeat(32)}`), 404, 'API.NOT_FOUND');
      await expectError(await call('/v1/batches/never-submitted'), 404, 'API.NOT_FOUND');
      const bad = await expectError(await call('/v1/batches/bad%20id!'), 400, 'API.INVALID_BATCH_ID');
      expect(bad.details).toEqual([{ path: 'batchId', message: expect.any(String) }]);
      await expectError(await call(`/v1/batches/${'x'.repeat(101)}`), 400, 'API.INVALID_BATCH_ID');
    });

    it('lists newest first in pages; filters by state; bad parameters and foreign page tokens → 400 naming them', async () => {
      const made = [];
      for (const id of ['b1', 'b2', 'b3']) {
        made.push(await submitBatch(fanOut(1, { batchId: id })));
        await new Promise((r) => setTimeout(r, 5));
      }
      // b2's only child is QUEUED, so a cancel ends it at once; the poller's refresh makes the batch CANCELLED.
      await ok(await post(`/v1/batches/b2:cancel`, {}), BatchCancelResponseSchema);
      await settle(async () => (await getBatch('b2')).state === 'CANCELLED');

      const list = async (q: string) => ok(await call(`/v1/batches${q}`), BatchListResponseSchema);
      const all = await list('');
      expect(all.batches.map((b) => b.batchId)).toEqual(made.map((m) => m.batchId).reverse());
      expect(all.batches.every((b) => !('destinationUris' in b))).toBe(true);
      expect(all.nextPageToken).toBeNull();

      const p1 = await list('?pageSize=2');
      expect(p1.batches).toHaveLength(2);
      const p2 = await list(`?pageSize=2&pageToken=${p1.nextPageToken}`);
      expect([...p1.batches, ...p2.batches].map((b) => b.batchId)).toEqual(made.map((m) => m.batchId).reverse());
      expect(p2.nextPageToken).toBeNull();

      expect((await list('?state=CANCELLED')).batches.map((b) => b.batchId)).toEqual([made[1]!.batchId]);
      expect((await list('?state=running,cancelled')).batches).toHaveLength(3);
      const running = await list('?state=RUNNING&pageSize=1');
      expect(running.batches.map((b) => b.batchId)).toEqual([made[2]!.batchId]);
      expect((await list(`?state=RUNNING&pageSize=1&pageToken=${running.nextPageToken}`)).batches.map((b) => b.batchId)).toEqual([made[0]!.batchId]);

      const BAD: [string, string][] = [
        ['?state=BOGUS', 'state'],
        ['?state=QUEUED', 'state'], // a job state, not a batch state
        ['?pageSize=0', 'pageSize'],
        ['?pageSize=201', 'pageSize'],
        ['?label=team:forest', 'label'],
        ['?pageToken=not-a-token', 'pageToken'],
        [`?state=CANCELLED&pageToken=${running.nextPageToken}`, 'pageToken'],
      ];
      for (const [q, param] of BAD) {
        const err = await expectError(await call(`/v1/batches${q}`), 400, 'API.INVALID_PARAMETER');
        expect(err.details?.map((d) => d.path), q).toContain(param);
      }
    });
  });

  describe('GET /v1/batches/{batchId}/jobs', () => {
    it('pages through the current children by index; filters by state; bad input → 400; unknown batch → 404', async () => {
      const out = await submitBatch(fanOut(5, { batchId: 'kids' }));
      const page = async (q: string) => ok(await call(`/v1/batches/kids/jobs${q}`), BatchJobsResponseSchema);
      const seen: number[][] = [];
      let token: string | null = null;
      do {
        const p: { jobs: { batchIndex: number | null }[]; nextPageToken: string | null } = await page(`?pageSize=2${token ? `&pageToken=${token}` : ''}`);
        seen.push(p.jobs.map((j) => j.batchIndex!));
        token = p.nextPageToken;
      } while (token);
      expect(seen).toEqual([[0, 1], [2, 3], [4]]);
      const first = await page('');
      expect(first.jobs.every((j) => !('request' in j) && j.batchId === out.batchId)).toBe(true);

      // MAX_IN_FLIGHT_PER_PROJECT=4: one poll releases four (siblings tie on priority and age: any four); the fifth waits.
      await api.stack.services.pollExports().run();
      const queued = (await page('?state=QUEUED')).jobs.map((j) => j.batchIndex!);
      expect(queued).toHaveLength(1);
      const live = await page('?state=PENDING,RUNNING&pageSize=3');
      const rest = await page(`?state=PENDING,RUNNING&pageSize=3&pageToken=${live.nextPageToken}`);
      const liveIndexes = [...live.jobs, ...rest.jobs].map((j) => j.batchIndex!);
      expect(liveIndexes).toEqual([0, 1, 2, 3, 4].filter((i) => i !== queued[0]));
      expect(rest.nextPageToken).toBeNull();

      const BAD: [string, string][] = [
        ['?state=DONE', 'state'],
        ['?pageSize=abc', 'pageSize'],
        ['?pageToken=zzz', 'pageToken'],
        [`?state=QUEUED&pageToken=${live.nextPageToken}`, 'pageToken'],
        ['?eeProject=ee-test-project', 'eeProject'],
      ];
      for (const [q, param] of BAD) {
        const err = await expectError(await call(`/v1/batches/kids/jobs${q}`), 400, 'API.INVALID_PARAMETER');
        expect(err.details?.map((d) => d.path), q).toContain(param);
      }
      await expectError(await call('/v1/batches/nobody/jobs'), 404, 'API.NOT_FOUND');
      await expectError(await call('/v1/batches/a%20b/jobs'), 400, 'API.INVALID_BATCH_ID');
    });
  });

  describe('GET /v1/batches/{batchId}/estimate', () => {
    it('sums the current children’s recorded estimates and what they used in one aggregation; none before the poller records any; unknown batch → 404', async () => {
      const out = await submitBatch(fanOut(3, { batchId: 'est' }));
      const estimate = async () => ok(await call('/v1/batches/est/estimate'), BatchEstimateResponseSchema);
      // QUEUED children carry no estimate yet (the poller records one when it first follows a child).
      expect(await estimate()).toEqual({ batchId: out.batchId, total: 3, estimated: 0, eecuSeconds: { low: 0, expected: 0, high: 0 }, actualEecuSeconds: 0 });
      await settle(async () => (await getBatch('est')).state === 'SUCCEEDED');
      const jobs = (await stored('jobs')) as { estimate: { eecuSeconds: Record<'low' | 'expected' | 'high', number> } | null; eecuSeconds: number | null }[];
      expect(jobs.every((j) => j.estimate && j.eecuSeconds! > 0)).toBe(true);
      const sum = (f: (j: (typeof jobs)[number]) => number) => jobs.reduce((n, j) => n + f(j), 0);
      const got = await estimate();
      expect(got).toMatchObject({ batchId: out.batchId, total: 3, estimated: 3 });
      for (const k of ['low', 'expected', 'high'] as const) expect(got.eecuSeconds[k]).toBeCloseTo(sum((j) => j.estimate!.eecuSeconds[k]), 6);
      expect(got.actualEecuSeconds).toBeCloseTo(sum((j) => j.eecuSeconds!), 6);
      await expectError(await call('/v1/batches/no-such-batch/estimate'), 404, 'API.NOT_FOUND');
      await expectError(await call('/v1/batches/bad%20id/estimate'), 400, 'API.INVALID_BATCH_ID');
    });
  });

  describe('POST /v1/batches/{batchId}:cancel and :retry', () => {
    it('cancel: queued and live children are cancelled, the batch ends CANCELLED; again → 409; unknown → 404; options → 400', async () => {
      await submitBatch(fanOut(6, { batchId: 'to-cancel' }));
      await api.stack.services.pollExports().run(); // four PENDING in Earth Engine, two QUEUED
      const res = await ok(await call('/v1/batches/to-cancel:cancel', { method: 'POST' }), BatchCancelResponseSchema);
      expect(res).toMatchObject({ outcome: 'cancelling', children: 6 });
      expect(res.batch.cancelRequestedAt).toBeTruthy();
      expect(api.sim.tasks().filter((t) => /CANCEL/.test(t.state))).toHaveLength(4);
      await settle(async () => (await getBatch('to-cancel')).state === 'CANCELLED');
      expect((await getBatch('to-cancel')).counts).toEqual({ CANCELLED: 6 });

      const again = await expectError(await post('/v1/batches/to-cancel:cancel', {}), 409, 'API.ALREADY_TERMINAL');
      expect(again.message).toMatch(/CANCELLED/);
      await expectError(await post('/v1/batches/nobody:cancel', {}), 404, 'API.NOT_FOUND');
      await expectError(await post('/v1/batches/to-cancel:cancel', { reason: 'x' }), 400, 'API.INVALID_PARAMETER');
      await expectError(await call('/v1/batches/to-cancel:cancel', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'now' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
      await expectError(await post('/v1/batches/to-cancel:pause', {}), 404, 'API.NOT_FOUND');
    });

    it('retry: only the child that failed for a transient reason is replaced; the batch runs again to SUCCEEDED; then nothing to retry', async () => {
      // Earth Engine fails the task of child t1 with INTERNAL (13): transient.
      api.sim.faults.inject({ kind: 'task-failure', match: { description: '^tile t1$' }, times: 1, code: 13, message: 'An internal error has occurred.' });
      await submitBatch(fanOut(3, { batchId: 'flaky' }));
      await settle(async () => (await getBatch('flaky')).state !== 'RUNNING');
      const failed = await getBatch('flaky');
      expect(failed).toMatchObject({ state: 'PARTIALLY_FAILED', counts: { SUCCEEDED: 2, FAILED: 1 } });

      const res = await ok(await post('/v1/batches/flaky:retry', {}), BatchRetryResponseSchema);
      expect(res).toMatchObject({ outcome: 'retrying', children: 1, batch: { state: 'RUNNING', retries: 1 } });
      const kids = await ok(await call('/v1/batches/flaky/jobs'), BatchJobsResponseSchema);
      expect(kids.jobs.map((j) => [j.batchIndex, j.state])).toEqual([
        [0, 'SUCCEEDED'],
        [1, 'QUEUED'],
        [2, 'SUCCEEDED'],
      ]);
      expect(kids.jobs[1]!.lastFailure).toMatchObject({ failureClass: 'transient' });
      await settle(async () => (await getBatch('flaky')).state !== 'RUNNING');
      expect(await getBatch('flaky')).toMatchObject({ state: 'SUCCEEDED', counts: { SUCCEEDED: 3 } });
      expect((await getBatch('flaky')).destinationUris).toHaveLength(3);

      expect(await ok(await call('/v1/batches/flaky:retry', { method: 'POST' }), BatchRetryResponseSchema)).toMatchObject({ outcome: 'nothing-to-retry', children: 0 });
      await expectError(await post('/v1/batches/nobody:retry', {}), 404, 'API.NOT_FOUND');
      await expectError(await post('/v1/batches/bad!id:retry', {}), 400, 'API.INVALID_BATCH_ID');
    });
  });

  describe('GET /v1/budgets and GET /v1/stats', () => {
    it('budgets: every configured one with this month’s use, remaining and whether it is used up', async () => {
      const month = new Date().toISOString().slice(0, 7);
      const before = await ok(await call('/v1/budgets'), BudgetsResponseSchema);
      expect(before.month).toBe(month);
      expect(before.budgets.map((b) => [b.id, b.usedEecuSeconds, b.remainingEecuSeconds, b.exceeded, b.updateTime])).toEqual([
        [`ee-test-project~all~${month}`, 0, 100_000, false, null],
        [`ee-test-project~label.team=forest~${month}`, 0, 50, false, null],
        [`ee-other-project~tag.nightly~${month}`, 0, 5_000, false, null],
      ]);
      expect(before.budgets[1]).toMatchObject({ scope: 'label.team=forest', label: { key: 'team', value: 'forest' }, workloadTag: null, onExceeded: 'reject' });
      expect(before.budgets[2]).toMatchObject({ workloadTag: 'nightly', label: null, onExceeded: 'queue' });

      const job = await ok(await post('/v1/jobs', { request: assetLoadRequest(), labels: { team: 'forest' } }), SubmitResponseSchema, 202);
      await settle(async () => JobViewSchema.parse(await (await call(`/v1/jobs/${job.jobId}`)).json()).state === 'SUCCEEDED');
      const used = JobViewSchema.parse(await (await call(`/v1/jobs/${job.jobId}`)).json()).eecuSeconds!;
      expect(used).toBeGreaterThan(50);

      const after = await ok(await call('/v1/budgets'), BudgetsResponseSchema);
      const [all, forest, nightly] = after.budgets;
      expect(all).toMatchObject({ usedEecuSeconds: used, remainingEecuSeconds: 100_000 - used, exceeded: false });
      expect(all!.usedFraction).toBeCloseTo(used / 100_000, 6);
      expect(all!.updateTime).toBeTruthy();
      expect(forest).toMatchObject({ usedEecuSeconds: used, remainingEecuSeconds: 0, exceeded: true });
      expect(forest!.usedFraction).toBeGreaterThan(1);
      expect(nightly).toMatchObject({ usedEecuSeconds: 0, exceeded: false });
      // The API says what admission does: the next forest job is refused.
      expect((await ok(await post('/v1/jobs', { request: assetLoadRequest(), labels: { team: 'forest' } }), SubmitResponseSchema, 202)).state).toBe('REJECTED');
    });

    it('stats: jobs in every state, zeros included, and the total', async () => {
      const empty = await ok(await call('/v1/stats'), StatsResponseSchema);
      expect(empty.total).toBe(0);
      expect(Object.keys(empty.counts).sort()).toEqual([...JOB_STATES].sort());
      expect(Object.values(empty.counts).every((n) => n === 0)).toBe(true);

      await submitBatch(fanOut(6));
      const queued = await ok(await post('/v1/jobs', { request: assetLoadRequest() }), SubmitResponseSchema, 202);
      expect(queued.state).toBe('PENDING');
      await api.stack.services.pollExports().run(); // three more slots: 4 in flight, 3 QUEUED
      const s = await ok(await call('/v1/stats'), StatsResponseSchema);
      expect(s).toMatchObject({ total: 7, counts: { PENDING: 4, QUEUED: 3, SUCCEEDED: 0 } });
      expect(Date.parse(s.time)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('wrong methods → 405 with Allow', async () => {
      const cases: [string, string, string][] = [
        ['DELETE', '/v1/batches', 'GET, HEAD, POST'],
        ['POST', '/v1/batches/x', 'GET, HEAD'],
        ['POST', '/v1/batches/x/jobs', 'GET, HEAD'],
        ['GET', '/v1/batches/x:cancel', 'POST'],
        ['GET', '/v1/batches/x:retry', 'POST'],
        ['POST', '/v1/budgets', 'GET, HEAD'],
        ['PUT', '/v1/stats', 'GET, HEAD'],
      ];
      for (const [method, path, allow] of cases) {
        const res = await call(path, { method });
        expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
        await expectError(res, 405, 'API.METHOD_NOT_ALLOWED');
      }
    });
  });

  describe('the dashboard’s files', () => {
    it('GET / is the page, with a strict Content-Security-Policy; its script and style sheet are under /dashboard/; ETags revalidate', async () => {
      const page = await call('/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
      const html = await page.text();
      expect(html).toContain('<script type="module" src="dashboard/dashboard.js"></script>');
      expect(html).toContain('href="dashboard/dashboard.css"');

      const js = await call('/dashboard/dashboard.js');
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(js.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await js.text()).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
      // The module it imports (the job durations), beside it.
      const times = await call('/dashboard/job-times.js');
      expect(times.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await times.text()).toContain('export function jobDurationMs');
      const css = await call('/dashboard/dashboard.css');
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      const etag = css.headers.get('etag')!;
      expect(etag).toMatch(/^"[\w-]+"$/);
      expect((await call('/dashboard/dashboard.css', { headers: { 'if-none-match': etag } })).status).toBe(304);

      const head = await call('/', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      // Only the files: anything else there is the API's JSON 404.
      await expectError(await call('/dashboard/other.js'), 404, 'API.NOT_FOUND');
      await expectError(await call('/index.html'), 404, 'API.NOT_FOUND');
      await expectError(await call('/', { method: 'POST' }), 404, 'API.NOT_FOUND');
    });
  });
});

describe.skipIf(!emu)('api batches and dashboard with API_AUTH=api-key', () => {
  const KEY = 'k-0123456789abcdef';
  const api = useApiStack(emu, { env: { API_AUTH: 'api-key', API_KEYS: KEY } });

  it('the page loads without a key (it holds no data); every endpoint it calls needs one', async () => {
    expect((await api.stack.http('api', '/')).status).toBe(200);
    expect((await api.stack.http('api', '/dashboard/dashboard.js')).status).toBe(200);
    for (const path of ['/v1/stats', '/v1/budgets', '/v1/batches', '/v1/batches/x', '/v1/batches/x/jobs']) {
      await expectError(await api.stack.http('api', path), 401, 'API.UNAUTHENTICATED');
    }
    await expectError(await api.stack.http('api', '/v1/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fanOut(1)) }), 401, 'API.UNAUTHENTICATED');
    const withKey = { headers: { 'x-api-key': KEY } };
    expect((await ok(await api.stack.http('api', '/v1/stats', withKey), StatsResponseSchema)).total).toBe(0);
    const out = await ok(
      await api.stack.http('api', '/v1/batches', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: JSON.stringify(fanOut(2)) }),
      BatchSubmitResponseSchema,
      202,
    );
    const kids = await ok(await api.stack.http('api', `/v1/batches/${out.batchId}/jobs`, withKey), BatchJobsResponseSchema);
    expect(kids.jobs.every((j) => j.source.kind === 'api' && 'caller' in j.source && j.source.caller?.startsWith('api-key:'))).toBe(true);
  });
});

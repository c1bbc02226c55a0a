/**
 * Tenants on the local stack over Google's emulators, as `npm start -- --env
 * API_AUTH=api-key --env TENANTS='[...]'` runs it: each tenant's requests topic with its
 * own push relay, the API scoped by key, uploads by rule, batches, events with a
 * `tenant` attribute and callbacks signed with each tenant's own secret. Tenant B can
 * neither read, list, cancel, retry nor learn of tenant A's jobs and batches through
 * any way in. Skipped, saying why, where the emulators are missing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingEmulators } from '../harness/local-stack.ts';
import type { AddressInfo } from 'node:net';
import { startLocalStack, type LocalStack } from '../../tools/local-stack/stack.ts';
import { createWebhookReceiver } from '../../tools/local-stack/webhook-receiver.ts';
import { LOCAL_EE_PROJECT, UPLOAD_BUCKET } from '../../tools/local-stack/local-config.ts';
import { LOCAL_EXPORT_BUCKET, SAMPLE_REQUEST } from '../../tools/samples/export-requests.ts';
import { ApiErrorBodySchema, BatchViewSchema, JobListResponseSchema, JobViewSchema, SubmitResponseSchema } from '../../functions/src/core/api/api-contract.ts';

const missing = missingEmulators(`the tenants run on the local stack`);

const KEY_OPS = 'operators-key-0123456789';
const KEY_A = 'forest-key-0123456789';
const KEY_B = 'ocean-key-0123456789';
const SECRET_A = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
const SECRET_B = 'whsec_' + Buffer.alloc(32, 8).toString('base64');
const OCEAN_EE = 'eeport-local-ocean';
const OCEAN_BUCKET = 'ocean-exports';
const TENANTS = [
  { id: 'forest', apiKeys: [KEY_A], eeProjects: [LOCAL_EE_PROJECT], exportBuckets: [LOCAL_EXPORT_BUCKET], webhookSecrets: [SECRET_A] },
  { id: 'ocean', apiKeys: [KEY_B], eeProjects: [OCEAN_EE], exportBuckets: [OCEAN_BUCKET], webhookSecrets: [SECRET_B] },
];
const toBucket = (bucket: string, description: string) => ({ ...SAMPLE_REQUEST, description, fileExportOptions: { ...SAMPLE_REQUEST.fileExportOptions, cloudStorageDestination: { bucket, filenamePrefix: `t/${description}` } } });

describe.skipIf(missing.length > 0)('tenants on the local stack (emulators)', () => {
  let stack: LocalStack;
  let api: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eeport-tenants-'));
    stack = await startLocalStack({
      mode: 'emulators',
      ports: 'free',
      stateDir: dir,
      print: () => undefined,
      env: {
        API_AUTH: 'api-key',
        API_KEYS: KEY_OPS,
        TENANTS: JSON.stringify(TENANTS),
        UPLOAD_RULES: JSON.stringify({
          rules: [{ name: 'forest-uploads', tenant: 'forest', match: { bucket: UPLOAD_BUCKET, prefix: 'incoming/' }, request: { assetExportOptions: { earthEngineDestination: { name: `projects/${LOCAL_EE_PROJECT}/assets/uploads/{{stem}}` } } } }],
        }),
      },
    });
    api = stack.functions.get('api')!.url;
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const call = async (key: string | null, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api}${path.slice(1)}`, {
      method,
      headers: { ...(key ? { 'x-api-key': key } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const asA = (m: string, p: string, b?: unknown) => call(KEY_A, m, p, b);
  const asB = (m: string, p: string, b?: unknown) => call(KEY_B, m, p, b);
  const until = async <T>(what: string, get: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const jobsOf = async (key: string, q = '') => JobListResponseSchema.parse((await call(key, 'GET', `/v1/jobs${q}`)).body).jobs;

  it('the table lists each tenant’s topic; a caller needs a key', async () => {
    expect(stack.table()).toMatch(/topic eeport-requests-forest/);
    expect(stack.table()).toMatch(/topic eeport-requests-ocean/);
    expect((await call(null, 'GET', '/v1/jobs')).status).toBe(401);
    expect((await call('not-a-key-0123456789', 'GET', '/v1/jobs')).status).toBe(401);
  });

  it('API: one key, two tenants, two jobs; B cannot read, list, cancel or count A’s, nor tell them from missing ones', async () => {
    const a = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket(LOCAL_EXPORT_BUCKET, 'long-a'), idempotencyKey: 'nightly' })).body);
    const b = SubmitResponseSchema.parse((await asB('POST', '/v1/jobs', { request: toBucket(OCEAN_BUCKET, 'long-b'), idempotencyKey: 'nightly' })).body);
    expect(a.job).toMatchObject({ tenantId: 'forest', eeProject: LOCAL_EE_PROJECT });
    expect(b.job).toMatchObject({ tenantId: 'ocean', eeProject: OCEAN_EE });
    expect(a.jobId).not.toBe(b.jobId);
    const missingId = '0'.repeat(32);
    for (const [method, path] of [
      ['GET', `/v1/jobs/${a.jobId}`],
      ['POST', `/v1/jobs/${a.jobId}:cancel`],
    ] as const) {
      const theirs = await asB(method, path);
      const none = await asB(method, path.replace(a.jobId, missingId));
      expect(theirs.status, `${method} ${path}`).toBe(404);
      expect(JSON.stringify(theirs.body).replace(a.jobId, missingId)).toBe(JSON.stringify(none.body));
    }
    expect((await jobsOf(KEY_B)).map((j) => j.jobId)).toEqual([b.jobId]);
    expect((await jobsOf(KEY_B, `?eeProject=${LOCAL_EE_PROJECT}`)).map((j) => j.jobId)).toEqual([]);
    expect((await asB('GET', '/v1/stats')).body).toMatchObject({ total: 1 });
    const stillRunning = JobViewSchema.parse((await asA('GET', `/v1/jobs/${a.jobId}`)).body);
    expect(stillRunning.cancelRequestedAt).toBeNull();
    // The operators see both.
    expect((await jobsOf(KEY_OPS)).map((j) => j.jobId)).toEqual(expect.arrayContaining([a.jobId, b.jobId]));
    // Rules per tenant: A may not write to B's bucket, nor export in B's project.
    const refused = await asA('POST', '/v1/jobs', { request: toBucket(OCEAN_BUCKET, 'x') });
    expect(ApiErrorBodySchema.parse(refused.body).error).toMatchObject({ code: 'EXPORT.DESTINATION_NOT_ALLOWED', details: [{ path: 'request.fileExportOptions.cloudStorageDestination.bucket' }] });
    expect(ApiErrorBodySchema.parse((await asA('POST', '/v1/jobs', { request: toBucket(LOCAL_EXPORT_BUCKET, 'x'), eeProject: OCEAN_EE })).body).error.code).toBe('EXPORT.UNKNOWN_PROJECT');
    expect((await asA('POST', `/v1/jobs/${a.jobId}:cancel`)).status).toBe(200);
  });

  it('batches: B cannot read, page, cancel or retry A’s, by id or by name; the same name is B’s own', async () => {
    const spec = { batchId: 'tiles', template: toBucket(LOCAL_EXPORT_BUCKET, 'tile-{{value}}'), fanOut: { values: ['1', '2'] } };
    const a = BatchViewSchema.parse(((await asA('POST', '/v1/batches', spec)).body as { batch: unknown }).batch);
    expect(a.tenantId).toBe('forest');
    for (const [method, path] of [
      ['GET', `/v1/batches/${a.batchId}`],
      ['GET', '/v1/batches/tiles'],
      ['GET', `/v1/batches/${a.batchId}/jobs`],
      ['POST', `/v1/batches/${a.batchId}:cancel`],
      ['POST', `/v1/batches/${a.batchId}:retry`],
    ] as const) {
      expect((await asB(method, path)).status, `${method} ${path}`).toBe(404);
    }
    expect((await asB('GET', '/v1/batches')).body).toMatchObject({ batches: [] });
    const mine = await asB('POST', '/v1/batches', { ...spec, template: toBucket(OCEAN_BUCKET, 'tile-{{value}}') });
    expect(mine.status).toBe(202);
    expect(BatchViewSchema.parse((mine.body as { batch: unknown }).batch).batchId).not.toBe(a.batchId);
    expect((await asA('GET', '/v1/batches/tiles')).status).toBe(200);
  });

  it('topic: each tenant’s topic makes its jobs; a cancel on B’s topic cannot reach A’s job; A’s topic refuses B’s bucket', async () => {
    const a = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket(LOCAL_EXPORT_BUCKET, 'long-topic-a'), idempotencyKey: 'via-api' })).body);
    await stack.publishRequest(toBucket(OCEAN_BUCKET, 'from-topic'), { idempotencyKey: 'via-topic' }, { tenant: 'ocean' });
    const b = await until('ocean’s topic job', async () => (await jobsOf(KEY_B)).find((j) => j.description === 'from-topic'));
    expect(b).toMatchObject({ tenantId: 'ocean', eeProject: OCEAN_EE });
    expect((await jobsOf(KEY_A)).some((j) => j.description === 'from-topic')).toBe(false);
    await stack.publishRequest(undefined, { action: 'cancel', jobId: a.jobId }, { tenant: 'ocean' });
    await stack.publishRequest(undefined, { action: 'cancel', idempotencyKey: 'via-api' }, { tenant: 'ocean' });
    await stack.publishRequest(toBucket(OCEAN_BUCKET, 'wrong-bucket'), {}, { tenant: 'forest' });
    const rejected = await until('the rejected message', async () => (await jobsOf(KEY_A, '?state=REJECTED')).find((j) => j.tenantId === 'forest'));
    expect(rejected.error).toMatchObject({ code: 'EXPORT.DESTINATION_NOT_ALLOWED' });
    // By now the earlier cancels have been delivered too (one relay, in order of publication is not promised: give it time).
    await new Promise((r) => setTimeout(r, 2_000));
    expect(JobViewSchema.parse((await asA('GET', `/v1/jobs/${a.jobId}`)).body).cancelRequestedAt).toBeNull();
  });

  it('uploads: the rule’s tenant owns the job', async () => {
    await stack.storage!.finalize({ bucket: UPLOAD_BUCKET, name: 'incoming/tenant-check/scene.tif', contentType: 'image/tiff', size: 1_000 });
    const job = await until('the upload job', async () => (await jobsOf(KEY_A)).find((j) => j.source.kind === 'upload'));
    expect(job.tenantId).toBe('forest');
    expect((await asB('GET', `/v1/jobs/${job.jobId}`)).status).toBe(404);
  });

  it('events carry the tenant attribute; webhooks are signed with the tenant’s own secret', async () => {
    await stack.broker.ensureSubscription('tenant-events-check', stack.config.EVENTS_TOPIC, 30);
    // Two endpoints of our own: one knows forest's secret, the other every secret but forest's.
    const mine = createWebhookReceiver([SECRET_A], () => undefined);
    const others = createWebhookReceiver([SECRET_B, stack.webhookSecret], () => undefined);
    const urls: string[] = [];
    for (const r of [mine, others]) {
      await new Promise<void>((done) => r.server.listen(0, '127.0.0.1', () => done()));
      urls.push(`http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hooks`);
    }
    try {
      const a = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket(LOCAL_EXPORT_BUCKET, 'hooked'), callbackUrl: urls[0] })).body);
      const a2 = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket(LOCAL_EXPORT_BUCKET, 'hooked-2'), callbackUrl: urls[1] })).body);
      const w = await mine.waitFor(() => true, 60_000);
      expect(w.verified).toBe(true);
      expect(w.payload?.data).toMatchObject({ jobId: a.jobId });
      expect((w.payload?.data as { tenantId?: string }).tenantId).toBe('forest');
      const wrong = await others.waitFor(() => true, 60_000);
      expect(wrong.payload?.data).toMatchObject({ jobId: a2.jobId });
      expect(wrong.verified).toBe(false);
      await checkEvents(a.jobId);
    } finally {
      for (const r of [mine, others]) {
        r.server.closeAllConnections();
        r.server.close();
      }
    }
  });

  async function checkEvents(jobId: string) {
    const sub = stack.broker.subscription('tenant-events-check');
    const attrs = await until('a forest event', async () => {
      const got = await sub.pull(50);
      if (got.length) await sub.ack(got.map((g) => g.ackId));
      return got.find((g) => g.message.attributes?.['ce-subject'] === jobId)?.message.attributes;
    });
    expect(attrs.tenant).toBe('forest');
  }
});

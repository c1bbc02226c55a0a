/**
 * Tenants: the configuration, and isolation on every way in — the API (read, list,
 * cancel, retry, stats, budgets), the requests topic (each tenant's own), uploads and
 * batches — on the real use cases wired as the composition wires them, with fakes
 * below. Tenant B can neither see nor touch nor learn of tenant A's jobs and batches;
 * the same key in two tenants is two jobs; B's webhook secret does not verify A's calls.
 */
import { describe, it, expect, beforeEach } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../../functions/src/config.ts';
import { buildServices, type Services } from '../../functions/src/composition-root.ts';
import { intakePolicy, tenantIntakePolicy } from '../../functions/src/composition/instance.ts';
import { apiAuthSettings, apiKeyFingerprint } from '../../functions/src/adapters/api-auth.ts';
import { createApiHandler, createApiLogEvents } from '../../functions/src/core/api/index.ts';
import type { ApiRequest } from '../../functions/src/core/api/api-handler.ts';
import { ApiErrorBodySchema, BatchViewSchema, JobListResponseSchema, SubmitResponseSchema } from '../../functions/src/core/api/api-contract.ts';
import { createTenantDirectory, TenantsSchema, canSee, tenantOfTopic, topicOfSource } from '../../functions/src/core/tenants/index.ts';
import { eventAttributes, jobIdFor, sentRequestId, type Job } from '../../functions/src/core/jobs/index.ts';
import { verifyWebhook as verify } from '../../functions/src/core/webhooks/index.ts';
import type { IncomingMessage } from '../../functions/src/core/submit/index.ts';
import type { WebhookSender } from '../../functions/src/core/ports.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const SECRET_A = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
const SECRET_B = 'whsec_' + Buffer.alloc(32, 2).toString('base64');
const SECRET_OPS = 'whsec_' + Buffer.alloc(32, 3).toString('base64');
const KEY_A = 'forest-key-0123456789';
const KEY_B = 'ocean-key-0123456789';
const KEY_OPS = 'operators-key-0123456789';

const TENANTS = [
  { id: 'forest', apiKeys: [KEY_A], eeProjects: ['ee-forest'], exportBuckets: ['forest-out'], webhookSecrets: [SECRET_A] },
  { id: 'ocean', apiKeys: [KEY_B], eeProjects: ['ee-ocean'], exportBuckets: ['ocean-out'], webhookSecrets: [SECRET_B] },
];

const BASE_ENV = {
  EE_PROJECT: 'ee-ops',
  TENANTS: JSON.stringify(TENANTS),
  API_AUTH: 'api-key',
  API_KEYS: KEY_OPS,
  WEBHOOK_SECRETS: SECRET_OPS,
  EECU_BUDGETS: JSON.stringify([
    { eeProject: 'ee-forest', tenant: 'forest', monthlyEecuSeconds: 100 },
    { eeProject: 'ee-ocean', tenant: 'ocean', monthlyEecuSeconds: 100 },
    { eeProject: 'ee-ops', monthlyEecuSeconds: 100 },
  ]),
  UPLOAD_RULES: JSON.stringify({
    rules: [
      { name: 'forest-drops', tenant: 'forest', match: { bucket: 'forest-in' }, request: { fileExportOptions: { cloudStorageDestination: { bucket: 'forest-out' } } } },
      { name: 'forest-strays', tenant: 'forest', match: { bucket: 'stray-in' }, request: { fileExportOptions: { cloudStorageDestination: { bucket: 'ocean-out' } } } },
    ],
  }),
};

const toBucket = (bucket: string, description = 'd') => assetLoadRequest('projects/p/assets/a', { description, fileExportOptions: { cloudStorageDestination: { bucket, filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF' } });

describe('TENANTS configuration', () => {
  it('parses tenants; asset folders default to their projects’', () => {
    const c = loadConfig(BASE_ENV);
    expect(c.tenants.map((t) => [t.id, t.assetPrefixes])).toEqual([
      ['forest', ['projects/ee-forest/assets']],
      ['ocean', ['projects/ee-ocean/assets']],
    ]);
    expect(loadConfig({ EE_PROJECT: 'ee-ops' }).tenants).toEqual([]);
  });

  it.each([
    [{ TENANTS: 'not json' }, /TENANTS: must be JSON/],
    [{ TENANTS: JSON.stringify([{ id: 'Forest', eeProjects: ['ee-forest'] }]) }, /TENANTS: \[0\]\.id: 1–30 lowercase/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: [] }]) }, /TENANTS: \[0\]\.eeProjects/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'] }, { id: 'a', eeProjects: ['ee-bbbb'] }]) }, /tenant id "a" is used twice/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'], apiKeys: [KEY_A] }, { id: 'b', eeProjects: ['ee-bbbb'], apiKeys: [KEY_A] }]) }, /\[1\]\.apiKeys\[0\]: an API key also belongs to tenant "a"/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'], apiKeys: [KEY_OPS] }]) }, /tenant a: an API key is also in API_KEYS/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'], webhookSecrets: ['nope'] }]) }, /webhookSecrets\[0\]: must look like whsec_/],
    [{ TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'], assetPrefixes: ['projects/x/assets/a/'] }]) }, /assetPrefixes\[0\]: .*not an asset prefix/],
    [{ EE_ALLOWED_PROJECTS: 'ee-ops,ee-forest' }, /tenant ocean: eeProject "ee-ocean" is not in EE_ALLOWED_PROJECTS/],
    [{ EXPORT_ALLOWED_BUCKETS: 'forest-out' }, /tenant ocean: export bucket "ocean-out" is not in EXPORT_ALLOWED_BUCKETS/],
    [{ EECU_BUDGETS: JSON.stringify([{ eeProject: 'ee-x', tenant: 'nobody', monthlyEecuSeconds: 1 }]) }, /EECU_BUDGETS: \[0\]\.tenant "nobody" is not a tenant/],
    [{ UPLOAD_RULES: JSON.stringify({ rules: [{ name: 'r', tenant: 'nobody', match: { bucket: 'in-bucket' }, request: { fileExportOptions: { cloudStorageDestination: { bucket: 'b' } } } }] }) }, /rules\[0\] \(r\)\.tenant: "nobody" is not a tenant/],
    [{ UPLOAD_RULES: JSON.stringify({ rules: [{ name: 'r', tenant: 'forest', eeProject: 'ee-ocean', match: { bucket: 'in-bucket' }, request: { fileExportOptions: { cloudStorageDestination: { bucket: 'b' } } } }] }) }, /"ee-ocean" is not one of tenant forest's eeProjects/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ ...BASE_ENV, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...BASE_ENV, ...env })).toThrow(message);
  });

  it('never repeats a key or a secret in its errors', () => {
    const env = { ...BASE_ENV, TENANTS: JSON.stringify([{ id: 'a', eeProjects: ['ee-aaaa'], apiKeys: ['short-secret'], webhookSecrets: ['whsec_'] }, { id: 'b', apiKeys: [KEY_B] }]) };
    let message = '';
    try {
      loadConfig(env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/TENANTS/);
    for (const secret of ['short-secret', KEY_B]) expect(message).not.toContain(secret);
  });

  it('the API accepts every tenant’s keys, and refuses API_AUTH=none with tenants', () => {
    expect(apiAuthSettings(loadConfig(BASE_ENV)).apiKeys).toEqual([KEY_OPS, KEY_A, KEY_B]);
    expect(apiAuthSettings(loadConfig({ ...BASE_ENV, API_KEYS: '' })).apiKeys).toEqual([KEY_A, KEY_B]);
    expect(() => apiAuthSettings(loadConfig({ ...BASE_ENV, API_AUTH: 'none' }))).toThrow(/TENANTS needs API_AUTH=api-key or oidc/);
  });
});

describe('scopes and topics', () => {
  const tenants = TenantsSchema.parse(TENANTS);
  const dir = createTenantDirectory(tenants, { adminCallers: [apiKeyFingerprint(KEY_OPS)], callerIds: (t) => t.apiKeys.map(apiKeyFingerprint) });
  it('maps callers to their tenant, operators to admin, anyone else to nothing', () => {
    expect(dir.scopeOfCaller(apiKeyFingerprint(KEY_A))).toEqual({ kind: 'tenant', tenantId: 'forest' });
    expect(dir.scopeOfCaller(apiKeyFingerprint(KEY_OPS))).toEqual({ kind: 'admin' });
    expect(dir.scopeOfCaller('api-key:000000000000')).toBeNull();
    expect(dir.scopeOfCaller(undefined)).toBeNull();
    expect(createTenantDirectory([], { adminCallers: [], callerIds: () => [] }).scopeOfCaller(undefined)).toEqual({ kind: 'admin' });
  });
  it('a tenant sees its own; admin sees all; the untenanted scope sees the untenanted', () => {
    expect(canSee({ kind: 'tenant', tenantId: 'forest' }, 'forest')).toBe(true);
    expect(canSee({ kind: 'tenant', tenantId: 'forest' }, 'ocean')).toBe(false);
    expect(canSee({ kind: 'tenant', tenantId: 'forest' }, null)).toBe(false);
    expect(canSee({ kind: 'tenant', tenantId: null }, 'forest')).toBe(false);
    expect(canSee({ kind: 'admin' }, 'ocean')).toBe(true);
  });
  it.each([
    ['//pubsub.googleapis.com/projects/p/topics/eeport-requests', { kind: 'shared' }],
    ['//pubsub.googleapis.com/projects/p/topics/eeport-requests-forest', { kind: 'tenant', tenantId: 'forest' }],
    ['//pubsub.googleapis.com/projects/p/topics/eeport-requests-gone', { kind: 'unknown', topic: 'eeport-requests-gone' }],
    ['//pubsub.googleapis.com/projects/p/subscriptions/s', { kind: 'unknown', topic: null }],
  ])('%s', (source, route) => {
    expect(tenantOfTopic(topicOfSource(source), 'eeport-requests', dir)).toEqual(route);
  });
});

describe('isolation, on the use cases as the composition wires them', () => {
  let config: Config;
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let publisher: MemoryPublisher;
  let services: Services;
  let posted: { url: string; body: string; headers: Record<string, string> }[];
  let api: ReturnType<typeof createApiHandler>;
  let ids: number;
  const now = new Date('2026-03-01T00:00:00Z');

  beforeEach(() => {
    config = loadConfig({ ...BASE_ENV, EEPORT_LOCAL: 'true', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_LOOPBACK: 'true' });
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    publisher = new MemoryPublisher();
    posted = [];
    ids = 0;
    const sender: WebhookSender = { post: async (url, body, headers) => (posted.push({ url, body, headers: { ...headers } }), { status: 204, latencyMs: 1 }) };
    const adapters = {
      store,
      ee,
      publisher,
      clock: { now: () => now },
      logSink: new CapturingLogSink(),
      webhookSender: sender,
      schedulerVerifier: { verify: async () => ({ ok: true as const, email: 'x' }) },
    };
    services = buildServices(config, adapters as never);
    const logs = createApiLogEvents(new CapturingLogSink());
    api = createApiHandler({
      submit: services.submitExport(),
      cancel: services.cancelJob(),
      batches: services.batches(),
      store,
      clock: adapters.clock,
      logs,
      newId: () => `id-${++ids}`,
      openApi: () => ({}),
      settings: { intake: intakePolicy(config), intakeFor: (t) => tenantIntakePolicy(config, t), maxBodyBytes: 1_000_000, staleSubmitSeconds: 300, budgets: config.EECU_BUDGETS },
      tenants: createTenantDirectory(config.tenants, { adminCallers: config.API_KEYS.map(apiKeyFingerprint), callerIds: (t) => t.apiKeys.map(apiKeyFingerprint) }),
    });
  });

  const call = (key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> => {
    const h: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers };
    const req: ApiRequest = {
      method,
      path: path.split('?')[0]!,
      query: new URLSearchParams(path.split('?')[1] ?? ''),
      header: (n) => h[n.toLowerCase()],
      body: body === undefined ? null : new TextEncoder().encode(JSON.stringify(body)),
      caller: apiKeyFingerprint(key),
    };
    return api.handle(req);
  };
  const asA = (m: string, p: string, b?: unknown, h?: Record<string, string>) => call(KEY_A, m, p, b, h);
  const asB = (m: string, p: string, b?: unknown, h?: Record<string, string>) => call(KEY_B, m, p, b, h);
  const asOps = (m: string, p: string, b?: unknown) => call(KEY_OPS, m, p, b);
  const message = (topic: string, body: unknown, attributes: Record<string, string> = {}, messageId = 'm1'): IncomingMessage => ({
    data: new TextEncoder().encode(JSON.stringify(body)),
    attributes,
    messageId,
    eventSource: `//pubsub.googleapis.com/projects/p/topics/${topic}`,
  });

  it('API: a tenant’s job takes its tenant, its default project, and its rules', async () => {
    const res = await asA('POST', '/v1/jobs', { request: toBucket('forest-out') });
    expect(res.status).toBe(202);
    const job = SubmitResponseSchema.parse(res.body).job;
    expect(job).toMatchObject({ tenantId: 'forest', eeProject: 'ee-forest' });
    const refused = await asA('POST', '/v1/jobs', { request: toBucket('ocean-out') });
    expect(refused.status).toBe(400);
    expect(ApiErrorBodySchema.parse(refused.body).error).toMatchObject({ code: 'EXPORT.DESTINATION_NOT_ALLOWED', details: [{ path: 'request.fileExportOptions.cloudStorageDestination.bucket' }] });
    const project = await asA('POST', '/v1/jobs', { request: toBucket('forest-out'), eeProject: 'ee-ocean' });
    expect(ApiErrorBodySchema.parse(project.body).error.code).toBe('EXPORT.UNKNOWN_PROJECT');
  });

  it('API: B cannot read, list, cancel or count A’s jobs, and cannot tell them from missing ones', async () => {
    const a = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket('forest-out'), labels: { team: 'x' } })).body).job;
    const missing = 'f'.repeat(32);
    for (const [method, path] of [
      ['GET', `/v1/jobs/${a.jobId}`],
      ['POST', `/v1/jobs/${a.jobId}:cancel`],
    ] as const) {
      const theirs = await asB(method, path);
      const none = await asB(method, path.replace(a.jobId, missing));
      expect(theirs.status).toBe(404);
      // Word for word the answer about an id that does not exist, but for the id itself.
      expect(JSON.stringify(theirs.body).replace(a.jobId, missing)).toBe(JSON.stringify(none.body));
    }
    expect((await store.getJob(a.jobId))!.cancelRequestedAt).toBeNull();
    for (const q of ['', '?state=PENDING', '?label=team:x', '?eeProject=ee-forest']) {
      expect(JobListResponseSchema.parse((await asB('GET', `/v1/jobs${q}`)).body).jobs).toEqual([]);
      expect(JobListResponseSchema.parse((await asA('GET', `/v1/jobs${q}`)).body).jobs.map((j) => j.jobId)).toEqual([a.jobId]);
    }
    expect((await asB('GET', '/v1/stats')).body).toMatchObject({ total: 0 });
    expect((await asA('GET', '/v1/stats')).body).toMatchObject({ total: 1 });
    // The operators see everyone's.
    expect((await asOps('GET', `/v1/jobs/${a.jobId}`)).status).toBe(200);
    expect(JobListResponseSchema.parse((await asOps('GET', '/v1/jobs')).body).jobs).toHaveLength(1);
    // And A can cancel its own.
    expect((await asA('POST', `/v1/jobs/${a.jobId}:cancel`)).status).toBe(200);
  });

  it('API: the same idempotency key (or client requestId) in two tenants is two jobs, two Earth Engine tasks, two requestIds', async () => {
    const a = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', { request: toBucket('forest-out'), idempotencyKey: 'nightly' })).body);
    const b = SubmitResponseSchema.parse((await asB('POST', '/v1/jobs', { request: toBucket('ocean-out'), idempotencyKey: 'nightly' })).body);
    expect(a.duplicate || b.duplicate).toBe(false);
    expect(a.jobId).not.toBe(b.jobId);
    const again = SubmitResponseSchema.parse((await asB('POST', '/v1/jobs', { request: toBucket('ocean-out'), idempotencyKey: 'nightly' })).body);
    expect(again).toMatchObject({ jobId: b.jobId, duplicate: true });

    const ra = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', toBucket('forest-out', 'r'))).body).job;
    const rid = { ...toBucket('forest-out'), requestId: 'run-1' };
    const x = SubmitResponseSchema.parse((await asA('POST', '/v1/jobs', rid)).body).job;
    const y = SubmitResponseSchema.parse((await asB('POST', '/v1/jobs', { ...rid, fileExportOptions: toBucket('ocean-out').fileExportOptions })).body).job;
    expect(ra.tenantId).toBe('forest');
    expect(x.jobId).not.toBe(y.jobId);
    // Earth Engine deduplicates per caller (eeport): each tenant's requestId is sent namespaced.
    expect([x.requestId, y.requestId]).toEqual([sentRequestId('forest', 'run-1'), sentRequestId('ocean', 'run-1')]);
    expect(x.request?.requestId).toBe('run-1');
    expect(ee.tasksStarted()).toBe(5);
  });

  it('API: batches — B cannot read, list, page the children of, cancel or retry A’s, by id or by name', async () => {
    const spec = { batchId: 'nightly', template: toBucket('forest-out', 'c{{value}}'), fanOut: { values: [1, 2] } };
    const a = BatchViewSchema.parse(((await asA('POST', '/v1/batches', spec)).body as { batch: unknown }).batch);
    expect(a.tenantId).toBe('forest');
    for (const [method, path] of [
      ['GET', `/v1/batches/${a.batchId}`],
      ['GET', '/v1/batches/nightly'],
      ['GET', `/v1/batches/${a.batchId}/jobs`],
      ['POST', `/v1/batches/${a.batchId}:cancel`],
      ['POST', `/v1/batches/${a.batchId}:retry`],
      ['POST', '/v1/batches/nightly:cancel'],
    ] as const) {
      const res = await asB(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await asB('GET', '/v1/batches')).body).toMatchObject({ batches: [] });
    expect((await store.getBatch(a.batchId))!.cancelRequestedAt).toBeNull();
    // The same name in B is B's own batch, with B's rules.
    const mine = await asB('POST', '/v1/batches', { ...spec, template: toBucket('ocean-out', 'c{{value}}') });
    expect(mine.status).toBe(202);
    expect(BatchViewSchema.parse((mine.body as { batch: unknown }).batch).batchId).not.toBe(a.batchId);
    const bad = await asB('POST', '/v1/batches', { template: toBucket('forest-out', 'c{{value}}'), fanOut: { values: [1] } });
    expect(ApiErrorBodySchema.parse(bad.body).error).toMatchObject({ code: 'BATCH.INVALID', details: [{ path: 'children[0].fileExportOptions.cloudStorageDestination.bucket' }] });
    // A's children carry A's tenant.
    expect([...store.jobs.values()].filter((j) => j.batchId === a.batchId).every((j) => j.tenantId === 'forest')).toBe(true);
    expect((await asA('GET', '/v1/batches/nightly')).status).toBe(200);
  });

  it('API: a tenant sees its own budgets only; the operators see all', async () => {
    const scopes = (body: unknown) => (body as { budgets: { scope: string; tenant: string | null }[] }).budgets.map((b) => [b.scope, b.tenant]);
    expect(scopes((await asA('GET', '/v1/budgets')).body)).toEqual([['tenant.forest.all', 'forest']]);
    expect(scopes((await asOps('GET', '/v1/budgets')).body)).toHaveLength(3);
  });

  it('topic: the topic says whose a message is; cancels reach only that tenant’s jobs; an unknown topic is nobody’s', async () => {
    const handle = services.requestMessages();
    const a = (await handle(message('eeport-requests-forest', { request: toBucket('forest-out'), idempotencyKey: 'k' }))) as { job: Job };
    expect(a.job).toMatchObject({ tenantId: 'forest', eeProject: 'ee-forest', state: 'PENDING' });
    // Whatever the message says about itself: a tenantId attribute changes nothing.
    const b = (await handle(message('eeport-requests-ocean', { request: toBucket('forest-out'), idempotencyKey: 'k' }, { tenantId: 'forest' }, 'm2'))) as { job: Job };
    expect(b.job).toMatchObject({ tenantId: 'ocean', state: 'REJECTED', error: { code: 'EXPORT.DESTINATION_NOT_ALLOWED' } });
    expect(b.job.jobId).not.toBe(a.job.jobId);
    expect(await handle(message('eeport-requests-ocean', {}, { action: 'cancel', jobId: a.job.jobId }, 'c-id'))).toEqual({ kind: 'not-found' });
    // The key names ocean's own job with that key (rejected above), never forest's.
    expect(await handle(message('eeport-requests-ocean', {}, { action: 'cancel', idempotencyKey: 'k' }, 'c-key'))).toMatchObject({ kind: 'already-terminal', job: { jobId: b.job.jobId } });
    expect((await store.getJob(a.job.jobId))!.cancelRequestedAt).toBeNull();
    // The shared topic is the operators' untenanted scope: it cannot cancel a tenant's job either.
    expect(await handle(message('eeport-requests', {}, { action: 'cancel', jobId: a.job.jobId }, 'c-ops'))).toEqual({ kind: 'not-found' });
    expect(((await handle(message('eeport-requests-forest', {}, { action: 'cancel', idempotencyKey: 'k' }, 'c-a'))) as { kind: string }).kind).toBe('cancelling');
    const stray = (await handle(message('eeport-requests-retired', { request: toBucket('forest-out') }, {}, 'm3'))) as { job: Job };
    expect(stray.job).toMatchObject({ tenantId: null, state: 'REJECTED', error: { code: 'EXPORT.UNKNOWN_TENANT' } });
  });

  it('topic: batches and their cancels are per tenant too', async () => {
    const handle = services.requestMessages();
    const a = (await handle(message('eeport-requests-forest', { batch: { batchId: 'n', template: toBucket('forest-out', 'c{{value}}'), fanOut: { values: [1] } } }))) as { batch: { batchId: string; tenantId: string } };
    expect(a.batch.tenantId).toBe('forest');
    expect(a.batch.batchId).toBe(jobIdFor({ kind: 'tenant', tenantId: 'forest', of: { kind: 'key', key: 'batch:n' } }));
    for (const action of ['cancel', 'retry']) expect(await handle(message('eeport-requests-ocean', {}, { action, batchId: a.batch.batchId }, `x-${action}`))).toEqual({ kind: 'not-found' });
  });

  it('uploads: a rule naming a tenant makes that tenant’s jobs, under that tenant’s rules', async () => {
    const up = services.uploads();
    const ok = (await up({ kind: 'finalized', object: { bucket: 'forest-in', name: 'a.tif', generation: '1', contentType: 'image/tiff' } })) as { job: Job };
    expect(ok.job).toMatchObject({ tenantId: 'forest', eeProject: 'ee-forest', state: 'PENDING' });
    const stray = (await up({ kind: 'finalized', object: { bucket: 'stray-in', name: 'a.tif', generation: '1', contentType: 'image/tiff' } })) as { job: Job };
    expect(stray.job).toMatchObject({ tenantId: 'forest', state: 'REJECTED', error: { code: 'EXPORT.DESTINATION_NOT_ALLOWED' } });
    expect((await asB('GET', `/v1/jobs/${ok.job.jobId}`)).status).toBe(404);
  });

  it('webhooks and events: each tenant’s calls are signed with its own secrets, and its events say whose they are', async () => {
    const handle = services.requestMessages();
    const hook = 'http://127.0.0.1:9/hooks';
    const a = (await handle(message('eeport-requests-forest', { request: toBucket('forest-out'), callbackUrl: `${hook}/a` }))) as { job: Job };
    const o = (await handle(message('eeport-requests', { request: toBucket('b'), callbackUrl: `${hook}/ops` }, {}, 'm2'))) as { job: Job };
    await services.cancelJob().cancelJob(a.job.jobId);
    await services.cancelJob().cancelJob(o.job.jobId);
    ee.operations.forEach((op, name) => ee.operations.set(name, { ...op, done: true, metadata: { ...op.metadata, state: 'CANCELLED' } }));
    const poll = services.pollExports();
    await poll.runCycle((await poll.acquireLease()) as never);
    const deliver = services.deliverWebhook();
    for (const ev of publisher.published) await deliver.onEvent(ev);
    const toA = posted.find((p) => p.url === `${hook}/a`)!;
    const toOps = posted.find((p) => p.url === `${hook}/ops`)!;
    const verifyWebhook = (input: { secrets: string[]; headers: Record<string, string>; body: string }) => verify({ ...input, now: Math.floor(now.getTime() / 1000) });
    expect(JSON.parse(toA.body).data).toMatchObject({ tenantId: 'forest', jobId: a.job.jobId });
    expect(verifyWebhook({ secrets: [SECRET_A], headers: toA.headers, body: toA.body }).ok).toBe(true);
    expect(verifyWebhook({ secrets: [SECRET_B], headers: toA.headers, body: toA.body }).ok).toBe(false);
    expect(verifyWebhook({ secrets: [SECRET_OPS], headers: toA.headers, body: toA.body }).ok).toBe(false);
    expect(verifyWebhook({ secrets: [SECRET_OPS], headers: toOps.headers, body: toOps.body }).ok).toBe(true);
    expect(verifyWebhook({ secrets: [SECRET_A], headers: toOps.headers, body: toOps.body }).ok).toBe(false);
    expect(store.deliveries.get([...store.deliveries.keys()].find((k) => k.startsWith(a.job.jobId))!)!.tenantId).toBe('forest');
    const aEvents = publisher.published.filter((e) => e.subject === a.job.jobId);
    expect(aEvents.length).toBeGreaterThan(0);
    expect(aEvents.every((e) => eventAttributes(e).tenant === 'forest' && e.data.tenantId === 'forest')).toBe(true);
    expect(publisher.published.filter((e) => e.subject === o.job.jobId).every((e) => eventAttributes(e).tenant === undefined)).toBe(true);
  });

  it('a tenant without webhook secrets may not name a callback URL', async () => {
    config = loadConfig({ ...BASE_ENV, TENANTS: JSON.stringify([{ ...TENANTS[0], webhookSecrets: [] }, TENANTS[1]]) });
    const policy = tenantIntakePolicy(config, 'forest')!;
    expect(policy.noCallbacks).toMatch(/tenant forest has no webhookSecrets/);
    const handle = buildServices(config, { store, ee, publisher, clock: { now: () => now }, logSink: new CapturingLogSink() } as never).requestMessages();
    const r = (await handle(message('eeport-requests-forest', { request: toBucket('forest-out'), callbackUrl: 'https://hooks.example.com/x' }))) as { job: Job };
    expect(r.job.error).toMatchObject({ code: 'EXPORT.INVALID_ENVELOPE', details: [{ path: 'callbackUrl', message: expect.stringMatching(/no webhookSecrets/) }] });
  });
});

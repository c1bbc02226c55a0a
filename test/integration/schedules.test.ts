/**
 * Schedules through the `api` and `pollExports` functions on the Firestore and Pub/Sub
 * emulators (the simulator answering Earth Engine): create, refuse, tick, page, pause,
 * backfill and delete, with the store's due query on Firestore.
 */
import { describe, it, expect } from 'vitest';
import '../../functions/src/entry/api.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { expectError, useApiStack } from '../harness/api-stack.ts';

const emu = emulatorsOrSkip('schedules integration');
const DAY = 86_400_000;
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

const request = {
  description: 'daily {{window.startDate}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/daily' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'daily/{{window.startDate}}' }, fileFormat: 'GEO_TIFF' },
};

describe.skipIf(!emu)('schedules (emulators + simulator)', () => {
  const api = useApiStack(emu, { env: { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true' } });
  const poll = async () => expect((await api.stack.http('pollExports', '', { method: 'POST' })).status).toBe(200);
  const runs = async () => (await api.stack.firestore.collection('jobs').get()).docs.map((d) => d.data()).filter((j) => j.source?.kind === 'schedule');

  it('refuses an invalid schedule with every problem and stores nothing', async () => {
    const err = await expectError(await api.post('/v1/schedules', { cadence: { cron: 'nope' }, request: { ...request, description: '{{window.nope}}' } }), 400, 'SCHEDULE.INVALID');
    expect(err.details!.map((d) => d.path).sort()).toEqual(['cadence.cron', 'request.description']);
    expect((await api.stack.firestore.collection('schedules').get()).size).toBe(0);
  });

  it('backfills the missed windows once each across repeated ticks; pause, backfill, page and delete', async () => {
    const midnight = Math.floor(Date.now() / DAY) * DAY;
    const res = await api.post('/v1/schedules', { scheduleId: 'daily', cadence: { cron: '0 0 * * *' }, request, backfillFrom: day(midnight - 3 * DAY) });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await api.post('/v1/schedules', { scheduleId: 'daily', cadence: { cron: '0 0 * * *' }, request })).status).toBe(200);
    await poll();
    await poll();
    await poll();
    expect((await runs()).map((j) => j.description).sort()).toEqual([3, 2, 1].map((k) => `daily ${day(midnight - k * DAY)}`));
    expect((await api.post('/v1/schedules/daily:pause', {})).status).toBe(200);
    const back = await api.post('/v1/schedules/daily:backfill', { from: day(midnight - 5 * DAY) });
    expect(back.status).toBe(200);
    await poll();
    await poll();
    expect(await runs()).toHaveLength(3); // paused: the backfill waits
    expect((await api.post('/v1/schedules/daily:resume', { catchUp: true })).status).toBe(200);
    await poll();
    await poll();
    expect((await runs()).map((j) => j.description).sort()).toEqual([5, 4, 3, 2, 1].map((k) => `daily ${day(midnight - k * DAY)}`));
    await api.post('/v1/schedules', { scheduleId: 'weekly', cadence: { everyDays: 7, anchor: '2024-01-01' }, request });
    const page1 = (await (await api.call('/v1/schedules?pageSize=1')).json()) as { schedules: { scheduleId: string }[]; nextPageToken: string };
    const page2 = (await (await api.call(`/v1/schedules?pageSize=1&pageToken=${page1.nextPageToken}`)).json()) as { schedules: { scheduleId: string }[] };
    expect([...page1.schedules, ...page2.schedules].map((s) => s.scheduleId).sort()).toEqual(['daily', 'weekly']);
    await expectError(await api.call('/v1/schedules?pageToken=garbage'), 400, 'API.INVALID_PARAMETER');
    expect((await api.call('/v1/schedules/daily', { method: 'DELETE' })).status).toBe(200);
    await expectError(await api.call('/v1/schedules/daily'), 404, 'API.NOT_FOUND');
    await expectError(await api.call('/v1/schedules/daily:explode', { method: 'POST' }), 404, 'API.NOT_FOUND');
  });
});

describe.skipIf(!emu)('schedules and chains per tenant (TENANTS, emulators + simulator)', () => {
  const KEY_OPS = 'operators-key-0123456789';
  const KEY_A = 'forest-key-0123456789';
  const KEY_B = 'ocean-key-0123456789';
  const TENANTS = [
    { id: 'forest', apiKeys: [KEY_A], eeProjects: ['ee-test-project'], exportBuckets: ['eeport-out'] },
    { id: 'ocean', apiKeys: [KEY_B], eeProjects: ['ee-ocean'], exportBuckets: ['ocean-out'] },
  ];
  const api = useApiStack(emu, { env: { API_AUTH: 'api-key', API_KEYS: KEY_OPS, EE_ALLOWED_PROJECTS: 'ee-test-project,ee-ocean', TENANTS: JSON.stringify(TENANTS), POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true' } });
  const ops = () => api.client({ 'x-api-key': KEY_OPS });
  const forest = () => api.client({ 'x-api-key': KEY_A });
  const ocean = () => api.client({ 'x-api-key': KEY_B });
  const ids = async (c: ReturnType<typeof ops>) => ((await (await c.call('/v1/schedules')).json()) as { schedules: { scheduleId: string; tenantId: string | null }[] }).schedules.map((s) => `${s.tenantId}:${s.scheduleId}`).sort();

  it('a schedule is its creator’s tenant’s: its runs carry the tenant; another tenant cannot list, read, pause, resume, backfill or delete it; the operators see all', async () => {
    const midnight = Math.floor(Date.now() / DAY) * DAY;
    const created = await forest().post('/v1/schedules', { scheduleId: 'daily', cadence: { cron: '0 0 * * *' }, request, backfillFrom: day(midnight - 2 * DAY) });
    expect(created.status, await created.clone().text()).toBe(201);
    expect(((await created.json()) as { schedule: { tenantId: string; eeProject: string } }).schedule).toMatchObject({ tenantId: 'forest', eeProject: 'ee-test-project' });
    // The same name in the other tenant is its own schedule, held to its own projects and buckets.
    await expectError(await ocean().post('/v1/schedules', { scheduleId: 'daily', cadence: { cron: '0 0 * * *' }, request }), 400, 'SCHEDULE.INVALID');
    const oceanRequest = { ...request, fileExportOptions: { ...request.fileExportOptions, cloudStorageDestination: { bucket: 'ocean-out', filenamePrefix: 'o/{{window.startDate}}' } } };
    const mine = await ocean().post('/v1/schedules', { scheduleId: 'weekly', cadence: { everyDays: 7, anchor: '2024-01-01' }, request: oceanRequest });
    expect(mine.status, await mine.clone().text()).toBe(201);
    expect(((await mine.json()) as { schedule: { eeProject: string } }).schedule.eeProject).toBe('ee-ocean');

    expect(await ids(forest())).toEqual(['forest:daily']);
    expect(await ids(ocean())).toEqual(['ocean:weekly']);
    expect(await ids(ops())).toEqual(['forest:daily', 'ocean:weekly']);

    const forestId = 'daily';
    await expectError(await ocean().call(`/v1/schedules/${forestId}`), 404, 'API.NOT_FOUND');
    await expectError(await ocean().post(`/v1/schedules/${forestId}:pause`, {}), 404, 'API.NOT_FOUND');
    await expectError(await ocean().post(`/v1/schedules/${forestId}:resume`, {}), 404, 'API.NOT_FOUND');
    await expectError(await ocean().post(`/v1/schedules/${forestId}:backfill`, { from: day(midnight - 9 * DAY) }), 404, 'API.NOT_FOUND');
    await expectError(await ocean().call(`/v1/schedules/${forestId}`, { method: 'DELETE' }), 404, 'API.NOT_FOUND');
    const still = (await (await forest().call(`/v1/schedules/${forestId}`)).json()) as { state: string; backfill: unknown };
    expect(still).toMatchObject({ state: 'ACTIVE', backfill: null });

    await api.stack.http('pollExports', '', { method: 'POST' });
    const jobs = (await api.stack.firestore.collection('jobs').get()).docs.map((d) => d.data()).filter((j) => j.source?.kind === 'schedule');
    expect(jobs.length).toBe(2);
    expect(new Set(jobs.map((j) => j.tenantId))).toEqual(new Set(['forest']));

    expect((await ops().post(`/v1/schedules/${forestId}:pause`, {})).status).toBe(200);
    expect(((await (await forest().call(`/v1/schedules/${forestId}`)).json()) as { state: string }).state).toBe('PAUSED');
    expect((await forest().call(`/v1/schedules/${forestId}`, { method: 'DELETE' })).status).toBe(200);
    await expectError(await ops().call(`/v1/schedules/${forestId}`), 404, 'API.NOT_FOUND');
    expect(((await (await ocean().call('/v1/schedules/weekly')).json()) as { state: string }).state).toBe('ACTIVE');
  });

  it('a chain is its root’s tenant’s: another tenant’s GET /v1/chains/{id} is 404, the operators see it', async () => {
    const plain = { ...request, fileExportOptions: { ...request.fileExportOptions, cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'chain/x' } } };
    const chained = {
      request: { ...plain, description: 'root' },
      idempotencyKey: 'chain-root',
      then: [{ step: 'next', request: { ...plain, description: 'after {{previous.jobId}}' } }],
    };
    const res = await forest().post('/v1/jobs', chained);
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    const jobId = ((await res.json()) as { job: { jobId: string } }).job.jobId;
    const own = await forest().call(`/v1/chains/${jobId}`);
    expect(own.status, await own.clone().text()).toBe(200);
    expect(((await own.json()) as { tenantId: string }).tenantId).toBe('forest');
    await expectError(await ocean().call(`/v1/chains/${jobId}`), 404, 'API.NOT_FOUND');
    expect((await ops().call(`/v1/chains/${jobId}`)).status).toBe(200);
  });
});

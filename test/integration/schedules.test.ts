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

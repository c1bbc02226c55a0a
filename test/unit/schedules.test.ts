import { describe, it, expect, beforeEach } from 'vitest';
import { createSchedules, createScheduleRoutes, nextFire, previousFire, upcomingWindows } from '../../functions/src/core/schedules/index.ts';
import { createLogEvents } from '../../functions/src/core/jobs/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';

const template = {
  description: 'ndvi {{window.startDate}}',
  expression: {
    result: '0',
    values: {
      '0': {
        functionInvocationValue: {
          functionName: 'ImageCollection.filterDate',
          arguments: { collection: { constantValue: 'COPERNICUS/S2' }, start: { constantValue: '{{window.start}}' }, end: { constantValue: '{{window.end}}' } },
        },
      },
    },
  },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'ndvi/{{window.startDate}}' }, fileFormat: 'GEO_TIFF' },
};

describe('cadences', () => {
  it('cron in a time zone: next is strictly after, previous strictly before', () => {
    const c = { cron: '0 0 * * *', timeZone: 'Europe/Berlin' };
    const n = nextFire(c, new Date('2024-05-03T10:00:00Z'));
    expect(n.toISOString()).toBe('2024-05-03T22:00:00.000Z'); // midnight in Berlin (CEST)
    expect(nextFire(c, n).toISOString()).toBe('2024-05-04T22:00:00.000Z');
    expect(previousFire(c, n).toISOString()).toBe('2024-05-02T22:00:00.000Z');
  });

  it('every 16 days from an anchor, with windows of 16 days', () => {
    const c = { everyDays: 16, anchor: '2024-01-01', timeZone: 'UTC' };
    expect(nextFire(c, new Date('2024-01-01T00:00:00Z')).toISOString()).toBe('2024-01-17T00:00:00.000Z');
    expect(nextFire(c, new Date('2024-01-20T00:00:00Z')).toISOString()).toBe('2024-02-02T00:00:00.000Z');
    expect(upcomingWindows(c, '2024-02-02T00:00:00.000Z', 2)).toEqual([
      { windowStart: '2024-01-17T00:00:00Z', windowEnd: '2024-02-02T00:00:00Z' },
      { windowStart: '2024-02-02T00:00:00Z', windowEnd: '2024-02-18T00:00:00Z' },
    ]);
  });
});

describe('schedules', () => {
  let store: MemoryStore;
  let now: Date;
  const publisher = new MemoryPublisher();
  const make = (maxRunsPerTick?: number) =>
    createSchedules({
      store,
      publisher,
      clock: { now: () => now },
      logs: createLogEvents(new CapturingLogSink()),
      settings: { eventSource: 'test', defaultEeProject: 'ee-test', allowedEeProjects: ['ee-test'], ...(maxRunsPerTick ? { maxRunsPerTick } : {}) },
    });
  beforeEach(() => {
    store = new MemoryStore();
    now = new Date('2024-05-10T10:00:00Z');
  });
  const runs = () => [...store.jobs.values()].filter((j) => j.source.kind === 'schedule').sort((a, b) => a.createTime.localeCompare(b.createTime) || a.identity.localeCompare(b.identity));

  it('backfillFrom three days ago submits exactly the three missed windows, once, with the dates substituted', async () => {
    const s = make();
    const out = await s.createSchedule({ scheduleId: 'daily-ndvi', cadence: { cron: '0 0 * * *' }, request: template, backfillFrom: '2024-05-07T10:00:00Z' }, 'x');
    expect(out.kind).toBe('created');
    expect(await s.tickSchedules()).toBe(3);
    expect(await s.tickSchedules()).toBe(0);
    expect(await s.tickSchedules()).toBe(0);
    const jobs = runs();
    expect(jobs.map((j) => j.request!.description)).toEqual(['ndvi 2024-05-07', 'ndvi 2024-05-08', 'ndvi 2024-05-09']);
    expect(jobs.every((j) => j.state === 'QUEUED')).toBe(true);
    const args = (jobs[0]!.request!.expression.values['0'] as { functionInvocationValue: { arguments: Record<string, { constantValue: string }> } }).functionInvocationValue.arguments;
    expect([args.start!.constantValue, args.end!.constantValue]).toEqual(['2024-05-07T00:00:00Z', '2024-05-08T00:00:00Z']);
    expect((jobs[2]!.request!.fileExportOptions as { cloudStorageDestination: { filenamePrefix: string } }).cloudStorageDestination.filenamePrefix).toBe('ndvi/2024-05-09');
    const sched = (await store.getSchedule('daily-ndvi'))!;
    expect(sched.runCount).toBe(3);
    expect(sched.nextRunAt).toBe('2024-05-11T00:00:00.000Z');
    // The next day closes one more window.
    now = new Date('2024-05-11T00:00:30Z');
    expect(await s.tickSchedules()).toBe(1);
    expect(runs()).toHaveLength(4);
  });

  it('a second create of the same name is a duplicate; a backfill over windows already run submits none again', async () => {
    const s = make();
    await s.createSchedule({ scheduleId: 'd', cadence: { cron: '0 0 * * *' }, request: template, backfillFrom: '2024-05-08' }, 'x');
    expect((await s.createSchedule({ scheduleId: 'd', cadence: { cron: '0 0 * * *' }, request: template }, 'y')).kind).toBe('duplicate');
    expect(await s.tickSchedules()).toBe(2);
    await s.backfill('d', { from: '2024-05-05' });
    expect(await s.tickSchedules()).toBe(3); // 05-05, 05-06, 05-07; 05-08 and 05-09 already ran
    expect(await s.tickSchedules()).toBe(0);
    expect(runs()).toHaveLength(5);
    expect((await store.getSchedule('d'))!.backfill).toBeNull();
  });

  it('bounds the runs per tick and drains oldest first', async () => {
    const s = make(2);
    await s.createSchedule({ scheduleId: 'd', cadence: { cron: '0 0 * * *' }, request: template, backfillFrom: '2024-05-01' }, 'x');
    expect(await s.tickSchedules()).toBe(2);
    expect(runs().map((j) => j.request!.description)).toEqual(['ndvi 2024-05-01', 'ndvi 2024-05-02']);
    let total = 2;
    for (let i = 0; i < 10; i++) total += await s.tickSchedules();
    expect(total).toBe(9);
  });

  it('pause stops runs; resume skips the paused windows unless asked to catch up', async () => {
    const s = make();
    await s.createSchedule({ scheduleId: 'd', cadence: { cron: '0 0 * * *' }, request: template }, 'x');
    await s.pause('d');
    now = new Date('2024-05-13T10:00:00Z');
    expect(await s.tickSchedules()).toBe(0);
    await s.resume('d');
    expect(await s.tickSchedules()).toBe(0);
    expect((await store.getSchedule('d'))!.nextRunAt).toBe('2024-05-14T00:00:00.000Z');
    await s.pause('d');
    now = new Date('2024-05-16T10:00:00Z');
    await s.resume('d', { catchUp: true });
    expect(await s.tickSchedules()).toBe(3); // 05-14, 05-15, 05-16
  });

  it('refuses unknown placeholders, a requestId, bad cron and time zones, and a template that makes no valid request', async () => {
    const s = make();
    const bad = async (body: unknown) => {
      const r = await s.createSchedule(body, 'x');
      return r.kind === 'invalid' ? r.errors.map((e) => e.path) : [];
    };
    expect(await bad({ cadence: { cron: '0 0 * * *' }, request: { ...template, description: '{{window.begin}}' } })).toEqual(['request.description']);
    expect(await bad({ cadence: { cron: '0 0 * * *' }, request: { ...template, requestId: 'x' } })).toEqual(['request.requestId']);
    expect(await bad({ cadence: { cron: 'every day' }, request: template })).toEqual(['cadence.cron']);
    expect(await bad({ cadence: { cron: '0 0 * * *', timeZone: 'Mars/Olympus' }, request: template })).toEqual(['cadence.timeZone']);
    expect((await bad({ cadence: { cron: '0 0 * * *' }, request: { description: 'x' } })).length).toBeGreaterThan(0);
    expect(store.schedules.size).toBe(0);
  });
});

describe('schedule routes', () => {
  it('create, get with preview and runs, pause, delete', async () => {
    const store = new MemoryStore();
    const now = new Date('2024-05-10T10:00:00Z');
    const schedules = createSchedules({ store, publisher: new MemoryPublisher(), clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()), settings: { eventSource: 't', defaultEeProject: 'ee-test', allowedEeProjects: [] } });
    const routes = createScheduleRoutes({ schedules, store, clock: { now: () => now }, newId: () => 'id1' });
    const call = (method: string, path: string, body?: unknown) => routes.handle({ method, path, query: new URLSearchParams() }, () => ({ ok: true, value: body }));
    const created = await call('POST', '/v1/schedules', { scheduleId: 'nightly', cadence: { cron: '0 0 * * *' }, request: template, backfillFrom: '2024-05-09' });
    expect(created!.status).toBe(201);
    await schedules.tickSchedules();
    const got = (await call('GET', '/v1/schedules/nightly'))!.body as { nextRuns: { windowStart: string }[]; runs: { state: string; windowStart: string }[] };
    expect(got.nextRuns[0]!.windowStart).toBe('2024-05-10T00:00:00Z');
    expect(got.runs).toMatchObject([{ state: 'QUEUED', windowStart: '2024-05-09T00:00:00.000Z' }]);
    expect(((await call('POST', '/v1/schedules/nightly:pause'))!.body as { state: string }).state).toBe('PAUSED');
    expect((await call('GET', '/v1/schedules'))!.body).toMatchObject({ schedules: [{ scheduleId: 'nightly' }] });
    expect((await call('DELETE', '/v1/schedules/nightly'))!.status).toBe(200);
    expect((await call('GET', '/v1/schedules/nightly'))!.status).toBe(404);
    expect((await call('POST', '/v1/schedules', { cadence: {}, request: template }))!.status).toBe(400);
    expect(await call('GET', '/v1/jobs')).toBeNull();
  });
});

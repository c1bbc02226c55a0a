/** Data-driven schedules (cadence newImages): one run per new image (or date) of a collection, found with listImages from a cursor; idempotent across ticks, paused and backfilled like the others. */
import { describe, it, expect, beforeEach } from 'vitest';
import { createSchedules, scheduleView, upcomingWindows } from '../../functions/src/core/schedules/index.ts';
import { createLogEvents } from '../../functions/src/core/jobs/index.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine, transient } from '../fakes/fake-earth-engine.ts';

const COLLECTION = 'projects/p/assets/s2';
const template = {
  description: 'ndvi {{image.date}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: '{{image.id}}' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'ndvi/{{image.date}}/{{image.startTime}}' }, fileFormat: 'GEO_TIFF' },
};
const img = (id: string, startTime: string) => ({ name: `${COLLECTION}/${id}`, id: `${COLLECTION}/${id}`, startTime, endTime: null });

describe('schedules on new images', () => {
  let store: MemoryStore;
  let ee: FakeEarthEngine;
  let now: Date;
  let logs: CapturingLogSink;
  const make = (maxRunsPerTick?: number) =>
    createSchedules({
      store,
      ee,
      publisher: new MemoryPublisher(),
      clock: { now: () => now },
      logs: createLogEvents(logs),
      settings: { eventSource: 'test', defaultEeProject: 'ee-test', allowedEeProjects: ['ee-test'], ...(maxRunsPerTick ? { maxRunsPerTick } : {}) },
    });
  beforeEach(() => {
    store = new MemoryStore();
    ee = new FakeEarthEngine();
    logs = new CapturingLogSink();
    now = new Date('2024-05-10T10:00:00Z');
    ee.collections.set(COLLECTION, [img('old', '2024-05-01T10:00:00Z')]);
  });
  const runs = () => [...store.jobs.values()].filter((j) => j.source.kind === 'schedule').sort((a, b) => (a.source as { windowStart: string }).windowStart.localeCompare((b.source as { windowStart: string }).windowStart));
  const describeOf = (j: { request: { description?: string } | null }) => j.request!.description;

  it('runs each image that starts after creation once, across repeated ticks, with the image substituted', async () => {
    const s = make();
    expect((await s.createSchedule({ scheduleId: 'on-s2', cadence: { newImages: COLLECTION, checkEveryMinutes: 30 }, request: template }, 'x')).kind).toBe('created');
    expect(await s.tickSchedules()).toBe(0); // the old image is not new
    ee.collections.get(COLLECTION)!.push(img('a', '2024-05-10T10:05:00Z'), img('b', '2024-05-10T10:06:00Z'));
    expect(await s.tickSchedules()).toBe(0); // not due: the next check is 30 minutes on
    now = new Date('2024-05-10T10:31:00Z');
    expect(await s.tickSchedules()).toBe(2);
    now = new Date('2024-05-10T11:02:00Z');
    expect(await s.tickSchedules()).toBe(0); // b is listed again (start time inclusive) and not run twice
    const jobs = runs();
    expect(jobs.map(describeOf)).toEqual(['ndvi 2024-05-10', 'ndvi 2024-05-10']);
    const arg = (jobs[0]!.request!.expression.values['0'] as { functionInvocationValue: { arguments: { id: { constantValue: string } } } }).functionInvocationValue.arguments.id.constantValue;
    expect(arg).toBe(`${COLLECTION}/a`);
    expect((jobs[1]!.request!.fileExportOptions as { cloudStorageDestination: { filenamePrefix: string } }).cloudStorageDestination.filenamePrefix).toBe('ndvi/2024-05-10/2024-05-10T10:06:00Z');
    expect(jobs.every((j) => j.state === 'QUEUED')).toBe(true);
    const sched = (await store.getSchedule('on-s2'))!;
    expect(sched).toMatchObject({ runCount: 2, imageCursor: '2024-05-10T10:06:00Z', nextRunAt: '2024-05-10T11:32:00.000Z' });
    expect(sched.runs.map((r) => r.imageId)).toEqual([`${COLLECTION}/a`, `${COLLECTION}/b`]);
    expect(upcomingWindows(sched.cadence, sched.nextRunAt, 5)).toEqual([]);
  });

  it('per date: one run per new date, and backfillFrom reaches back', async () => {
    ee.collections.get(COLLECTION)!.push(img('d1a', '2024-05-08T01:00:00Z'), img('d1b', '2024-05-08T02:00:00Z'), img('d2', '2024-05-09T01:00:00Z'));
    const s = make();
    await s.createSchedule({ scheduleId: 'daily-s2', cadence: { newImages: COLLECTION, per: 'date' }, request: template, backfillFrom: '2024-05-08' }, 'x');
    expect(await s.tickSchedules()).toBe(2);
    expect(runs().map(describeOf)).toEqual(['ndvi 2024-05-08', 'ndvi 2024-05-09']);
    // A later image on a date already run does not run it again.
    ee.collections.get(COLLECTION)!.push(img('d2b', '2024-05-09T05:00:00Z'), img('d3', '2024-05-10T09:00:00Z'));
    now = new Date('2024-05-10T11:01:00Z');
    expect(await s.tickSchedules()).toBe(1);
    expect(runs().map(describeOf)).toEqual(['ndvi 2024-05-08', 'ndvi 2024-05-09', 'ndvi 2024-05-10']);
  });

  it('a backlog drains over several ticks, bounded per tick, oldest first', async () => {
    ee.collections.set(COLLECTION, Array.from({ length: 7 }, (_, i) => img(`i${i}`, `2024-05-0${i + 1}T00:00:00Z`)));
    const s = make(3);
    await s.createSchedule({ scheduleId: 'backlog', cadence: { newImages: COLLECTION }, request: template, backfillFrom: '2024-05-01' }, 'x');
    expect(await s.tickSchedules()).toBe(3);
    expect(await s.tickSchedules()).toBe(3);
    expect(await s.tickSchedules()).toBe(1);
    expect(await s.tickSchedules()).toBe(0);
    expect(runs().map(describeOf)).toEqual(['01', '02', '03', '04', '05', '06', '07'].map((d) => `ndvi 2024-05-${d}`));
  });

  it('a collection that cannot be listed is tried again at the next check, not in a loop; pause, resume and backfill', async () => {
    const s = make();
    await s.createSchedule({ scheduleId: 'flaky', cadence: { newImages: COLLECTION, checkEveryMinutes: 10 }, request: template, backfillFrom: '2024-05-01' }, 'x');
    ee.failures.push(transient('EE down'));
    expect(await s.tickSchedules()).toBe(0);
    expect((await store.getSchedule('flaky'))!.nextRunAt).toBe('2024-05-10T10:10:00.000Z');
    expect(logs.entries.some((e) => e.event === 'unexpected')).toBe(true);
    now = new Date('2024-05-10T10:11:00Z');
    expect(await s.tickSchedules()).toBe(1);
    await s.pause('flaky');
    ee.collections.get(COLLECTION)!.push(img('while-paused', '2024-05-10T10:20:00Z'));
    now = new Date('2024-05-10T11:00:00Z');
    expect(await s.tickSchedules()).toBe(0);
    await s.resume('flaky');
    expect(await s.tickSchedules()).toBe(0); // skipped without catchUp
    await s.backfill('flaky', { from: '2024-05-10T10:00:00Z' });
    expect(await s.tickSchedules()).toBe(1);
    expect(runs()).toHaveLength(2);
  });

  it('refuses window placeholders in a newImages template and image ones in a clock template; the view has no window preview', async () => {
    const s = make();
    const bad = await s.createSchedule({ cadence: { newImages: COLLECTION }, request: { ...template, description: '{{window.start}}' } }, 'x');
    expect(bad).toMatchObject({ kind: 'invalid', errors: [{ path: 'request.description' }] });
    const bad2 = await s.createSchedule({ cadence: { cron: '0 0 * * *' }, request: template }, 'y');
    expect(bad2.kind).toBe('invalid');
    expect((await s.createSchedule({ cadence: { newImages: 'not a collection!' }, request: template }, 'z')).kind).toBe('invalid');
    const ok = await s.createSchedule({ scheduleId: 'view', cadence: { newImages: 'LANDSAT/LC09/C02/T1_L2' }, request: template }, 'v');
    expect(ok.kind === 'created' && (await scheduleView(ok.schedule, async () => null)).nextRuns).toEqual([]);
  });
});

/**
 * Batches end to end on the emulators and the simulator: a 1,000-tile batch through
 * the requests topic, released under an in-flight cap of 20 by the poller, finishing
 * with its aggregates and exactly one completion event; and a budget reached mid-batch.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import type { Batch } from '../../functions/src/core/batches/batch.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/events.ts';

const emu = emulatorsOrSkip('batches integration');

const template = {
  description: 'mosaic {{tile}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'tiles/mosaic' }, fileFormat: 'GEO_TIFF' },
};

describe.skipIf(!emu)('batches (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  const events: CloudEvent[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 20, taskDurationMs: 60_000, rateLimitPerSecond: 0 });
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  const poll = async () => {
    const res = await stack.http('pollExports', '', { method: 'POST' });
    expect(res.status).toBe(200);
    return (await res.json()) as { totals: Record<string, number> };
  };
  const batchDoc = async (): Promise<Batch> => (await stack.firestore.collection('batches').get()).docs[0]!.data() as Batch;

  it('a 1,000-tile batch with an in-flight cap of 20 completes with the right aggregates and one completion event', async () => {
    stack = await startTestStack(testConfig(emu!, sim.url, { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true', MAX_IN_FLIGHT_PER_PROJECT: '20' }));
    // 0.4° × 0.25° at 0.001°/px in 10×10-px tiles: 40 × 25 = 1,000 tiles.
    const spec = { batchId: 'mosaic-2026-11', template, tiles: { region: { west: 10, south: 45, east: 10.4, north: 45.25 }, scale: 0.001, tileWidth: 10, tileHeight: 10 } };
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch: spec }));
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch: spec })); // published twice: one batch
    expect((await stack.firestore.collection('batches').get()).size).toBe(1);
    expect((await stack.firestore.collection('jobs').count().get()).data().count).toBe(1000);
    let maxInFlight = 0;
    for (let i = 0; i < 120 && (await batchDoc()).state === 'RUNNING'; i++) {
      const r = await poll();
      sim.clock.advance(65_000);
      const live = sim.tasks('ee-test-project').filter((t) => !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.state)).length;
      maxInFlight = Math.max(maxInFlight, live, r.totals.live ?? 0);
      events.push(...(await stack.drainEvents()));
    }
    const b = await batchDoc();
    expect(b.state).toBe('SUCCEEDED');
    expect(b.total).toBe(1000);
    expect(b.counts).toEqual({ SUCCEEDED: 1000 });
    expect(b.progress).toBe(1);
    expect(b.eecuSeconds).toBeCloseTo(sim.tasks().reduce((n, t) => n + (t.operation.metadata?.batchEecuUsageSeconds ?? 0), 0), 3);
    expect(b.destinationUris.length).toBe(1000);
    expect(maxInFlight).toBeLessThanOrEqual(20);
    expect(sim.stats().tasksStarted).toBe(1000);
    const batchEvents = events.filter((e) => e.type.startsWith('dev.eeport.batch.v1.'));
    expect(batchEvents.map((e) => e.type)).toEqual(['dev.eeport.batch.v1.submitted', 'dev.eeport.batch.v1.succeeded']);
    // Every slot given back: no job of the project is left in flight (its slots, ADR 0012).
    const inFlight = await stack.firestore.collection('jobs').where('eeProject', '==', 'ee-test-project').where('state', 'in', ['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']).count().get();
    expect(inFlight.data().count).toBe(0);
  }, 600_000);

  it('a budget reached mid-batch holds the rest in QUEUED and emits one budget.exceeded', async () => {
    await stack?.close();
    await emu!.clear();
    sim.reset();
    events.length = 0;
    // Each simulated task uses about 60 EECU-seconds; 200 are used up by the first wave of 4.
    stack = await startTestStack(
      testConfig(emu!, sim.url, {
        POLL_WINDOW_SECONDS: '0',
        POLL_AUTH_DISABLED: 'true',
        MAX_IN_FLIGHT_PER_PROJECT: '4',
        EECU_BUDGETS: JSON.stringify([{ eeProject: 'ee-test-project', monthlyEecuSeconds: 200 }]),
      }),
    );
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch: { template, fanOut: { values: Array.from({ length: 10 }, (_, i) => i) } } }));
    for (let i = 0; i < 6; i++) {
      await poll();
      sim.clock.advance(65_000);
      events.push(...(await stack.drainEvents()));
    }
    const jobs = (await stack.firestore.collection('jobs').get()).docs.map((d) => d.data() as { state: string; queuedReason: string | null });
    expect(jobs.filter((j) => j.state === 'SUCCEEDED')).toHaveLength(4);
    expect(jobs.filter((j) => j.state === 'QUEUED')).toHaveLength(6);
    expect(jobs.some((j) => /EECU budget .* used up/.test(j.queuedReason ?? ''))).toBe(true);
    expect(events.filter((e) => e.type === 'dev.eeport.budget.v1.exceeded')).toHaveLength(1);
    expect((await batchDoc()).state).toBe('RUNNING');
  }, 120_000);
});

describe.skipIf(!emu)('batches with failing children (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  it('3 children failing transiently and 2 permanently: only the 3 are resubmitted, the batch ends PARTIALLY_FAILED', async () => {
    await emu!.clear(); // the file's earlier tests leave queued jobs in the same project
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 10, taskDurationMs: 60_000, rateLimitPerSecond: 0 });
    // Each transient fault hits its child's first task only (times: 1); the permanent ones would hit every attempt.
    for (const i of [0, 1, 2]) sim.faults.inject({ kind: 'task-failure', match: { description: `^child ${i}$` }, times: 1, atProgress: 0.3, code: 13, message: 'An internal error has occurred.' });
    for (const i of [3, 4]) sim.faults.inject({ kind: 'task-failure', match: { description: `^child ${i}$` }, atProgress: 0.3, code: 3, message: 'Export too large: specified 1e12 pixels (max: 1e8).' });
    stack = await startTestStack(testConfig(emu!, sim.url, { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true', MAX_IN_FLIGHT_PER_PROJECT: '10', RESUBMIT_BACKOFF_SECONDS: '0', MAX_RESUBMISSIONS: '2' }));
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch: { template: { ...template, description: 'child {{value}}' }, fanOut: { values: [0, 1, 2, 3, 4, 5, 6, 7] } } }));
    const events: CloudEvent[] = [];
    for (let i = 0; i < 20; i++) {
      expect((await stack.http('pollExports', '', { method: 'POST' })).status).toBe(200);
      sim.clock.advance(65_000);
      events.push(...(await stack.drainEvents()));
      const b = (await stack.firestore.collection('batches').get()).docs[0]!.data() as Batch;
      if (b.state !== 'RUNNING') break;
    }
    const b = (await stack.firestore.collection('batches').get()).docs[0]!.data() as Batch;
    expect(b.state).toBe('PARTIALLY_FAILED');
    expect(b.counts).toEqual({ SUCCEEDED: 6, FAILED: 2 });
    const jobs = (await stack.firestore.collection('jobs').get()).docs.map((d) => d.data() as { description: string; resubmissions: number; state: string });
    expect(jobs.filter((j) => j.resubmissions > 0).map((j) => j.description).sort()).toEqual(['child 0', 'child 1', 'child 2']);
    // Every task is accounted for: one per job plus one per resubmission (8 + 3 when each transient fault hits once).
    const rids = sim.tasks().map((t) => t.requestId);
    if (rids.length !== 11) console.log('[batches] tasks by requestId:', JSON.stringify(sim.tasks().map((t) => [t.requestId, t.state, t.operation.metadata?.description])));
    expect(sim.stats().tasksStarted).toBe(jobs.reduce((n, j) => n + 1 + j.resubmissions, 0));
    expect(events.filter((e) => e.type === 'dev.eeport.batch.v1.partially_failed')).toHaveLength(1);
  }, 300_000);
});

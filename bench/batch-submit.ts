/**
 * Batch submission: children accepted per second through the batch use case (expand,
 * validate, write children in idempotent chunks) on the Firestore emulator, and
 * Firestore writes per child. Baseline, same run: the emulator's raw create() rate for
 * documents of the same size at the same concurrency as single submits (8).
 */
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { createFirestoreJobStore } from '../functions/src/adapters/job-store.firestore.ts';
import { createBatches } from '../functions/src/core/batches/index.ts';
import { createCancelJob } from '../functions/src/core/cancel/index.ts';
import { createLogEvents } from '../functions/src/core/jobs/index.ts';
import { systemClock } from '../functions/src/core/ports.ts';
import { MemoryPublisher } from '../test/fakes/memory-store.ts';
import { QUICK, countingStore, devNullLogSink, forEachConcurrent, result, round, zeroStoreCounts, type Result, type StoreCounts } from './lib.ts';
import type { EmulatorHosts } from './submit.ts';

export async function batchSubmitFigure(emu: EmulatorHosts, notes: string[]): Promise<Result[]> {
  const children = QUICK ? 500 : 2000;
  const db = new Firestore({ projectId: `bench-batch-${randomUUID().slice(0, 8)}`, host: emu.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
  try {
    const counts: StoreCounts = zeroStoreCounts();
    const counted = countingStore(createFirestoreJobStore(db), counts);
    let chunkCreates = 0;
    // Children are created by createJobsIfAbsent's own chunked transactions, which the counting wrapper does not see.
    const store = { ...counted, createJobsIfAbsent: async (jobs: Parameters<typeof counted.createJobsIfAbsent>[0]) => {
      const n = await counted.createJobsIfAbsent(jobs);
      chunkCreates += n;
      return n;
    } };
    const logs = createLogEvents(devNullLogSink());
    const publisher = new MemoryPublisher();
    const failingEe = {
      exportImage: () => Promise.reject(new Error('not used')),
      getOperation: () => Promise.reject(new Error('not used')),
      listOperations: () => Promise.reject(new Error('not used')),
      cancelOperation: () => Promise.reject(new Error('not used')),
      listImages: () => Promise.reject(new Error('not used')),
    };
    const batches = createBatches({
      store,
      publisher,
      clock: systemClock,
      logs,
      cancel: createCancelJob({ store, ee: failingEe, publisher, clock: systemClock, logs, settings: { eventSource: '//bench' } }),
      settings: { eventSource: '//bench', defaultEeProject: 'ee-bench', allowedEeProjects: [] },
    });
    const template = {
      description: 'tile {{tile}}',
      expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
      fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-bench', filenamePrefix: 'tiles/t' }, fileFormat: 'GEO_TIFF' },
    };
    const side = Math.round(Math.sqrt(children));
    const spec = (id: string) => ({ batchId: id, template, tiles: { region: { west: 0, south: 0, east: side * 0.01, north: (children / side) * 0.01 }, scale: 0.001, tileWidth: 10, tileHeight: 10 } });
    await batches.submitBatch(spec('warm'), { kind: 'random', value: 'warm' }, { kind: 'api' }); // warm-up, not measured
    Object.assign(counts, zeroStoreCounts());
    chunkCreates = 0;
    const t0 = performance.now();
    const out = await batches.submitBatch(spec('measured'), { kind: 'random', value: 'measured' }, { kind: 'api' });
    const seconds = (performance.now() - t0) / 1000;
    if (out.kind !== 'accepted') throw new Error(`batch not accepted: ${out.kind}`);
    const total = out.batch.total;
    const writesPerChild = (counts.txWrites + chunkCreates) / total;

    const sample = (await db.collection('jobs').limit(1).get()).docs[0]!.data();
    const raw = db.collection('bench-raw');
    const c0 = performance.now();
    await forEachConcurrent(total, 8, async () => {
      await raw.doc(randomUUID().replace(/-/g, '')).create(sample);
    });
    const createSeconds = (performance.now() - c0) / 1000;
    notes.push(`batch-submit: ${total} children (tiles) in ${round(seconds, 2)} s, ${counts.transactions} transactions + ${Math.ceil(total / 250)} chunk transactions creating ${chunkCreates} jobs; baseline ${total} raw create() at concurrency 8 in ${round(createSeconds, 2)} s`);
    const rate = total / seconds;
    const baseRate = total / createSeconds;
    return [
      result({ name: 'batch submission throughput (children accepted)', value: rate, unit: 'children/s' }, { name: 'Firestore emulator raw create(), conc 8', value: baseRate, unit: 'creates/s' }, rate / baseRate),
      result({ name: 'batch submission: Firestore writes per child', value: writesPerChild, unit: 'writes' }),
    ];
  } finally {
    await db.terminate();
  }
}

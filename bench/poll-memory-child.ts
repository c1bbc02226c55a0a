/**
 * The poller alone in a process, for bench/poll-memory.ts: the real core from the
 * composition root, the Firestore job store on the emulator and the REST adapter on the
 * simulator (both in other processes, so the memory measured is the poller's). It runs
 * a warm-up cycle, then a quiet cycle with its memory sampled, and pages once through
 * all the live jobs before and after it (the baseline). Options come as JSON in argv[2];
 * the report goes back over IPC.
 */
import { Firestore } from '@google-cloud/firestore';
import { loadConfig } from '../functions/src/config.ts';
import { buildServices, realAdapters } from '../functions/src/composition-root.ts';
import { createEarthEngineRest } from '../functions/src/adapters/earth-engine.rest.ts';
import { allowAllVerifier } from '../functions/src/adapters/scheduler-auth.oidc.ts';
import { createFirestoreJobStore } from '../functions/src/adapters/job-store.firestore.ts';
import { systemClock } from '../functions/src/core/ports.ts';
import { MemoryPublisher } from '../test/fakes/memory-store.ts';
import { MiB, devNullLogSink, gcNow, memorySampler } from './lib.ts';

export interface PollMemoryChildOptions {
  firestoreHost: string;
  projectId: string;
  simUrl: string;
  token: string;
  projects: string[];
  size: number;
}

export interface PollMemoryReport {
  size: number;
  startMiB: { heapUsed: number; rss: number };
  peakMiB: { heapUsed: number; rss: number };
  /** Heap after a full GC at each page of the probed cycle: the most the poller retained, and the heap just before it. */
  liveMiB: { before: number; peak: number };
  cycleMs: number;
  readMs: [number, number];
  cycle: Record<string, number>;
}

const o = JSON.parse(process.argv[2] ?? '{}') as PollMemoryChildOptions;
const db = new Firestore({ projectId: o.projectId, host: o.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
const firestoreStore = createFirestoreJobStore(db);
// In the probed cycle, the heap is measured after a full GC at every page the poller reads (jobs and operations):
// what it holds then is what it retains, not garbage a GC has not yet reclaimed.
let probing = false;
let peakLive = 0;
const probe = () => {
  if (!probing) return;
  gcNow();
  peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
};
const store: typeof firestoreStore = Object.assign(Object.create(firestoreStore) as typeof firestoreStore, {
  liveJobPages: async function* (q: Parameters<typeof firestoreStore.liveJobPages>[0]) {
    for await (const page of firestoreStore.liveJobPages(q)) {
      probe();
      yield page;
    }
  },
});
const config = loadConfig({
  GOOGLE_CLOUD_PROJECT: o.projectId,
  EE_PROJECT: o.projects[0]!,
  EE_ALLOWED_PROJECTS: o.projects.join(','),
  EE_API_ROOT: o.simUrl,
  EE_ACCESS_TOKEN: o.token,
  // Every live job in one cycle: the figure is about a cycle over all of them.
  POLL_MAX_JOBS: String(o.size),
  MAX_IN_FLIGHT_PER_PROJECT: String(o.size),
});
const eeRest = createEarthEngineRest({
  apiRoot: config.EE_API_ROOT,
  version: config.EE_API_VERSION,
  timeoutMs: config.EE_HTTP_TIMEOUT_MS,
  retry: { maxAttempts: config.EE_RETRY_MAX_ATTEMPTS, baseMs: config.EE_RETRY_BASE_MS, maxDelayMs: config.EE_RETRY_MAX_DELAY_MS, deadlineMs: config.EE_RETRY_DEADLINE_MS },
  accessToken: o.token,
});
const ee: typeof eeRest = {
  ...eeRest,
  listOperations: async (...args: Parameters<typeof eeRest.listOperations>) => {
    const page = await eeRest.listOperations(...args);
    probe();
    return page;
  },
};
const svc = buildServices(config, { ...realAdapters(config), store, ee, publisher: new MemoryPublisher(), clock: systemClock, logSink: devNullLogSink(), schedulerVerifier: allowAllVerifier });
const poller = svc.pollExports();

/** One pass over every live job, a page at a time, as the poller reads them: the baseline. */
async function readAll(): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (const page of store.liveJobPages({ limit: o.size, pageSize: 500 })) n += page.length;
  if (n !== o.size) throw new Error(`paged read found ${n} live jobs of ${o.size}`);
  return performance.now() - t0;
}

const lease = await poller.acquireLease();
if ('busy' in lease) throw new Error(`lease busy: ${lease.busy}`);
const check = (cs: Record<string, number>) => {
  if (cs.live !== o.size || cs.errors! > 0 || cs.updated! > 0) throw new Error(`quiet cycle at ${o.size} live jobs: ${JSON.stringify(cs)}`);
};
check((await poller.runCycle(lease)) as unknown as Record<string, number>); // warm-up: JIT, channels, the emulator's caches
const readA = await readAll();
gcNow();
const start = process.memoryUsage();
const sampler = memorySampler();
const t0 = performance.now();
const cs = (await poller.runCycle(lease)) as unknown as Record<string, number>;
const cycleMs = performance.now() - t0;
const peaks = sampler.stop();
check(cs);
const readB = await readAll();
gcNow();
const probeStart = process.memoryUsage().heapUsed;
probing = true;
check((await poller.runCycle(lease)) as unknown as Record<string, number>);
probing = false;
await poller.releaseLease(lease);
const report: PollMemoryReport = {
  size: o.size,
  startMiB: { heapUsed: MiB(start.heapUsed), rss: MiB(start.rss) },
  peakMiB: { heapUsed: MiB(peaks.peakHeap), rss: MiB(peaks.peakRss) },
  liveMiB: { before: MiB(probeStart), peak: MiB(peakLive) },
  cycleMs,
  readMs: [readA, readB],
  cycle: cs,
};
await db.terminate();
process.send!(report, () => process.exit(0));

/**
 * The poller alone in a process, for bench/poll-memory.ts: the real core from the
 * composition root, the Firestore job store on the emulator and the REST adapter on the
 * simulator (both in other processes, so the memory measured is the poller's). It reads
 * the live jobs once alone (the runtime's share of the memory), runs a warm-up cycle (with
 * the stalled-task watch), a timed quiet cycle between two reads of all the live jobs (the
 * baseline) and a last cycle, with memory sampled from the warm-up on. Options come as JSON in argv[2];
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
  /** One paged read of the jobs alone, first in the process: RSS before it, and the peaks during it. */
  readAloneMiB: { rssBefore: number; rssPeak: number; heapPeak: number };
  /** Just before the timed cycle. */
  startMiB: { heapUsed: number; rss: number };
  /** Sampled from the warm-up cycle to the end of the last (garbage included). */
  peakMiB: { heapUsed: number; rss: number };
  /** Heap after a full GC at each page of the warm-up and the last cycle: the most the poller retained, and the heap before the warm-up. */
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
  // The stalled-task watch looks once a minute; here in the warm-up cycle only, so the timed cycle is the same at every size.
  WATCH_INTERVAL_SECONDS: '3600',
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
// First, one paged read alone: what reading the jobs grows this process by, without the poller (the runtime's share).
gcNow();
const fresh = process.memoryUsage();
const readSampler = memorySampler();
await readAll();
const readAlone = readSampler.stop();
// From here every cycle is sampled (RSS does not shrink back, so an early peak counts), and the heap is probed after a
// full GC at every page in the warm-up cycle (the one in which the stalled-task watch looks) and in the last cycle.
gcNow();
const probeStart = process.memoryUsage().heapUsed;
const sampler = memorySampler();
probing = true;
check((await poller.runCycle(lease)) as unknown as Record<string, number>); // warm-up: JIT, channels, the emulator's caches
probing = false;
const readA = await readAll();
gcNow();
const start = process.memoryUsage();
const t0 = performance.now();
const cs = (await poller.runCycle(lease)) as unknown as Record<string, number>;
const cycleMs = performance.now() - t0;
check(cs);
const readB = await readAll();
probing = true;
check((await poller.runCycle(lease)) as unknown as Record<string, number>);
probing = false;
const peaks = sampler.stop();
await poller.releaseLease(lease);
const report: PollMemoryReport = {
  size: o.size,
  readAloneMiB: { rssBefore: MiB(fresh.rss), rssPeak: MiB(readAlone.peakRss), heapPeak: MiB(readAlone.peakHeap) },
  startMiB: { heapUsed: MiB(start.heapUsed), rss: MiB(start.rss) },
  peakMiB: { heapUsed: MiB(peaks.peakHeap), rss: MiB(peaks.peakRss) },
  liveMiB: { before: MiB(probeStart), peak: MiB(peakLive) },
  cycleMs,
  readMs: [readA, readB],
  cycle: cs,
};
await db.terminate();
process.send!(report, () => process.exit(0));

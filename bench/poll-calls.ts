/**
 * Figure 2 — Earth Engine calls per poll cycle at 10, 1,000 and 5,000 live jobs, for
 * one cycle of the real poller core with the real REST adapter against the simulator,
 * with default settings (get threshold 20, list page size 500). Baseline, same run:
 * the naive poller (one operations.get per job), measured as a cycle of the same core
 * with the get threshold set above the job count. Also: the poller's peak memory
 * during the largest cycle, against the heap before its jobs were built.
 *
 * The simulator runs in a child process (bench/sim-child.ts) so that the memory
 * figures are the poller's own; the job store is the in-memory one from the tests
 * (this figure is about Earth Engine calls, not Firestore).
 *
 * When the emulators are there, one more row: the same steady-state cycle on the real
 * Firestore job store, its wall time against one query reading all the live jobs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../functions/src/config.ts';
import { buildServices, realAdapters } from '../functions/src/composition-root.ts';
import { createEarthEngineRest } from '../functions/src/adapters/earth-engine.rest.ts';
import { allowAllVerifier } from '../functions/src/adapters/scheduler-auth.oidc.ts';
import { systemClock, type JobStore } from '../functions/src/core/ports.ts';
import { createFirestoreJobStore } from '../functions/src/adapters/job-store.firestore.ts';
import { newJob, type Job } from '../functions/src/core/jobs/index.ts';
import { OperationSchema, fieldsFromOperation, jobStateOf, type Operation } from '../functions/src/core/jobs/index.ts';
import { parseExportRequest, type ExportImageRequest } from '../functions/src/core/requests/index.ts';
import type { CycleStats } from '../functions/src/core/poll/index.ts';
import type { EmulatorHosts } from './submit.ts';
import { MemoryPublisher, MemoryStore } from '../test/fakes/memory-store.ts';
import { assetLoadRequest } from '../test/fakes/requests.ts';
import { MiB, QUICK, countingStore, devNullLogSink, forEachConcurrent, gcNow, log, mean, memorySampler, result, round, zeroStoreCounts, type Result, type StoreCounts } from './lib.ts';

const EE_PROJECT = 'ee-bench';
const TOKEN = 'bench-token';

interface SimStats {
  requests: Record<string, number>;
  totalRequests: number;
}

async function startChildSimulator(): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./sim-child.ts', import.meta.url));
  // Manual clock: time stands still, so every operation stays PENDING and every job stays live.
  const options = { clock: { mode: 'manual' }, auth: 'required', rateLimitPerSecond: 0, queueCap: 1_000_000 };
  const child = fork(script, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`simulator child exited with ${code}`)));
    child.once('error', reject);
  });
  return { url, child };
}

export async function pollCallsFigure(notes: string[], emu: EmulatorHosts | null): Promise<Result[]> {
  const sizes = [10, 1000, QUICK ? 2000 : 5000];
  const largest = sizes[sizes.length - 1]!;
  const { url, child } = await startChildSimulator();
  const stats = async (): Promise<SimStats> => (await fetch(`${url}/_sim/stats`)).json() as Promise<SimStats>;
  const delta = (a: SimStats, b: SimStats) => {
    const by: Record<string, number> = {};
    for (const [m, v] of Object.entries(b.requests)) if (v - (a.requests[m] ?? 0) > 0) by[m] = v - (a.requests[m] ?? 0);
    return { total: b.totalRequests - a.totalRequests, by };
  };
  const request = parseExportRequest(assetLoadRequest());
  if (!request.ok) throw new Error('sample request does not validate');

  const results: Result[] = [];
  try {
    for (const size of sizes) {
      await fetch(`${url}/_sim/reset`, { method: 'POST' });
      const ops = await createOperations(url, size);

      gcNow();
      const before = process.memoryUsage();
      // The jobs: live, pointing at those operations, and already up to date (a steady-state cycle: nothing to write).
      const store = new MemoryStore();
      const now = new Date().toISOString();
      ops.forEach((op, i) => {
        const job = steadyJob(op, i, size, request.value, now);
        store.jobs.set(job.jobId, job);
      });

      const cycle = async (getThreshold: number, sampleMemory: boolean) => {
        const counts: StoreCounts = zeroStoreCounts();
        const poller = pollerFor(url, countingStore(store, counts), getThreshold, size);
        const lease = await poller.acquireLease();
        if ('busy' in lease) throw new Error(`lease busy: ${lease.busy}`);
        const s0 = await stats();
        const sampler = sampleMemory ? memorySampler() : null;
        const t0 = performance.now();
        const cs: CycleStats = await poller.runCycle(lease);
        const ms = performance.now() - t0;
        const peaks = sampler?.stop();
        const s1 = await stats();
        await poller.releaseLease(lease);
        if (cs.errors > 0 || cs.live !== size) throw new Error(`cycle at ${size} jobs: ${JSON.stringify(cs)}`);
        return { calls: delta(s0, s1), cs, ms, peaks, counts };
      };

      const eeport = await cycle(20, size === largest);
      const naive = await cycle(size + 1, false);
      const fmt = (by: Record<string, number>) => Object.entries(by).map(([m, v]) => `${v} ${m}`).join(' + ');
      notes.push(
        `poll @${size} live jobs (steady state, nothing changed): eeport ${fmt(eeport.calls.by)} in ${round(eeport.ms, 0)} ms; naive ${fmt(naive.calls.by)} in ${round(naive.ms, 0)} ms; ` +
          `job store per eeport cycle: ${eeport.counts.transactions} transactions, ${eeport.counts.reads} transactional reads, ${eeport.counts.txWrites} writes, ${eeport.counts.queries} queries.`,
      );
      results.push(
        result(
          { name: `poll: Earth Engine calls / cycle @${size} live jobs`, value: eeport.calls.total, unit: 'calls' },
          { name: 'naive one get per job, same core with getThreshold > jobs', value: naive.calls.total, unit: 'calls' },
        ),
      );
      results.push(result({ name: `poll: job-store transactions / cycle @${size} live jobs, none changed`, value: eeport.counts.transactions, unit: 'tx' }));
      if (eeport.peaks) {
        const heap = { name: `heapUsed before building the ${size} jobs`, value: MiB(before.heapUsed), unit: 'MiB' };
        notes.push(
          `poll memory @${size}: heapUsed ${round(MiB(before.heapUsed), 1)} MiB before building the jobs → peak ${round(MiB(eeport.peaks.peakHeap), 1)} MiB during the cycle ` +
            `(+${round(MiB(eeport.peaks.peakHeap - before.heapUsed), 1)} MiB, ${round((eeport.peaks.peakHeap - before.heapUsed) / size / 1024, 1)} KiB per job incl. the in-memory store); ` +
            `RSS ${round(MiB(before.rss), 1)} → peak ${round(MiB(eeport.peaks.peakRss), 1)} MiB. The simulator runs in a child process and is not counted.`,
        );
        results.push(result({ name: `poll: peak heapUsed during the ${size}-job cycle`, value: MiB(eeport.peaks.peakHeap), unit: 'MiB' }, heap));
        results.push(result({ name: `poll: peak RSS during the ${size}-job cycle`, value: MiB(eeport.peaks.peakRss), unit: 'MiB' }, { name: `RSS before building the ${size} jobs`, value: MiB(before.rss), unit: 'MiB' }));
      }
      log(`poll-calls @${size}: eeport ${eeport.calls.total} calls, naive ${naive.calls.total}`);
    }
    if (emu) results.push(...(await firestoreCycle(url, emu, request.value, notes)));
    else notes.push('SKIPPED poll cycle time on Firestore: the emulators are missing.');
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  return results;
}

/** POSTs `size` image:export requests to the simulator and returns the operations it answered. */
async function createOperations(url: string, size: number): Promise<Operation[]> {
  const ops: Operation[] = new Array(size);
  await forEachConcurrent(size, 16, async (i) => {
    const res = await fetch(`${url}/v1/projects/${EE_PROJECT}/image:export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(assetLoadRequest('projects/p/assets/a', { description: `poll-${i}`, requestId: `bench-poll-${size}-${i}` })),
    });
    if (!res.ok) throw new Error(`image:export answered ${res.status}: ${await res.text()}`);
    ops[i] = OperationSchema.parse(await res.json());
  });
  return ops;
}

/** A live job pointing at `op`, already up to date with it (so a cycle finds nothing to write). */
function steadyJob(op: Operation, i: number, size: number, request: ExportImageRequest, now: string): Job {
  const base = newJob(
    { jobId: `job${String(i).padStart(6, '0')}`, state: 'PENDING', eeProject: EE_PROJECT, request: { ...request, description: `poll-${i}` }, requestId: `bench-poll-${size}-${i}`, identity: `bench:${i}`, labels: {}, callbackUrl: null, source: { kind: 'api' } },
    now,
  );
  return { ...base, ...fieldsFromOperation(op, base), state: jobStateOf(op), submitTime: now, nextPollAt: now };
}

/** The real poller core from the composition root, with the REST adapter pointed at the simulator. */
function pollerFor(url: string, store: JobStore, getThreshold: number, inFlightCap: number) {
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: 'bench-poll', EE_PROJECT, EE_API_ROOT: url, EE_ACCESS_TOKEN: TOKEN, POLL_GET_THRESHOLD: String(getThreshold), MAX_IN_FLIGHT_PER_PROJECT: String(inFlightCap) });
  const ee = createEarthEngineRest({
    apiRoot: config.EE_API_ROOT,
    version: config.EE_API_VERSION,
    timeoutMs: config.EE_HTTP_TIMEOUT_MS,
    retry: { maxAttempts: config.EE_RETRY_MAX_ATTEMPTS, baseMs: config.EE_RETRY_BASE_MS, maxDelayMs: config.EE_RETRY_MAX_DELAY_MS, deadlineMs: config.EE_RETRY_DEADLINE_MS },
    accessToken: TOKEN,
  });
  // Real adapters for whatever this figure does not replace (they connect to nothing until used).
  const svc = buildServices(config, { ...realAdapters(config), store, ee, publisher: new MemoryPublisher(), clock: systemClock, logSink: devNullLogSink(), schedulerVerifier: allowAllVerifier });
  return svc.pollExports();
}

/**
 * The same steady-state cycle (nothing changed) with the real Firestore job store on the
 * emulator: its wall time against one read of all the live jobs (listLiveJobs, the query
 * the cycle starts with), measured on the same store before and after.
 */
async function firestoreCycle(url: string, emu: EmulatorHosts, request: ExportImageRequest, notes: string[]): Promise<Result[]> {
  const size = QUICK ? 100 : 300;
  await fetch(`${url}/_sim/reset`, { method: 'POST' });
  const ops = await createOperations(url, size);
  const db = new Firestore({ projectId: `bench-pollfs-${randomUUID().slice(0, 8)}`, host: emu.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
  try {
    const store = createFirestoreJobStore(db);
    const now = new Date().toISOString();
    await forEachConcurrent(size, 16, async (i) => store.transact(async (tx) => tx.createJob(steadyJob(ops[i]!, i, size, request, now))));
    const counts = zeroStoreCounts();
    const poller = pollerFor(url, countingStore(store, counts), 20, size);
    const lease = await poller.acquireLease();
    if ('busy' in lease) throw new Error(`lease busy: ${lease.busy}`);
    const readAll = async () => {
      const t0 = performance.now();
      const jobs = await store.listLiveJobs(10_000);
      if (jobs.length !== size) throw new Error(`listLiveJobs found ${jobs.length} of ${size}`);
      return performance.now() - t0;
    };
    await poller.runCycle(lease); // warm-up (JIT, channels, emulator caches)
    await readAll();
    const readA = await readAll();
    Object.assign(counts, zeroStoreCounts());
    const t0 = performance.now();
    const cs = await poller.runCycle(lease);
    const cycleMs = performance.now() - t0;
    const readB = await readAll();
    if (cs.errors > 0 || cs.updated > 0) throw new Error(`Firestore cycle: ${JSON.stringify(cs)}`);
    const readMs = (readA + readB) / 2;
    notes.push(
      `poll on Firestore @${size} live jobs, nothing changed: cycle ${round(cycleMs, 0)} ms with ${cs.listPages} Earth Engine list call(s), ${counts.transactions} transactions ` +
        `(${round(mean(counts.txMs['read-only'] ?? []), 1)} ms mean, one after another), ${counts.reads} transactional reads, ${counts.queries} queries; ` +
        `reading all ${size} live jobs in one query takes ${round(readMs, 0)} ms (${round(readA, 0)} before, ${round(readB, 0)} after).`,
    );
    return [
      result(
        { name: `poll: cycle wall time on Firestore emulator @${size} live jobs, none changed`, value: cycleMs / 1000, unit: 's' },
        { name: 'one listLiveJobs query of the same jobs', value: readMs / 1000, unit: 's' },
      ),
    ];
  } finally {
    await db.terminate();
  }
}

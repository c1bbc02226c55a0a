/**
 * The poller alone in a process, for its memory figure: builds N live jobs (PENDING,
 * each with its operation in the simulator the parent runs) in the in-memory job store
 * of test/fakes, then runs poll cycles with the real core (createPollExports) and the
 * real Earth Engine REST adapter, sampling process.memoryUsage() every few ms.
 *
 *   node --expose-gc --import tsx test/reliability/lib/poller-memory-child.ts <jobs.json> <simUrl>
 *
 * Prints one JSON line: baseline (after the jobs were built, after GC), peak and
 * after-cycle figures in bytes, and the cycle stats.
 */
import { readFileSync } from 'node:fs';
import { createEarthEngineRest } from '../../../functions/src/adapters/earth-engine.rest.ts';
import { createPollExports } from '../../../functions/src/core/poll/poll-exports.ts';
import { createSubmitExport } from '../../../functions/src/core/submit/submit-export.ts';
import { createCancelJob } from '../../../functions/src/core/cancel/cancel-job.ts';
import { createLogEvents } from '../../../functions/src/core/jobs/log-events.ts';
import { newJob, type Job } from '../../../functions/src/core/jobs/job.ts';
import type { Lease } from '../../../functions/src/core/ports.ts';
import { MemoryStore } from '../../fakes/memory-store.ts';
import { assetLoadRequest } from '../../fakes/requests.ts';

interface JobSeed {
  jobId: string;
  eeProject: string;
  requestId: string;
  operationName: string;
  i: number;
}

const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
const gc = () => (globalThis as { gc?: () => void }).gc?.();

async function main(): Promise<void> {
  const [file, simUrl] = process.argv.slice(2);
  if (!file || !simUrl) throw new Error('usage: poller-memory-child.ts <jobs.json> <simUrl>');
  const start = process.memoryUsage();
  const seeds = JSON.parse(readFileSync(file, 'utf8')) as JobSeed[];
  const store = new MemoryStore();
  const at = new Date(Date.now() - 60_000).toISOString();
  for (const s of seeds) {
    const job: Job = {
      ...newJob(
        {
          jobId: s.jobId,
          state: 'PENDING',
          eeProject: s.eeProject,
          request: assetLoadRequest(`projects/p/assets/m${s.i}`, { description: `mem-${s.i}` }) as unknown as Job['request'],
          requestId: s.requestId,
          identity: `key:mem-${s.i}`,
          labels: { team: 'memory' },
          callbackUrl: null,
          source: { kind: 'pubsub', messageId: `m-${s.i}`, eventSource: '//pubsub.googleapis.com/projects/p/topics/eeport-requests' },
        },
        at,
      ),
      operationName: s.operationName,
      submitTime: at,
      nextPollAt: at,
      slotShard: 0,
      history: [
        { at, from: null, to: 'SUBMITTING' },
        { at, from: 'SUBMITTING', to: 'PENDING' },
      ],
      version: 2,
    };
    store.jobs.set(job.jobId, job);
  }

  let published = 0;
  const publisher = {
    async publish(events: unknown[]) {
      published += events.length;
    },
  };
  const logs = createLogEvents({ write: () => undefined });
  const clock = { now: () => new Date() };
  const ee = createEarthEngineRest({ apiRoot: simUrl, version: 'v1', timeoutMs: 60_000, retry: { maxAttempts: 3, baseMs: 10, maxDelayMs: 100, deadlineMs: 120_000 }, accessToken: 'memory-token' });
  const submit = createSubmitExport({ store, ee, publisher, clock, logs, settings: { eventSource: '//eeport/memory', maxInFlightPerProject: 1_000_000, submitLeaseMs: 150_000, intake: { defaultEeProject: seeds[0]!.eeProject, allowedEeProjects: [], maxRequestBytes: 800_000 } } });
  const cancel = createCancelJob({ store, ee, publisher, clock, logs, settings: { eventSource: '//eeport/memory' } });
  // Production defaults (config.ts): get threshold 20, list pages of 500, 10,000 jobs a cycle, 8 parallel gets.
  const poller = createPollExports({
    store,
    ee,
    publisher,
    clock,
    logs,
    submit,
    cancel,
    holder: 'memory-child',
    settings: {
      eventSource: '//eeport/memory',
      leaseName: 'poller',
      windowMs: 0,
      maxIntervalMs: 10_000,
      minIntervalMs: 2_000,
      getThreshold: 20,
      listPageSize: 500,
      maxJobsPerCycle: 10_000,
      maxInFlightPerProject: 1_000_000,
      operationMaxAgeMs: 10 * 86_400_000,
      staleSubmitMs: 300_000,
      getConcurrency: 8,
      maxResubmissions: 2,
      resubmitBackoffMs: 60_000,
    },
  });

  gc();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  let atPeak = baseline;
  const sample = (m: NodeJS.MemoryUsage) => {
    if (m.rss > peakRss) {
      peakRss = m.rss;
      atPeak = m;
    }
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const sampler = setInterval(() => sample(process.memoryUsage()), 5);
  const lease = (await poller.acquireLease()) as Lease;
  const t0 = performance.now();
  const changed = await poller.runCycle(lease);
  const cycleMs = performance.now() - t0;
  const afterChanged = process.memoryUsage();
  // A second cycle in which nothing changed: the usual steady state.
  const t1 = performance.now();
  const quiet = await poller.runCycle(lease);
  const quietMs = performance.now() - t1;
  clearInterval(sampler);
  const end = process.memoryUsage();
  sample(afterChanged);
  sample(end);
  gc();
  const afterGc = process.memoryUsage();
  const states: Record<string, number> = {};
  for (const j of store.jobs.values()) states[j.state] = (states[j.state] ?? 0) + 1;
  process.stdout.write(
    `${JSON.stringify({
      jobs: seeds.length,
      startMiB: { rss: mb(start.rss), heapUsed: mb(start.heapUsed) },
      baselineMiB: { rss: mb(baseline.rss), heapUsed: mb(baseline.heapUsed) },
      peakMiB: { rss: mb(peakRss), heapUsed: mb(peakHeap) },
      /** What the resident memory was made of when it peaked. */
      atPeakMiB: { rss: mb(atPeak.rss), heapTotal: mb(atPeak.heapTotal), heapUsed: mb(atPeak.heapUsed), external: mb(atPeak.external), arrayBuffers: mb(atPeak.arrayBuffers) },
      afterGcMiB: { rss: mb(afterGc.rss), heapUsed: mb(afterGc.heapUsed) },
      changedCycle: { ...changed, ms: Math.round(cycleMs) },
      quietCycle: { ...quiet, ms: Math.round(quietMs) },
      published,
      states,
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Poller memory and quiet-cycle cost at many live jobs (issue #17): one quiet cycle of the
 * real poller over 10,000 and 50,000 live jobs (2,000 and 10,000 quick) spread over four
 * Earth Engine projects, with the Firestore job store on the emulator and the simulator's
 * operations. The poller runs alone in a child process (bench/poll-memory-child.ts), one
 * per size, so its peak heap and RSS are its own; the emulator and the simulator are other
 * processes. Rows: peak heap and RSS at each size and their growth from the smaller to the
 * larger (target ≤ 64 MiB: memory flat in the number of live jobs), and the quiet cycle at
 * the larger size against one paged read of the same jobs (target ≤ 2×).
 *
 * Jobs are written with a BulkWriter (throttling off) and the tasks created through the
 * simulator's API on its manual clock: time stands still, so every task stays PENDING and
 * every job up to date (a quiet cycle: nothing to write). Each job carries an estimate, so
 * the poller does not estimate it.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { startSimulator } from '../tools/ee-simulator/index.ts';
import { COLLECTIONS, jobToDoc } from '../functions/src/adapters/job-store.firestore.ts';
import { OperationSchema, fieldsFromOperation, jobStateOf, newJob, type Job, type Operation } from '../functions/src/core/jobs/index.ts';
import { parseExportRequest, type ExportImageRequest } from '../functions/src/core/requests/index.ts';
import { assetLoadRequest } from '../test/fakes/requests.ts';
import type { EmulatorHosts } from './submit.ts';
import type { PollMemoryChildOptions, PollMemoryReport } from './poll-memory-child.ts';
import { QUICK, forEachConcurrent, log, result, round, type Result } from './lib.ts';

const PROJECTS = ['ee-pollmem-0', 'ee-pollmem-1', 'ee-pollmem-2', 'ee-pollmem-3'];
const TOKEN = 'bench-token';
const CHILD = fileURLToPath(new URL('./poll-memory-child.ts', import.meta.url));
// BENCH_POLL_HEAP_MB: the child's V8 old-space limit (--max-old-space-size), to see what the poller needs when the runtime may not keep garbage.
const HEAP_MB = process.env.BENCH_POLL_HEAP_MB ? Number(process.env.BENCH_POLL_HEAP_MB) : null;
if (HEAP_MB !== null && !(Number.isInteger(HEAP_MB) && HEAP_MB >= 64)) throw new Error(`BENCH_POLL_HEAP_MB must be a whole number of MiB, at least 64: ${process.env.BENCH_POLL_HEAP_MB}`);

export async function pollMemoryFigure(emu: EmulatorHosts, notes: string[]): Promise<Result[]> {
  // BENCH_POLL_JOBS=small,large: other sizes, to look at a trend without the full run's time.
  const sizes = process.env.BENCH_POLL_JOBS?.split(',').map(Number);
  if (sizes && (sizes.length !== 2 || !sizes.every((n) => Number.isInteger(n) && n > 0) || sizes[0]! >= sizes[1]!)) throw new Error(`BENCH_POLL_JOBS must be two sizes, smaller first (e.g. 2000,10000): ${process.env.BENCH_POLL_JOBS}`);
  const [small, large] = sizes ? (sizes as [number, number]) : QUICK ? [2_000, 10_000] : [10_000, 50_000];
  const sim = await startSimulator({ clock: { mode: 'manual' }, auth: 'required', rateLimitPerSecond: 0, maxConcurrentRequests: 0, maxConcurrentPerProject: 1_000_000, queueCap: 1_000_000 });
  const projectId = `bench-pollmem-${randomUUID().slice(0, 8)}`;
  const db = new Firestore({ projectId, host: emu.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
  const request = parseExportRequest(assetLoadRequest());
  if (!request.ok) throw new Error('sample request does not validate');
  const reports: PollMemoryReport[] = [];
  try {
    let seeded = 0;
    for (const size of [small, large]) {
      const t0 = performance.now();
      await seed(sim.url, db, request.value, seeded, size);
      seeded = size;
      log(`poll-memory: ${size} live jobs seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      reports.push(await runChild({ firestoreHost: emu.firestoreHost, projectId, simUrl: sim.url, token: TOKEN, projects: PROJECTS, size }));
    }
  } finally {
    // Not to hide the error that brought us here behind one from closing.
    await db.terminate().catch(() => undefined);
    await sim.close();
  }
  const [a, b] = reports as [PollMemoryReport, PollMemoryReport];
  const readMs = (r: PollMemoryReport) => (r.readMs[0] + r.readMs[1]) / 2;
  for (const r of reports) {
    notes.push(
      `poll @${r.size} live jobs on the Firestore emulator, ${PROJECTS.length} projects, nothing changed: one paged read alone first in the process, RSS ${round(r.readAloneMiB.rssBefore, 1)} → peak ${round(r.readAloneMiB.rssPeak, 1)} MiB (heapUsed peak ${round(r.readAloneMiB.heapPeak, 1)}); ` +
        `heap after a full GC at each page of the warm-up cycle (with the stalled-task watch) and the last ${round(r.liveMiB.before, 1)} MiB before → peak ${round(r.liveMiB.peak, 1)}; ` +
        `from the warm-up on, heapUsed sampled every 5 ms (garbage included) peak ${round(r.peakMiB.heapUsed, 1)} MiB, RSS peak ${round(r.peakMiB.rss, 1)} MiB (${round(r.startMiB.rss, 1)} before the timed cycle); ` +
        `timed cycle ${round(r.cycleMs, 0)} ms with ${r.cycle.listPages} list pages and ${r.cycle.gets} gets; ` +
        `one paged read of the jobs ${round(r.readMs[0], 0)} ms before, ${round(r.readMs[1], 0)} ms after (poller alone in a child process under tsx).`,
    );
  }
  const mib = (name: string, value: number) => ({ name, value, unit: 'MiB' });
  // A capped run's rows say so: they are not the default runtime's figures.
  const capped = (r: Result): Result => (HEAP_MB ? { ...r, name: `${r.name} (old space ≤ ${HEAP_MB} MiB)` } : r);
  return [
    result(mib(`poll: peak heap, ${a.size} live jobs (after GC at each page)`, a.liveMiB.peak), mib(`heap before the first cycle, ${a.size} live jobs`, a.liveMiB.before)),
    result(mib(`poll: peak heap, ${b.size} live jobs (after GC at each page)`, b.liveMiB.peak), mib(`heap before the first cycle, ${b.size} live jobs`, b.liveMiB.before)),
    result(mib(`poll: peak heap growth from ${a.size} to ${b.size} live jobs (target ≤ 64)`, b.liveMiB.peak - a.liveMiB.peak)),
    result(mib(`poll: peak RSS, ${a.size} live jobs (three cycles and two reads)`, a.peakMiB.rss), mib(`peak RSS of one paged read alone, ${a.size} live jobs`, a.readAloneMiB.rssPeak)),
    result(mib(`poll: peak RSS, ${b.size} live jobs (three cycles and two reads)`, b.peakMiB.rss), mib(`peak RSS of one paged read alone, ${b.size} live jobs`, b.readAloneMiB.rssPeak)),
    result(mib(`poll: peak RSS growth from ${a.size} to ${b.size} live jobs (target ≤ 64)`, b.peakMiB.rss - a.peakMiB.rss), mib(`growth of one paged read's peak RSS alone`, b.readAloneMiB.rssPeak - a.readAloneMiB.rssPeak)),
    result({ name: `poll: quiet cycle, ${b.size} live jobs`, value: b.cycleMs / 1000, unit: 's' }, { name: `one paged read of ${b.size} live jobs`, value: readMs(b) / 1000, unit: 's' }),
  ].map(capped);
}

/** Adds live jobs from..to-1 (tasks in the simulator, steady jobs in Firestore) over the projects. */
async function seed(simUrl: string, db: Firestore, request: ExportImageRequest, from: number, to: number): Promise<void> {
  const now = new Date().toISOString();
  const writer = db.bulkWriter({ throttling: false });
  writer.onWriteError((e) => e.failedAttempts < 5);
  const jobs = db.collection(COLLECTIONS.jobs);
  try {
    await createAll();
  } finally {
    await writer.close();
  }
  async function createAll() {
    await forEachConcurrent(to - from, 16, async (k) => {
      const i = from + k;
      const eeProject = PROJECTS[i % PROJECTS.length]!;
      const requestId = `bench-pollmem-${i}`;
      const res = await exportOnce(simUrl, eeProject, i, requestId);
      if (!res.ok) throw new Error(`image:export answered ${res.status}: ${await res.text()}`);
      const job = steadyJob(OperationSchema.parse(await res.json()), i, eeProject, requestId, request, now);
      void writer.create(jobs.doc(job.jobId), jobToDoc(job));
    });
  }
}

/** One image:export; a dropped connection (a loaded machine) is tried again, and the requestId makes that safe. */
async function exportOnce(simUrl: string, eeProject: string, i: number, requestId: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(`${simUrl}/v1/projects/${eeProject}/image:export`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(assetLoadRequest(`projects/p/assets/m${i}`, { description: `pollmem-${i}`, requestId })),
      });
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** A live job already up to date with its operation, estimated (a quiet cycle writes nothing). */
function steadyJob(op: Operation, i: number, eeProject: string, requestId: string, request: ExportImageRequest, now: string): Job {
  const base = newJob(
    { jobId: `pm${String(i).padStart(7, '0')}`, state: 'PENDING', eeProject, request: { ...request, description: `pollmem-${i}` }, requestId, identity: `bench:${i}`, labels: {}, callbackUrl: null, source: { kind: 'api' } },
    now,
  );
  const estimate: Job['estimate'] = { method: 'prior', pixels: null, fingerprint: 'bench', eecuSeconds: { low: 1, expected: 2, high: 3 }, runSeconds: null, basis: 'bench', samples: 0, at: now };
  return { ...base, ...fieldsFromOperation(op, base), state: jobStateOf(op), submitTime: now, nextPollAt: now, estimate };
}

async function runChild(options: PollMemoryChildOptions): Promise<PollMemoryReport> {
  const heap = HEAP_MB ? [`--max-old-space-size=${HEAP_MB}`] : [];
  const child = fork(CHILD, [JSON.stringify(options)], { execArgv: ['--import', 'tsx', '--expose-gc', ...heap], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<PollMemoryReport>((resolve, reject) => {
    child.once('message', (m) => resolve(m as PollMemoryReport));
    child.once('exit', (code) => reject(new Error(`poll-memory child exited with ${code} before reporting`)));
    child.once('error', reject);
  });
}

/**
 * A 100,000-child batch, end to end on Google's Firestore and Pub/Sub emulators and the
 * Earth Engine simulator (scaled "fast" clock, in its own process):
 *
 * - accept: the batch (a tile grid of N tiles) is POSTed to /v1/batches through the
 *   `api` function's test server; the answer comes once every child is written.
 *   Baseline, same run: a BulkWriter creating N copies of one child's job document.
 * - drain: the real poller (pollExports.run(), back to back, in its own process as in
 *   production) releases the children under MAX_IN_FLIGHT_PER_PROJECT, follows their
 *   tasks and finishes the batch; until every child is terminal, checked at the end by
 *   a count aggregation over the batch's jobs.
 * - Firestore operations per child: documents read and written (and aggregation
 *   queries) at the job-store port of both processes (bench/op-count.ts), accept and
 *   drain together.
 * - responsiveness: latency of GET /v1/batches/{id}, GET /v1/batches/{id}/jobs,
 *   GET /v1/jobs, the dashboard's refresh (its six calls at once, with the batch's
 *   detail open) and the CLI's `eeport batch status` (a child process) while the batch
 *   drains, against the same calls on the idle stack (the same N children QUEUED, no
 *   poller), with the documents each call read.
 *
 * Size: BENCH_BATCH_CHILDREN (default 1,000; 300 with BENCH_QUICK=1; 100,000 is the
 * issue's target). BENCH_BATCH_DRAIN_SECONDS bounds the drain (default 900 s): a drain
 * cut short reports children terminal per second instead of a drain time, and says so.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import '../functions/src/entry/api.entry.ts';
import { loadConfig } from '../functions/src/config.ts';
import { buildServices, realAdapters, setServices } from '../functions/src/composition-root.ts';
import { JOB_STATES, isTerminal } from '../functions/src/core/jobs/index.ts';
import { QUICK, devNullLogSink, log, percentile, result, round, sleep, type Result } from './lib.ts';
import { countOps, zeroOps, type OpCounts } from './op-count.ts';
import { profileLines, type DrainProfile } from './drain-profile.ts';
import type { EmulatorHosts } from './submit.ts';

const IDLE_ROUNDS = 12;
const PROBE_EVERY_MS = 3_000;
const CLI_BIN = fileURLToPath(new URL('../tools/cli/bin.js', import.meta.url));

/** The number of children: BENCH_BATCH_CHILDREN, or the default that fits a few minutes here. */
export function batchChildren(): number {
  const v = process.env.BENCH_BATCH_CHILDREN;
  if (v === undefined || v === '') return QUICK ? 300 : 1_000;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_BATCH_CHILDREN must be a positive whole number (got "${v}")`);
  return n;
}

/** A tile grid of exactly n tiles: cols × rows with cols the largest divisor of n not above √n (100,000 = 250 × 400). */
export function gridFor(n: number): { cols: number; rows: number } {
  let cols = Math.floor(Math.sqrt(n));
  while (n % cols !== 0) cols--;
  return { cols, rows: n / cols };
}

function batchSpec(batchId: string, n: number) {
  const { cols, rows } = gridFor(n);
  // Whole metres in a projected CRS: 256 px of 10 m per tile, so the tile count is exact.
  const tile = 2_560;
  return {
    batchId,
    description: `bench: ${n} tiles`,
    template: {
      description: 'tile {{tile}}',
      expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
      fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-bench', filenamePrefix: 'tiles/m' }, fileFormat: 'GEO_TIFF' },
    },
    tiles: { region: { west: 0, south: 0, east: cols * tile, north: rows * tile }, crsCode: 'EPSG:3857', scale: 10, tileWidth: 256, tileHeight: 256 },
  };
}

async function forkReady(script: string, arg: string): Promise<{ child: ChildProcess; first: unknown }> {
  const child = fork(script, [arg], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const first = await new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.once('error', reject);
  });
  return { child, first };
}

/** One measured call: its wall time and the documents it made the API read. */
interface Sample {
  ms: number;
  reads: number;
}

export async function batch100kFigure(emu: EmulatorHosts, notes: string[]): Promise<Result[]> {
  const n = batchChildren();
  const drainLimitS = Number(process.env.BENCH_BATCH_DRAIN_SECONDS ?? 900);
  const label = `${n}-child batch`;
  const projectId = `bench-b100k-${randomUUID().slice(0, 8)}`;

  // Simulated time runs 60× wall time: a 60 s task takes one second; every task starts at once (no concurrency limit below the cap).
  const simOptions = { clock: { mode: 'scaled', scale: 60 }, auth: 'required', rateLimitPerSecond: 0, maxConcurrentRequests: 0, maxConcurrentPerProject: 100_000, queueCap: 1_000_000, taskDurationMs: 60_000, pendingDelayMs: 5_000 };
  const sim = await forkReady(fileURLToPath(new URL('./sim-child.ts', import.meta.url)), JSON.stringify(simOptions));
  const simUrl = (sim.first as { url: string }).url;

  const env: Record<string, string> = {
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: emu.firestoreHost,
    PUBSUB_EMULATOR_HOST: emu.pubsubHost,
    EE_PROJECT: 'ee-bench',
    EE_API_ROOT: simUrl,
    EE_ACCESS_TOKEN: 'bench-token',
    EEPORT_LOCAL: 'true',
    LOG_LEVEL: 'error',
    // The batch limits a 100,000-child batch needs (docs/batches.md): the count, and the expanded size (≈ 0.8 KB a child here).
    BATCH_MAX_CHILDREN: String(Math.max(10_000, n)),
    BATCH_MAX_EXPANDED_BYTES: String(Math.min(1_073_741_824, Math.max(64 * 2 ** 20, n * 2_048))),
    POLL_MIN_INTERVAL_SECONDS: '1',
  };
  const config = loadConfig(env);
  const db = new Firestore({ projectId, host: emu.firestoreHost, ssl: false, ignoreUndefinedProperties: true });
  const pubsub = new PubSub({ projectId, apiEndpoint: emu.pubsubHost, emulatorMode: true });
  await pubsub.topic(config.EVENTS_TOPIC).get({ autoCreate: true });

  const apiOps = zeroOps();
  const real = realAdapters(config);
  setServices(buildServices(config, { ...real, store: countOps(real.store, apiOps), logSink: devNullLogSink() }));
  const server: Server = getTestServer('api');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let worker: ChildProcess | undefined;

  try {
    // Warm: the first call pays for connections and lazy loading, which a 100,000-child batch would hide and a small one would not.
    await (await fetch(`${apiUrl}/v1/batches?pageSize=1`)).arrayBuffer();
    // Accept.
    const t0 = performance.now();
    const res = await fetch(`${apiUrl}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batchSpec('bench-100k', n)) });
    const acceptSeconds = (performance.now() - t0) / 1000;
    const answer = (await res.json()) as { batchId?: string; total?: number; state?: string; error?: { message: string } };
    if (res.status !== 202 || !answer.batchId) throw new Error(`the batch was not accepted: ${res.status} ${JSON.stringify(answer).slice(0, 500)}`);
    if (answer.total !== n) throw new Error(`accepted ${answer.total} children, expected ${n}`);
    const batchId = answer.batchId;
    const acceptOps = { ...apiOps };
    log(`${label}: accepted in ${round(acceptSeconds, 1)} s (${round(n / acceptSeconds, 0)} children/s)`);

    // Baseline: as many job documents as the batch has (copies of one of its children) written as fast as the emulator takes them (BulkWriter), then removed.
    const sample = (await db.collection('jobs').where('batchId', '==', batchId).limit(1).get()).docs[0]!.data();
    const raw = db.collection(`bench-raw-${randomUUID().slice(0, 6)}`);
    const b0 = performance.now();
    const writer = db.bulkWriter();
    for (let i = 0; i < n; i++) void writer.create(raw.doc(), sample);
    await writer.close();
    const bulkSeconds = (performance.now() - b0) / 1000;
    await db.recursiveDelete(raw);
    log(`${label}: baseline BulkWriter ${n} creates in ${round(bulkSeconds, 1)} s`);


    const probes = probeSet(apiUrl, batchId, apiOps);

    // Idle: the same calls on the same data, no poller running.
    const idle = new Map<string, Sample[]>();
    for (let i = 0; i < IDLE_ROUNDS; i++) await probes.round(idle, i % 2 === 0);
    log(`${label}: idle probes done`);

    // Drain.
    const d0 = performance.now();
    const w = await forkReady(fileURLToPath(new URL('./batch-drain-worker.ts', import.meta.url)), JSON.stringify(env));
    worker = w.child;
    const poller = followWorker(w.child);
    const busy = new Map<string, Sample[]>();
    let state = 'RUNNING';
    let rounds = 0;
    let lastLog = 0;
    while (performance.now() - d0 < drainLimitS * 1000) {
      const b = (await db.collection('batches').doc(batchId).get()).data() as { state: string; counts: Record<string, number> };
      state = b.state;
      if (!['WRITING', 'RUNNING'].includes(state)) break;
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`${label}: ${round((performance.now() - d0) / 1000, 0)} s, ${state}, ${JSON.stringify(b.counts)}`);
      }
      await probes.round(busy, rounds % 4 === 0);
      rounds++;
      // Spaced out: the probes (the CLI's processes above all) share the machine's cores with the drain they measure.
      await sleep(PROBE_EVERY_MS);
    }
    const drainSeconds = (performance.now() - d0) / 1000;
    const workerOut = await poller.stop(['WRITING', 'RUNNING'].includes(state) ? 10_000 : 120_000);
    worker = undefined;

    // Every child terminal? Counted by aggregation, not by the batch document's own figures.
    const jobs = db.collection('jobs').where('batchId', '==', batchId);
    const notEnded = (await jobs.where('state', 'in', JOB_STATES.filter((s) => !isTerminal(s))).count().get()).data().count;
    const children = (await jobs.count().get()).data().count;
    const succeeded = (await jobs.where('state', '==', 'SUCCEEDED').count().get()).data().count;
    const drained = notEnded === 0 && !['WRITING', 'RUNNING'].includes(state);
    if (!drained) notes.push(`${label}: drain STOPPED at BENCH_BATCH_DRAIN_SECONDS=${drainLimitS}: ${children - notEnded} of ${children} children terminal, batch ${state}`);

    // Accept costs are per child written; drain costs per child that ended (all of them, unless the drain was cut short).
    const ended = children - notEnded;
    const perChild = (v: number) => v / n;
    const perEnded = (v: number) => v / Math.max(1, ended);
    const opsPerChild = perChild(acceptOps.reads + acceptOps.writes) + perEnded(workerOut.ops.reads + workerOut.ops.writes);
    notes.push(
      `${label}: tiles ${gridFor(n).cols}×${gridFor(n).rows} POSTed to /v1/batches, accepted in ${round(acceptSeconds, 1)} s; baseline BulkWriter create() of ${n} copies of a child's job document ${round(bulkSeconds, 1)} s. ` +
        `Drain: batch ${state} after ${round(drainSeconds, 1)} s, ${succeeded} SUCCEEDED, ${notEnded} not terminal, ${children} child documents; MAX_IN_FLIGHT_PER_PROJECT=${config.MAX_IN_FLIGHT_PER_PROJECT}, simulator ×60 clock (60 s tasks), ` +
        `${workerOut.runs} pollExports runs, ${workerOut.cycles} cycles, ${workerOut.totals.released ?? 0} released, ${workerOut.totals.updated ?? 0} job updates.`,
      `${label}: Firestore per child — accept: ${round(perChild(acceptOps.reads), 2)} reads, ${round(perChild(acceptOps.writes), 2)} writes; drain (per child that ended${workerOut.cut ? '; the poller was stopped mid-run, counts from its last report' : ''}): ${round(perEnded(workerOut.ops.reads), 2)} reads, ${round(perEnded(workerOut.ops.writes), 2)} writes, ` +
        `${round(perEnded(workerOut.ops.transactions), 2)} transactions (${round(perEnded(workerOut.ops.attempts), 2)} attempts), ${workerOut.ops.aggregations} aggregation queries in all.`,
    );

    const out: Result[] = [
      result({ name: `${label}: time to accept (POST /v1/batches, every child written)`, value: acceptSeconds, unit: 's' }, { name: `BulkWriter create() of ${n} job documents`, value: bulkSeconds, unit: 's' }),
      result({ name: `${label}: Firestore operations per child (document reads + writes, accept and drain)`, value: opsPerChild, unit: 'ops' }),
      result({ name: `${label}: Firestore aggregation queries per child`, value: perChild(acceptOps.aggregations) + perEnded(workerOut.ops.aggregations), unit: 'queries' }),
      drained
        ? result({ name: `${label}: time to drain (every child terminal, simulator ×60 clock)`, value: drainSeconds, unit: 's' })
        : result({ name: `${label}: children terminal per second (drain cut short at ${drainLimitS} s)`, value: ended / drainSeconds, unit: 'children/s' }),
    ];
    for (const name of probes.names) {
      const a = busy.get(name) ?? [];
      const b = idle.get(name) ?? [];
      if (!a.length || !b.length) continue;
      for (const q of [50, 95]) {
        const v = percentile(a.map((s) => s.ms), q);
        const base = percentile(b.map((s) => s.ms), q);
        out.push(result({ name: `${label}: ${name} p${q} during the drain`, value: v, unit: 'ms' }, { name: `same call, idle stack (${n} children QUEUED, no poller)`, value: base, unit: 'ms' }));
      }
    }
    // Where the drain's time went: per kind of port call, and per poll cycle.
    const wallMs = drainSeconds * 1000;
    const profile = profileLines(workerOut.profile ?? {}, wallMs);
    const cycleLines = (workerOut.cycleLog ?? []).map((c, i) => `#${i + 1} ${round(c.ms / 1000, 1)} s: ${c.live} live, ${c.released} released, ${c.updated} updated, ${c.events} events`);
    for (const l of [...profile, ...cycleLines]) log(`${label}: ${l}`);
    notes.push(`${label}: where the poller's ${round(drainSeconds, 0)} s went (port calls by kind, summed wall time; concurrent calls add up to more than they took): ${profile.slice(0, 12).join('; ')}.`);
    notes.push(`${label}: poll cycles (wall time: live jobs read, released, updated, events): ${cycleLines.slice(0, 40).join('; ')}${cycleLines.length > 40 ? `; … ${cycleLines.length} in all` : ''}.`);
    const reads = probes.names.map((name) => `${name} ${Math.max(...(busy.get(name) ?? idle.get(name) ?? []).map((s) => s.reads))}`);
    notes.push(`${label}: responsiveness from ${[...busy.values()][0]?.length ?? 0} rounds during the drain (one every ${PROBE_EVERY_MS / 1000} s, the CLI every 4th) and ${IDLE_ROUNDS} idle (the CLI every 2nd); most documents one call made the API read: ${reads.join('; ')} (a full scan would read ${n}).`);
    out.push(result({ name: `${label}: most documents read by one API call while it runs (any probed call)`, value: Math.max(...[...busy.values(), ...idle.values()].flat().map((s) => s.reads)), unit: 'documents' }));
    return out;
  } finally {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await new Promise<void>((r) => server.close(() => r()));
    setServices(undefined);
    sim.child.kill('SIGTERM');
    await db.terminate();
    await pubsub.close();
  }
}

interface WorkerReport {
  ops: OpCounts;
  runs: number;
  cycles: number;
  totals: Record<string, number>;
  /** Where the poller's time went, by kind of port call (bench/drain-profile.ts). */
  profile?: DrainProfile;
  cycleLog?: { ms: number; live: number; released: number; updated: number; events: number }[];
  final?: boolean;
}

/** Follows the poller process's reports (it sends its counts every 2 s and when it stops). */
function followWorker(child: ChildProcess) {
  let last: WorkerReport = { ops: zeroOps(), runs: 0, cycles: 0, totals: {} };
  child.on('message', (m) => {
    if (typeof m === 'object' && m !== null && 'ops' in m) last = m as WorkerReport;
  });
  return {
    latest: () => last,
    /**
     * Asks it to stop after its current run; a run can last minutes while it releases a
     * thousand children one by one, so after `graceMs` it is killed and its last report
     * (at most 2 s old) stands.
     */
    async stop(graceMs: number): Promise<WorkerReport & { cut: boolean }> {
      if (child.exitCode !== null) return { ...last, cut: !last.final };
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.send('stop');
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
      return { ...last, cut: !last.final };
    },
  };
}

function probeSet(apiUrl: string, batchId: string, ops: OpCounts) {
  const get = async (path: string) => {
    const r = await fetch(`${apiUrl}/${path}`);
    if (r.status !== 200) throw new Error(`GET /${path} answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
    await r.arrayBuffer();
  };
  const api: [string, () => Promise<unknown>][] = [
    ['GET /v1/batches/{id}', () => get(`v1/batches/${batchId}`)],
    ['GET /v1/batches/{id}/jobs?pageSize=50', () => get(`v1/batches/${batchId}/jobs?pageSize=50`)],
    ['GET /v1/jobs?pageSize=50', () => get('v1/jobs?pageSize=50')],
    // What one refresh of the dashboard asks for with the batch's detail open (functions/src/dashboard/dashboard.js), at once.
    [
      'dashboard refresh (6 calls at once, batch detail open)',
      () => Promise.all(['v1/stats', 'v1/jobs?pageSize=50', 'v1/budgets', 'v1/batches?pageSize=8', `v1/batches/${batchId}`, `v1/batches/${batchId}/jobs?pageSize=20`].map(get)),
    ],
  ];
  const cli: [string, () => Promise<unknown>] = ['CLI `eeport batch status` (a new process each time)', () => runCli(apiUrl, ['batch', 'status', batchId])];
  const measure = async (into: Map<string, Sample[]>, name: string, fn: () => Promise<unknown>) => {
    const r0 = ops.reads;
    const t = performance.now();
    await fn();
    const list = into.get(name) ?? [];
    list.push({ ms: performance.now() - t, reads: ops.reads - r0 });
    into.set(name, list);
  };
  return {
    names: [...api.map(([n]) => n), cli[0]],
    /** One call of each, one after the other (the API's read counter then counts that call alone); the CLI when asked. */
    async round(into: Map<string, Sample[]>, withCli: boolean) {
      for (const [name, fn] of api) await measure(into, name, fn);
      if (withCli) await measure(into, cli[0], cli[1]);
    },
  };
}

/** Runs the CLI as a user would (node tools/cli/bin.js), asynchronously: the API it calls lives in this process. */
function runCli(apiUrl: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(EEPORT_|PUBSUB_|FIRESTORE_|GOOGLE_|EE_)/.test(k)) env[k] = v;
    const child = spawn(process.execPath, [CLI_BIN, '--api', apiUrl, ...args], { env: { ...env, NO_COLOR: '1', EEPORT_STACK_FILE: join(tmpdir(), 'eeport-bench-no-stack.json') }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`eeport ${args.join(' ')} exited ${code}: ${err.slice(0, 300)}`))));
  });
}

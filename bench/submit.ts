/**
 * Figure 1 — submit throughput, end to end: CloudEvent deliveries through the
 * functions-framework test server → submitExport → Firestore emulator, Earth Engine
 * simulator, Pub/Sub emulator. Baseline, same run: the Firestore emulator's raw
 * create() rate for documents of the same size, same count and concurrency.
 */
import { randomUUID } from 'node:crypto';
import { WriteBatch } from '@google-cloud/firestore';
import '../functions/src/entry/submit-export.entry.ts';
import { loadConfig } from '../functions/src/config.ts';
import { startSimulator } from '../tools/ee-simulator/index.ts';
import { startTestStack, pushMessage, type TestStack } from '../test/harness/stack.ts';
import type { JobStore } from '../functions/src/core/ports.ts';
import { jsClientRequest } from '../test/fakes/requests.ts';
import { QUICK, timedPort, type PortTimes, countingPublisher, countingStore, devNullLogSink, forEachConcurrent, mean, percentile, result, round, sleep, zeroStoreCounts, type PublishCounts, type Result, type StoreCounts } from './lib.ts';

export interface EmulatorHosts {
  firestoreHost: string;
  pubsubHost: string;
}

const CONCURRENCY = 8;

/**
 * Counts Firestore commits at the client: every transaction's and every batch's commit
 * goes through WriteBatch#_commit (an internal method; the port-level counts cannot see
 * writes that ride on another commit, ADR 0012). Returns the counter and its undo.
 */
function countCommits(): { count: () => number; reset: () => void; restore: () => void } {
  type Commit = (this: WriteBatch, ...a: unknown[]) => Promise<unknown>;
  const proto = WriteBatch.prototype as unknown as { _commit: Commit };
  const original = proto._commit;
  let n = 0;
  proto._commit = function (this: WriteBatch, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  return { count: () => n, reset: () => (n = 0), restore: () => (proto._commit = original) };
}

export async function submitFigure(emu: EmulatorHosts, notes: string[]): Promise<Result[]> {
  const n = QUICK ? 32 : 150;
  const warm = QUICK ? 8 : 16;
  const sim = await startSimulator({ clock: { mode: 'manual' }, auth: 'required', rateLimitPerSecond: 1_000_000, queueCap: 100_000 });
  const projectId = `bench-submit-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: emu.firestoreHost,
    PUBSUB_EMULATOR_HOST: emu.pubsubHost,
    EE_PROJECT: 'ee-bench',
    EE_API_ROOT: sim.url,
    EE_ACCESS_TOKEN: 'bench-token',
    // Everything else at its production default (in-flight cap 1000, retries, timeouts, log level info).
  });
  const store: StoreCounts = zeroStoreCounts();
  const pub: PublishCounts = { calls: 0, messages: 0 };
  // Documents written by the store's precondition commits (countingStore counts the transactions' writes), and the admission counts.
  let commitWrites = 0;
  const countCommitWrites = (inner: JobStore): JobStore => ({
    ...inner,
    commit: (w) => {
      commitWrites += 1 + ('create' in w && w.requestIdOwner ? 1 : 0) + w.events.length;
      return inner.commit(w);
    },
    // The admission count: an aggregation query (billed one read per 1,000 jobs counted), counted with the other queries.
    inFlight: (eeProject) => {
      store.queries++;
      return inner.inFlight(eeProject);
    },
  });
  const portMs: PortTimes = {};
  const stack: TestStack = await startTestStack(config, (a) => ({
    ...a,
    store: timedPort(countingStore(countCommitWrites(a.store), store), 'store', portMs),
    publisher: timedPort(countingPublisher(a.publisher, pub), 'publisher', portMs),
    ee: timedPort(a.ee, 'ee', portMs),
    logSink: devNullLogSink(),
  }));
  const commits = countCommits();
  try {
    let redeliveries = 0;
    const deliveryMs: number[] = [];
    /** n distinct messages at CONCURRENCY; non-2xx answers are redelivered, as Pub/Sub would. */
    const submitMany = async (count: number, tag: string) => {
      const t0 = performance.now();
      await forEachConcurrent(count, CONCURRENCY, async (i) => {
        const msg = pushMessage(jsClientRequest({ description: `${tag}-${i}` }), { labels: '{"bench":"submit"}' });
        for (let attempt = 0; ; attempt++) {
          const d0 = performance.now();
          const status = await stack.deliverOnce('submitExport', msg);
          deliveryMs.push(performance.now() - d0);
          if (status >= 200 && status < 300) return;
          if (attempt >= 20) throw new Error(`delivery ${tag}-${i} not acknowledged after ${attempt + 1} attempts (last ${status})`);
          redeliveries++;
          await sleep(50);
        }
      });
      return (performance.now() - t0) / 1000;
    };

    const raw = stack.firestore.collection('bench-raw');
    const createMany = async (count: number, doc: Record<string, unknown>) => {
      const t0 = performance.now();
      await forEachConcurrent(count, CONCURRENCY, async () => {
        const id = randomUUID().replace(/-/g, '');
        await raw.doc(id).create({ ...doc, jobId: id });
      });
      return (performance.now() - t0) / 1000;
    };

    // Warm-up of both paths (JIT, gRPC channels, emulator caches); not measured.
    await submitMany(warm, 'warm');
    const one = (await stack.firestore.collection('jobs').limit(1).get()).docs[0];
    if (!one) throw new Error('warm-up created no job');
    const sampleDoc = one.data();
    const docBytes = Buffer.byteLength(JSON.stringify(sampleDoc));
    await createMany(n, sampleDoc); // the emulator's first creates run much slower than later ones

    // Measured: baseline, submit, baseline again (the mean of the two baselines is used, so drift in the emulator shows).
    const baseA = await createMany(n, sampleDoc);
    Object.assign(store, zeroStoreCounts());
    Object.assign(pub, { calls: 0, messages: 0 });
    redeliveries = 0;
    deliveryMs.length = 0;
    const simBefore = sim.stats();
    commits.reset();
    commitWrites = 0;
    for (const k of Object.keys(portMs)) delete portMs[k];
    const submitSecs = await submitMany(n, 'job');
    // Outbox marks still waiting for a commit to ride on are committed within MARK_LINGER_MS; the relay waited for them.
    const commitsRun = commits.count();
    const commitWritesRun = commitWrites;
    const simAfter = sim.stats();
    const storeRun = { ...store, txMs: { ...store.txMs } };
    const deliveryRun = [...deliveryMs];
    const pubRun = { ...pub };
    const redeliveriesRun = redeliveries;
    const baseB = await createMany(n, sampleDoc);

    // Diagnostic: the shape of the intake transaction on bare Firestore — read the job (absent) and the
    // project's slot counter, create the job, write the counter — against the same without a shared counter.
    const hot = await contention(stack, QUICK ? 16 : 24);

    const jobsPerSec = n / submitSecs;
    const createsPerSec = mean([n / baseA, n / baseB]);
    const eeCalls = simAfter.totalRequests - simBefore.totalRequests;
    const eeByMethod = Object.entries(simAfter.requests)
      .map(([m, v]) => [m, v - (simBefore.requests as Record<string, number>)[m]!] as const)
      .filter(([, v]) => v > 0)
      .map(([m, v]) => `${m} ${v}`)
      .join(', ');
    const states = (await stack.firestore.collection('jobs').select('state').get()).docs.reduce<Record<string, number>>((acc, d) => {
      const s = String(d.get('state'));
      acc[s] = (acc[s] ?? 0) + 1;
      return acc;
    }, {});

    notes.push(
      `submit: ${n} distinct messages at concurrency ${CONCURRENCY} in ${round(submitSecs, 2)} s (${redeliveriesRun} redeliveries); job states now ${JSON.stringify(states)}; ` +
        `raw create() baseline ${round(n / baseA, 1)}/s before and ${round(n / baseB, 1)}/s after (mean used), documents copied from a real job document (${docBytes} bytes as JSON).`,
      `submit per job: ${round(commitsRun / n, 2)} Firestore commits (client-side count), ${round(storeRun.transactions / n, 2)} transactions (${round(storeRun.attempts / n, 2)} attempts), ${round(storeRun.reads / n, 2)} transactional reads, ` +
        `${round(storeRun.txWrites / n, 2)} transactional + ${round(commitWritesRun / n, 2)} precondition-commit document writes + ${round(storeRun.sentMarks / n, 2)} outbox marks, ` +
        `${round(storeRun.queries / n, 2)} other reads and queries (the admission count among them); Earth Engine: ${eeByMethod}; Pub/Sub: ${round(pubRun.calls / n, 2)} publish calls, ${round(pubRun.messages / n, 2)} messages.`,
      `submit time per delivery: mean ${round(mean(deliveryRun), 0)} ms (p50 ${round(percentile(deliveryRun, 50), 0)}, p95 ${round(percentile(deliveryRun, 95), 0)}); inside it, transactions by what they write: ` +
        Object.entries(storeRun.txMs)
          .map(([k, v]) => `${k} ×${v.length} mean ${round(mean(v), 0)} ms (p95 ${round(percentile(v, 95), 0)})`)
          .join('; ') +
        '; port calls: ' +
        Object.entries(portMs)
          .map(([k, v]) => `${k} ×${v.length} mean ${round(mean(v), 0)} ms`)
          .join(', ') +
        '.',
    );

    notes.push(
      `submit diagnostic (bare @google-cloud/firestore, ${hot.n} tx each): read job + read one shared counter doc, create job + write counter: ` +
        `${round(hot.shared8.rate, 1)} tx/s at conc 8 (${round(hot.shared8.attempts, 2)} attempts/tx), ${round(hot.shared1.rate, 1)} tx/s at conc 1; ` +
        `same without the shared counter: ${round(hot.free8.rate, 1)} tx/s at conc 8 (${round(hot.free8.attempts, 2)} attempts/tx).`,
    );
    const per = (name: string, v: number, unit: string) => result({ name: `submit: ${name} per job`, value: v / n, unit });
    return [
      result({ name: 'submit throughput (end to end, conc 8)', value: jobsPerSec, unit: 'jobs/s' }, { name: 'Firestore emulator raw create(), conc 8', value: createsPerSec, unit: 'creates/s' }),
      result(
        { name: 'diagnostic: tx on one shared counter doc (intake shape), conc 8', value: hot.shared8.rate, unit: 'tx/s' },
        { name: 'same tx without the shared doc, conc 8', value: hot.free8.rate, unit: 'tx/s' },
      ),
      per('Firestore transactions', storeRun.transactions, 'tx'),
      per('Firestore transaction attempts', storeRun.attempts, 'attempts'),
      per('Firestore document reads', storeRun.reads + storeRun.queries, 'reads'),
      per('Firestore document writes', storeRun.txWrites + commitWritesRun + storeRun.sentMarks, 'writes'),
      per('Firestore commits', commitsRun, 'commits'),
      per('Earth Engine calls', eeCalls, 'calls'),
      per('Pub/Sub publish calls', pubRun.calls, 'calls'),
      per('Pub/Sub messages', pubRun.messages, 'messages'),
    ];
  } finally {
    commits.restore();
    await stack.close();
    await sim.close();
  }
}

/** Transactions shaped like eeport's intake, with and without the per-project counter document they all share. */
async function contention(stack: TestStack, n: number) {
  const db = stack.firestore;
  const run = async (conc: number, shared: boolean) => {
    const tag = randomUUID().slice(0, 8);
    const counter = db.collection('bench-hot').doc(`counter-${tag}`);
    let attempts = 0;
    const t0 = performance.now();
    await forEachConcurrent(n, conc, async (i) => {
      const job = db.collection('bench-hot-jobs').doc(`${tag}-${i}`);
      const own = db.collection('bench-hot').doc(`counter-${tag}-${i}`);
      await db.runTransaction(async (t) => {
        attempts++;
        const c = shared ? counter : own;
        await t.get(job);
        const snap = await t.get(c);
        t.create(job, { i, state: 'SUBMITTING' });
        t.set(c, { inFlight: (Number(snap.get('inFlight')) || 0) + 1 });
        // The shared counter is the point: on a loaded machine the default 5 attempts can run out.
      }, { maxAttempts: 50 });
    });
    return { rate: n / ((performance.now() - t0) / 1000), attempts: attempts / n };
  };
  await run(4, false); // warm-up
  const free8 = await run(CONCURRENCY, false);
  const shared8 = await run(CONCURRENCY, true);
  const shared1 = await run(1, true);
  return { n, free8, shared8, shared1 };
}

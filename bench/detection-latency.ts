/**
 * Figure 3 — detection latency: from the moment a task's end becomes visible in the
 * Earth Engine simulator to the `succeeded` CloudEvent arriving on the events topic
 * (Pub/Sub emulator, streaming-pull subscriber), with the real pollExports service
 * (`run()`), Firestore emulator and real adapters.
 *
 * Time: the simulator's clock is manual and driven by this file in small real-time
 * steps (simulated time = wall time after the start), so the wall time at which each
 * task's end becomes visible is known exactly: it is the step that made it SUCCEEDED.
 * Tasks all start together and end at staggered, seeded offsets.
 *
 * - eeport (the in-invocation loop): a scheduler calls run() every PERIOD seconds with
 *   POLL_WINDOW_SECONDS = WINDOW (25 of 30 s; 10 of 12 s quick: production's 50 of 60 s),
 *   POLL_MIN_INTERVAL_SECONDS = 2 and POLL_INTERVAL_SECONDS = 10 (the defaults). Task
 *   ends are spread over one whole period, so some land in the uncovered tail of the period.
 * - baseline (the loop off): POLL_WINDOW_SECONDS = 0, one cycle per scheduler tick. The
 *   production tick is 60 s; here it ticks every 6 s, and each latency is scaled back to
 *   a 60 s tick by multiplying the part spent waiting for the tick by 10 (the part from
 *   the tick to the event's arrival is kept as measured).
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@google-cloud/pubsub';
import '../functions/src/entry/submit-export.entry.ts';
import { loadConfig } from '../functions/src/config.ts';
import type { CloudEvent } from '../functions/src/core/jobs/index.ts';
import type { PollResult } from '../functions/src/core/poll/index.ts';
import { startSimulator, type Simulator } from '../tools/ee-simulator/index.ts';
import { startTestStack, pushMessage } from '../test/harness/stack.ts';
import { jsClientRequest } from '../test/fakes/requests.ts';
import { QUICK, countingStore, devNullLogSink, log, mean, percentile, prng, result, round, sleep, zeroStoreCounts, type Result } from './lib.ts';
import type { EmulatorHosts } from './submit.ts';

const TICK_MS = 6_000;
const TICK_STANDS_FOR_MS = 60_000;
const LEAD_MS = 2_000;

interface Run {
  latencies: number[];
  /** Baseline only: latencies with the wait for the tick scaled ×10 (a 60 s tick). */
  scaled: number[];
  cycles: number;
  cycleMs: number[];
  transactions: number;
  missing: number;
}

export async function detectionLatencyFigure(emu: EmulatorHosts, notes: string[]): Promise<Result[]> {
  const nTasks = QUICK ? 8 : 20;
  const loopPeriodMs = QUICK ? 12_000 : 30_000;
  const loopWindowS = QUICK ? 10 : 25;
  const baselineSpanMs = QUICK ? 12_000 : 24_000;
  const durations = new Map<string, number>();
  const sim = await startSimulator({
    clock: { mode: 'manual' },
    auth: 'required',
    rateLimitPerSecond: 1_000_000,
    maxConcurrentPerProject: 10_000,
    pendingDelayMs: 0,
    taskDurationMs: (req) => durations.get(req.description) ?? 3_600_000,
  });
  try {
    const loop = await measure(sim, emu, durations, { mode: 'loop', nTasks, periodMs: loopPeriodMs, windowS: loopWindowS, spanMs: loopPeriodMs });
    sim.reset();
    const base = await measure(sim, emu, durations, { mode: 'tick', nTasks, periodMs: TICK_MS, windowS: 0, spanMs: baselineSpanMs });

    const p = (v: number[], q: number) => percentile(v, q) / 1000;
    notes.push(
      `detection: ${nTasks} tasks per mode, ends spread (seeded) over ${loopPeriodMs / 1000} s (loop) / ${baselineSpanMs / 1000} s (baseline). ` +
        `eeport loop: scheduler every ${loopPeriodMs / 1000} s, POLL_WINDOW_SECONDS=${loopWindowS}, min/max interval 2/10 s; ${loop.cycles} cycles, mean cycle ${round(mean(loop.cycleMs), 0)} ms, ` +
        `${round(loop.transactions / Math.max(1, loop.cycles), 1)} Firestore transactions per cycle; p50/p95/max ${round(p(loop.latencies, 50), 2)}/${round(p(loop.latencies, 95), 2)}/${round(Math.max(...loop.latencies) / 1000, 2)} s.`,
      `detection baseline: POLL_WINDOW_SECONDS=0 (one cycle per tick), scheduler tick ${TICK_MS / 1000} s standing for ${TICK_STANDS_FOR_MS / 1000} s; ` +
        `measured at the 6 s tick p50/p95 ${round(p(base.latencies, 50), 2)}/${round(p(base.latencies, 95), 2)} s; scaled to a 60 s tick (time waiting for the tick ×10, tick→arrival as measured) ` +
        `p50/p95 ${round(p(base.scaled, 50), 2)}/${round(p(base.scaled, 95), 2)} s; mean cycle ${round(mean(base.cycleMs), 0)} ms.` +
        (loop.missing + base.missing > 0 ? ` MISSING events: loop ${loop.missing}, baseline ${base.missing}.` : ''),
    );
    const baseName = (q: string) => `loop off: 1 cycle per scheduler tick, 60 s tick (measured at 6 s, tick wait ×10) ${q}`;
    return [
      result({ name: 'detection latency p50 (in-invocation poll loop)', value: p(loop.latencies, 50), unit: 's' }, { name: baseName('p50'), value: p(base.scaled, 50), unit: 's' }),
      result({ name: 'detection latency p95 (in-invocation poll loop)', value: p(loop.latencies, 95), unit: 's' }, { name: baseName('p95'), value: p(base.scaled, 95), unit: 's' }),
      result({ name: 'detection latency p50, loop vs unscaled 6 s tick', value: p(loop.latencies, 50), unit: 's' }, { name: 'loop off, 6 s tick as measured p50', value: p(base.latencies, 50), unit: 's' }),
    ];
  } finally {
    await sim.close();
  }
}

async function measure(
  sim: Simulator,
  emu: EmulatorHosts,
  durations: Map<string, number>,
  o: { mode: 'loop' | 'tick'; nTasks: number; periodMs: number; windowS: number; spanMs: number },
): Promise<Run> {
  const projectId = `bench-lat-${o.mode}-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: projectId,
    FIRESTORE_EMULATOR_HOST: emu.firestoreHost,
    PUBSUB_EMULATOR_HOST: emu.pubsubHost,
    EE_PROJECT: 'ee-bench',
    EE_API_ROOT: sim.url,
    EE_ACCESS_TOKEN: 'bench-token',
    POLL_WINDOW_SECONDS: String(o.windowS),
    POLL_MIN_INTERVAL_SECONDS: '2',
    POLL_INTERVAL_SECONDS: '10',
  });
  const counts = zeroStoreCounts();
  const cycleMs: number[] = [];
  let cycleStart = 0;
  const stack = await startTestStack(config, (a) => {
    const store = countingStore(a.store, counts);
    return {
      ...a,
      // A cycle starts with the outbox sweep's query and ends with its poll.cycle log entry.
      store: { ...store, listUnsentEvents: (l) => ((cycleStart = performance.now()), store.listUnsentEvents(l)) },
      logSink: devNullLogSink((e) => {
        if (e.event === 'poll.cycle') cycleMs.push(performance.now() - cycleStart);
      }),
    };
  });
  const [sub] = await stack.pubsub.topic(config.EVENTS_TOPIC).createSubscription(`bench-lat-${randomUUID().slice(0, 8)}`);
  const arrivals = new Map<string, number>();
  sub.on('message', (m: Message) => {
    const at = performance.now();
    m.ack();
    const ev = JSON.parse(m.data.toString()) as CloudEvent;
    const op = (ev.data as { operationName?: string } | undefined)?.operationName;
    if (ev.type === 'dev.eeport.export.v1.succeeded' && op && !arrivals.has(op)) arrivals.set(op, at);
  });

  let ticker: NodeJS.Timeout | undefined;
  let schedulerTimer: NodeJS.Timeout | undefined;
  const runs: Promise<PollResult | Error>[] = [];
  try {
    // Staggered ends: one per slot of the span, at a seeded random point in its slot.
    const rnd = prng(o.mode === 'loop' ? 17 : 42);
    const tag = `lat-${o.mode}-${randomUUID().slice(0, 6)}`;
    for (let i = 0; i < o.nTasks; i++) durations.set(`${tag}-${i}`, Math.round(LEAD_MS + ((i + rnd()) * o.spanMs) / o.nTasks));
    // Submitted one at a time through submitExport while the simulated clock stands still: every task starts at the same instant.
    for (let i = 0; i < o.nTasks; i++) {
      const status = await stack.deliverOnce('submitExport', pushMessage(jsClientRequest({ description: `${tag}-${i}` })));
      if (status !== 204) throw new Error(`submit answered ${status}`);
    }
    const names = new Set(sim.tasks().filter((t) => t.description.startsWith(tag)).map((t) => t.name));
    if (names.size !== o.nTasks) throw new Error(`expected ${o.nTasks} tasks, found ${names.size}`);
    Object.assign(counts, zeroStoreCounts());

    // From here on, simulated time follows wall time in small steps; each step records which ends became visible.
    const visible = new Map<string, number>();
    const start = performance.now();
    let last = start;
    const step = () => {
      const now = performance.now();
      sim.clock.advance(now - last);
      last = now;
      const seen = performance.now();
      for (const t of sim.tasks()) if (names.has(t.name) && t.state === 'SUCCEEDED' && !visible.has(t.name)) visible.set(t.name, seen);
    };
    ticker = setInterval(step, 20);

    // The scheduler: run() at start + k·period.
    const ticks: number[] = [];
    const svc = stack.services;
    let k = 0;
    const tick = () => {
      ticks.push(performance.now());
      runs.push(svc.pollExports().run().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
      k++;
      schedulerTimer = setTimeout(tick, Math.max(0, start + k * o.periodMs - performance.now()));
    };
    tick();

    const deadline = start + LEAD_MS + o.spanMs + o.periodMs + 20_000;
    while (arrivals.size < o.nTasks && performance.now() < deadline) await sleep(50);
    clearTimeout(schedulerTimer);
    clearInterval(ticker);
    ticker = undefined;

    const latencies: number[] = [];
    const scaled: number[] = [];
    for (const name of names) {
      const v = visible.get(name);
      const a = arrivals.get(name);
      if (v === undefined || a === undefined) continue;
      latencies.push(a - v);
      // The tick whose cycle published it: the last tick before the arrival.
      const t = ticks.filter((x) => x <= a).pop() ?? start;
      scaled.push(a - v + (TICK_STANDS_FOR_MS / TICK_MS - 1) * Math.max(0, t - v));
    }
    // Let the invocations still running see that nothing is live and return (bounded).
    const settled = await Promise.race([Promise.all(runs), sleep(15_000).then(() => null)]);
    const failures = (settled ?? []).filter((r): r is Error => r instanceof Error);
    if (failures.length) throw new Error(`pollExports.run() failed: ${failures[0]!.message}`);
    log(`detection ${o.mode}: ${latencies.length}/${o.nTasks} events, ${ticks.length} scheduler ticks, ${cycleMs.length} cycles`);
    return { latencies, scaled, cycles: cycleMs.length, cycleMs, transactions: counts.transactions, missing: o.nTasks - latencies.length };
  } finally {
    if (ticker) clearInterval(ticker);
    clearTimeout(schedulerTimer);
    sub.removeAllListeners('message');
    await sub.close().catch(() => undefined);
    await sub.delete().catch(() => undefined);
    await stack.close();
  }
}

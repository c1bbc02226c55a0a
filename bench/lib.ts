/**
 * Shared helpers for the benchmark: result records (always a ratio against a baseline
 * measured in the same run), percentiles, bounded concurrency, memory sampling, a
 * seeded PRNG, and counting wrappers around the store and publisher ports.
 */
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { createCloudLoggingSink } from '../functions/src/adapters/log-sink.cloud-logging.ts';
import type { EventPublisher, JobStore, JobTransaction, LogEntry, LogSink } from '../functions/src/core/ports.ts';

export const QUICK = process.env.BENCH_QUICK === '1';

export interface Measure {
  name: string;
  value: number;
  unit: string;
}

export interface Machine {
  cpus: number;
  memGiB: number;
  node: string;
}

export interface Result extends Measure {
  baseline: Measure | null;
  ratio: number | null;
  machine: Machine;
  date: string;
}

export const round = (v: number, digits = 3): number => {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

export function machine(): Machine {
  return { cpus: os.cpus().length, memGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version };
}

/** A result; the ratio is value ÷ baseline value unless given. */
export function result(m: Measure, baseline: Measure | null = null, ratio?: number | null): Result {
  const r = ratio !== undefined ? ratio : baseline && baseline.value !== 0 ? m.value / baseline.value : null;
  return {
    name: m.name,
    value: round(m.value, 4),
    unit: m.unit,
    baseline: baseline ? { ...baseline, value: round(baseline.value, 4) } : null,
    ratio: r === null ? null : round(r, 4),
    machine: machine(),
    date: new Date().toISOString(),
  };
}

/** Percentile with linear interpolation between closest ranks (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);

/** Runs fn over 0..n-1 with at most `concurrency` in flight. */
export async function forEachConcurrent(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Seeded PRNG (mulberry32), so staggered times are the same from run to run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let gcFn: (() => void) | undefined;
/** A full garbage collection (exposes V8's gc() at run time; no node flag needed). */
export function gcNow(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

export const MiB = (bytes: number) => bytes / 2 ** 20;

/** Samples process.memoryUsage() every few ms until stop(); returns the peaks. */
export function memorySampler(everyMs = 5) {
  let peakRss = 0;
  let peakHeap = 0;
  const take = () => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakRss, peakHeap };
    },
  };
}

/**
 * The production log sink (pino, Cloud Logging JSON, redaction) at the production
 * default level, writing to /dev/null: logging costs what it costs in production
 * without flooding the benchmark's output. `tap` sees every entry first.
 */
export function devNullLogSink(tap?: (e: LogEntry) => void): LogSink {
  const sink = createCloudLoggingSink({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: true }) });
  return {
    write(e) {
      tap?.(e);
      sink.write(e);
    },
  };
}

export interface StoreCounts {
  /** store.transact() calls. */
  transactions: number;
  /** Transaction bodies run (more than transactions when Firestore retried on contention). */
  attempts: number;
  /** tx.get*() calls over every attempt (each is a document read). */
  reads: number;
  /** Documents written by committed transactions: each tx.set*()/create*()/update*() call, one per event in addEvents. */
  txWrites: number;
  /** markEventsSent: documents updated, and the batches (commits) they took. */
  sentMarks: number;
  sentBatches: number;
  /** Non-transactional reads: getJob and the list queries. */
  queries: number;
  /** Wall time of each transact() call, by the kinds of write its committed attempt made (e.g. "createJob+setSlots"; "read-only"). */
  txMs: Record<string, number[]>;
}

export const zeroStoreCounts = (): StoreCounts => ({ transactions: 0, attempts: 0, reads: 0, txWrites: 0, sentMarks: 0, sentBatches: 0, queries: 0, txMs: {} });

const READ = /^get/;
const WRITE = /^(set|create|update|add)/;

/**
 * Wraps a JobStore so every transaction, read and write is counted. Proxies, not a
 * fixed list of methods, so ports that grow new methods pass straight through.
 */
export function countingStore(inner: JobStore, c: StoreCounts): JobStore {
  type Attempt = { writes: number; kinds: Set<string> };
  const countingTx = (tx: JobTransaction, attempt: Attempt): JobTransaction =>
    new Proxy(tx, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          if (READ.test(prop)) c.reads++;
          else if (WRITE.test(prop)) {
            attempt.writes += prop === 'addEvents' ? (args[0] as unknown[]).length : 1;
            if (prop !== 'addEvents') attempt.kinds.add(prop);
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const transact: JobStore['transact'] = async (fn) => {
    c.transactions++;
    const t0 = performance.now();
    let committed: Attempt = { writes: 0, kinds: new Set() };
    const out = await inner.transact((tx) => {
      c.attempts++;
      const attempt: Attempt = { writes: 0, kinds: new Set() };
      // The last attempt whose body completes is the one that committed.
      return fn(countingTx(tx, attempt)).then((r) => {
        committed = attempt;
        return r;
      });
    });
    c.txWrites += committed.writes;
    (c.txMs[[...committed.kinds].sort().join('+') || 'read-only'] ??= []).push(performance.now() - t0);
    return out;
  };
  const markEventsSent: JobStore['markEventsSent'] = (ids) => {
    c.sentMarks += ids.length;
    c.sentBatches += Math.ceil(ids.length / 500);
    return inner.markEventsSent(ids);
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'transact') return transact;
      if (prop === 'markEventsSent') return markEventsSent;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        if (/^(get|list)/.test(prop)) c.queries++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

export interface PublishCounts {
  calls: number;
  messages: number;
}

export function countingPublisher(inner: EventPublisher, c: PublishCounts): EventPublisher {
  return {
    publish(events) {
      c.calls++;
      c.messages += events.length;
      return inner.publish(events);
    },
  };
}

/** Prints the results as a fixed-width table. */
export function printTable(results: Result[]): void {
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4));
  const rows = results.map((r) => [r.name, `${fmt(r.value)} ${r.unit}`, r.baseline ? `${fmt(r.baseline.value)} ${r.baseline.unit}  (${r.baseline.name})` : '—', r.ratio === null ? '—' : `${fmt(r.ratio)}×`]);
  const head = ['figure', 'value', 'baseline (same run)', 'ratio'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 3 || i === 1 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('-+-'));
  for (const r of rows) console.log(line(r));
}

export function writeResults(path: string, results: Result[]): void {
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
}

/** Progress lines go to stderr, so stdout holds only the notes and the table. */
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Wall time spent in each method of a port (async calls only), keyed `label.method`; for "where does a delivery's time go" notes. */
export type PortTimes = Record<string, number[]>;
export function timedPort<T extends object>(inner: T, label: string, times: PortTimes): T {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const out = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (!(out instanceof Promise)) return out;
        return out.finally(() => (times[`${label}.${prop}`] ??= []).push(performance.now() - t0));
      };
    },
  });
}

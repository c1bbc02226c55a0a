/**
 * Where a drain's time goes, for the batch figure's poller process: the wall time of
 * every port call, by what it did. Transactions are named by the job transitions their
 * committed attempt wrote (a fenced QUEUED → SUBMITTING is a release claim, an unfenced
 * SUBMITTING → … a record, a fenced change of a live job an applied operation, …);
 * precondition commits likewise; Earth Engine calls, publishes and queries by method.
 * The poller runs these mostly one after another, so the sums say which part a cycle
 * spends its time in; calls run concurrently add up to more than the wall time they took.
 */
import type { EarthEngine, EventPublisher, JobStore, JobTransaction, JobCommit } from '../functions/src/core/ports.ts';
import type { Job } from '../functions/src/core/jobs/index.ts';

/** Per kind of call: how many, and their summed wall time. */
export type DrainProfile = Record<string, { calls: number; ms: number; jobs: number }>;

function add(p: DrainProfile, kind: string, ms: number, jobs = 0): void {
  const e = (p[kind] ??= { calls: 0, ms: 0, jobs: 0 });
  e.calls++;
  e.ms += ms;
  e.jobs += jobs;
}

/** A transaction attempt's writes, named. */
function kindOf(fenced: boolean, writes: { prev: Job | null; next: Job }[], other: Set<string>): string {
  const moves = [...new Set(writes.map((w) => (w.prev ? `${w.prev.state}→${w.next.state}` : `new ${w.next.state}`)))].sort();
  if (moves.length === 0) return `tx ${fenced ? 'fenced ' : ''}${[...other].sort().join('+') || 'read-only'}`;
  const what = moves.includes('QUEUED→SUBMITTING') ? 'release claim' : moves.every((m) => m.startsWith('SUBMITTING→')) && !fenced ? 'record' : fenced ? 'apply operation' : 'job write';
  return `tx ${what} (${moves.join(', ')})`;
}

export function profiledStore(inner: JobStore, p: DrainProfile): JobStore {
  const transact: JobStore['transact'] = async (fn) => {
    const t0 = performance.now();
    let kind = 'tx';
    let jobs = 0;
    const out = await inner.transact(async (tx) => {
      const reads = new Map<string, Job | null>();
      const writes: { prev: Job | null; next: Job }[] = [];
      const other = new Set<string>();
      let fenced = false;
      const wrapped: JobTransaction = new Proxy(tx, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver) as unknown;
          if (typeof v !== 'function' || typeof prop !== 'string') return v;
          if (prop === 'getJob')
            return async (id: string) => {
              const j = await tx.getJob(id);
              reads.set(id, j);
              return j;
            };
          if (prop === 'getLease') fenced = true;
          if (prop === 'updateJob' || prop === 'createJob')
            return (job: Job) => {
              writes.push({ prev: reads.get(job.jobId) ?? null, next: job });
              (v as (j: Job) => void).call(target, job);
            };
          if (/^(set|create)/.test(prop)) other.add(prop);
          return (...args: unknown[]) => (v as (...a: unknown[]) => unknown).apply(target, args);
        },
      });
      const r = await fn(wrapped);
      // The last attempt whose body completes is the one that committed.
      kind = kindOf(fenced, writes, other);
      jobs = writes.length;
      return r;
    });
    add(p, kind, performance.now() - t0, jobs);
    return out;
  };
  const commit = async (w: JobCommit) => {
    const t0 = performance.now();
    const out = await inner.commit(w);
    add(p, 'create' in w ? `commit create ${w.create.state}` : `commit record (SUBMITTING→${w.update.state})`, performance.now() - t0, 1);
    return out;
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'transact') return transact;
      if (prop === 'commit') return commit;
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const ret = (v as (...a: unknown[]) => unknown).apply(target, args);
        // A streamed query (liveJobPages): the time spent waiting for each page, not the caller's handling of it.
        if (typeof ret === 'object' && ret !== null && !(ret instanceof Promise) && Symbol.asyncIterator in ret) {
          return (async function* () {
            const it = (ret as AsyncIterable<unknown>)[Symbol.asyncIterator]();
            try {
              for (;;) {
                const w0 = performance.now();
                const r = await it.next();
                add(p, `store.${prop} (a page)`, performance.now() - w0);
                if (r.done) return;
                yield r.value;
              }
            } finally {
              await it.return?.();
            }
          })();
        }
        return Promise.resolve(ret).finally(() => add(p, `store.${prop}`, performance.now() - t0));
      };
    },
  });
}

/** Earth Engine or the publisher: each method's calls and time. */
export function profiledPort<T extends EarthEngine | EventPublisher>(inner: T, label: string, p: DrainProfile): T {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          add(p, `${label}.${prop}`, performance.now() - t0, label === 'publisher' && Array.isArray(args[0]) ? args[0].length : 0);
        }
      };
    },
  });
}

/** The profile as lines, the most time first. */
export function profileLines(p: DrainProfile, wallMs: number): string[] {
  return Object.entries(p)
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([k, e]) => `${k}: ${e.calls} calls${e.jobs ? ` (${e.jobs} ${k.startsWith('publisher') ? 'events' : 'jobs'})` : ''}, ${(e.ms / 1000).toFixed(1)} s (${((100 * e.ms) / wallMs).toFixed(0)}% of the wall time), ${(e.ms / e.calls).toFixed(1)} ms each`);
}

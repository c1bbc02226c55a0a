/**
 * Firestore operations counted at the job-store port, for the 100,000-child batch
 * figure: documents read, documents written and aggregation queries, across every
 * store method (transactions, precondition commits, chunked creates, queries), so an
 * "operations per child" figure covers accept, admission, polling and the batch's
 * refreshes alike. A Proxy, so methods the port grows pass through and are still
 * classified by what they return.
 */
import { JOB_STATES } from '../functions/src/core/jobs/index.ts';
import type { JobStore, JobTransaction } from '../functions/src/core/ports.ts';

export interface OpCounts {
  /** Documents read: transactional gets (every attempt), documents returned by queries, the reads a chunked create makes. */
  reads: number;
  /** Documents written: by committed transactions, precondition commits, chunked creates, outbox marks. */
  writes: number;
  /** Aggregation queries (count/sum): billed by index entries (one read per 1,000), not per document. */
  aggregations: number;
  /** Non-transactional queries and gets (each also counted in reads by the documents it returned). */
  queries: number;
  transactions: number;
  attempts: number;
}

export const zeroOps = (): OpCounts => ({ reads: 0, writes: 0, aggregations: 0, queries: 0, transactions: 0, attempts: 0 });

export function addOps(a: OpCounts, b: OpCounts): OpCounts {
  return { reads: a.reads + b.reads, writes: a.writes + b.writes, aggregations: a.aggregations + b.aggregations, queries: a.queries + b.queries, transactions: a.transactions + b.transactions, attempts: a.attempts + b.attempts };
}

/** Documents a query's answer holds: a list, a page ({jobs}, {batches}, …), a map, or one document. */
function documentsIn(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  if (typeof v === 'object') {
    const lists = Object.values(v).filter(Array.isArray);
    return lists.length ? lists.reduce((n, l) => n + l.length, 0) : 1;
  }
  return 0;
}

export function countOps(inner: JobStore, c: OpCounts): JobStore {
  const tx = (t: JobTransaction, attempt: { writes: number }): JobTransaction =>
    new Proxy(t, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          if (/^get/.test(prop)) c.reads++;
          else if (/^(set|create|update)/.test(prop)) attempt.writes++;
          else if (prop === 'addEvents') attempt.writes += (args[0] as unknown[]).length;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const special: Record<string, unknown> = {
    transact: async <T>(fn: (t: JobTransaction) => Promise<T>): Promise<T> => {
      c.transactions++;
      let committed = 0;
      const out = await inner.transact(async (t) => {
        c.attempts++;
        const attempt = { writes: 0 };
        const r = await fn(tx(t, attempt));
        // The last attempt whose body completes is the one that committed.
        committed = attempt.writes;
        return r;
      });
      c.writes += committed;
      return out;
    },
    // A precondition write without a transaction, on stores whose port has one: the job, its events, its requestId owner.
    commit: async (w: { events: unknown[]; requestIdOwner?: string }) => {
      const out = await (inner as unknown as { commit(w: unknown): Promise<{ ok: boolean }> }).commit(w);
      if (out.ok) c.writes += 1 + w.events.length + (w.requestIdOwner ? 1 : 0);
      return out;
    },
    createJobsIfAbsent: async (jobs: Parameters<JobStore['createJobsIfAbsent']>[0]) => {
      const n = await inner.createJobsIfAbsent(jobs);
      // Each chunk reads every job it may create (create-if-absent), then creates the missing ones.
      c.reads += jobs.length;
      c.writes += n;
      return n;
    },
    markEventsSent: async (ids: string[]) => {
      await inner.markEventsSent(ids);
      c.writes += ids.length;
    },
    // One count/sum aggregation per job state.
    batchStats: async (batchId: string) => {
      c.aggregations += JOB_STATES.length;
      return inner.batchStats(batchId);
    },
    countJobsByState: async (tenantId?: string | null) => {
      c.aggregations += JOB_STATES.length;
      return inner.countJobsByState(tenantId);
    },
  };
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in special) return special[prop];
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        const ret = (v as (...a: unknown[]) => unknown).apply(target, args);
        // A streamed query (liveJobPages): one query, the documents of each page as it is handed over.
        if (isAsyncIterable(ret)) {
          c.queries++;
          return (async function* () {
            for await (const page of ret) {
              c.reads += documentsIn(page);
              yield page;
            }
          })();
        }
        return counted(prop, ret);
      };
    },
  });
  /** A query or get answered at once: its documents, or an aggregation. */
  async function counted(prop: string, ret: unknown): Promise<unknown> {
    const out = await ret;
    if (typeof out === 'number') c.aggregations++;
    else {
      c.queries++;
      // A get is one document (whatever arrays it holds); a list or page, the documents it returned.
      c.reads += prop.startsWith('get') ? (out === null ? 0 : 1) : documentsIn(out);
      if (process.env.BENCH_DEBUG_READS && documentsIn(out) > 100) process.stderr.write(`[op-count] ${prop} read ${documentsIn(out)}\n`);
    }
    return out;
  }
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> => typeof v === 'object' && v !== null && !(v instanceof Promise) && Symbol.asyncIterator in v;

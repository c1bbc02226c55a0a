/**
 * Crash injection at the adapter boundary, like the integration tests' wrappers around
 * `store.transact` and the publisher, generalised: a crash is armed for one step and
 * fires the first time that step is reached.
 *
 * What "crash" means depends on where the function runs:
 *  - in this process (`kill`): a kill switch. From the crash on, every call the dead
 *    invocation makes to the store, the publisher, Earth Engine or the webhook sender
 *    throws, so nothing more reaches the outside world — not even the use case's own
 *    error handling (which a dead process would never run). `revive()` is the next
 *    instance starting.
 *  - in a child process (`exit`): `process.exit(137)`, a real death.
 *
 * Steps are recognised by what a transaction does (TxInfo): which job it read and
 * wrote, in which states, whether it read the poller lease (fenced), which webhook
 * deliveries and events it wrote. A precondition write (`store.commit`, the submit's
 * intake and record since ADR 0012) is described the same way and crashes at the same
 * steps: before it is sent, or after it landed.
 */
import type { Adapters } from '../../../functions/src/composition-root.ts';
import type { Job } from '../../../functions/src/core/jobs/job.ts';
import type { CloudEvent } from '../../../functions/src/core/jobs/events.ts';
import type { JobCommit, JobTransaction, WebhookDelivery } from '../../../functions/src/core/ports.ts';

export interface JobWrite {
  prev: Job | null;
  next: Job;
  created: boolean;
}

/** What one transaction attempt (or one precondition write) did. */
export interface TxInfo {
  /** Read the poller lease: a fenced poller transaction. */
  fenced: boolean;
  jobWrites: JobWrite[];
  deliveries: WebhookDelivery[];
  events: CloudEvent[];
}

export type CrashSpec =
  | { at: 'tx-after-commit' | 'tx-before-commit'; step: string; match: (tx: TxInfo) => boolean; skip?: number }
  | { at: 'ee-after'; step: string; method: 'exportImage' | 'getOperation' | 'listOperations' | 'cancelOperation' | 'listImages'; skip?: number }
  | { at: 'publish-after'; step: string; skip?: number }
  | { at: 'mark-sent-before'; step: string; skip?: number }
  | { at: 'send-after'; step: string; skip?: number };

export class KilledError extends Error {
  constructor(step: string) {
    super(`process killed at ${step} (injected)`);
    this.name = 'KilledError';
  }
}

/** Transaction shapes of the steps the suite crashes at. */
export const TX = {
  /** Intake: a job created in SUBMITTING (it holds a lease and a slot), by a precondition create or a transaction. */
  intakeSubmitting: (tx: TxInfo) => tx.jobWrites.some((w) => w.created && w.next.state === 'SUBMITTING'),
  /** Intake of any kind (SUBMITTING, QUEUED, REJECTED). */
  intake: (tx: TxInfo) => tx.jobWrites.some((w) => w.created),
  /** The record after image:export: SUBMITTING → the operation's state. */
  record: (tx: TxInfo) => !tx.fenced && tx.jobWrites.some((w) => w.prev?.state === 'SUBMITTING' && w.next.state !== 'SUBMITTING' && w.next.operationName !== null),
  /** The poller applying an operation: a fenced state change of a job with an operation. */
  applyChange: (tx: TxInfo) => tx.fenced && tx.jobWrites.some((w) => w.prev !== null && w.prev.state !== w.next.state && w.prev.state !== 'QUEUED' && w.prev.state !== 'SUBMITTING'),
  /** The poller releasing a queued job: QUEUED → SUBMITTING, fenced. */
  release: (tx: TxInfo) => tx.fenced && tx.jobWrites.some((w) => w.prev?.state === 'QUEUED' && w.next.state === 'SUBMITTING'),
  /** cancelJob marking a live job (no state change yet). */
  cancelMark: (tx: TxInfo) => !tx.fenced && tx.jobWrites.some((w) => w.prev !== null && w.prev.state === w.next.state && w.prev.cancelRequestedAt === null && w.next.cancelRequestedAt !== null),
  /** A webhook delivery claimed for an attempt. */
  webhookClaim: (tx: TxInfo) => tx.deliveries.some((d) => d.state === 'delivering'),
  /** A webhook attempt's outcome recorded. */
  webhookRecord: (tx: TxInfo) => tx.deliveries.some((d) => d.state !== 'delivering' && d.attempts > 0),
};

export class CrashController {
  private armed: CrashSpec | null = null;
  private skipped = 0;
  private dead = false;
  /** Steps that fired, in order. */
  readonly fired: string[] = [];

  constructor(private readonly mode: 'kill' | 'exit' = 'kill') {}

  arm(spec: CrashSpec): void {
    this.armed = spec;
    this.skipped = 0;
  }
  disarm(): void {
    this.armed = null;
  }
  get isArmed(): boolean {
    return this.armed !== null;
  }
  get isDead(): boolean {
    return this.dead;
  }
  /** The next instance: calls go through again. */
  revive(): void {
    this.dead = false;
  }

  /** Throws if the process is dead (in kill mode). */
  guard(): void {
    if (this.dead) throw new KilledError('(already dead)');
  }

  /** Called at each hook; crashes when the armed spec matches. */
  maybeCrash(at: CrashSpec['at'], matches: (spec: CrashSpec) => boolean): void {
    const spec = this.armed;
    if (!spec || spec.at !== at || !matches(spec)) return;
    if (this.skipped < (spec.skip ?? 0)) {
      this.skipped++;
      return;
    }
    this.armed = null;
    this.fired.push(spec.step);
    if (this.mode === 'exit') {
      process.stderr.write(`[crash-child] exiting at ${spec.step}\n`);
      process.exit(137);
    }
    this.dead = true;
    throw new KilledError(spec.step);
  }
}

/** Wraps the adapters so that `controller` can crash them at the armed step. */
export function crashableAdapters(a: Adapters, c: CrashController): Adapters {
  const store = a.store;
  const ee = a.ee;
  const publisher = a.publisher;
  const sender = a.webhookSender;
  const guarded =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      c.guard();
      const r = await fn(...args);
      c.guard();
      return r;
    };

  const wrappedStore: Adapters['store'] = {
    ...store,
    getJob: guarded((id: string) => store.getJob(id)),
    listLiveJobs: guarded((n: number) => store.listLiveJobs(n)),
    async *liveJobPages(q: { after?: string | null; limit: number; pageSize: number }) {
      c.guard();
      for await (const page of store.liveJobPages(q)) {
        c.guard();
        yield page;
      }
    },
    listQueuedJobs: guarded((p: string, n: number) => store.listQueuedJobs(p, n)),
    listQueuedProjects: guarded(() => store.listQueuedProjects()),
    listUnsentEvents: guarded((n: number) => store.listUnsentEvents(n)),
    listDueDeliveries: guarded((now: string, n: number) => store.listDueDeliveries(now, n)),
    async markEventsSent(ids: string[]) {
      c.guard();
      c.maybeCrash('mark-sent-before', () => true);
      await store.markEventsSent(ids);
      c.guard();
    },
    async commit(w: JobCommit) {
      c.guard();
      const next = 'create' in w ? w.create : w.update;
      // The job as stored now: what the write replaces when its precondition holds (a harness-only read).
      const prev = 'create' in w ? null : await store.getJob(next.jobId);
      const info: TxInfo = { fenced: false, jobWrites: [{ prev, next, created: 'create' in w }], deliveries: [], events: [...w.events] };
      c.maybeCrash('tx-before-commit', (s) => s.at === 'tx-before-commit' && s.match(info));
      const out = await store.commit(w);
      c.guard();
      if (out.ok) c.maybeCrash('tx-after-commit', (s) => s.at === 'tx-after-commit' && s.match(info));
      return out;
    },
    async transact<T>(fn: (tx: JobTransaction) => Promise<T>): Promise<T> {
      c.guard();
      let info: TxInfo | undefined;
      const result = await store.transact(async (tx) => {
        c.guard();
        const reads = new Map<string, Job | null>();
        const attempt: TxInfo = { fenced: false, jobWrites: [], deliveries: [], events: [] };
        const wrapped: JobTransaction = {
          ...tx,
          getJob: async (id) => {
            c.guard();
            const j = await tx.getJob(id);
            reads.set(id, j);
            return j;
          },
          getLease: async (name) => {
            c.guard();
            attempt.fenced = true;
            return tx.getLease(name);
          },
          createJob: (job) => {
            attempt.jobWrites.push({ prev: null, next: job, created: true });
            tx.createJob(job);
          },
          updateJob: (job) => {
            attempt.jobWrites.push({ prev: reads.get(job.jobId) ?? null, next: job, created: false });
            tx.updateJob(job);
          },
          setDelivery: (d) => {
            attempt.deliveries.push(d);
            tx.setDelivery(d);
          },
          addEvents: (events) => {
            attempt.events.push(...events);
            tx.addEvents(events);
          },
        };
        const out = await fn(wrapped);
        c.guard();
        c.maybeCrash('tx-before-commit', (s) => s.at === 'tx-before-commit' && s.match(attempt));
        info = attempt;
        return out;
      });
      c.guard();
      if (info) {
        const committed = info;
        c.maybeCrash('tx-after-commit', (s) => s.at === 'tx-after-commit' && s.match(committed));
      }
      return result;
    },
  };

  const eeCall =
    <K extends 'exportImage' | 'getOperation' | 'listOperations' | 'cancelOperation' | 'listImages'>(method: K) =>
    async (...args: Parameters<Adapters['ee'][K]>): Promise<Awaited<ReturnType<Adapters['ee'][K]>>> => {
      c.guard();
      const r = await (ee[method] as (...x: unknown[]) => Promise<Awaited<ReturnType<Adapters['ee'][K]>>>)(...args);
      c.guard();
      c.maybeCrash('ee-after', (s) => s.at === 'ee-after' && s.method === method);
      return r;
    };

  return {
    ...a,
    store: wrappedStore,
    ee: {
      exportImage: eeCall('exportImage'),
      getOperation: eeCall('getOperation'),
      listOperations: eeCall('listOperations'),
      cancelOperation: eeCall('cancelOperation'),
      listImages: eeCall('listImages'),
    },
    publisher: {
      async publish(events) {
        c.guard();
        await publisher.publish(events);
        c.guard();
        c.maybeCrash('publish-after', () => true);
      },
    },
    webhookSender: {
      async post(url, body, headers) {
        c.guard();
        const r = await sender.post(url, body, headers);
        c.guard();
        c.maybeCrash('send-after', () => true);
        return r;
      },
    },
  };
}

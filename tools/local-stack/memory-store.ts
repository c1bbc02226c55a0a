/**
 * The in-memory JobStore of the local stack's fallback mode (no Firestore emulator on
 * this machine). Transactions are serialized, one at a time, and commit atomically:
 * the isolation the core relies on from Firestore. Everything is lost when the stack
 * stops. MemoryStore is test/fakes/memory-store.ts's, verbatim (test hooks included),
 * so that file can re-export it from here: keep the two in step until it does.
 */
import { type Job, JOB_STATES, LIVE_STATES, eventAttributes, type CloudEvent, type JobState } from '../../functions/src/core/jobs/index.ts';
import type { BudgetUsage } from '../../functions/src/core/budgets/index.ts';
import type { Batch, BatchState, BatchStats, BatchEstimateSum } from '../../functions/src/core/batches/index.ts';
import type { Schedule } from '../../functions/src/core/schedules/index.ts';
import type { Chain } from '../../functions/src/core/chains/index.ts';
import { InvalidPageTokenError } from '../../functions/src/core/kernel/index.ts';
import type { BatchListQuery, CommitOutcome, EventPublisher, JobCommit, JobListQuery, JobStore, JobTransaction, Lease, OutboxEntry, WebhookDelivery, WebhookEndpoint } from '../../functions/src/core/ports.ts';
import type { Broker } from './broker.ts';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore implements JobStore {
  jobs = new Map<string, Job>();
  /** jobId → the revision of its stored document (a store-wide write counter), for commit's `ifRev`. */
  private revs = new Map<string, number>();
  private writeSeq = 0;
  leases = new Map<string, Lease>();
  /** requestId → the job that sent it (Earth Engine deduplicates on it). */
  requestIds = new Map<string, string>();
  deliveries = new Map<string, WebhookDelivery>();
  budgets = new Map<string, BudgetUsage>();
  batches = new Map<string, Batch>();
  schedules = new Map<string, Schedule>();
  chains = new Map<string, Chain>();
  endpoints = new Map<string, WebhookEndpoint>();
  outbox = new Map<string, { event: CloudEvent; sent: boolean; createTime: string }>();
  transactions = 0;
  /** Throw from here to make the next commit fail (a crash before the write landed). */
  beforeCommit: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  transact<T>(fn: (tx: JobTransaction) => Promise<T>): Promise<T> {
    const run = async () => {
      this.transactions++;
      const writes: (() => void)[] = [];
      let wrote = false;
      const read = () => {
        if (wrote) throw new Error('read after write in a transaction');
      };
      const tx: JobTransaction = {
        getJob: async (id) => (read(), clone(this.jobs.get(id) ?? null)),
        getLease: async (n) => (read(), clone(this.leases.get(n) ?? null)),
        getRequestIdOwner: async (rid) => (read(), this.requestIds.get(rid) ?? null),
        setRequestIdOwner: (rid, jobId) => {
          wrote = true;
          if (this.requestIds.has(rid)) throw new Error(`ALREADY_EXISTS requestIds/${rid}`);
          writes.push(() => this.requestIds.set(rid, jobId));
        },
        createJob: (job) => {
          wrote = true;
          if (this.jobs.has(job.jobId)) throw new Error(`ALREADY_EXISTS jobs/${job.jobId}`);
          writes.push(() => this.putJob(job));
        },
        updateJob: (job) => {
          wrote = true;
          writes.push(() => this.putJob(job));
        },
        setLease: (l) => {
          wrote = true;
          writes.push(() => this.leases.set(l.name, clone(l)));
        },
        getDelivery: async (id) => (read(), clone(this.deliveries.get(id) ?? null)),
        getEndpoint: async (url) => (read(), clone(this.endpoints.get(url) ?? null)),
        getBatch: async (id) => (read(), clone(this.batches.get(id) ?? null)),
        setBatch: (b) => {
          wrote = true;
          writes.push(() => this.batches.set(b.batchId, clone(b)));
        },
        getSchedule: async (id) => (read(), clone(this.schedules.get(id) ?? null)),
        setSchedule: (sc) => {
          wrote = true;
          writes.push(() => this.schedules.set(sc.scheduleId, clone(sc)));
        },
        getChain: async (id) => (read(), clone(this.chains.get(id) ?? null)),
        setChain: (ch) => {
          wrote = true;
          writes.push(() => this.chains.set(ch.chainId, clone(ch)));
        },
        getBudgetUsage: async (id) => (read(), clone(this.budgets.get(id) ?? null)),
        setBudgetUsage: (u) => {
          wrote = true;
          writes.push(() => this.budgets.set(u.id, clone(u)));
        },
        setDelivery: (d) => {
          wrote = true;
          writes.push(() => this.deliveries.set(d.eventId, clone(d)));
        },
        setEndpoint: (e) => {
          wrote = true;
          writes.push(() => this.endpoints.set(e.url, clone(e)));
        },
        addEvents: (events) => {
          wrote = true;
          for (const ev of events) {
            if (this.outbox.has(ev.id)) throw new Error(`ALREADY_EXISTS outbox/${ev.id}`);
            writes.push(() => this.outbox.set(ev.id, { event: clone(ev), sent: false, createTime: ev.time }));
          }
        },
      };
      const result = await fn(tx);
      this.beforeCommit?.();
      for (const w of writes) w();
      return result;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private putJob(job: Job): number {
    this.jobs.set(job.jobId, clone(job));
    const rev = ++this.writeSeq;
    this.revs.set(job.jobId, rev);
    return rev;
  }

  /** Serialized with the transactions, and atomic like them; `beforeCommit` fails it too. */
  commit(w: JobCommit): Promise<CommitOutcome> {
    const run = async (): Promise<CommitOutcome> => {
      const job = 'create' in w ? w.create : w.update;
      if ('create' in w && (this.jobs.has(job.jobId) || (w.requestIdOwner !== undefined && this.requestIds.has(w.requestIdOwner)))) return { ok: false, reason: 'exists' };
      if ('update' in w && String(this.revs.get(job.jobId)) !== w.ifRev) return { ok: false, reason: 'changed' };
      if (w.events.some((ev) => this.outbox.has(ev.id))) return { ok: false, reason: 'create' in w ? 'exists' : 'changed' };
      this.beforeCommit?.();
      const rev = this.putJob(job);
      if ('create' in w && w.requestIdOwner !== undefined) this.requestIds.set(w.requestIdOwner, job.jobId);
      for (const ev of w.events) this.outbox.set(ev.id, { event: clone(ev), sent: false, createTime: ev.time });
      return { ok: true, rev: String(rev) };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async getJob(id: string) {
    return clone(this.jobs.get(id) ?? null);
  }
  async listLiveJobs(limit: number) {
    return [...this.jobs.values()]
      .filter((j) => LIVE_STATES.includes(j.state))
      .sort((a, b) => (a.nextPollAt ?? '').localeCompare(b.nextPollAt ?? ''))
      .slice(0, limit)
      .map(clone);
  }
  async *liveJobPages({ after, limit, pageSize }: { after?: string | null; limit: number; pageSize: number }) {
    const ids = [...this.jobs.values()]
      .filter((j) => LIVE_STATES.includes(j.state) && (!after || j.jobId > after))
      .map((j) => j.jobId)
      .sort()
      .slice(0, limit);
    // Each page cloned as it is handed over, as a streamed query reads it: a job written meanwhile is seen as written.
    for (let i = 0; i < ids.length; i += pageSize) {
      yield ids
        .slice(i, i + pageSize)
        .map((id) => this.jobs.get(id))
        .filter((j): j is Job => !!j && LIVE_STATES.includes(j.state))
        .map(clone);
    }
  }
  async listQueuedJobs(eeProject: string, limit: number) {
    return [...this.jobs.values()]
      .filter((j) => j.eeProject === eeProject && j.state === 'QUEUED')
      .sort((a, b) => b.priority - a.priority || a.createTime.localeCompare(b.createTime))
      .slice(0, limit)
      .map(clone);
  }
  async ownersOfOperations(names: string[]) {
    const wanted = new Set(names);
    const owners = new Map<string, string>();
    for (const j of this.jobs.values()) {
      for (const n of [j.operationName, ...j.previousOperations]) if (n && wanted.has(n)) owners.set(n, j.jobId);
    }
    return owners;
  }
  async listQueuedProjects() {
    return [...new Set([...this.jobs.values()].filter((j) => j.state === 'QUEUED').map((j) => j.eeProject))];
  }
  async listJobs(q: JobListQuery) {
    let list = [...this.jobs.values()];
    if (q.tenantId !== undefined) list = list.filter((j) => j.tenantId === q.tenantId);
    if (q.states?.length) list = list.filter((j) => q.states!.includes(j.state));
    if (q.eeProject) list = list.filter((j) => j.eeProject === q.eeProject);
    if (q.label) list = list.filter((j) => j.labels[q.label!.key] === q.label!.value);
    // As the Firestore store: updatedAfter inclusive, updatedBefore exclusive.
    if (q.updatedAfter) list = list.filter((j) => j.updateTime >= q.updatedAfter!);
    if (q.updatedBefore) list = list.filter((j) => j.updateTime < q.updatedBefore!);
    list.sort((a, b) => b.updateTime.localeCompare(a.updateTime) || b.jobId.localeCompare(a.jobId));
    const start = q.pageToken ? Number(q.pageToken) : 0;
    const page = list.slice(start, start + q.pageSize);
    return { jobs: page.map(clone), nextPageToken: start + q.pageSize < list.length ? String(start + q.pageSize) : null };
  }
  async listUnsentEvents(limit: number): Promise<OutboxEntry[]> {
    return [...this.outbox.entries()]
      .filter(([, e]) => !e.sent)
      .sort((a, b) => a[1].createTime.localeCompare(b[1].createTime))
      .slice(0, limit)
      .map(([id, e]) => ({ id, event: clone(e.event), createTime: e.createTime }));
  }
  async inFlight(eeProject: string) {
    let n = 0;
    for (const j of this.jobs.values()) if (j.eeProject === eeProject && LIVE_STATES.includes(j.state)) n++;
    return n;
  }
  async getBatch(id: string) {
    return clone(this.batches.get(id) ?? null);
  }
  async getSchedule(id: string) {
    return clone(this.schedules.get(id) ?? null);
  }
  async getChain(id: string) {
    return clone(this.chains.get(id) ?? null);
  }
  async listDueChains(now: string, limit: number) {
    return [...this.chains.values()].filter((c) => c.state === 'ACTIVE' && c.dueAt !== null && c.dueAt <= now).sort((a, b) => a.dueAt!.localeCompare(b.dueAt!)).slice(0, limit).map(clone);
  }
  async listChains(q: { pageSize: number; pageToken?: string; tenantId?: string | null }) {
    const list = [...this.chains.values()].filter((c) => q.tenantId === undefined || c.tenantId === q.tenantId).sort((a, b) => b.createTime.localeCompare(a.createTime) || b.chainId.localeCompare(a.chainId));
    const start = q.pageToken ? Number(q.pageToken) : 0;
    if (!Number.isInteger(start) || start < 0) throw new InvalidPageTokenError('not a page token of this list');
    return { chains: list.slice(start, start + q.pageSize).map(clone), nextPageToken: start + q.pageSize < list.length ? String(start + q.pageSize) : null };
  }
  async listDueSchedules(now: string, limit: number) {
    return [...this.schedules.values()].filter((s) => s.state === 'ACTIVE' && s.dueAt !== null && s.dueAt <= now).sort((a, b) => a.dueAt!.localeCompare(b.dueAt!)).slice(0, limit).map(clone);
  }
  async listSchedules(q: { pageSize: number; pageToken?: string; tenantId?: string | null }) {
    const list = [...this.schedules.values()].filter((s) => q.tenantId === undefined || s.tenantId === q.tenantId).sort((a, b) => b.createTime.localeCompare(a.createTime) || b.scheduleId.localeCompare(a.scheduleId));
    const start = q.pageToken ? Number(q.pageToken) : 0;
    return { schedules: list.slice(start, start + q.pageSize).map(clone), nextPageToken: start + q.pageSize < list.length ? String(start + q.pageSize) : null };
  }
  async listBatches(states: BatchState[], limit: number) {
    return [...this.batches.values()].filter((b) => states.includes(b.state)).sort((a, b) => a.updateTime.localeCompare(b.updateTime)).slice(0, limit).map(clone);
  }
  async listBatchPage(q: BatchListQuery) {
    const list = [...this.batches.values()].filter((b) => (!q.states?.length || q.states.includes(b.state)) && (q.tenantId === undefined || b.tenantId === q.tenantId)).sort((a, b) => b.createTime.localeCompare(a.createTime) || b.batchId.localeCompare(a.batchId));
    const start = q.pageToken ? Number(q.pageToken) : 0;
    return { batches: list.slice(start, start + q.pageSize).map(clone), nextPageToken: start + q.pageSize < list.length ? String(start + q.pageSize) : null };
  }
  async createJobsIfAbsent(list: Job[]) {
    let n = 0;
    for (const j of list) {
      if (!this.jobs.has(j.jobId)) {
        this.putJob(j);
        n++;
      }
    }
    return n;
  }
  private children(batchId: string) {
    return [...this.jobs.values()].filter((j) => j.batchId === batchId && j.batchCurrent);
  }
  async batchStats(batchId: string): Promise<BatchStats> {
    const counts: BatchStats['counts'] = {};
    let eecuSeconds = 0;
    let liveProgress = 0;
    for (const j of this.children(batchId)) {
      counts[j.state] = (counts[j.state] ?? 0) + 1;
      eecuSeconds += j.eecuSeconds ?? 0;
      if (j.state === 'RUNNING' || j.state === 'CANCELLING') liveProgress += j.progress ?? 0;
    }
    return { counts, eecuSeconds, liveProgress };
  }
  async batchEstimate(batchId: string): Promise<BatchEstimateSum> {
    const sum: BatchEstimateSum = { estimated: 0, eecuSeconds: { low: 0, expected: 0, high: 0 }, actualEecuSeconds: 0 };
    for (const j of this.children(batchId)) {
      if (!j.estimate) continue;
      sum.estimated++;
      sum.eecuSeconds.low += j.estimate.eecuSeconds.low;
      sum.eecuSeconds.expected += j.estimate.eecuSeconds.expected;
      sum.eecuSeconds.high += j.estimate.eecuSeconds.high;
      sum.actualEecuSeconds += j.eecuSeconds ?? 0;
    }
    return sum;
  }
  async listBatchChildren(batchId: string, opts: { states?: JobState[]; limit: number; afterIndex?: number }) {
    return this.children(batchId)
      .filter((j) => (!opts.states || opts.states.includes(j.state)) && (opts.afterIndex === undefined || j.batchIndex! > opts.afterIndex))
      .sort((a, b) => a.batchIndex! - b.batchIndex!)
      .slice(0, opts.limit)
      .map(clone);
  }
  async listBudgetUsages(month: string) {
    return [...this.budgets.values()].filter((u) => u.month === month).map(clone);
  }
  async countJobsByState(tenantId?: string | null) {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const j of this.jobs.values()) if (tenantId === undefined || j.tenantId === tenantId) counts[j.state]++;
    return counts;
  }
  async listDueDeliveries(now: string, limit: number) {
    return [...this.deliveries.values()]
      .filter((d) => (d.state === 'pending' || d.state === 'delivering') && d.nextAttemptAt !== null && d.nextAttemptAt <= now)
      .sort((a, b) => a.nextAttemptAt!.localeCompare(b.nextAttemptAt!))
      .slice(0, limit)
      .map(clone);
  }
  async markEventsSent(ids: string[]) {
    for (const id of ids) {
      const e = this.outbox.get(id);
      if (e) e.sent = true;
    }
  }
}

/** Publishes events to a broker topic the way the Pub/Sub adapter does (structured-mode JSON, filterable attributes). */
export function brokerEventPublisher(broker: Broker, topic: string): EventPublisher {
  return {
    async publish(events: CloudEvent[]) {
      for (const ev of events) {
        await broker.publish(topic, { data: JSON.stringify(ev), attributes: { ...eventAttributes(ev), 'content-type': 'application/cloudevents+json' } });
      }
    },
  };
}

/**
 * Ports: what the core needs from the outside world. Adapters in ../adapters implement
 * them over Firestore, Pub/Sub and Earth Engine's REST API; tests implement them with
 * fakes. Nothing here imports a Google client.
 */
import type { Job, JobState, CloudEvent, Operation } from './jobs/index.ts';
import type { BudgetUsage } from './budgets/index.ts';
import type { Batch, BatchState, BatchStats, BatchEstimateSum } from './batches/index.ts';
import type { ExportImageRequest } from './requests/index.ts';
import type { Schedule } from './schedules/index.ts';
import type { Chain } from './chains/index.ts';

/** One event's webhook delivery: `webhookDeliveries/{eventId}`. Delivered or failed is final. */
export interface WebhookDelivery {
  eventId: string;
  jobId: string;
  /** The tenant of the job or batch called back: its secrets sign every attempt. */
  tenantId: string | null;
  url: string;
  eventType: string;
  /** The exact JSON sent on every attempt. */
  body: string;
  state: 'pending' | 'delivering' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  /** While in the future, one worker is sending; others leave it alone. */
  leaseUntil: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createTime: string;
  updateTime: string;
}

/** A callback endpoint's standing: disabled after `410 Gone`. */
export interface WebhookEndpoint {
  url: string;
  disabled: boolean;
  reason: string | null;
  updateTime: string;
}

/** A lease with a fencing token: only the current holder's writes are accepted. */
export interface Lease {
  name: string;
  holder: string;
  token: number;
  expiresAt: string;
}

/**
 * One read-then-write transaction. All reads come before any write (Firestore's rule);
 * the body may run several times, so it must not have side effects outside `tx`.
 */
export interface JobTransaction {
  getJob(jobId: string): Promise<Job | null>;
  getLease(name: string): Promise<Lease | null>;
  createJob(job: Job): void;
  updateJob(job: Job): void;
  setLease(lease: Lease): void;
  /** The job that sent this requestId to Earth Engine (which deduplicates on it), if any. */
  getRequestIdOwner(requestId: string): Promise<string | null>;
  setRequestIdOwner(requestId: string, jobId: string): void;
  /** Writes events to the outbox in the same commit as the state change they describe. */
  addEvents(events: CloudEvent[]): void;
  getDelivery(eventId: string): Promise<WebhookDelivery | null>;
  getEndpoint(url: string): Promise<WebhookEndpoint | null>;
  setDelivery(delivery: WebhookDelivery): void;
  setEndpoint(endpoint: WebhookEndpoint): void;
  getBudgetUsage(id: string): Promise<BudgetUsage | null>;
  setBudgetUsage(usage: BudgetUsage): void;
  getBatch(batchId: string): Promise<Batch | null>;
  setBatch(batch: Batch): void;
  getSchedule(scheduleId: string): Promise<Schedule | null>;
  setSchedule(schedule: Schedule): void;
  getChain(chainId: string): Promise<Chain | null>;
  setChain(chain: Chain): void;
}

export interface OutboxEntry {
  id: string;
  event: CloudEvent;
  createTime: string;
}

export interface JobListQuery {
  states?: JobState[];
  label?: { key: string; value: string };
  eeProject?: string;
  updatedAfter?: string;
  updatedBefore?: string;
  /** Only this tenant's jobs (null: untenanted ones); absent: everyone's. */
  tenantId?: string | null;
  pageSize: number;
  pageToken?: string;
}

export interface BatchListQuery {
  states?: BatchState[];
  /** Only this tenant's batches (null: untenanted ones); absent: everyone's. */
  tenantId?: string | null;
  pageSize: number;
  pageToken?: string;
}

/**
 * A write of one job without a transaction (ADR 0012): Firestore checks the precondition
 * when it commits, so nothing is read first and nothing is locked. Atomic: the job, its
 * events and its requestId owner all land, or none does.
 */
export type JobCommit =
  /** Creates the job; fails if it, or the requestId owner document, already exists. */
  | { create: Job; requestIdOwner?: string; events: CloudEvent[] }
  /** Replaces the job only if the stored document is still the revision `ifRev` (from an earlier commit). */
  | { update: Job; ifRev: string; events: CloudEvent[] };

/** `rev`: the stored revision written (Firestore's update time), for a later `{ update, ifRev }`. */
export type CommitOutcome = { ok: true; rev: string } | { ok: false; reason: 'exists' | 'changed' };

export interface JobStore {
  transact<T>(fn: (tx: JobTransaction) => Promise<T>): Promise<T>;
  /** One precondition write: the hot path's create and record. A refused precondition is an answer, not an error: re-read in a transaction. */
  commit(write: JobCommit): Promise<CommitOutcome>;
  getJob(jobId: string): Promise<Job | null>;
  /** Live jobs (states the poller follows), oldest poll first. */
  listLiveJobs(limit: number): Promise<Job[]>;
  /**
   * Live jobs in jobId order after the jobId `after` (exclusive), at most `limit`, handed
   * over `pageSize` at a time from one query: the poller holds a page, not all of them, and
   * one query is one pass over the index (a new query per page would make Firestore find its
   * place again each time, a scan of the collection per page on the emulator). The order is
   * stable while the poller writes jobs (unlike nextPollAt), so a pass sees each job once.
   * Leaving the loop early ends the query.
   */
  liveJobPages(query: { after?: string | null; limit: number; pageSize: number }): AsyncIterable<Job[]>;
  /** QUEUED jobs of one Earth Engine project, highest priority first, then oldest. */
  listQueuedJobs(eeProject: string, limit: number): Promise<Job[]>;
  /** Earth Engine projects that have QUEUED jobs. */
  listQueuedProjects(): Promise<string[]>;
  /** Which job follows each of these operations, as its current or an earlier attempt (absent: none). */
  ownersOfOperations(names: string[]): Promise<Map<string, string>>;
  listJobs(query: JobListQuery): Promise<{ jobs: Job[]; nextPageToken: string | null }>;
  /** Outbox entries not yet relayed, oldest first. */
  listUnsentEvents(limit: number): Promise<OutboxEntry[]>;
  markEventsSent(ids: string[]): Promise<void>;
  /** Jobs in flight (SUBMITTING, PENDING, RUNNING, CANCELLING) in an Earth Engine project: a count aggregation, what admission decides on (core/jobs/slots.ts). */
  inFlight(eeProject: string): Promise<number>;
  getBatch(batchId: string): Promise<Batch | null>;
  listBatches(states: BatchState[], limit: number): Promise<Batch[]>;
  /** One page of batches, newest first (by createTime: unlike updateTime it does not move while a client pages). Throws InvalidPageTokenError for a bad token. */
  listBatchPage(query: BatchListQuery): Promise<{ batches: Batch[]; nextPageToken: string | null }>;
  /** Creates the jobs that do not exist yet (idempotent; chunked within Firestore's limits); returns how many were created. */
  createJobsIfAbsent(jobs: Job[]): Promise<number>;
  /** Counts by state, summed EECU and live progress of a batch's current children (aggregation queries, not reads). */
  batchStats(batchId: string): Promise<BatchStats>;
  /** Sums of the current children's recorded estimates (and their use), one aggregation query. */
  batchEstimate(batchId: string): Promise<BatchEstimateSum>;
  /** Current children of a batch, optionally in some states, by index. */
  listBatchChildren(batchId: string, opts: { states?: JobState[]; limit: number; afterIndex?: number }): Promise<Job[]>;
  /** This month's budget usages (for the API, CLI and dashboard). */
  listBudgetUsages(month: string): Promise<BudgetUsage[]>;
  /** How many jobs are in each state, of one tenant or (absent) of all (count aggregations, one per state: no documents are read). */
  countJobsByState(tenantId?: string | null): Promise<Record<JobState, number>>;
  getSchedule(scheduleId: string): Promise<Schedule | null>;
  /** ACTIVE schedules whose next run is due (dueAt <= now), longest due first. */
  listDueSchedules(now: string, limit: number): Promise<Schedule[]>;
  /** One page of schedules (deleted ones included), newest first. Throws InvalidPageTokenError for a bad token. */
  /** Newest first; `tenantId`: only that tenant's (null: untenanted ones), absent: everyone's. */
  listSchedules(query: { pageSize: number; pageToken?: string; tenantId?: string | null }): Promise<{ schedules: Schedule[]; nextPageToken: string | null }>;
  getChain(chainId: string): Promise<Chain | null>;
  /** ACTIVE chains due to be looked at (dueAt <= now), longest due first. */
  listDueChains(now: string, limit: number): Promise<Chain[]>;
  /** One page of chains, newest first; `tenantId`: only that tenant's (null: untenanted ones), absent: everyone's. Throws InvalidPageTokenError for a bad token. */
  listChains(query: { pageSize: number; pageToken?: string; tenantId?: string | null }): Promise<{ chains: Chain[]; nextPageToken: string | null }>;
  /** Webhook deliveries waiting for a retry whose time has come, oldest first. */
  listDueDeliveries(now: string, limit: number): Promise<WebhookDelivery[]>;
}

/** Sends one webhook request. Throws for network failures; an error with `retryable === false` is a policy refusal (SSRF guard). */
export interface WebhookSender {
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<{ status: number; latencyMs: number }>;
}

export interface EventPublisher {
  /** Resolves once every event is accepted by the topic; rejects if any was not. */
  publish(events: CloudEvent[]): Promise<void>;
}

export interface ListOperationsPage {
  operations: Operation[];
  nextPageToken: string | null;
}

/** One image of a collection, as projects.assets.listImages describes it. */
export interface EeImage {
  /** projects/{project}/assets/{path} */
  name: string;
  /** The asset id (the path for the public catalog: LANDSAT/…). */
  id: string;
  /** system:time_start (RFC 3339). */
  startTime: string;
  endTime: string | null;
}

export interface ListImagesPage {
  images: EeImage[];
  nextPageToken: string | null;
}

/**
 * Earth Engine's export API. Failures are thrown as EarthEngineError with a kind that
 * says whether retrying can help (see errors.ts); transient faults are retried inside
 * the adapter first.
 */
export interface EarthEngine {
  exportImage(eeProject: string, request: ExportImageRequest): Promise<Operation>;
  getOperation(name: string): Promise<Operation>;
  listOperations(eeProject: string, page: { pageSize?: number; pageToken?: string; filter?: string }): Promise<ListOperationsPage>;
  cancelOperation(name: string): Promise<void>;
  /** projects.assets.listImages of a collection (projects/{p}/assets/{path}, or a public catalog id), oldest first from `startTime` (inclusive). */
  listImages(collection: string, page: { startTime?: string; pageSize?: number; pageToken?: string }): Promise<ListImagesPage>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';

export interface LogEntry {
  severity: Severity;
  /** Stable event name, e.g. "export.submitted". */
  event: string;
  message: string;
  jobId?: string;
  operationName?: string | null;
  trace?: string;
  [key: string]: unknown;
}

export interface LogSink {
  write(entry: LogEntry): void;
}

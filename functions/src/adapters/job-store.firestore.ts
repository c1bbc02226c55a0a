/**
 * The job store on Firestore. Documents:
 *   jobs/{jobId}          one per job (the request kept as a JSON string: expressions nest
 *                         deeper than Firestore's 20 map levels)
 *   outbox/{eventId}      events written with the state change, relayed then marked sent
 *   requestIds/{requestId}  the job that first sent a client requestId (created with that job)
 *   leases/{name}         the poller lease with its fencing token
 *   webhookDeliveries/{eventId}  one per event with a callback: attempts, next retry
 *   webhookEndpoints/{sha256(url)}  disabled after 410 Gone
 *   budgets/{project~scope~yyyy-mm}  EECU-seconds used against a monthly budget
 *   batches/{batchId}     a batch's state and aggregates; its children are jobs with batchId
 *   schedules/{scheduleId}  a schedule's template, cadence, cursors and last runs (its runs are jobs)
 *   chains/{chainId}      a chain's steps (templates, states, outputs); its id is its root job's or batch's
 * Every document read back goes through a schema: a hand-edited or older document
 * fails loudly here instead of deep in the core.
 */
import { AggregateField, FieldPath, Timestamp, type Firestore, type Transaction, type DocumentSnapshot, type Query } from '@google-cloud/firestore';
import { BATCH_STATES, type Batch, type BatchStats, type BatchEstimateSum } from '../core/batches/index.ts';
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { JOB_STATES, LIVE_STATES, type Job, type CloudEvent } from '../core/jobs/index.ts';
import type { BatchListQuery, CommitOutcome, JobCommit, JobListQuery, JobStore, JobTransaction, Lease, OutboxEntry } from '../core/ports.ts';
import { parseExportRequest } from '../core/requests/index.ts';
import { decodePageToken, encodePageToken, InvalidPageTokenError } from '../core/kernel/index.ts';
import { CadenceSchema, SCHEDULE_STATES, type Schedule } from '../core/schedules/index.ts';
import { CHAIN_STATES, STEP_STATES, type Chain } from '../core/chains/index.ts';

export const COLLECTIONS = { jobs: 'jobs', outbox: 'outbox', eeProjects: 'eeProjects', leases: 'leases', webhookDeliveries: 'webhookDeliveries', webhookEndpoints: 'webhookEndpoints', budgets: 'budgets', batches: 'batches', requestIds: 'requestIds', schedules: 'schedules', chains: 'chains' } as const;

/**
 * Firestore TTL (infra/ enables a policy on this field for these collections only):
 * documents that nothing reads again get `expireAt`, a Timestamp, and Firestore deletes
 * them some time after it (typically within a day; never relied on for correctness).
 * - outbox: once sent, an entry is never read again (the relay reads unsent ones only).
 * - webhookDeliveries: once delivered or failed for good, the document only guards
 *   against a second delivery of the same event; 30 days outlasts every way the event
 *   can come back (7 days of subscription retention + 7 days on the dead-letter hold).
 * Never jobs (the record), leases (the fencing token must only grow) or budgets (live
 * counters).
 */
export const TTL_FIELD = 'expireAt';
export const TTL_RETENTION_DAYS = { [COLLECTIONS.outbox]: 7, [COLLECTIONS.webhookDeliveries]: 30 } as const;
const expiresAfterDays = (fromIso: string, days: number) => new Date(Date.parse(fromIso) + days * 86_400_000);

/**
 * Composite indexes the queries below need (the emulator does not check them; infra/
 * declares the same list and a test holds them equal).
 */
export const FIRESTORE_INDEXES = [
  { collection: COLLECTIONS.jobs, fields: [['state', 'ASCENDING'], ['nextPollAt', 'ASCENDING']], usedBy: 'listLiveJobs' },
  { collection: COLLECTIONS.jobs, fields: [['eeProject', 'ASCENDING'], ['state', 'ASCENDING'], ['priority', 'DESCENDING'], ['createTime', 'ASCENDING']], usedBy: 'listQueuedJobs' },
  { collection: COLLECTIONS.jobs, fields: [['state', 'ASCENDING'], ['eeProject', 'ASCENDING']], usedBy: 'listQueuedProjects' },
  // listJobs: one per combination of its equality filters (see listJobsIndex); no filter needs only the automatic index on updateTime.
  { collection: COLLECTIONS.jobs, fields: [['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by state' },
  { collection: COLLECTIONS.jobs, fields: [['eeProject', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by project' },
  { collection: COLLECTIONS.jobs, fields: [['eeProject', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by project and state' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label and state' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['eeProject', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label and project' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['eeProject', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label, project and state' },
  // The same, within one tenant (a tenant's caller always lists with its tenantId).
  { collection: COLLECTIONS.jobs, fields: [['tenantId', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by tenant' },
  { collection: COLLECTIONS.jobs, fields: [['tenantId', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by tenant and state' },
  { collection: COLLECTIONS.jobs, fields: [['tenantId', 'ASCENDING'], ['eeProject', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by tenant and project' },
  { collection: COLLECTIONS.jobs, fields: [['tenantId', 'ASCENDING'], ['eeProject', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by tenant, project and state' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['tenantId', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label and tenant' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['tenantId', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label, tenant and state' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['tenantId', 'ASCENDING'], ['eeProject', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label, tenant and project' },
  { collection: COLLECTIONS.jobs, fields: [['labelPairs', 'CONTAINS'], ['tenantId', 'ASCENDING'], ['eeProject', 'ASCENDING'], ['state', 'ASCENDING'], ['updateTime', 'DESCENDING']], usedBy: 'listJobs by label, tenant, project and state' },
  { collection: COLLECTIONS.jobs, fields: [['tenantId', 'ASCENDING'], ['state', 'ASCENDING']], usedBy: 'countJobsByState of a tenant' },
  { collection: COLLECTIONS.outbox, fields: [['sent', 'ASCENDING'], ['createTime', 'ASCENDING']], usedBy: 'listUnsentEvents' },
  { collection: COLLECTIONS.jobs, fields: [['batchId', 'ASCENDING'], ['batchCurrent', 'ASCENDING'], ['state', 'ASCENDING']], usedBy: 'batchStats' },
  // batchStats sums eecuSeconds and progress under its three equality filters. Firestore computes sum() from index
  // entries, so the summed fields must be in the index it scans (the emulator never asks; docs/deploying.md).
  { collection: COLLECTIONS.jobs, fields: [['batchId', 'ASCENDING'], ['batchCurrent', 'ASCENDING'], ['state', 'ASCENDING'], ['eecuSeconds', 'ASCENDING'], ['progress', 'ASCENDING']], usedBy: 'batchStats sums' },
  // batchEstimate: the children with an estimate (a range on its expected value), their bands and use summed from the index.
  {
    collection: COLLECTIONS.jobs,
    fields: [['batchId', 'ASCENDING'], ['batchCurrent', 'ASCENDING'], ['estimate.eecuSeconds.expected', 'ASCENDING'], ['estimate.eecuSeconds.low', 'ASCENDING'], ['estimate.eecuSeconds.high', 'ASCENDING'], ['eecuSeconds', 'ASCENDING']],
    usedBy: 'batchEstimate',
  },
  { collection: COLLECTIONS.jobs, fields: [['batchId', 'ASCENDING'], ['batchCurrent', 'ASCENDING'], ['state', 'ASCENDING'], ['batchIndex', 'ASCENDING']], usedBy: 'listBatchChildren by state' },
  { collection: COLLECTIONS.jobs, fields: [['batchId', 'ASCENDING'], ['batchCurrent', 'ASCENDING'], ['batchIndex', 'ASCENDING']], usedBy: 'listBatchChildren' },
  { collection: COLLECTIONS.batches, fields: [['state', 'ASCENDING'], ['updateTime', 'ASCENDING']], usedBy: 'listBatches' },
  // listBatchPage without a state filter needs only the automatic index on createTime.
  { collection: COLLECTIONS.batches, fields: [['state', 'ASCENDING'], ['createTime', 'DESCENDING']], usedBy: 'listBatchPage by state' },
  { collection: COLLECTIONS.batches, fields: [['tenantId', 'ASCENDING'], ['createTime', 'DESCENDING']], usedBy: 'listBatchPage by tenant' },
  { collection: COLLECTIONS.batches, fields: [['tenantId', 'ASCENDING'], ['state', 'ASCENDING'], ['createTime', 'DESCENDING']], usedBy: 'listBatchPage by tenant and state' },
  { collection: COLLECTIONS.webhookDeliveries, fields: [['state', 'ASCENDING'], ['nextAttemptAt', 'ASCENDING']], usedBy: 'listDueDeliveries' },
  { collection: COLLECTIONS.schedules, fields: [['state', 'ASCENDING'], ['dueAt', 'ASCENDING']], usedBy: 'listDueSchedules' },
  { collection: COLLECTIONS.schedules, fields: [['tenantId', 'ASCENDING'], ['createTime', 'DESCENDING']], usedBy: 'listSchedules by tenant' },
  { collection: COLLECTIONS.chains, fields: [['state', 'ASCENDING'], ['dueAt', 'ASCENDING']], usedBy: 'listDueChains' },
  { collection: COLLECTIONS.chains, fields: [['tenantId', 'ASCENDING'], ['createTime', 'DESCENDING']], usedBy: 'listChains by tenant' },
] as const;

const str = z.string();
const nstr = z.string().nullable();
const JobDocSchema = z.object({
  jobId: str,
  state: z.enum(JOB_STATES),
  eeProject: str,
  requestJson: nstr,
  requestId: str,
  identity: str,
  operationName: nstr,
  description: nstr,
  priority: z.number(),
  labels: z.record(z.string(), z.string()),
  callbackUrl: nstr,
  source: z.record(z.string(), z.unknown()),
  progress: z.number().nullable(),
  stages: z.array(z.object({ displayName: str, description: str.optional(), completeWorkUnits: z.number().optional(), totalWorkUnits: z.number().optional() })),
  attempt: z.number().nullable(),
  eecuSeconds: z.number().nullable(),
  destinationUris: z.array(str),
  error: z.object({ code: str, message: str, status: z.number().optional(), details: z.array(z.object({ path: str, message: str })).optional() }).nullable(),
  queuedReason: nstr,
  submitAttempts: z.number(),
  lastSubmitError: nstr,
  submitLeaseUntil: nstr,
  cancelRequestedAt: nstr.default(null),
  webhook: z
    .object({
      url: str,
      state: z.enum(['pending', 'delivered', 'failed', 'disabled']),
      lastEventId: str,
      attempts: z.array(z.object({ at: str, eventId: str, status: z.number().nullable(), latencyMs: z.number().nullable(), error: nstr })),
      updateTime: str,
    })
    .nullable()
    .default(null),
  resubmissions: z.number().int().default(0),
  previousOperations: z.array(str).default([]),
  lastFailure: z
    .object({ code: str, message: str, status: z.number().optional(), failureClass: z.enum(['transient', 'permanent']), rule: str })
    .nullable()
    .default(null),
  notBefore: nstr.default(null),
  batchId: nstr.default(null),
  batchIndex: z.number().int().nullable().default(null),
  batchCurrent: z.boolean().default(true),
  slotShard: z.number().int().nullable().default(null),
  tenantId: nstr.default(null),
  verifying: z.object({ since: str, lastCheck: str, checks: z.number().int(), candidates: z.array(str), candidatesSince: str, note: str }).nullable().default(null),
  estimate: z
    .object({
      method: z.enum(['history:expression', 'history:workload-tag', 'history:project', 'probe', 'prior']),
      pixels: z.number().nullable(),
      fingerprint: str,
      eecuSeconds: z.object({ low: z.number(), expected: z.number(), high: z.number() }),
      runSeconds: z.object({ expected: z.number(), high: z.number() }).nullable(),
      basis: str,
      samples: z.number(),
      at: str,
    })
    .nullable()
    .default(null),
  maxEecuSeconds: z.number().nullable().default(null),
  chain: z.object({ chainId: str, step: str }).nullable().default(null),
  runaway: z
    .object({ guard: z.enum(['eecu', 'time']), capSource: z.enum(['job', 'batch', 'budget']), limitEecuSeconds: z.number(), usedEecuSeconds: z.number().nullable(), runSeconds: z.number(), at: str })
    .nullable()
    .default(null),
  stalled: z
    .object({
      kind: z.enum(['pending', 'running']),
      attempt: z.number().int(),
      operationName: nstr,
      at: str,
      elapsedSeconds: z.number(),
      limitSeconds: z.number(),
      basis: str,
      samples: z.number().int(),
      p95Seconds: z.number().nullable(),
      action: z.enum(['none', 'resubmitted']),
      cancelPending: z.boolean(),
    })
    .nullable()
    .default(null),
  stallResubmissions: z.number().int().default(0),
  recovery: z
    .object({ policy: z.literal('tiled'), kind: z.enum(['memory', 'compute-time', 'too-large']), reason: str, batchId: nstr, tiles: z.number().int(), depth: z.number().int(), at: str })
    .nullable()
    .default(null),
  rawPreview: nstr,
  createTime: str,
  updateTime: str,
  submitTime: nstr,
  startTime: nstr,
  endTime: nstr,
  nextPollAt: nstr,
  history: z.array(z.object({ at: str, from: z.enum(JOB_STATES).nullable(), to: z.enum(JOB_STATES), reason: str.optional() })),
  version: z.number().int(),
});

export function jobToDoc(job: Job): Record<string, unknown> {
  const { request, ...rest } = job;
  return { ...rest, requestJson: request ? JSON.stringify(request) : null, labelPairs: labelPairs(job.labels) };
}

/**
 * Labels again as "key:value" strings (keys cannot contain ':'), written only for
 * queries. A filter on the map (labels.team == x) needs a composite index per label
 * key, which cannot be declared ahead for keys users invent; array-contains on this one
 * field needs one index per combination of the other filters, whatever the key.
 */
export const labelPairs = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}:${v}`);

type IndexField = readonly [string, 'ASCENDING' | 'DESCENDING' | 'CONTAINS'];

/** The composite index a listJobs query needs, or null when the automatic single-field index on updateTime serves it. */
export function listJobsIndex(q: Pick<JobListQuery, 'states' | 'eeProject' | 'label' | 'tenantId'>): IndexField[] | null {
  const fields: IndexField[] = [];
  if (q.label) fields.push(['labelPairs', 'CONTAINS']);
  if (q.tenantId !== undefined) fields.push(['tenantId', 'ASCENDING']);
  if (q.eeProject) fields.push(['eeProject', 'ASCENDING']);
  if (q.states?.length) fields.push(['state', 'ASCENDING']);
  return fields.length ? [...fields, ['updateTime', 'DESCENDING']] : null;
}

/** Ties a page token to its filters, so a token used with other filters is refused instead of paging wrongly. */
function queryFingerprint(q: JobListQuery): string {
  const filters = [[...(q.states ?? [])].sort(), q.eeProject ?? null, q.label ?? null, q.updatedAfter ?? null, q.updatedBefore ?? null, ...(q.tenantId !== undefined ? [{ tenant: q.tenantId }] : [])];
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 12);
}

export function jobFromDoc(snap: DocumentSnapshot): Job {
  const parsed = JobDocSchema.safeParse(snap.data());
  if (!parsed.success) throw new Error(`jobs/${snap.id} does not match the job schema: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { requestJson, ...rest } = parsed.data;
  let request: Job['request'] = null;
  if (requestJson !== null) {
    const r = parseExportRequest(JSON.parse(requestJson));
    if (!r.ok) throw new Error(`jobs/${snap.id} holds a request that no longer validates: ${r.errors[0]?.path}: ${r.errors[0]?.message}`);
    request = r.value;
  }
  return { ...rest, request, source: rest.source as Job['source'] };
}

const OutboxDocSchema = z.object({ eventJson: str, sent: z.boolean(), createTime: str });
const DeliveryDocSchema = z.object({
  eventId: str,
  jobId: str,
  url: str,
  eventType: str,
  body: str,
  state: z.enum(['pending', 'delivering', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: nstr,
  leaseUntil: nstr,
  lastStatus: z.number().nullable(),
  lastError: nstr,
  tenantId: nstr.default(null),
  createTime: str,
  updateTime: str,
});
const EndpointDocSchema = z.object({ url: str, disabled: z.boolean(), reason: nstr, updateTime: str });
const endpointId = (url: string) => createHash('sha256').update(url).digest('hex');
const BudgetDocSchema = z.object({
  id: str,
  eeProject: str,
  scope: str,
  month: str,
  usedEecuSeconds: z.number(),
  limitEecuSeconds: z.number(),
  exceededNotified: z.boolean(),
  updateTime: str,
  // Written since the governor (ADR 0014); older documents have none.
  runningEecuSeconds: z.record(z.string(), z.number()).default({}),
  dailyEecuSeconds: z.record(z.string(), z.number()).default({}),
  thresholdsNotified: z.array(z.number()).default([]),
});
const BatchDocSchema = z.object({
  batchId: str,
  state: z.enum(BATCH_STATES),
  eeProject: str,
  description: nstr,
  labels: z.record(z.string(), z.string()),
  callbackUrl: nstr,
  identity: str,
  total: z.number().int(),
  written: z.number().int(),
  counts: z.record(z.string(), z.number()),
  progress: z.number(),
  eecuSeconds: z.number(),
  destinationUris: z.array(str),
  destinationUrisTruncated: z.boolean(),
  error: z.object({ code: str, message: str, details: z.array(z.object({ path: str, message: str })).optional() }).nullable(),
  cancelRequestedAt: nstr,
  tenantId: nstr.default(null),
  retries: z.number().int(),
  // Since the governor (ADR 0014): the batch's own EECU cap and why it is STOPPED; older documents have neither.
  maxEecuSeconds: z.number().nullable().default(null),
  stop: z
    .object({ reason: z.enum(['OUT_OF_BUDGET', 'EECU_CAP']), message: str, at: str, budget: nstr, limitEecuSeconds: z.number().nullable(), usedEecuSeconds: z.number().nullable() })
    .nullable()
    .default(null),
  createTime: str,
  updateTime: str,
  endTime: nstr,
  version: z.number().int(),
});
const batchFromDoc = (data: unknown): Batch => BatchDocSchema.parse(data) as Batch;
/** The template request is kept as a JSON string, like a job's (expressions nest deeper than Firestore's 20 map levels). */
const ScheduleDocSchema = z.object({
  scheduleId: str,
  tenantId: nstr.default(null),
  state: z.enum(SCHEDULE_STATES),
  description: nstr,
  cadence: CadenceSchema,
  requestJson: str,
  eeProject: str,
  labels: z.record(z.string(), z.string()),
  callbackUrl: nstr,
  nextRunAt: str,
  backfill: z.object({ nextRunAt: str, until: str }).nullable(),
  imageCursor: nstr.optional(),
  dueAt: nstr,
  runs: z.array(z.object({ windowStart: str, windowEnd: str, jobId: str, submitTime: str, imageId: str.optional() })),
  runCount: z.number().int(),
  createTime: str,
  updateTime: str,
  version: z.number().int(),
});
function scheduleFromDoc(data: unknown): Schedule {
  const { requestJson, ...rest } = ScheduleDocSchema.parse(data);
  return { ...rest, request: JSON.parse(requestJson) as Record<string, unknown> };
}
const scheduleToDoc = ({ request, ...rest }: Schedule) => ({ ...rest, requestJson: JSON.stringify(request) });
/** The steps are kept as one JSON string: their templates nest as deep as any request. */
const ChainStepDocSchema = z.object({
  step: str,
  after: z.array(str),
  kind: z.enum(['job', 'batch']),
  id: str,
  request: z.record(z.string(), z.unknown()).nullable(),
  eeProject: str,
  labels: z.record(z.string(), z.string()),
  state: z.enum(STEP_STATES),
  reason: nstr,
  outputs: z.object({ jobId: nstr, batchId: nstr, assetId: nstr, destinationUris: z.array(str) }).nullable(),
  endTime: nstr,
});
const ChainDocSchema = z.object({
  chainId: str,
  tenantId: nstr,
  state: z.enum(CHAIN_STATES),
  stepsJson: str,
  callbackUrl: nstr,
  dueAt: nstr,
  createTime: str,
  updateTime: str,
  endTime: nstr,
  version: z.number().int(),
});
function chainFromDoc(data: unknown): Chain {
  const { stepsJson, ...rest } = ChainDocSchema.parse(data);
  return { ...rest, steps: z.array(ChainStepDocSchema).parse(JSON.parse(stepsJson)) };
}
const chainToDoc = ({ steps, ...rest }: Chain) => ({ ...rest, stepsJson: JSON.stringify(steps) });
/** A commit's revision token: the document's update time to the nanosecond, which a later precondition names. */
const revOf = (t: Timestamp) => `${t.seconds}.${String(t.nanoseconds).padStart(9, '0')}`;
function revTimestamp(rev: string): Timestamp {
  const m = /^(\d+)\.(\d{9})$/.exec(rev);
  if (!m) throw new Error(`not a revision token: ${rev}`);
  return new Timestamp(Number(m[1]), Number(m[2]));
}
/** gRPC status codes a refused precondition comes back with (google-gax's Status, not a dependency here). */
const GRPC = { NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9 } as const;
const outboxDoc = (ev: CloudEvent) => ({ eventJson: JSON.stringify(ev), sent: false, createTime: ev.time, jobId: ev.subject });
const sentFields = (sentTime: string) => ({ sent: true, sentTime, [TTL_FIELD]: expiresAfterDays(sentTime, TTL_RETENTION_DAYS.outbox) });
/**
 * How long an outbox mark waits for another commit of this instance to ride on before
 * it is committed alone (ADR 0012): twice the recent gap between this instance's
 * commits, within these bounds. The relay that asked waits for it, so never long.
 */
export const MARK_LINGER_MS = { min: 25, max: 100 } as const;
/** Firestore's limit on writes in one commit. */
const MAX_WRITES = 500;
const LeaseDocSchema = z.object({ name: str, holder: str, token: z.number().int(), expiresAt: str });


export function createFirestoreJobStore(db: Firestore, opts: { clock?: () => Date; maxTransactionAttempts?: number } = {}): JobStore {
  const now = () => (opts.clock ? opts.clock() : new Date()).toISOString();
  const jobs = db.collection(COLLECTIONS.jobs);
  const outbox = db.collection(COLLECTIONS.outbox);
  const leases = db.collection(COLLECTIONS.leases);
  const deliveries = db.collection(COLLECTIONS.webhookDeliveries);
  const endpoints = db.collection(COLLECTIONS.webhookEndpoints);
  const budgets = db.collection(COLLECTIONS.budgets);
  const batches = db.collection(COLLECTIONS.batches);
  const requestIds = db.collection(COLLECTIONS.requestIds);
  const schedules = db.collection(COLLECTIONS.schedules);
  const chains = db.collection(COLLECTIONS.chains);

  /**
   * Outbox marks (markEventsSent) not committed yet. Marking an event sent is the one
   * write of a submit that needs no precondition and no order, so instead of a commit of
   * its own it rides on the next precondition commit this instance makes (another job's
   * intake or record), or, if none comes within MARK_LINGER_MS, on a commit of the marks
   * waiting by then. Each relay still waits until its marks are committed.
   */
  type Mark = { ids: string[]; resolve: () => void; reject: (err: unknown) => void };
  let marks: Mark[] = [];
  let markTimer: ReturnType<typeof setTimeout> | null = null;
  /** Recent gap between commit() calls (an exponential average), and when the last began. */
  let commitGapMs: number = MARK_LINGER_MS.min;
  let lastCommitAt = 0;
  const scheduleMarks = () => {
    markTimer ??= setTimeout(
      () => {
        markTimer = null;
        void commitMarksAlone();
      },
      Math.min(MARK_LINGER_MS.max, Math.max(MARK_LINGER_MS.min, 2 * commitGapMs)),
    );
  };
  /** Takes waiting marks that fit in `room` writes; each mark is taken whole. */
  function takeMarks(room: number): Mark[] {
    const taken: Mark[] = [];
    let n = 0;
    while (marks.length && n + marks[0]!.ids.length <= room) {
      n += marks[0]!.ids.length;
      taken.push(marks.shift()!);
    }
    return taken;
  }
  async function commitMarksAlone(): Promise<void> {
    while (marks.length) {
      const taken = takeMarks(MAX_WRITES);
      // A mark larger than one commit is split, in order, as markEventsSent always did.
      const group = taken.length ? taken : [marks.shift()!];
      const ids = group.flatMap((m) => m.ids);
      try {
        for (let i = 0; i < ids.length; i += MAX_WRITES) {
          const batch = db.batch();
          const fields = sentFields(now());
          for (const id of ids.slice(i, i + MAX_WRITES)) batch.update(outbox.doc(id), fields);
          await batch.commit();
        }
        for (const m of group) m.resolve();
      } catch (err) {
        for (const m of group) m.reject(err);
      }
    }
  }

  function txAdapter(t: Transaction): JobTransaction {
    return {
      async getJob(jobId) {
        const snap = await t.get(jobs.doc(jobId));
        return snap.exists ? jobFromDoc(snap) : null;
      },
      async getLease(name) {
        const snap = await t.get(leases.doc(name));
        return snap.exists ? LeaseDocSchema.parse(snap.data()) : null;
      },
      createJob: (job) => void t.create(jobs.doc(job.jobId), jobToDoc(job)),
      updateJob: (job) => void t.set(jobs.doc(job.jobId), jobToDoc(job)),
      setLease: (lease: Lease) => void t.set(leases.doc(lease.name), lease),
      async getRequestIdOwner(requestId) {
        // requestIds are [A-Za-z0-9-]{1,60}: usable as document ids as they are.
        const snap = await t.get(requestIds.doc(requestId));
        return snap.exists ? z.string().parse(snap.get('jobId')) : null;
      },
      setRequestIdOwner: (requestId, jobId) => void t.create(requestIds.doc(requestId), { jobId, createTime: now() }),
      async getDelivery(eventId) {
        const snap = await t.get(deliveries.doc(eventId));
        return snap.exists ? DeliveryDocSchema.parse(snap.data()) : null;
      },
      async getEndpoint(url) {
        const snap = await t.get(endpoints.doc(endpointId(url)));
        return snap.exists ? EndpointDocSchema.parse(snap.data()) : null;
      },
      async getBudgetUsage(id) {
        const snap = await t.get(budgets.doc(id));
        return snap.exists ? BudgetDocSchema.parse(snap.data()) : null;
      },
      setBudgetUsage: (u) => void t.set(budgets.doc(u.id), u),
      async getBatch(batchId) {
        const snap = await t.get(batches.doc(batchId));
        return snap.exists ? batchFromDoc(snap.data()) : null;
      },
      setBatch: (b) => void t.set(batches.doc(b.batchId), b),
      async getSchedule(id) {
        const snap = await t.get(schedules.doc(id));
        return snap.exists ? scheduleFromDoc(snap.data()) : null;
      },
      setSchedule: (sc) => void t.set(schedules.doc(sc.scheduleId), scheduleToDoc(sc)),
      async getChain(id) {
        const snap = await t.get(chains.doc(id));
        return snap.exists ? chainFromDoc(snap.data()) : null;
      },
      setChain: (c) => void t.set(chains.doc(c.chainId), chainToDoc(c)),
      setDelivery: (d) =>
        void t.set(deliveries.doc(d.eventId), {
          ...d,
          [TTL_FIELD]: d.state === 'delivered' || d.state === 'failed' ? expiresAfterDays(d.updateTime, TTL_RETENTION_DAYS.webhookDeliveries) : null,
        }),
      setEndpoint: (e) => void t.set(endpoints.doc(endpointId(e.url)), e),
      addEvents: (events: CloudEvent[]) => {
        for (const ev of events) t.create(outbox.doc(ev.id), outboxDoc(ev));
      },
    };
  }

  return {
    transact: (fn) => db.runTransaction((t) => fn(txAdapter(t)), { maxAttempts: opts.maxTransactionAttempts ?? 10 }),
    async commit(w: JobCommit): Promise<CommitOutcome> {
      // One batch commit: no reads, no locks, the preconditions checked by Firestore as it commits.
      const batch = db.batch();
      const job = 'create' in w ? w.create : w.update;
      if ('create' in w) {
        batch.create(jobs.doc(job.jobId), jobToDoc(job));
        if (w.requestIdOwner) batch.create(requestIds.doc(w.requestIdOwner), { jobId: job.jobId, createTime: now() });
      } else {
        // update() replaces each top-level field it is given, and jobToDoc gives all of them: the whole job.
        batch.update(jobs.doc(job.jobId), jobToDoc(job), { lastUpdateTime: revTimestamp(w.ifRev) });
      }
      for (const ev of w.events) batch.create(outbox.doc(ev.id), outboxDoc(ev));
      const at = Date.now();
      if (lastCommitAt) commitGapMs = 0.8 * commitGapMs + 0.2 * (at - lastCommitAt);
      lastCommitAt = at;
      // Waiting outbox marks ride along. set+merge, not update: a mark cannot fail (a missing
      // outbox document) and take the job's write down with it.
      const riders = takeMarks(MAX_WRITES - 2 - w.events.length);
      if (riders.length) {
        const fields = sentFields(now());
        for (const id of riders.flatMap((m) => m.ids)) batch.set(outbox.doc(id), fields, { merge: true });
      }
      try {
        const [written] = await batch.commit();
        for (const m of riders) m.resolve();
        return { ok: true, rev: revOf(written!.writeTime) };
      } catch (err) {
        // The job's write was refused: its riders wait for the next commit.
        if (riders.length) {
          marks = [...riders, ...marks];
          scheduleMarks();
        }
        const code = (err as { code?: unknown }).code;
        if ('create' in w && code === GRPC.ALREADY_EXISTS) return { ok: false, reason: 'exists' };
        if ('update' in w && (code === GRPC.FAILED_PRECONDITION || code === GRPC.NOT_FOUND || code === GRPC.ALREADY_EXISTS)) return { ok: false, reason: 'changed' };
        throw err;
      }
    },
    async getJob(jobId) {
      const snap = await jobs.doc(jobId).get();
      return snap.exists ? jobFromDoc(snap) : null;
    },
    async listLiveJobs(limit) {
      const snap = await jobs.where('state', 'in', LIVE_STATES).orderBy('nextPollAt').limit(limit).get();
      return snap.docs.map(jobFromDoc);
    },
    async *liveJobPages({ after, limit, pageSize }) {
      // Ordered by document id (= jobId): the automatic single-field index on state serves it, and the order holds while jobs are written.
      let q = jobs.where('state', 'in', LIVE_STATES).orderBy(FieldPath.documentId());
      if (after) q = q.startAfter(after);
      // One streamed query: gRPC flow control holds the server back while a page is handled, and the
      // client library resumes after the last document it handed over if the stream breaks.
      let page: Job[] = [];
      // stream() is typed as a byte stream; its objects are the query's document snapshots.
      for await (const snap of q.limit(limit).stream() as unknown as AsyncIterable<DocumentSnapshot>) {
        page.push(jobFromDoc(snap));
        if (page.length === pageSize) {
          yield page;
          page = [];
        }
      }
      if (page.length) yield page;
    },
    async listQueuedJobs(eeProject, limit) {
      const snap = await jobs.where('eeProject', '==', eeProject).where('state', '==', 'QUEUED').orderBy('priority', 'desc').orderBy('createTime').limit(limit).get();
      return snap.docs.map(jobFromDoc);
    },
    async ownersOfOperations(names: string[]) {
      const owners = new Map<string, string>();
      // `in` and `array-contains-any` take at most 30 values; the automatic single-field indexes serve both.
      for (let i = 0; i < names.length; i += 30) {
        const chunk = names.slice(i, i + 30);
        const [current, earlier] = await Promise.all([
          jobs.where('operationName', 'in', chunk).select('operationName').get(),
          jobs.where('previousOperations', 'array-contains-any', chunk).select('previousOperations').get(),
        ]);
        for (const d of current.docs) owners.set(String(d.get('operationName')), d.id);
        for (const d of earlier.docs) for (const n of (d.get('previousOperations') as string[]) ?? []) if (chunk.includes(n)) owners.set(n, d.id);
      }
      return owners;
    },
    async listQueuedProjects() {
      // Firestore has no distinct query: a skip scan, one limit-1 query per project with queued jobs (and one
      // that finds no next), each starting after the last project found, instead of reading the queued jobs.
      const projects: string[] = [];
      const q = jobs.where('state', '==', 'QUEUED').orderBy('eeProject').select('eeProject').limit(1);
      for (;;) {
        const snap = await (projects.length ? q.startAfter(projects[projects.length - 1]) : q).get();
        if (snap.empty) return projects;
        projects.push(String(snap.docs[0]!.get('eeProject')));
      }
    },
    async listJobs(query: JobListQuery) {
      let q: Query = jobs;
      if (query.tenantId !== undefined) q = q.where('tenantId', '==', query.tenantId);
      if (query.states?.length) q = query.states.length === 1 ? q.where('state', '==', query.states[0]) : q.where('state', 'in', query.states.slice(0, 30));
      if (query.eeProject) q = q.where('eeProject', '==', query.eeProject);
      if (query.label) q = q.where('labelPairs', 'array-contains', `${query.label.key}:${query.label.value}`);
      if (query.updatedAfter) q = q.where('updateTime', '>=', query.updatedAfter);
      if (query.updatedBefore) q = q.where('updateTime', '<', query.updatedBefore);
      // Ties broken by document id (= jobId): every index ends in it implicitly, a jobId field would need its own index entry.
      q = q.orderBy('updateTime', 'desc').orderBy(FieldPath.documentId(), 'desc');
      const fingerprint = queryFingerprint(query);
      if (query.pageToken) {
        const [updateTime, jobId, issuedFor] = decodePageToken(query.pageToken, 3);
        if (issuedFor !== fingerprint) throw new InvalidPageTokenError('it was issued for different filters');
        q = q.startAfter(updateTime, jobId);
      }
      const snap = await q.limit(query.pageSize + 1).get();
      const list = snap.docs.slice(0, query.pageSize).map(jobFromDoc);
      const last = list[list.length - 1];
      return { jobs: list, nextPageToken: snap.docs.length > query.pageSize && last ? encodePageToken([last.updateTime, last.jobId, fingerprint]) : null };
    },
    async listUnsentEvents(limit) {
      const snap = await outbox.where('sent', '==', false).orderBy('createTime').limit(limit).get();
      return snap.docs.map((d): OutboxEntry => {
        const doc = OutboxDocSchema.parse(d.data());
        return { id: d.id, event: JSON.parse(doc.eventJson) as CloudEvent, createTime: doc.createTime };
      });
    },
    async inFlight(eeProject) {
      // Served by the listQueuedJobs index's (eeProject, state) prefix; billed one read per 1,000 jobs counted.
      const agg = await jobs.where('eeProject', '==', eeProject).where('state', 'in', LIVE_STATES).count().get();
      return agg.data().count;
    },
    async getBatch(batchId) {
      const snap = await batches.doc(batchId).get();
      return snap.exists ? batchFromDoc(snap.data()) : null;
    },
    async listBatches(states, limit) {
      const snap = await batches.where('state', 'in', states).orderBy('updateTime').limit(limit).get();
      return snap.docs.map((d) => batchFromDoc(d.data()));
    },
    async listBatchPage(query: BatchListQuery) {
      let q: Query = batches;
      if (query.tenantId !== undefined) q = q.where('tenantId', '==', query.tenantId);
      if (query.states?.length) q = query.states.length === 1 ? q.where('state', '==', query.states[0]) : q.where('state', 'in', query.states);
      q = q.orderBy('createTime', 'desc').orderBy(FieldPath.documentId(), 'desc');
      // As in listJobs: a token names its filters, so it cannot page a different listing.
      const fingerprint = createHash('sha256')
        .update(JSON.stringify([[...(query.states ?? [])].sort(), ...(query.tenantId !== undefined ? [{ tenant: query.tenantId }] : [])].flat()))
        .digest('base64url')
        .slice(0, 12);
      if (query.pageToken) {
        const [createTime, batchId, issuedFor] = decodePageToken(query.pageToken, 3);
        if (issuedFor !== fingerprint) throw new InvalidPageTokenError('it was issued for different filters');
        q = q.startAfter(createTime, batchId);
      }
      const snap = await q.limit(query.pageSize + 1).get();
      const list = snap.docs.slice(0, query.pageSize).map((d) => batchFromDoc(d.data()));
      const last = list[list.length - 1];
      return { batches: list, nextPageToken: snap.docs.length > query.pageSize && last ? encodePageToken([last.createTime, last.batchId, fingerprint]) : null };
    },
    async getSchedule(id) {
      const snap = await schedules.doc(id).get();
      return snap.exists ? scheduleFromDoc(snap.data()) : null;
    },
    async getChain(id) {
      const snap = await chains.doc(id).get();
      return snap.exists ? chainFromDoc(snap.data()) : null;
    },
    async listDueChains(at, limit) {
      const snap = await chains.where('state', '==', 'ACTIVE').where('dueAt', '<=', at).orderBy('dueAt').limit(limit).get();
      return snap.docs.map((d) => chainFromDoc(d.data()));
    },
    async listChains(query) {
      let q: Query = chains.orderBy('createTime', 'desc').orderBy(FieldPath.documentId(), 'desc');
      if (query.tenantId !== undefined) q = q.where('tenantId', '==', query.tenantId);
      if (query.pageToken) {
        const [createTime, id] = decodePageToken(query.pageToken, 2);
        q = q.startAfter(createTime, id);
      }
      const snap = await q.limit(query.pageSize + 1).get();
      const list = snap.docs.slice(0, query.pageSize).map((d) => chainFromDoc(d.data()));
      const last = list[list.length - 1];
      return { chains: list, nextPageToken: snap.docs.length > query.pageSize && last ? encodePageToken([last.createTime, last.chainId]) : null };
    },
    async listDueSchedules(at, limit) {
      const snap = await schedules.where('state', '==', 'ACTIVE').where('dueAt', '<=', at).orderBy('dueAt').limit(limit).get();
      return snap.docs.map((d) => scheduleFromDoc(d.data()));
    },
    async listSchedules(query) {
      let q: Query = schedules.orderBy('createTime', 'desc').orderBy(FieldPath.documentId(), 'desc');
      if (query.tenantId !== undefined) q = q.where('tenantId', '==', query.tenantId);
      if (query.pageToken) {
        const [createTime, id] = decodePageToken(query.pageToken, 2);
        q = q.startAfter(createTime, id);
      }
      const snap = await q.limit(query.pageSize + 1).get();
      const list = snap.docs.slice(0, query.pageSize).map((d) => scheduleFromDoc(d.data()));
      const last = list[list.length - 1];
      return { schedules: list, nextPageToken: snap.docs.length > query.pageSize && last ? encodePageToken([last.createTime, last.scheduleId]) : null };
    },
    async createJobsIfAbsent(list) {
      let created = 0;
      // 250 reads + 250 writes a transaction: well inside Firestore's 500-write guidance.
      for (let i = 0; i < list.length; i += 250) {
        const chunk = list.slice(i, i + 250);
        created += await db.runTransaction(async (t) => {
          const snaps = await t.getAll(...chunk.map((j) => jobs.doc(j.jobId)));
          let n = 0;
          snaps.forEach((snap, k) => {
            if (!snap.exists) {
              t.create(jobs.doc(chunk[k]!.jobId), jobToDoc(chunk[k]!));
              n++;
            }
          });
          return n;
        });
      }
      return created;
    },
    async batchStats(batchId): Promise<BatchStats> {
      const base = jobs.where('batchId', '==', batchId).where('batchCurrent', '==', true);
      const counts: BatchStats['counts'] = {};
      let eecuSeconds = 0;
      let liveProgress = 0;
      await Promise.all(
        JOB_STATES.map(async (state) => {
          const agg = await base
            .where('state', '==', state)
            .aggregate({ n: AggregateField.count(), eecu: AggregateField.sum('eecuSeconds'), progress: AggregateField.sum('progress') })
            .get();
          const d = agg.data();
          if (d.n > 0) counts[state] = d.n;
          eecuSeconds += d.eecu ?? 0;
          if (state === 'RUNNING' || state === 'CANCELLING') liveProgress += d.progress ?? 0;
        }),
      );
      return { counts, eecuSeconds, liveProgress };
    },
    async batchEstimate(batchId): Promise<BatchEstimateSum> {
      const agg = await jobs
        .where('batchId', '==', batchId)
        .where('batchCurrent', '==', true)
        .where('estimate.eecuSeconds.expected', '>=', 0)
        .aggregate({
          n: AggregateField.count(),
          low: AggregateField.sum('estimate.eecuSeconds.low'),
          expected: AggregateField.sum('estimate.eecuSeconds.expected'),
          high: AggregateField.sum('estimate.eecuSeconds.high'),
          actual: AggregateField.sum('eecuSeconds'),
        })
        .get();
      const d = agg.data();
      return { estimated: d.n, eecuSeconds: { low: d.low ?? 0, expected: d.expected ?? 0, high: d.high ?? 0 }, actualEecuSeconds: d.actual ?? 0 };
    },
    async listBatchChildren(batchId, opts) {
      let q: Query = jobs.where('batchId', '==', batchId).where('batchCurrent', '==', true);
      if (opts.states?.length) q = q.where('state', 'in', opts.states.slice(0, 30));
      q = q.orderBy('batchIndex');
      if (opts.afterIndex !== undefined) q = q.startAfter(opts.afterIndex);
      const snap = await q.limit(opts.limit).get();
      return snap.docs.map(jobFromDoc);
    },
    async listBudgetUsages(month) {
      const snap = await budgets.where('month', '==', month).get();
      return snap.docs.map((d) => BudgetDocSchema.parse(d.data()));
    },
    async countJobsByState(tenantId) {
      // Billed as one read per 1,000 jobs counted, and served by the automatic index on state (or tenantId + state).
      const base: Query = tenantId === undefined ? jobs : jobs.where('tenantId', '==', tenantId);
      const counts = await Promise.all(JOB_STATES.map(async (state) => [state, (await base.where('state', '==', state).count().get()).data().count] as const));
      return Object.fromEntries(counts) as Record<(typeof JOB_STATES)[number], number>;
    },
    async listDueDeliveries(now, limit) {
      // 'delivering' too: a claimant that died leaves its delivery due when its lease ends.
      const snap = await deliveries.where('state', 'in', ['pending', 'delivering']).where('nextAttemptAt', '<=', now).orderBy('nextAttemptAt').limit(limit).get();
      return snap.docs.map((d) => DeliveryDocSchema.parse(d.data()));
    },
    markEventsSent(ids) {
      if (ids.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        marks.push({ ids, resolve, reject });
        scheduleMarks();
      });
    },
  };
}

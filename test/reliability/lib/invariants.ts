/**
 * The invariants every reliability test checks at its end, written once. Input: what
 * the world looks like afterwards — the job documents, the simulator's tasks, every
 * event received on the events topic (duplicates included) and the outbox. Output: a list of violations (empty when everything holds).
 *
 *  1. One task per requestId, and every task belongs to exactly one job's attempt.
 *  2. A job's state agrees with its task's state; earlier (resubmitted) attempts failed.
 *  3. Events, per job, deduplicated by id: identical copies only, a valid path through
 *     the state machine starting with submitted/queued/rejected (or failed, for a submit
 *     Earth Engine refused), one event per state change in the job's history, exactly one
 *     `submitted` per attempt that reached Earth Engine, nothing after the terminal state.
 *  4. The in-flight cap holds: a project's jobs in flight (its slots, ADR 0012) stay
 *     within the cap plus the overshoot allowed to admissions deciding at once (none
 *     when they decide one at a time), and no job out of flight holds a slot shard.
 *  5. Permanent failures are never resubmitted; transient ones are, up to the limit.
 *  6. Settled: no job live, no task running, no unsent outbox entry, every outbox
 *     event received.
 */
import { HISTORY_LIMIT, IN_FLIGHT_STATES, canTransition, isTerminal, type Job, type JobState } from '../../../functions/src/core/jobs/job.ts';
import { EVENT_TYPE_PREFIX, type CloudEvent } from '../../../functions/src/core/jobs/events.ts';
import { classifyFailure } from '../../../functions/src/core/jobs/failure-classification.ts';
import { derivedRequestId } from '../../../functions/src/core/jobs/ids.ts';

/** What the checks read of a job (the Firestore document, with its request parsed back). */
export type JobLike = Pick<
  Job,
  'jobId' | 'state' | 'eeProject' | 'requestId' | 'operationName' | 'previousOperations' | 'resubmissions' | 'history' | 'error' | 'lastFailure' | 'cancelRequestedAt' | 'version' | 'slotShard'
> & { request: { requestId?: string } | null };

/**
 * The admission settings: the cap, and how far past it admissions deciding at the same
 * moment may take a project (core/jobs/slots.ts overshootBound; 0 when they decide one
 * at a time).
 */
export interface SlotCap {
  cap: number;
  overshoot: number;
}

/** What the checks read of a simulator task (`sim.tasks()`). */
export interface TaskLike {
  name: string;
  project: string;
  requestId?: string;
  state: string;
  done: boolean;
  operation: { error?: { code: number; message: string } };
}

export interface WorldSnapshot {
  jobs: JobLike[];
  tasks: TaskLike[];
  /** Every event received, in arrival order, duplicates included. */
  events: CloudEvent[];
  /** outbox/{eventId}: whether it was marked sent. */
  outbox?: { id: string; sent: boolean }[];
}

export interface InvariantOptions {
  /** Everything should be finished: jobs terminal, tasks done, outbox relayed and received. */
  settled: boolean;
  /** Copies of one event id are allowed (an outbox re-relay after a crash); they must still be identical. */
  allowDuplicateEvents: boolean;
  maxResubmissions: number;
  /** When given, every project's jobs in flight must stay within the cap (and its allowed overshoot). */
  cap?: SlotCap;
}

export interface InvariantReport {
  violations: string[];
  stats: {
    jobs: number;
    tasks: number;
    events: number;
    uniqueEvents: number;
    duplicateEvents: number;
    byState: Record<string, number>;
  };
}

const KIND_STATE: Record<string, JobState> = {
  queued: 'QUEUED',
  submitted: 'PENDING',
  running: 'RUNNING',
  cancelling: 'CANCELLING',
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
  rejected: 'REJECTED',
  skipped: 'SKIPPED',
};

const TASK_STATE_FOR: Partial<Record<JobState, string>> = { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', CANCELLED: 'CANCELLED' };

/** The requestId of each attempt: the client's (or eeport-{jobId}) first, then eeport-{jobId}-r{n}. */
export function attemptRequestIds(job: JobLike): string[] {
  const first = job.request?.requestId ?? (job.resubmissions === 0 ? job.requestId : derivedRequestId(job.jobId));
  return [first, ...Array.from({ length: job.resubmissions }, (_, i) => derivedRequestId(job.jobId, i + 1))];
}

interface ParsedEvent {
  ev: CloudEvent;
  kind: string;
  version: number;
  extra: boolean;
}

/** Event kinds that announce something about a job once, outside its state sequence (ids without a version). */
const NOTICE_KINDS = new Set(['stalled', 'eecu_cap_exceeded', 'recovered']);

function parseEventId(ev: CloudEvent): { version: number; suffix: string | null } | null {
  const m = /^([0-9a-f]{32})\.(\d+)(?:\.([a-z_]+))?$/.exec(ev.id);
  if (!m || m[1] !== ev.subject) return null;
  return { version: Number(m[2]), suffix: m[3] ?? null };
}

function allowedNext(prev: JobState | null, next: JobState): boolean {
  // A chain's step that will never run is born SKIPPED (core/chains).
  if (prev === null) return ['QUEUED', 'PENDING', 'FAILED', 'REJECTED', 'SKIPPED'].includes(next);
  // Between a queued event and the next one the job passed SUBMITTING, which has no event.
  if (prev === 'QUEUED') return ['PENDING', 'FAILED', 'QUEUED', 'CANCELLED'].includes(next);
  if (prev === next) return false;
  return canTransition(prev, next);
}

export function checkInvariants(world: WorldSnapshot, opts: InvariantOptions): InvariantReport {
  const v: string[] = [];
  const jobsById = new Map(world.jobs.map((j) => [j.jobId, j]));
  const byState: Record<string, number> = {};
  for (const j of world.jobs) byState[j.state] = (byState[j.state] ?? 0) + 1;

  // ---- 1. tasks: one per requestId, each owned by exactly one job attempt --------------
  const byRequest = new Map<string, TaskLike[]>();
  const taskByName = new Map<string, TaskLike>();
  for (const t of world.tasks) {
    taskByName.set(t.name, t);
    if (t.requestId === undefined) {
      v.push(`task ${t.name} has no requestId: eeport always sends one`);
      continue;
    }
    const key = `${t.project}/${t.requestId}`;
    byRequest.set(key, [...(byRequest.get(key) ?? []), t]);
  }
  for (const [key, list] of byRequest) if (list.length > 1) v.push(`${list.length} tasks for requestId ${key}: ${list.map((t) => t.name).join(', ')}`);

  const owner = new Map<string, string>();
  const tasksOfJob = new Map<string, TaskLike[][]>();
  for (const j of world.jobs) {
    const attempts = attemptRequestIds(j).map((rid) => byRequest.get(`${j.eeProject}/${rid}`) ?? []);
    tasksOfJob.set(j.jobId, attempts);
    for (const t of attempts.flat()) {
      const other = owner.get(t.name);
      if (other && other !== j.jobId) v.push(`task ${t.name} claimed by jobs ${other} and ${j.jobId}`);
      owner.set(t.name, j.jobId);
    }
  }
  for (const t of world.tasks) {
    if (!owner.has(t.name)) v.push(`orphan task ${t.name} (requestId ${t.requestId}, ${t.state}) belongs to no job attempt`);
  }

  for (const j of world.jobs) {
    const attempts = tasksOfJob.get(j.jobId)!;
    const rids = attemptRequestIds(j);
    // Earlier attempts: each reached Earth Engine, failed, and is listed in previousOperations.
    for (let i = 0; i < attempts.length - 1; i++) {
      const [t] = attempts[i]!;
      if (!t) {
        v.push(`${j.jobId}: attempt ${i} (${rids[i]}) was resubmitted but has no task`);
        continue;
      }
      if (!j.previousOperations.includes(t.name)) v.push(`${j.jobId}: earlier attempt's task ${t.name} missing from previousOperations`);
      if (t.state !== 'FAILED') v.push(`${j.jobId}: attempt ${i} was resubmitted but its task is ${t.state}, not FAILED`);
      else {
        const err = t.operation.error;
        const c = classifyFailure(err?.code, err?.message ?? '');
        if (c.class !== 'transient') v.push(`${j.jobId}: attempt ${i} failed permanently (${err?.code} ${err?.message}; rule ${c.rule}) and was resubmitted anyway`);
      }
    }
    if (j.resubmissions > opts.maxResubmissions) v.push(`${j.jobId}: ${j.resubmissions} resubmissions, more than MAX_RESUBMISSIONS=${opts.maxResubmissions}`);

    // The current attempt: its task (if any) is the job's operation, and their states agree.
    const [current, ...extra] = attempts[attempts.length - 1] ?? [];
    if (extra.length) v.push(`${j.jobId}: ${extra.length + 1} tasks for its current requestId`);
    if (j.operationName) {
      const t = taskByName.get(j.operationName);
      if (!t) v.push(`${j.jobId}: operation ${j.operationName} is not a task in the simulator`);
      else if (t.requestId !== rids[rids.length - 1]) v.push(`${j.jobId}: operation ${j.operationName} has requestId ${t.requestId}, the job's is ${rids[rids.length - 1]}`);
      if (t && isTerminal(j.state) && j.error?.code !== 'EE.OPERATION_LOST') {
        const want = TASK_STATE_FOR[j.state];
        if (want && t.state !== want) v.push(`${j.jobId}: job ${j.state} but its task ${t.name} is ${t.state}`);
      }
      if (t && !isTerminal(j.state) && t.done && opts.settled) v.push(`${j.jobId}: job still ${j.state} though its task ended ${t.state}`);
      if (t && j.state === 'FAILED' && t.state === 'FAILED' && j.cancelRequestedAt === null) {
        const err = t.operation.error;
        const c = classifyFailure(err?.code, err?.message ?? '');
        if (c.class === 'transient' && j.resubmissions < opts.maxResubmissions) {
          v.push(`${j.jobId}: task failed transiently (${err?.code} "${err?.message}", rule ${c.rule}) but the job ended FAILED after ${j.resubmissions} of ${opts.maxResubmissions} resubmissions`);
        }
      }
    } else if (current && (isTerminal(j.state) || opts.settled)) {
      v.push(`${j.jobId}: ${j.state} without an operation, yet Earth Engine has task ${current.name} (${current.state}) for its requestId ${current.requestId}`);
    }
    if (opts.settled && !isTerminal(j.state)) v.push(`${j.jobId}: still ${j.state} after everything settled`);
  }

  // ---- 3. events ------------------------------------------------------------------------
  const seen = new Map<string, { ev: CloudEvent; copies: number }>();
  for (const ev of world.events) {
    const s = seen.get(ev.id);
    if (!s) seen.set(ev.id, { ev, copies: 1 });
    else {
      s.copies++;
      if (JSON.stringify(s.ev) !== JSON.stringify(ev)) v.push(`event ${ev.id} received twice with different contents`);
    }
  }
  let duplicateEvents = 0;
  for (const [id, s] of seen) {
    if (s.copies > 1) {
      duplicateEvents += s.copies - 1;
      if (!opts.allowDuplicateEvents) v.push(`event ${id} received ${s.copies} times (no re-relay expected here)`);
    }
  }
  const perJob = new Map<string, ParsedEvent[]>();
  for (const { ev } of seen.values()) {
    if (!ev.type.startsWith(EVENT_TYPE_PREFIX)) continue;
    const kind = ev.type.slice(EVENT_TYPE_PREFIX.length);
    if (kind === 'webhook_failed') continue;
    // Once-per-job notices (the watch's stalled, the runaway guard's eecu_cap_exceeded, tiled
    // recovery's recovered) are named {jobId}.{kind}[.r{attempt}], not by a version: they mark no state change.
    if (NOTICE_KINDS.has(kind)) {
      if (!new RegExp(`^${ev.subject}\\.${kind}(?:\\.r\\d+)?$`).test(ev.id)) v.push(`notice ${ev.id} is not {jobId}.${kind}[.r{attempt}] of its subject ${ev.subject}`);
      if (!jobsById.has(ev.subject)) v.push(`event ${ev.id} (${kind}) for unknown job ${ev.subject}`);
      continue;
    }
    const parsed = parseEventId(ev);
    if (!parsed) {
      v.push(`event id ${ev.id} is not {jobId}.{version}[.kind] of its subject ${ev.subject}`);
      continue;
    }
    if (!jobsById.has(ev.subject)) v.push(`event ${ev.id} (${kind}) for unknown job ${ev.subject}`);
    const extra = parsed.suffix !== null;
    if (extra && parsed.suffix !== kind) v.push(`event ${ev.id}: suffix ${parsed.suffix} but type ${kind}`);
    if (!extra && KIND_STATE[kind] !== ev.data.state) v.push(`event ${ev.id}: type ${kind} but data.state ${ev.data.state}`);
    if (ev.data.jobId !== ev.subject) v.push(`event ${ev.id}: data.jobId ${ev.data.jobId} ≠ subject`);
    perJob.set(ev.subject, [...(perJob.get(ev.subject) ?? []), { ev, kind, version: parsed.version, extra }]);
  }
  for (const j of world.jobs) {
    const evs = (perJob.get(j.jobId) ?? []).sort((a, b) => a.version - b.version || Number(b.extra) - Number(a.extra));
    const kinds = evs.map((e) => e.kind);
    const path = `[${kinds.join(' → ')}]`;
    let prev: JobState | null = null;
    for (const e of evs) {
      const state = KIND_STATE[e.kind];
      if (!state) {
        v.push(`${j.jobId}: unknown event kind ${e.kind}`);
        continue;
      }
      if (prev !== null && isTerminal(prev)) {
        v.push(`${j.jobId}: event ${e.kind} after terminal ${prev} ${path}`);
        break;
      }
      if (!allowedNext(prev, state)) v.push(`${j.jobId}: ${prev ?? 'start'} → ${e.kind} is not a valid step ${path}`);
      prev = state;
    }
    const last = evs[evs.length - 1];
    if (isTerminal(j.state)) {
      if (!last || KIND_STATE[last.kind] !== j.state) v.push(`${j.jobId}: job ${j.state} but its last event is ${last?.kind ?? 'none'} ${path}`);
    } else if (j.state !== 'SUBMITTING' && (!last || KIND_STATE[last.kind] !== j.state)) {
      v.push(`${j.jobId}: job ${j.state} but its last event is ${last?.kind ?? 'none'} ${path}`);
    }
    // One submitted per attempt that reached Earth Engine.
    const tasks = tasksOfJob.get(j.jobId)!.flat().length;
    const submitted = kinds.filter((k) => k === 'submitted').length;
    if (submitted !== tasks) v.push(`${j.jobId}: ${submitted} submitted event(s) for ${tasks} task(s) ${path}`);
    // One (main) event per state change in the history: nothing missing, nothing extra.
    const changes = j.history.filter((h) => h.to !== 'SUBMITTING').map((h) => h.to);
    const main = evs.filter((e) => !e.extra).map((e) => KIND_STATE[e.kind]);
    const truncated = j.history.length >= HISTORY_LIMIT;
    const got = truncated ? main.slice(-changes.length) : main;
    if (JSON.stringify(got) !== JSON.stringify(changes)) {
      v.push(`${j.jobId}: state changes [${changes.join(' → ')}] but events [${main.join(' → ')}]${truncated ? ' (history truncated; compared the tail)' : ''}`);
    }
  }

  // ---- 4. in-flight cap -------------------------------------------------------------------
  v.push(...checkSlots(world.jobs, opts.cap));

  // ---- 6. settled -------------------------------------------------------------------------
  if (opts.settled) {
    for (const t of world.tasks) if (!t.done) v.push(`task ${t.name} still ${t.state} after everything settled`);
    if (world.outbox) {
      const unsent = world.outbox.filter((o) => !o.sent);
      if (unsent.length) v.push(`${unsent.length} outbox event(s) never relayed: ${unsent.slice(0, 5).map((o) => o.id).join(', ')}`);
      const missing = world.outbox.filter((o) => !seen.has(o.id));
      if (missing.length) v.push(`${missing.length} outbox event(s) never arrived on the events topic: ${missing.slice(0, 5).map((o) => o.id).join(', ')}`);
      const outboxIds = new Set(world.outbox.map((o) => o.id));
      const stray = [...seen.keys()].filter((id) => !outboxIds.has(id));
      if (stray.length) v.push(`${stray.length} event(s) received that are not in the outbox: ${stray.slice(0, 5).join(', ')}`);
    }
  }

  return {
    violations: v,
    stats: { jobs: world.jobs.length, tasks: world.tasks.length, events: world.events.length, uniqueEvents: seen.size, duplicateEvents, byState },
  };
}

/**
 * The in-flight cap against the jobs: per project, the jobs in flight are its taken slots
 * (there is no counter to drift); they stay within the cap plus the allowed overshoot. A
 * job out of flight holds no slot shard (a field of the counter design, null since).
 */
export function checkSlots(jobs: Pick<JobLike, 'jobId' | 'state' | 'eeProject' | 'slotShard'>[], cap?: SlotCap): string[] {
  const v: string[] = [];
  const perProject = new Map<string, number>();
  for (const j of jobs) {
    const inFlight = IN_FLIGHT_STATES.has(j.state);
    if (!inFlight && j.slotShard !== null && j.slotShard !== undefined) v.push(`${j.jobId}: ${j.state} but still holds a slot in shard ${j.slotShard}`);
    if (inFlight) perProject.set(j.eeProject, (perProject.get(j.eeProject) ?? 0) + 1);
  }
  if (cap) {
    const limit = cap.cap + cap.overshoot;
    for (const [p, n] of perProject) if (n > limit) v.push(`${p}: ${n} jobs in flight, above the cap ${cap.cap}${cap.overshoot ? ` plus the allowed overshoot ${cap.overshoot}` : ''}`);
  }
  return v;
}

/** Throws listing the violations (the first 40), or returns the report. */
export function assertInvariants(world: WorldSnapshot, opts: InvariantOptions, label = 'invariants'): InvariantReport {
  const report = checkInvariants(world, opts);
  if (report.violations.length) {
    const shown = report.violations.slice(0, 40);
    throw new Error(
      `${label}: ${report.violations.length} violation(s)\n  - ${shown.join('\n  - ')}${report.violations.length > shown.length ? `\n  … and ${report.violations.length - shown.length} more` : ''}\n  stats: ${JSON.stringify(report.stats)}`,
    );
  }
  return report;
}

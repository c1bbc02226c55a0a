/**
 * Submit: a request becomes exactly one Earth Engine export, recorded as a job.
 *
 * 1. Intake: count the project's jobs in flight (admission, core/jobs/slots.ts), then
 *    create jobs/{jobId} in SUBMITTING with a short lease (or QUEUED when the project is
 *    at its cap, or REJECTED when the input is bad) with one precondition create that
 *    also claims the client requestId (ADR 0012). When the job or the requestId already
 *    exists, a transaction sorts it out: a duplicate delivery, a live lease, a takeover.
 * 2. Call image:export with the job's fixed requestId, so a retry after a crash finds
 *    the same operation instead of starting a second task.
 * 3. Record: SUBMITTING → the operation's state, with its `submitted` event, written
 *    only if the job is still the revision intake wrote (else in a transaction).
 *
 * Permanent failures are recorded and returned (the trigger acknowledges); transient
 * ones are thrown (the trigger retries with the same requestId).
 */
import { EeportError, isEarthEngineError } from '../kernel/index.ts';
import { derivedRequestId, sentRequestId, jobIdFor, newJob, transition, type Job, type JobState, fieldsFromOperation, jobStateOf, type Operation, eventsFor, identityString, relayEvents, type LogEvents, type CloudEvent, createAdmissionGate, type AdmissionGate, freesSlot, resolveFailure } from '../jobs/index.ts';
import { intakeMessage, type IncomingMessage, type IntakePolicy, type IntakeResult, type SubmitCommand } from './intake.ts';
import type { Clock, EarthEngine, EventPublisher, JobStore, JobTransaction } from '../ports.ts';
import { findOwnOperation, type AdoptSettings } from './adopt-operation.ts';
import { checkBudgets, notifyExceeded, type Budget } from '../budgets/index.ts';
import { exportPolicyIssues, type Issue } from '../requests/index.ts';
import { newChain, stepJobId } from '../chains/index.ts';

export interface SubmitSettings {
  eventSource: string;
  /** Jobs in SUBMITTING/PENDING/RUNNING/CANCELLING per Earth Engine project; beyond it jobs wait in QUEUED. */
  maxInFlightPerProject: number;
  /** How long one delivery owns a SUBMITTING job before another may take over. */
  submitLeaseMs: number;
  intake: IntakePolicy;
  /** Monthly EECU budgets checked before a job is admitted. */
  budgets?: readonly Budget[];
  /** Resubmission of transient task failures, for an operation that has already failed when submit records it. */
  maxResubmissions?: number;
  resubmitBackoffMs?: number;
  /** How a job whose requestId Earth Engine says was already used finds its operation. */
  adopt?: AdoptSettings;
  /** A tenant's intake policy (TENANTS), checked again before its jobs reach Earth Engine; null: the tenant is no longer configured. */
  intakeFor?: (tenantId: string) => IntakePolicy | null;
}

export interface SubmitDeps {
  store: JobStore;
  ee: EarthEngine;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  settings: SubmitSettings;
  /** The instance's admission (createAdmissionGate), kept across invocations so a count can be reused; default: count every submit. */
  admission?: AdmissionGate;
}

/** `verifying`: the job's task exists but could not be identified yet (see adopt-operation.ts); it stays SUBMITTING. */
export type SubmitOutcome = { kind: 'rejected' | 'queued' | 'submitted' | 'failed' | 'duplicate' | 'verifying'; job: Job };

type Decision = { action: 'dispatch' | 'queued' | 'duplicate' | 'busy' | 'rejected'; job: Job; events: CloudEvent[] };

/** A job as this delivery last wrote it, with the stored revision that write made (for a precondition record). */
type Written = { job: Job; rev: string };

export function createSubmitExport(deps: SubmitDeps) {
  const { store, ee, clock, logs, settings } = deps;
  const iso = () => clock.now().toISOString();
  const leaseUntil = () => new Date(clock.now().getTime() + settings.submitLeaseMs).toISOString();
  const gate = deps.admission ?? createAdmissionGate({ count: (p) => store.inFlight(p), now: () => clock.now().getTime(), cap: settings.maxInFlightPerProject, maxAgeMs: 0 });

  /** Writes a state change and its events; reads must already be done. */
  function write(tx: JobTransaction, prev: Job | null, next: Job): CloudEvent[] {
    if (prev) tx.updateJob(next);
    else tx.createJob(next);
    const events = eventsFor(prev, next, settings.eventSource);
    tx.addEvents(events);
    return events;
  }

  async function recordRejection(r: Extract<IntakeResult, { ok: false }>): Promise<SubmitOutcome> {
    const jobId = jobIdFor(r.identity);
    const now = iso();
    const job = newJob(
        {
          jobId,
          state: 'REJECTED',
          eeProject: r.eeProject,
          request: null,
          requestId: derivedRequestId(jobId),
          identity: identityString(r.identity),
          tenantId: r.tenantId,
          labels: r.labels,
          callbackUrl: r.callbackUrl,
          source: r.source,
          rawPreview: r.rawPreview,
          endTime: now,
          error: { code: r.code, message: r.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ').slice(0, 2000), details: r.errors.slice(0, 50) },
        },
        now,
      );
    const events = eventsFor(null, job, settings.eventSource);
    const created = await store.commit({ create: job, events });
    if (!created.ok) {
      // The job exists: this is a redelivery. Read what the first delivery recorded.
      const existing = await store.getJob(jobId);
      if (!existing) throw new Error(`job ${jobId} exists and does not`);
      logs.exportDuplicate(existing);
      return { kind: 'duplicate', job: existing };
    }
    await relayEvents(deps, events);
    logs.exportRejected(job);
    return { kind: 'rejected', job };
  }

  async function submitCommand(cmd: SubmitCommand): Promise<SubmitOutcome> {
    const jobId = jobIdFor(cmd.identity);
    const now = iso();
    // Earth Engine deduplicates on the requestId, not on eeport's job: a client requestId
    // another job already sent makes this a publication of that job, never a second one.
    // Sent as given, or, for a tenant, namespaced by it (sentRequestId): ownership is of what Earth Engine sees.
    const clientRequestId = cmd.request.requestId === undefined ? undefined : sentRequestId(cmd.tenantId, cmd.request.requestId);
    const base = {
      jobId,
      eeProject: cmd.eeProject,
      request: cmd.request,
      requestId: clientRequestId ?? derivedRequestId(jobId),
      identity: identityString(cmd.identity),
      tenantId: cmd.tenantId,
      labels: cmd.labels,
      callbackUrl: cmd.callbackUrl,
      source: cmd.source,
      ...(cmd.then ? { chain: { chainId: jobId, step: 'root' } } : {}),
      ...(cmd.maxEecuSeconds ? { maxEecuSeconds: cmd.maxEecuSeconds } : {}),
    };
    // Admission: a count of the project's jobs in flight, read before deciding and outside any
    // transaction, so submits never contend on a shared document (a soft cap: core/jobs/slots.ts),
    // and remembered for a moment while the project is far below its cap.
    const room = await gate.admit(cmd.eeProject);
    const admitted = () => newJob({ ...base, state: 'SUBMITTING', submitLeaseUntil: leaseUntil() }, now);
    const queued = () => newJob({ ...base, state: 'QUEUED', queuedReason: `the in-flight cap of ${settings.maxInFlightPerProject} jobs in ${cmd.eeProject} is reached` }, now);

    // The common case, a new job with neither budgets to charge nor a chain to write: one
    // precondition create of the job, its events and its requestId owner, nothing read first.
    if (!settings.budgets?.length && !cmd.then) {
      const job = room ? admitted() : queued();
      const events = eventsFor(null, job, settings.eventSource);
      const created = await store.commit({ create: job, events, ...(clientRequestId ? { requestIdOwner: clientRequestId } : {}) });
      if (created.ok) {
        await relayEvents(deps, events);
        if (job.state === 'SUBMITTING') return dispatch(job, { job, rev: created.rev });
        logs.exportQueued(job);
        return { kind: 'queued', job };
      }
      // The job or the requestId exists: a redelivery, another identity's publication, a takeover. Decided below.
    }

    const decision = await store.transact<Decision>(async (tx) => {
      const existing = await tx.getJob(jobId);
      const owner = clientRequestId ? await tx.getRequestIdOwner(clientRequestId) : null;
      if (owner && owner !== jobId) {
        const ownerJob = await tx.getJob(owner);
        if (ownerJob) return { action: 'duplicate', job: ownerJob, events: [] };
      }
      if (existing) {
        if (existing.state !== 'SUBMITTING') return { action: 'duplicate', job: existing, events: [] };
        if (existing.submitLeaseUntil && existing.submitLeaseUntil > now) return { action: 'busy', job: existing, events: [] };
        // The previous submitter's lease ran out (it crashed or timed out): take over with the same requestId.
        const taken: Job = { ...existing, submitLeaseUntil: leaseUntil(), updateTime: now, version: existing.version + 1 };
        tx.updateJob(taken);
        return { action: 'dispatch', job: taken, events: [] };
      }
      const verdict = settings.budgets?.length ? await checkBudgets(tx, { eeProject: cmd.eeProject, labels: cmd.labels, request: cmd.request, tenantId: cmd.tenantId }, settings.budgets, now, settings.eventSource) : ({ ok: true } as const);
      // Reads are done: from here on only writes. The job being created owns its client requestId.
      if (clientRequestId && !owner) tx.setRequestIdOwner(clientRequestId, jobId);
      // A chain is written with its root; the poller's tick moves it on (core/chains).
      if (cmd.then) tx.setChain(newChain({ rootId: jobId, kind: 'job', tenantId: cmd.tenantId, eeProject: cmd.eeProject, labels: cmd.labels, callbackUrl: cmd.callbackUrl, plan: cmd.then, stepId: (step) => stepJobId(jobId, step) }, now));
      if (!verdict.ok) {
        const budgetEvents = notifyExceeded(tx, verdict, now);
        const job =
          verdict.budget.onExceeded === 'reject'
            ? newJob({ ...base, state: 'REJECTED', endTime: now, error: { code: 'EECU.BUDGET_EXCEEDED', message: verdict.reason } }, now)
            : newJob({ ...base, state: 'QUEUED', queuedReason: verdict.reason }, now);
        return { action: job.state === 'REJECTED' ? 'rejected' : 'queued', job, events: [...budgetEvents, ...write(tx, null, job)] };
      }
      const job = room ? admitted() : queued();
      return { action: room ? 'dispatch' : 'queued', job, events: write(tx, null, job) };
    });
    await relayEvents(deps, decision.events);
    switch (decision.action) {
      case 'duplicate':
        logs.exportDuplicate(decision.job);
        return { kind: 'duplicate', job: decision.job };
      case 'queued':
        logs.exportQueued(decision.job);
        return { kind: 'queued', job: decision.job };
      case 'rejected':
        logs.exportRejected(decision.job);
        return { kind: 'rejected', job: decision.job };
      case 'busy':
        logs.exportSubmitBusy(jobId);
        // Thrown so the trigger redelivers later: by then the other delivery has finished or its lease has run out.
        throw new EeportError('SUBMIT.IN_PROGRESS', 'another delivery is submitting this job', { jobId });
      default:
        return dispatch(decision.job);
    }
  }

  /**
   * Moves a SUBMITTING job whose lease this caller holds to wherever Earth Engine's answer
   * puts it. `written`: this caller has just written the job (its revision), so the record
   * can be a precondition write instead of a transaction.
   */
  async function dispatch(job: Job, written?: Written): Promise<SubmitOutcome> {
    if (!job.request) throw new Error(`job ${job.jobId} has no request to submit`);
    const policy = job.tenantId === null || !settings.intakeFor ? settings.intake : settings.intakeFor(job.tenantId);
    const refused = policy ? exportPolicyIssues(job.eeProject, job.request, policy) : [{ path: 'tenantId', message: `tenant "${job.tenantId}" is no longer configured (TENANTS)` }];
    if (refused.length) return refuse(job, refused, written);
    let op: Operation;
    try {
      op = await ee.exportImage(job.eeProject, { ...job.request, requestId: job.requestId });
    } catch (err) {
      return handleSubmitError(job, err, written);
    }
    return recordOperation(job, op, 'export started', written);
  }

  /**
   * A job the export policy refuses now (it was queued, or is being resubmitted, under an
   * older configuration) fails without reaching Earth Engine.
   */
  async function refuse(job: Job, issues: Issue[], written?: Written): Promise<SubmitOutcome> {
    const code = issues.some((i) => i.path === 'tenantId') ? 'EXPORT.UNKNOWN_TENANT' : issues.some((i) => i.path === 'eeProject') ? 'EXPORT.UNKNOWN_PROJECT' : 'EXPORT.DESTINATION_NOT_ALLOWED';
    const message = issues.map((i) => `${i.path}: ${i.message}`).join('; ').slice(0, 2000);
    const out = await finish(job.jobId, 'FAILED', () => ({ error: { code, message, details: issues.slice(0, 50) }, endTime: iso(), submitLeaseUntil: null }), 'refused by the export policy', written);
    if (out.kind === 'failed') logs.exportSubmitFailed(out.job);
    return out;
  }

  /** SUBMITTING → the operation's state: the job now follows `op` (its own, or one it adopted). */
  async function recordOperation(job: Job, op: Operation, why: string, written?: Written): Promise<SubmitOutcome> {
    let target = jobStateOf(op);
    let failure: ReturnType<typeof resolveFailure> | null = null;
    if (target === 'FAILED') {
      // A recovered submit can find its task already failed: the same resubmission rules as the poller's apply.
      const f = fieldsFromOperation(op, job);
      if (f.error) failure = resolveFailure(job, op, f.error, { maxResubmissions: settings.maxResubmissions ?? 0, resubmitBackoffMs: settings.resubmitBackoffMs ?? 0 }, clock.now().getTime());
      if (failure) target = failure.target;
    }
    const out = await finish(job.jobId, target, (cur) => ({ ...fieldsFromOperation(op, cur), submitTime: iso(), nextPollAt: iso(), verifying: null, ...(failure?.extra ?? {}) }), failure?.reason ?? why, written);
    if (out.job.operationName === op.name && out.kind === 'submitted') logs.exportSubmitted(out.job);
    return out;
  }

  async function handleSubmitError(job: Job, err: unknown, written?: Written): Promise<SubmitOutcome> {
    // The requestId was used: a task exists (an earlier call's answer was lost). Never fail
    // the job for it; find the task and follow it.
    if (isEarthEngineError(err) && err.kind === 'already-exists') return verify(job);
    if (isEarthEngineError(err) && err.kind !== 'transient') {
      if (err.kind === 'queue-full') {
        return finish(job.jobId, 'QUEUED', () => ({ queuedReason: `Earth Engine queue full: ${err.message}`, submitLeaseUntil: null }), 'Earth Engine queue full', written);
      }
      const out = await finish(
        job.jobId,
        'FAILED',
        () => ({ error: { code: err.code, message: err.message, ...(err.httpStatus ? { status: err.httpStatus } : {}) }, endTime: iso(), submitLeaseUntil: null }),
        'Earth Engine refused the export',
        written,
      );
      if (out.kind === 'failed') logs.exportSubmitFailed(out.job);
      return out;
    }
    // Transient (or unexpected): note the attempt, free the lease so the redelivery can go at once, and rethrow.
    const message = err instanceof Error ? err.message : String(err);
    const noted = await store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur || cur.state !== 'SUBMITTING') return cur;
      const next: Job = { ...cur, submitAttempts: cur.submitAttempts + 1, lastSubmitError: message.slice(0, 1000), submitLeaseUntil: null, updateTime: iso(), version: cur.version + 1 };
      tx.updateJob(next);
      return next;
    });
    logs.exportSubmitRetry(noted ?? job, err);
    throw err;
  }

  /**
   * Looks for the job's own operation (adopt-operation.ts). Found: recorded like an
   * answer to image:export. Not (yet) told apart: the job stays SUBMITTING, its
   * `verifying` note says why, and the poller's stale-submit sweep (or a redelivery)
   * asks again later; it holds its in-flight slot meanwhile, as its task may be running.
   */
  async function verify(job: Job): Promise<SubmitOutcome> {
    const found = await findOwnOperation(deps, job, clock.now().getTime(), settings.adopt);
    if (found.kind === 'found') {
      const out = await recordOperation(job, found.operation, `adopted ${found.operation.name}: Earth Engine answered the requestId "already exists"`);
      if (out.kind !== 'duplicate') logs.exportAdopted(out.job, found.operation.name);
      return out;
    }
    const noted = await store.transact(async (tx) => {
      const cur = await tx.getJob(job.jobId);
      if (!cur || cur.state !== 'SUBMITTING') return cur;
      const same = cur.verifying !== null && cur.verifying.candidates.join(' ') === found.candidates.join(' ');
      const verifying = {
        since: cur.verifying?.since ?? iso(),
        lastCheck: iso(),
        checks: (cur.verifying?.checks ?? 0) + 1,
        candidates: found.candidates,
        candidatesSince: same ? cur.verifying!.candidatesSince : iso(),
        note: found.note,
      };
      const next: Job = { ...cur, verifying, submitAttempts: cur.submitAttempts + 1, submitLeaseUntil: null, updateTime: iso(), version: cur.version + 1 };
      tx.updateJob(next);
      return next;
    });
    if (!noted || noted.state !== 'SUBMITTING') return { kind: 'duplicate', job: noted ?? job };
    logs.exportVerifying(noted);
    return { kind: 'verifying', job: noted };
  }

  /**
   * The record: SUBMITTING → target, unless someone already moved the job on. When this
   * caller wrote the job last (`written`), one write conditioned on that revision: if it
   * still stands, nobody moved the job. Otherwise (or if the condition fails) a transaction.
   */
  async function finish(jobId: string, target: JobState, fields: (cur: Job) => Partial<Job>, reason: string, written?: Written): Promise<SubmitOutcome> {
    const kind = target === 'FAILED' ? 'failed' : target === 'QUEUED' ? 'queued' : 'submitted';
    const next = written && written.job.state === 'SUBMITTING' ? transition(written.job, target, iso(), { ...fields(written.job), submitAttempts: written.job.submitAttempts + 1, submitLeaseUntil: null }, reason) : null;
    if (written && next) {
      if (freesSlot(written.job, target)) next.slotShard = null;
      const events = eventsFor(written.job, next, settings.eventSource);
      const recorded = await store.commit({ update: next, ifRev: written.rev, events });
      if (recorded.ok) {
        await relayEvents(deps, events);
        return { kind, job: next };
      }
    }
    const result = await store.transact<Decision>(async (tx) => {
      const cur = await tx.getJob(jobId);
      if (!cur) throw new Error(`job ${jobId} vanished during submit`);
      if (cur.state !== 'SUBMITTING') return { action: 'duplicate', job: cur, events: [] };
      const next = transition(cur, target, iso(), { ...fields(cur), submitAttempts: cur.submitAttempts + 1, submitLeaseUntil: null }, reason);
      if (!next) return { action: 'duplicate', job: cur, events: [] };
      if (freesSlot(cur, target)) next.slotShard = null;
      return { action: 'dispatch', job: next, events: write(tx, cur, next) };
    });
    await relayEvents(deps, result.events);
    if (result.action === 'duplicate') return { kind: 'duplicate', job: result.job };
    return { kind, job: result.job };
  }

  return {
    /** A Pub/Sub message: bad input becomes a REJECTED job, never an exception. */
    submitMessage: (msg: IncomingMessage, policy: IntakePolicy = settings.intake) => {
      const intake = intakeMessage(msg, policy);
      return intake.ok ? submitCommand(intake.command) : recordRejection(intake);
    },
    submitCommand,
    recordRejection,
    /** For the poller: submit a job it has just moved from QUEUED (or a stale SUBMITTING) to SUBMITTING. */
    dispatch,
  };
}

export type SubmitExport = ReturnType<typeof createSubmitExport>;

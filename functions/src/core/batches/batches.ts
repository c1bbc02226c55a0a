/**
 * Batch use cases: submit (validate whole, write children in chunks as QUEUED jobs),
 * refresh (aggregate children, finish with one completion event), cancel (cancel the
 * live children), retry (resubmit only children that failed for transient reasons).
 *
 * Children start QUEUED and are released by the poller through the same admission
 * control as every job, so a 10,000-part batch never trips Earth Engine's queue cap.
 * Children carry no callback URL: the batch calls back once, when its last child ends.
 */
import { expandBatch, type BatchSpec } from './batch-spec.ts';
import { type ExportImageRequest, SubmitOptionsSchema, checkCallbackUrl, type CallbackUrlPolicy, type Issue, destinationIssues, type DestinationRules } from '../requests/index.ts';
import { batchEvent, FINAL_BATCH_STATES, MAX_BATCH_URIS, finalBatchState, stopBatch, stopEvent, type Batch } from './batch.ts';
import { checkBudgets, type Budget } from '../budgets/index.ts';
import { derivedRequestId, identityString, jobIdFor, type IdentityKey, isTerminal, LIVE_STATES, newJob, type Job, type JobSource, relayEvents, type CloudEvent, type LogEvents, sentRequestId, tenantIdentity } from '../jobs/index.ts';
import { ADMIN_SCOPE, canSee, type Scope } from '../tenants/index.ts';
import type { Clock, EventPublisher, JobStore } from '../ports.ts';
import type { CancelJob } from '../cancel/index.ts';
import { CHAIN_MAX_BYTES, checkThen, newChain, stepJobId, type ChainPlan } from '../chains/index.ts';

/** What a batch may name: the deployment's rules, or its tenant's. */
export interface BatchPolicy {
  defaultEeProject: string;
  allowedEeProjects: readonly string[];
  /** Where children may write (buckets, asset folders); absent: anywhere. */
  destinations?: DestinationRules;
  callbackPolicy?: CallbackUrlPolicy;
  /** Set: a callbackUrl is refused, for this reason (a tenant without webhook secrets). */
  noCallbacks?: string;
}

export interface BatchDeps {
  store: JobStore;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  cancel: CancelJob;
  settings: {
    eventSource: string;
    defaultEeProject: string;
    allowedEeProjects: readonly string[];
    /** Where children may write (buckets, asset folders); absent: anywhere. */
    destinations?: DestinationRules;
    callbackPolicy?: CallbackUrlPolicy;
    /** Largest estimated size of a batch's children together (BATCH_MAX_EXPANDED_BYTES); absent: the default. */
    maxExpandedBytes?: number;
    /** Most children a batch may have (BATCH_MAX_CHILDREN); absent: the default. */
    maxChildren?: number;
    /** A tenant's batches follow its rules instead (TENANTS); absent: these settings for every batch. */
    policyFor?: (tenantId: string) => BatchPolicy;
    /** EECU budgets: `:resume` of a batch stopped OUT_OF_BUDGET is refused while the budget is still used up. */
    budgets?: readonly Budget[];
  };
}

export type BatchSubmitOutcome = { kind: 'accepted' | 'duplicate' | 'rejected'; batch: Batch };

/** checkBatch's verdict: the expanded children and the batch's fields, or every problem (by path). */
export type BatchCheck =
  | { ok: true; spec: BatchSpec; children: ExportImageRequest[]; eeProject: string; init: Partial<Batch>; then?: ChainPlan }
  | { ok: false; errors: Issue[]; init: Partial<Batch> };

/** Problems reported about one batch at most (one refused bucket in a 10,000-child fan-out would otherwise be 10,000). */
const MAX_ISSUES = 50;

/** Children written per createJobsIfAbsent call (Firestore: plan on at most 500 writes a batch). */
const WRITE_CHUNK = 500;

/** The identity of a batch whose submitter named it (the spec's batchId): the same name is always the same batch. */
export const batchIdentity = (name: string): IdentityKey => ({ kind: 'key', key: `batch:${name}` });

export function createBatches(deps: BatchDeps) {
  const { store, clock, settings } = deps;
  const iso = () => clock.now().toISOString();

  function emptyBatch(batchId: string, identity: string, init: Partial<Batch>): Batch {
    const now = iso();
    return {
      batchId,
      tenantId: null,
      state: 'WRITING',
      eeProject: settings.defaultEeProject,
      description: null,
      labels: {},
      callbackUrl: null,
      identity,
      total: 0,
      written: 0,
      counts: {},
      progress: 0,
      eecuSeconds: 0,
      destinationUris: [],
      destinationUrisTruncated: false,
      error: null,
      cancelRequestedAt: null,
      retries: 0,
      createTime: now,
      updateTime: now,
      endTime: null,
      version: 1,
      ...init,
    };
  }

  async function reject(batchId: string, identity: string, errors: Issue[], init: Partial<Batch>): Promise<BatchSubmitOutcome> {
    const r = await store.transact(async (tx) => {
      const existing = await tx.getBatch(batchId);
      if (existing) return { kind: 'duplicate' as const, batch: existing, events: [] as CloudEvent[] };
      const batch = emptyBatch(batchId, identity, {
        ...init,
        state: 'REJECTED',
        endTime: iso(),
        error: { code: 'BATCH.INVALID', message: errors.map((e) => `${e.path}: ${e.message}`).join('; ').slice(0, 2000), details: errors.slice(0, 50) },
      });
      tx.setBatch(batch);
      const events = [batchEvent(batch, settings.eventSource, 'rejected')];
      tx.addEvents(events);
      return { kind: 'rejected' as const, batch, events };
    });
    await relayEvents(deps, r.events);
    return { kind: r.kind, batch: r.batch };
  }

  /**
   * Everything submitBatch checks before it writes: the spec, every expanded child, and
   * the batch's options against this deployment (callback URL policy, allowed projects).
   * Stores nothing, so the API can answer a bad batch with a 400 instead of recording it.
   */
  function checkBatch(spec: unknown, tenantId: string | null = null): BatchCheck {
    const expansion = expandBatch(spec, { maxExpandedBytes: settings.maxExpandedBytes, maxChildren: settings.maxChildren });
    const init0: Partial<Batch> = { tenantId };
    if (!expansion.ok) return { ok: false, errors: expansion.errors, init: init0 };
    const { spec: b, children } = expansion;
    const policy: BatchPolicy = tenantId !== null && settings.policyFor ? settings.policyFor(tenantId) : settings;
    const opts = SubmitOptionsSchema.safeParse({ eeProject: b.eeProject, labels: b.labels, callbackUrl: b.callbackUrl });
    const eeProject = b.eeProject ?? policy.defaultEeProject;
    const init: Partial<Batch> = { ...init0, eeProject, description: b.description ?? null, labels: b.labels ?? {}, callbackUrl: b.callbackUrl ?? null, total: children.length, maxEecuSeconds: b.maxEecuSeconds ?? null };
    const problems: Issue[] = opts.success ? [] : opts.error.issues.map((i) => ({ path: `batch.${i.path.join('.')}`, message: i.message }));
    if (b.callbackUrl && policy.noCallbacks) problems.push({ path: 'batch.callbackUrl', message: `refused: ${policy.noCallbacks}` });
    else if (b.callbackUrl) {
      const c = checkCallbackUrl(b.callbackUrl, policy.callbackPolicy ?? { allowHttp: false, allowLoopback: false });
      if (!c.ok) problems.push({ path: 'batch.callbackUrl', message: `refused: ${c.reasons.join('; ')}` });
    }
    if (policy.allowedEeProjects.length && !policy.allowedEeProjects.includes(eeProject)) {
      problems.push({ path: 'batch.eeProject', message: `Earth Engine project "${eeProject}" is not one this deployment serves (allowed: ${policy.allowedEeProjects.join(', ')})` });
    }
    for (const [i, child] of children.entries()) {
      if (problems.length >= MAX_ISSUES) break;
      problems.push(...destinationIssues(child, policy.destinations ?? {}).map((e) => ({ path: `batch.children[${i}].${e.path}`, message: e.message })));
    }
    // `then`: a chain after the whole batch (core/chains), checked like a job's.
    const chain = b.then ? checkThen(b.then, { kind: 'batch', eeProject, labels: b.labels ?? {}, request: null }, { ...policy, maxRequestBytes: CHAIN_MAX_BYTES }, 'batch.then') : null;
    if (chain && !chain.ok) problems.push(...chain.errors);
    if (problems.length) return { ok: false, errors: problems.slice(0, MAX_ISSUES), init: { ...init, callbackUrl: null } };
    return { ok: true, spec: b, children, eeProject, init, ...(chain?.ok ? { then: chain.plan } : {}) };
  }

  /**
   * Submits a batch body `{batch: {...}}`. `fallback` identifies the delivery when the
   * batch names no batchId, so a redelivered message lands on the same batch. `checked`
   * is checkBatch's verdict on this same spec, when the caller already has it (the
   * API checks first): expanding 10,000 children twice is work for nothing.
   */
  async function submitBatch(spec: unknown, fallback: IdentityKey, source: JobSource, checked?: BatchCheck, tenantId: string | null = null): Promise<BatchSubmitOutcome> {
    const key = (spec as { batchId?: unknown } | null)?.batchId;
    // A batchId names a batch within its tenant: two tenants' "nightly" are two batches.
    const identity: IdentityKey = tenantIdentity(tenantId, typeof key === 'string' && key ? batchIdentity(key) : fallback);
    const batchId = jobIdFor(identity);
    const check = checked ?? checkBatch(spec, tenantId);
    if (!check.ok) return reject(batchId, identityString(identity), check.errors, check.init);
    const { spec: b, children, eeProject, init } = check;

    const start = await store.transact(async (tx) => {
      const existing = await tx.getBatch(batchId);
      if (existing && existing.state !== 'WRITING') return { batch: existing, go: false };
      const batch = existing ?? emptyBatch(batchId, identityString(identity), init);
      if (!existing) tx.setBatch(batch);
      // A chain is written with its root; it waits for the batch to end (core/chains).
      if (!existing && check.then) tx.setChain(newChain({ rootId: batchId, kind: 'batch', tenantId, eeProject, labels: b.labels ?? {}, callbackUrl: b.callbackUrl ?? null, plan: check.then, stepId: (step) => stepJobId(batchId, step) }, iso()));
      return { batch, go: true };
    });
    if (!start.go) return { kind: 'duplicate', batch: start.batch };

    // Written in chunks; a crash part-way leaves WRITING, and the redelivery writes the rest (creates are idempotent).
    const now = iso();
    const childJob = (request: ExportImageRequest, i: number): Job => {
      const jobId = jobIdFor({ kind: 'key', key: `batch:${batchId}#${i}` });
      return newJob(
        {
          jobId,
          state: 'QUEUED',
          eeProject,
          request,
          requestId: request.requestId !== undefined ? sentRequestId(tenantId, request.requestId) : derivedRequestId(jobId),
          identity: `batch:${batchId}#${i}`,
          tenantId,
          labels: { ...(b.labels ?? {}) },
          callbackUrl: null,
          source,
          batchId,
          batchIndex: i,
          queuedReason: 'batch child: released by the poller as in-flight slots free',
        },
        now,
      );
    };
    // The jobs of one chunk at a time: a 10,000-child batch never holds 10,000 job documents.
    for (let i = 0; i < children.length; i += WRITE_CHUNK) {
      await store.createJobsIfAbsent(children.slice(i, i + WRITE_CHUNK).map((request, k) => childJob(request, i + k)));
    }
    const r = await store.transact(async (tx) => {
      const cur = await tx.getBatch(batchId);
      if (!cur || cur.state !== 'WRITING') return { batch: cur ?? start.batch, events: [] as CloudEvent[], kind: 'duplicate' as const };
      const batch: Batch = { ...cur, state: 'RUNNING', written: children.length, counts: { QUEUED: children.length }, updateTime: iso(), version: cur.version + 1 };
      tx.setBatch(batch);
      const events = [batchEvent(batch, settings.eventSource, 'submitted')];
      tx.addEvents(events);
      return { batch, events, kind: 'accepted' as const };
    });
    await relayEvents(deps, r.events);
    return { kind: r.kind, batch: r.batch };
  }

  /** Brings running batches' aggregates up to date and finishes those whose children have all ended. */
  async function refreshBatches(limit = 50): Promise<number> {
    let finished = 0;
    // STOPPED batches too: their running children still end, and a stop may be followed by the end.
    for (const b of await store.listBatches(['RUNNING', 'STOPPED'], limit)) {
      const stats = await store.batchStats(b.batchId);
      const ended = Object.entries(stats.counts).reduce((n, [s, c]) => n + (isTerminal(s as Job['state']) ? (c ?? 0) : 0), 0);
      const done = ended >= b.total;
      let uris: string[] = [];
      let truncated = false;
      if (done) {
        const ok = await store.listBatchChildren(b.batchId, { states: ['SUCCEEDED'], limit: MAX_BATCH_URIS + 1 });
        uris = ok.flatMap((j) => j.destinationUris);
        truncated = ok.length > MAX_BATCH_URIS || uris.length > MAX_BATCH_URIS;
        uris = uris.slice(0, MAX_BATCH_URIS);
      }
      const r = await store.transact(async (tx) => {
        const cur = await tx.getBatch(b.batchId);
        if (!cur || (cur.state !== 'RUNNING' && cur.state !== 'STOPPED')) return [] as CloudEvent[];
        const progress = b.total ? Math.min(1, (ended + stats.liveProgress) / b.total) : 1;
        const same = JSON.stringify(cur.counts) === JSON.stringify(stats.counts) && cur.eecuSeconds === stats.eecuSeconds && cur.progress === progress;
        if (same && !done) return [] as CloudEvent[];
        const next: Batch = { ...cur, counts: stats.counts, eecuSeconds: stats.eecuSeconds, progress, updateTime: iso(), version: cur.version + 1 };
        if (!done) {
          // The batch's own cap (runaway guard): its children's summed use, running ones' partial use included, passed it.
          const cap = cur.maxEecuSeconds ?? 0;
          const capped = cap > 0 && stats.eecuSeconds > cap ? stopBatch(next, { reason: 'EECU_CAP', message: `EECU_CAP: the batch's children used ${Math.round(stats.eecuSeconds)} EECU-seconds (finished and running, as Earth Engine reports them: the EECU guard), past its cap of ${cap}; its queued children wait for :resume`, at: iso(), budget: null, limitEecuSeconds: cap, usedEecuSeconds: stats.eecuSeconds }, iso()) : null;
          tx.setBatch(capped ?? next);
          if (!capped) return [] as CloudEvent[];
          const events = [stopEvent(capped, settings.eventSource)];
          tx.addEvents(events);
          return events;
        }
        const state = finalBatchState(cur, stats.counts);
        const final: Batch = { ...next, state, progress: 1, endTime: iso(), destinationUris: uris, destinationUrisTruncated: truncated };
        tx.setBatch(final);
        const events = [batchEvent(final, settings.eventSource, state.toLowerCase())];
        tx.addEvents(events);
        return events;
      });
      if (r.length) finished++;
      await relayEvents(deps, r);
    }
    return finished;
  }

  /** Cancels every live or queued child; the batch ends CANCELLED once they have all ended. */
  async function cancelBatch(batchId: string, scope: Scope = ADMIN_SCOPE): Promise<{ kind: 'not-found' } | { kind: 'already-final' | 'cancelling'; batch: Batch; children: number }> {
    const marked = await store.transact(async (tx) => {
      const cur = await tx.getBatch(batchId);
      // Another tenant's batch is one this caller cannot tell from a missing one.
      if (!cur || !canSee(scope, cur.tenantId)) return null;
      if (FINAL_BATCH_STATES.has(cur.state)) return { batch: cur, final: true };
      const next: Batch = { ...cur, cancelRequestedAt: cur.cancelRequestedAt ?? iso(), updateTime: iso(), version: cur.version + 1 };
      tx.setBatch(next);
      return { batch: next, final: false };
    });
    if (!marked) return { kind: 'not-found' };
    if (marked.final) return { kind: 'already-final', batch: marked.batch, children: 0 };
    let n = 0;
    let afterIndex: number | undefined;
    for (;;) {
      const page = await store.listBatchChildren(batchId, { states: ['QUEUED', ...LIVE_STATES], limit: 200, ...(afterIndex !== undefined ? { afterIndex } : {}) });
      if (!page.length) break;
      for (const child of page) {
        await deps.cancel.cancelJob(child.jobId, `batch ${batchId} cancelled`);
        n++;
      }
      afterIndex = page[page.length - 1]!.batchIndex!;
    }
    return { kind: 'cancelling', batch: marked.batch, children: n };
  }

  /**
   * Resubmits only the children that failed for a transient reason: each is replaced by
   * a fresh child (the failed job stays FAILED — terminal states never change) with a
   * new requestId, and the batch runs again until they end.
   */
  async function retryBatch(batchId: string, scope: Scope = ADMIN_SCOPE): Promise<{ kind: 'not-found' } | { kind: 'nothing-to-retry' | 'retrying'; batch: Batch; children: number }> {
    const batch = await store.getBatch(batchId);
    if (!batch || !canSee(scope, batch.tenantId)) return { kind: 'not-found' };
    const failed: Job[] = [];
    let afterIndex: number | undefined;
    for (;;) {
      const page = await store.listBatchChildren(batchId, { states: ['FAILED'], limit: 500, ...(afterIndex !== undefined ? { afterIndex } : {}) });
      if (!page.length) break;
      failed.push(...page.filter((j) => j.lastFailure?.failureClass === 'transient'));
      afterIndex = page[page.length - 1]!.batchIndex!;
    }
    if (!failed.length) return { kind: 'nothing-to-retry', batch, children: 0 };
    const retryNo = batch.retries + 1;
    let replaced = 0;
    for (const old of failed) {
      const done = await store.transact(async (tx) => {
        const cur = await tx.getJob(old.jobId);
        if (!cur || !cur.batchCurrent || cur.state !== 'FAILED') return false;
        const jobId = jobIdFor({ kind: 'key', key: `batch:${batchId}#${cur.batchIndex}#retry${retryNo}` });
        if (await tx.getJob(jobId)) return false;
        tx.updateJob({ ...cur, batchCurrent: false, updateTime: iso(), version: cur.version + 1 });
        tx.createJob(
          newJob(
            {
              jobId,
              state: 'QUEUED',
              eeProject: cur.eeProject,
              request: cur.request,
              requestId: derivedRequestId(jobId),
              identity: `batch:${batchId}#${cur.batchIndex}#retry${retryNo}`,
              labels: cur.labels,
              callbackUrl: null,
              source: cur.source,
              tenantId: cur.tenantId,
              batchId,
              batchIndex: cur.batchIndex,
              previousOperations: [...cur.previousOperations, ...(cur.operationName ? [cur.operationName] : [])].slice(-20),
              lastFailure: cur.lastFailure,
              queuedReason: `batch retry ${retryNo}: resubmitting a transient failure`,
            },
            iso(),
          ),
        );
        return true;
      });
      if (done) replaced++;
    }
    const r = await store.transact(async (tx) => {
      const cur = (await tx.getBatch(batchId))!;
      const next: Batch = { ...cur, state: 'RUNNING', retries: retryNo, endTime: null, updateTime: iso(), version: cur.version + 1 };
      tx.setBatch(next);
      return next;
    });
    return { kind: 'retrying', batch: r, children: replaced };
  }

  /**
   * Resumes a STOPPED batch: its queued children are released again. Refused while the
   * reason still holds: a budget still used up this month (raise its limit, or wait for
   * the month to roll over), or, for the batch's own cap, unless `maxEecuSeconds` raises
   * the cap above what the batch has used.
   */
  async function resumeBatch(
    batchId: string,
    scope: Scope = ADMIN_SCOPE,
    opts: { maxEecuSeconds?: number } = {},
  ): Promise<{ kind: 'not-found' } | { kind: 'not-stopped' | 'resumed'; batch: Batch } | { kind: 'still-stopped'; batch: Batch; reason: string }> {
    const first = await store.getBatch(batchId);
    if (!first || !canSee(scope, first.tenantId)) return { kind: 'not-found' };
    // The budgets that cover the batch's children are those of a queued child (labels, workload tag, tenant).
    const [child] = first.stop?.reason === 'OUT_OF_BUDGET' ? await store.listBatchChildren(batchId, { states: ['QUEUED'], limit: 1 }) : [];
    const r = await store.transact(async (tx) => {
      const cur = await tx.getBatch(batchId);
      if (!cur) return { kind: 'not-found' as const };
      if (cur.state !== 'STOPPED') return { kind: 'not-stopped' as const, batch: cur };
      let cap = cur.maxEecuSeconds ?? null;
      if (cur.stop?.reason === 'OUT_OF_BUDGET' && child && settings.budgets?.length) {
        const v = await checkBudgets(tx, child, settings.budgets, iso(), settings.eventSource);
        if (!v.ok) return { kind: 'still-stopped' as const, batch: cur, reason: `${v.reason}; raise the budget's limit or wait for the next month` };
      }
      if (cur.stop?.reason === 'EECU_CAP') {
        cap = opts.maxEecuSeconds ?? cap;
        if (cap !== null && cap <= cur.eecuSeconds) {
          return { kind: 'still-stopped' as const, batch: cur, reason: `the batch has used ${Math.round(cur.eecuSeconds)} EECU-seconds, not under its cap of ${cap}; resume with a higher maxEecuSeconds` };
        }
      }
      const next: Batch = { ...cur, state: 'RUNNING', stop: null, maxEecuSeconds: cap, updateTime: iso(), version: cur.version + 1 };
      tx.setBatch(next);
      const events = [batchEvent(next, settings.eventSource, 'resumed')];
      tx.addEvents(events);
      return { kind: 'resumed' as const, batch: next, events };
    });
    if (r.kind === 'resumed') await relayEvents(deps, r.events);
    if (r.kind === 'not-found') return r;
    if (r.kind === 'still-stopped') return { kind: r.kind, batch: r.batch, reason: r.reason };
    return { kind: r.kind, batch: r.batch };
  }

  return { checkBatch, submitBatch, refreshBatches, cancelBatch, retryBatch, resumeBatch };
}

export type Batches = ReturnType<typeof createBatches>;

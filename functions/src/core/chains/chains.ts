/**
 * Chain use cases: the poller's tick moves every ACTIVE chain on, and the view the API
 * shows. No new infrastructure: a chain is looked at once per poll cycle (oldest look
 * first, a bounded number per tick).
 *
 * One transaction per chain reads the jobs (or batch) of its unfinished steps, then:
 * a step whose predecessors all SUCCEEDED gets its job, QUEUED (released by the poller
 * through admission control like any queued job), with the predecessors' outputs in its
 * placeholders; a step after one that failed, was cancelled, rejected or skipped gets a
 * SKIPPED job with the reason (which skips its own dependants in turn). Step job ids are
 * derived from chain + step and written with the chain, so a repeated tick, two pollers
 * or a crash between ticks never submit a step twice. When every step has ended, the
 * chain ends with one `chain.completed` or `chain.failed` event (stable id).
 */
import { derivedRequestId, eventsFor, identityString, jobIdFor, newJob, relayEvents, type CloudEvent, type Job, type LogEvents } from '../jobs/index.ts';
import type { Batch } from '../batches/index.ts';
import { parseExportRequest } from '../requests/index.ts';
import type { Clock, EventPublisher, JobStore } from '../ports.ts';
import { assetOf, fillChainPlaceholders, placeholdersOf, placeholderValues, stepStateOfJob, TERMINAL_STEP_STATES, type Chain, type ChainStep, type StepOutputs, type StepState } from './chain.ts';

export const CHAIN_EVENT_PREFIX = 'dev.eeport.chain.v1.';
export const CHAIN_EVENT_TYPES = [`${CHAIN_EVENT_PREFIX}completed`, `${CHAIN_EVENT_PREFIX}failed`];

/** A step's job id: derived from the chain (its root's id, already the tenant's) and the step's name. */
export const stepJobId = (chainId: string, step: string) => jobIdFor({ kind: 'chain', chainId, step });

export interface ChainDeps {
  store: JobStore;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  settings: {
    eventSource: string;
    /** Chains looked at per tick at most (the rest, the most recently looked at, wait for the next). */
    maxChainsPerTick?: number;
  };
}

/** What a chain event carries: the chain and each step's state, references only. */
export function chainEvent(c: Chain, source: string): CloudEvent {
  const kind = c.state === 'SUCCEEDED' ? 'completed' : 'failed';
  return {
    specversion: '1.0',
    id: `chain.${c.chainId}.${kind}`,
    source,
    type: `${CHAIN_EVENT_PREFIX}${kind}`,
    subject: c.chainId,
    time: c.updateTime,
    datacontenttype: 'application/json',
    data: {
      chainId: c.chainId,
      tenantId: c.tenantId,
      state: c.state,
      steps: c.steps.map((s) => ({ step: s.step, kind: s.kind, id: s.id, state: s.state, reason: s.reason, destinationUris: s.outputs?.destinationUris.slice(0, 20) ?? [], assetId: s.outputs?.assetId ?? null })),
      createTime: c.createTime,
      endTime: c.endTime,
    } as never,
  };
}

/** A batch's final states, as a step's. */
const BATCH_STEP_STATE: Partial<Record<Batch['state'], StepState>> = { SUCCEEDED: 'SUCCEEDED', PARTIALLY_FAILED: 'FAILED', FAILED: 'FAILED', CANCELLED: 'CANCELLED', REJECTED: 'REJECTED' };

const describeEnd = (s: ChainStep) => `step "${s.step}" (${s.kind} ${s.id}) ${s.state}${s.reason ? `: ${s.reason}` : ''}`.slice(0, 1000);

/** The step as its job (or batch) now stands; unchanged while it has not ended. */
function refreshed(s: ChainStep, job: Job | null, batch: Batch | null, now: string): ChainStep {
  if (s.kind === 'batch') {
    const state = batch ? BATCH_STEP_STATE[batch.state] : undefined;
    if (!batch || !state) return s;
    const reason = state === 'SUCCEEDED' ? null : batch.state === 'PARTIALLY_FAILED' ? `partially failed (${batch.counts.SUCCEEDED ?? 0} of ${batch.total} children succeeded)` : (batch.error?.message ?? batch.state.toLowerCase());
    return { ...s, state, reason, endTime: batch.endTime ?? now, outputs: state === 'SUCCEEDED' ? { jobId: null, batchId: batch.batchId, assetId: null, destinationUris: batch.destinationUris } : null };
  }
  if (!job) return s;
  const state = stepStateOfJob(job.state);
  if (!TERMINAL_STEP_STATES.has(state)) return state === s.state ? s : { ...s, state };
  return {
    ...s,
    state,
    reason: state === 'SUCCEEDED' ? null : (job.error?.message ?? null),
    endTime: job.endTime ?? now,
    outputs: state === 'SUCCEEDED' ? { jobId: job.jobId, batchId: null, assetId: assetOf(job.request), destinationUris: job.destinationUris } : null,
  };
}

export function createChains(deps: ChainDeps) {
  const { store, clock, settings } = deps;
  const maxChains = settings.maxChainsPerTick ?? 100;

  /** The job a step gets once its predecessors have ended: QUEUED, or SKIPPED / REJECTED with the reason. */
  function stepJob(c: Chain, s: ChainStep, preds: ChainStep[], at: string): Job {
    const identity = { kind: 'chain' as const, chainId: c.chainId, step: s.step };
    const base = {
      jobId: s.id,
      eeProject: s.eeProject,
      requestId: derivedRequestId(s.id),
      identity: identityString(identity),
      tenantId: c.tenantId,
      labels: { ...s.labels },
      callbackUrl: c.callbackUrl,
      source: { kind: 'chain' as const, chainId: c.chainId, step: s.step },
      chain: { chainId: c.chainId, step: s.step },
      description: typeof s.request?.description === 'string' ? s.request.description : null,
    };
    const notOk = preds.filter((p) => p.state !== 'SUCCEEDED');
    if (notOk.length) {
      const message = `skipped: ${notOk.map(describeEnd).join('; ')}`.slice(0, 2000);
      return newJob({ ...base, state: 'SKIPPED', request: null, endTime: at, error: { code: 'CHAIN.SKIPPED', message } }, at);
    }
    const values = placeholderValues(c.chainId, preds.map((p) => p.outputs!));
    const missing = placeholdersOf(s.request).filter((p) => !values.has(p.name));
    const parsed = missing.length ? null : parseExportRequest(fillChainPlaceholders(s.request, values));
    if (!parsed?.ok) {
      const details = missing.length
        ? missing.map((m) => ({ path: `request.${m.path}`, message: `{{${m.name}}} has no value: the steps before gave ${values.size - 1} destination URI(s)${preds.length === 1 && !preds[0]!.outputs!.assetId ? ' and no asset id' : ''}` }))
        : parsed!.ok
          ? []
          : parsed!.errors.slice(0, 50).map((e) => ({ path: `request.${e.path}`, message: e.message }));
      return newJob({ ...base, state: 'REJECTED', request: null, endTime: at, error: { code: 'CHAIN.INVALID_STEP', message: `step "${s.step}" made an invalid request from its predecessors' outputs: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`.slice(0, 2000), details } }, at);
    }
    return newJob({ ...base, state: 'QUEUED', request: parsed.value, description: parsed.value.description ?? null, queuedReason: `chain ${c.chainId}: ${preds.map((p) => `"${p.step}"`).join(', ')} succeeded` }, at);
  }

  /** Looks at one chain: records ended steps, starts or skips the steps they release, ends the chain. */
  async function advance(chainId: string): Promise<{ events: CloudEvent[]; started: number; ended: boolean }> {
    return store.transact(async (tx) => {
      const c = await tx.getChain(chainId);
      if (!c || c.state !== 'ACTIVE') return { events: [], started: 0, ended: false };
      // Reads first (Firestore's rule): every unfinished step's job or batch.
      const jobs = new Map<string, Job | null>();
      let batch: Batch | null = null;
      for (const s of c.steps) {
        if (TERMINAL_STEP_STATES.has(s.state)) continue;
        if (s.kind === 'batch') batch = await tx.getBatch(s.id);
        else jobs.set(s.id, await tx.getJob(s.id));
      }
      const at = clock.now().toISOString();
      const steps = c.steps.map((s) => (s.state === 'ACTIVE' ? refreshed(s, jobs.get(s.id) ?? null, batch, at) : s));
      const byName = new Map(steps.map((s, i) => [s.step, i]));
      const events: CloudEvent[] = [];
      let started = 0;
      // Steps are acyclic (checked at submit) but not necessarily declared in order: repeat until nothing moves.
      for (let moved = true; moved; ) {
        moved = false;
        for (const [i, s] of steps.entries()) {
          if (s.state !== 'WAITING') continue;
          const preds = s.after.map((a) => steps[byName.get(a)!]!);
          if (!preds.every((p) => TERMINAL_STEP_STATES.has(p.state))) continue;
          const existing = jobs.get(s.id) ?? null;
          const job = existing ?? stepJob({ ...c, steps }, s, preds, at);
          if (!existing) {
            tx.createJob(job);
            events.push(...eventsFor(null, job, settings.eventSource));
            if (job.state === 'QUEUED') started++;
          }
          steps[i] = refreshed({ ...s, state: 'ACTIVE' }, job, null, at);
          moved = true;
        }
      }
      const done = steps.every((s) => TERMINAL_STEP_STATES.has(s.state));
      const next: Chain = {
        ...c,
        steps,
        state: done ? (steps.every((s) => s.state === 'SUCCEEDED') ? 'SUCCEEDED' : 'FAILED') : 'ACTIVE',
        dueAt: done ? null : at,
        endTime: done ? at : null,
        updateTime: at,
        version: c.version + 1,
      };
      if (done) events.push(chainEvent(next, settings.eventSource));
      tx.setChain(next);
      if (events.length) tx.addEvents(events);
      return { events, started, ended: done };
    });
  }

  /** The poller's tick: moves on the ACTIVE chains looked at longest ago, at most maxChainsPerTick. Returns the steps started. */
  async function tickChains(): Promise<number> {
    const due = await store.listDueChains(clock.now().toISOString(), maxChains);
    let started = 0;
    for (const c of due) {
      const r = await advance(c.chainId);
      await relayEvents(deps, r.events);
      started += r.started;
    }
    return started;
  }

  return { advance, tickChains };
}

export type Chains = ReturnType<typeof createChains>;

/** The chain as the API shows it: the stored chain, each step with its job's live state and links. */
export async function chainView(c: Chain, getJob: (id: string) => Promise<Job | null>) {
  const jobs = await Promise.all(c.steps.map((s) => (s.kind === 'job' && s.state !== 'WAITING' ? getJob(s.id) : Promise.resolve(null))));
  return {
    ...c,
    url: `/v1/chains/${c.chainId}`,
    steps: c.steps.map((s, i) => {
      const job = jobs[i];
      const outputs: StepOutputs | null = s.outputs;
      return {
        ...s,
        url: s.kind === 'batch' ? `/v1/batches/${s.id}` : `/v1/jobs/${s.id}`,
        jobState: job?.state ?? null,
        progress: job?.progress ?? null,
        error: job?.error ?? null,
        outputs,
      };
    }),
  };
}

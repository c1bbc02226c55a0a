/**
 * POST /v1/estimates, GET /v1/estimates/accuracy and the topic's dry run
 * (`action=estimate`): the body is what POST /v1/jobs takes (a request or an envelope)
 * or `{"batch": …}` (what POST /v1/batches takes), checked by the same intake and batch
 * check, and nothing is stored. With `probe`, a request whose estimate does not rest on
 * its own computation's history starts one labelled probe job: a sample of its grid,
 * written beside its destination, whose cost is counted like any job's and which becomes
 * the computation's history. Nothing else reaches Earth Engine.
 */
import { intakeBody, type IntakePolicy, type IntakeResult, type SubmitExport } from '../submit/index.ts';
import type { Issue, ExportImageRequest } from '../requests/index.ts';
import type { Job, JobSource } from '../jobs/index.ts';
import type { Budget } from '../budgets/index.ts';
import { PROBE_LABEL, probeRequest } from './estimates.ts';
import { expressionFingerprint } from './work.ts';
import type { EstimateAnswer, Estimates } from './estimate-service.ts';

export type BatchCheck = { ok: true; children: ExportImageRequest[]; eeProject: string; init: { labels?: Record<string, string> } } | { ok: false; errors: Issue[] };

export interface EstimateApiDeps {
  estimates: Pick<Estimates, 'estimate' | 'accuracy'>;
  submit: Pick<SubmitExport, 'submitCommand'>;
  newId: () => string;
}

/** Who asks, and under which rules: the same as a submission of theirs would meet. */
export interface EstimateContext {
  intake: IntakePolicy;
  /** The batch check a submission of theirs would meet (Batches.checkBatch for their tenant). */
  checkBatch: (spec: unknown) => BatchCheck;
  source: JobSource;
  /** Start a probe when the estimate does not rest on the computation's own history. */
  probe?: boolean;
  /** Which budgets the answer may show (a tenant's own; all for operators). */
  visibleBudget?: (b: Budget) => boolean;
}

export type ProbeOutcome = { jobId: string; state: Job['state']; pixels: number; url: string } | { notStarted: string };

export type EstimateOutcome =
  | { ok: true; answer: EstimateAnswer & { probe?: ProbeOutcome } }
  | { ok: false; code: Extract<IntakeResult, { ok: false }>['code'] | 'BATCH.INVALID'; errors: Issue[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createEstimateApi(deps: EstimateApiDeps) {
  async function startProbe(request: ExportImageRequest, eeProject: string, labels: Record<string, string>, ctx: EstimateContext): Promise<ProbeOutcome> {
    const sample = probeRequest(request);
    if (!sample) return { notStarted: 'the request has no grid dimensions to sample (its region is in the expression); no probe was started' };
    // One probe per computation and project: a second ask finds the first (a duplicate), whatever its state.
    const key = `probe:${eeProject}:${expressionFingerprint(request)}`;
    const tenantId = ctx.intake.tenantId ?? null;
    const command = { request: sample, eeProject, labels: { ...labels, [PROBE_LABEL]: 'true' }, callbackUrl: null, identity: { kind: 'key' as const, key }, source: ctx.source, tenantId };
    const out = await deps.submit.submitCommand(command as Parameters<SubmitExport['submitCommand']>[0]);
    const d = sample.grid!.dimensions!;
    return { jobId: out.job.jobId, state: out.job.state, pixels: d.width! * d.height!, url: `/v1/jobs/${out.job.jobId}` };
  }

  /** Estimates a job or batch body: reads only, unless `ctx.probe` starts a probe. */
  async function estimateBody(body: unknown, ctx: EstimateContext): Promise<EstimateOutcome> {
    let requests: ExportImageRequest[];
    let eeProject: string;
    let labels: Record<string, string>;
    if (isObject(body) && 'batch' in body) {
      const extra = Object.keys(body).filter((k) => k !== 'batch');
      if (extra.length) return { ok: false, code: 'BATCH.INVALID', errors: extra.map((k) => ({ path: k, message: 'a batch estimate takes {"batch": …} alone' })) };
      const check = ctx.checkBatch(body.batch);
      if (!check.ok) return { ok: false, code: 'BATCH.INVALID', errors: check.errors };
      requests = check.children;
      eeProject = check.eeProject;
      labels = check.init.labels ?? {};
    } else {
      const intake = intakeBody(body, {}, [], ctx.intake, ctx.source, { kind: 'random', value: deps.newId() }, null);
      if (!intake.ok) return { ok: false, code: intake.code, errors: intake.errors };
      requests = [intake.command.request];
      eeProject = intake.command.eeProject;
      labels = intake.command.labels;
    }
    const answer = await deps.estimates.estimate(requests, eeProject, labels, { tenantId: ctx.intake.tenantId ?? null, ...(ctx.visibleBudget ? { visibleBudget: ctx.visibleBudget } : {}) });
    if (!ctx.probe || answer.basis.every((b) => b.method === 'history:expression' || b.method === 'probe')) return { ok: true, answer };
    return { ok: true, answer: { ...answer, probe: await startProbe(requests[0]!, eeProject, labels, ctx) } };
  }

  return { estimateBody, accuracy: deps.estimates.accuracy };
}

export type EstimateApi = ReturnType<typeof createEstimateApi>;

/**
 * POST /v1/estimates and GET /v1/estimates/accuracy, and the topic's dry run: the body
 * is what POST /v1/jobs takes (a request or an envelope) or `{"batch": …}`, checked by
 * the same intake and batch check, and nothing is stored. With `probe`, a request that
 * has no history of its own computation starts one labelled probe job: a sample of its
 * grid, whose cost is counted like any job's and which becomes the computation's history.
 */
import { intakeBody, type IntakePolicy, type SubmitExport } from '../submit/index.ts';
import type { Issue, ExportImageRequest } from '../requests/index.ts';
import type { Job } from '../jobs/index.ts';
import { PROBE_LABEL, probeRequest } from './estimates.ts';
import { expressionFingerprint } from './work.ts';
import type { EstimateAnswer, Estimates } from './estimate-service.ts';

type BatchCheckResult = { ok: true; children: ExportImageRequest[]; eeProject: string; init: { labels?: Record<string, string> } } | { ok: false; errors: Issue[] };

export interface EstimateApiDeps {
  estimates: Estimates;
  intake: IntakePolicy;
  checkBatch: (spec: unknown) => BatchCheckResult;
  submit: Pick<SubmitExport, 'submitCommand'>;
  newId: () => string;
}

export type EstimateOutcome =
  | { ok: true; answer: EstimateAnswer & { probe?: { jobId: string; state: Job['state']; pixels: number } | { notStarted: string } } }
  | { ok: false; code: 'ESTIMATE.INVALID'; errors: Issue[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createEstimateApi(deps: EstimateApiDeps) {
  async function startProbe(request: ExportImageRequest, eeProject: string, labels: Record<string, string>): Promise<{ jobId: string; state: Job['state']; pixels: number } | { notStarted: string }> {
    const sample = probeRequest(request);
    if (!sample) return { notStarted: 'the request has no grid dimensions to sample (its region is in the expression); no probe was started' };
    const key = `probe:${eeProject}:${expressionFingerprint(request)}`;
    const out = await deps.submit.submitCommand({ request: sample, eeProject, labels: { ...labels, [PROBE_LABEL]: 'true' }, callbackUrl: null, identity: { kind: 'key', key }, source: { kind: 'api', caller: 'estimates' } } as never);
    const d = sample.grid!.dimensions!;
    return { jobId: out.job.jobId, state: out.job.state, pixels: d.width! * d.height! };
  }

  /** Estimates a job or batch body; `probe` starts a probe when the estimate has no history of its own computation. */
  async function estimateBody(body: unknown, opts: { probe?: boolean; caller?: string } = {}): Promise<EstimateOutcome> {
    let requests: ExportImageRequest[];
    let eeProject: string;
    let labels: Record<string, string>;
    if (isObject(body) && 'batch' in body) {
      const check = deps.checkBatch(body.batch);
      if (!check.ok) return { ok: false, code: 'ESTIMATE.INVALID', errors: check.errors };
      requests = check.children;
      eeProject = check.eeProject;
      labels = check.init.labels ?? {};
    } else {
      const intake = intakeBody(body, {}, [], deps.intake, { kind: 'api', ...(opts.caller ? { caller: opts.caller } : {}) }, { kind: 'random', value: deps.newId() }, null);
      if (!intake.ok) return { ok: false, code: 'ESTIMATE.INVALID', errors: intake.errors };
      requests = [intake.command.request];
      eeProject = intake.command.eeProject;
      labels = intake.command.labels;
    }
    const answer = await deps.estimates.estimate(requests, eeProject, labels);
    if (!opts.probe || answer.basis.every((b) => b.method === 'history:expression' || b.method === 'probe')) return { ok: true, answer };
    return { ok: true, answer: { ...answer, probe: await startProbe(requests[0]!, eeProject, labels) } };
  }

  return { estimateBody, accuracy: deps.estimates.accuracy };
}

export type EstimateApi = ReturnType<typeof createEstimateApi>;

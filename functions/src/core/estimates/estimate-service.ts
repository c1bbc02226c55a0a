/**
 * The estimates use case: answers "what would this cost?" for a job or a batch body,
 * records an estimate on jobs as the poller first follows them, reports accuracy, and
 * starts probes. History is the project's recent SUCCEEDED jobs, read through the
 * store's job list and kept for `cacheSeconds`.
 */
import type { Clock, JobStore } from '../ports.ts';
import type { ExportImageRequest } from '../requests/index.ts';
import type { Job, JobEstimate } from '../jobs/index.ts';
import { budgetsFor, limitFor, monthOf, budgetId, usedTotal, type Budget } from '../budgets/index.ts';
import { DEFAULT_ESTIMATE_SETTINGS, PROBE_LABEL, accuracyOf, estimateRequest, probeRequest, sampleOf, sumEstimates, type EstimateSettings, type MethodAccuracy, type Sample } from './estimates.ts';

export interface EstimateServiceSettings extends EstimateSettings {
  /** Finished jobs read per project for calibration (ESTIMATE_HISTORY_JOBS). */
  historyJobs: number;
  cacheSeconds: number;
  budgets: readonly Budget[];
}

export interface EstimateServiceDeps {
  store: Pick<JobStore, 'listJobs' | 'listBudgetUsages'>;
  clock: Clock;
  settings: EstimateServiceSettings;
}

export interface BudgetShare {
  budget: string;
  /** What this work may use: the whole limit, or the part not reserved for other work (`reserve`). */
  limitEecuSeconds: number;
  /** Month to date: finished tasks and running tasks' last reported use, as the governor counts it. */
  usedEecuSeconds: number;
  remainingEecuSeconds: number;
  /** expected ÷ remaining (Infinity when nothing remains). */
  shareOfRemaining: number;
  /** used + expected passes the limit. */
  wouldExceed: boolean;
  /** used + high passes the limit. */
  mayExceed: boolean;
}

export interface EstimateAnswer {
  eecuSeconds: { low: number; expected: number; high: number };
  tasks: number;
  /** Output pixels of all tasks; null when some task's pixels cannot be told. */
  pixels: number | null;
  /** The method of the least informed task (prior < probe < project < workload tag < expression). */
  method: JobEstimate['method'];
  /** One line per distinct basis, with how many tasks used it. */
  basis: Array<{ tasks: number; method: JobEstimate['method']; basis: string }>;
  budget: BudgetShare[];
}

/** Whose estimate it is: the tenant whose budgets cover it, and which budgets the answer may show. */
export interface EstimateFor {
  tenantId?: string | null;
  visibleBudget?: (b: Budget) => boolean;
}

const RANK: Record<JobEstimate['method'], number> = { prior: 0, probe: 1, 'history:project': 2, 'history:workload-tag': 3, 'history:expression': 4 };

export function createEstimates(deps: EstimateServiceDeps) {
  const { store, clock } = deps;
  const s = { ...DEFAULT_ESTIMATE_SETTINGS, ...deps.settings };
  const cache = new Map<string, { at: number; samples: Sample[] }>();

  async function history(eeProject: string): Promise<Sample[]> {
    const hit = cache.get(eeProject);
    if (hit && clock.now().getTime() - hit.at < s.cacheSeconds * 1000) return hit.samples;
    const page = await store.listJobs({ states: ['SUCCEEDED'], eeProject, pageSize: s.historyJobs });
    const samples = page.jobs.map(sampleOf).filter((x): x is Sample => x !== null);
    cache.set(eeProject, { at: clock.now().getTime(), samples });
    return samples;
  }

  /** The estimate to record on a job (null: it has no request to estimate). */
  async function estimateJob(job: Job): Promise<JobEstimate | null> {
    if (!job.request) return null;
    return estimateRequest(job.request, await history(job.eeProject), clock.now().toISOString(), s);
  }

  async function budgetShares(requests: readonly ExportImageRequest[], eeProject: string, labels: Record<string, string>, parts: readonly JobEstimate[], who: EstimateFor): Promise<BudgetShare[]> {
    const budgets = who.visibleBudget ? s.budgets.filter(who.visibleBudget) : s.budgets;
    if (!budgets.length) return [];
    const month = monthOf(clock.now().toISOString());
    const usages = new Map((await store.listBudgetUsages(month)).map((u) => [u.id, u]));
    // The limit is the one admission would apply to this work: a share reserved for other
    // labels or tags is not this work's to use (the smallest limit over the requests wins).
    const expected = new Map<string, { b: Budget; limit: number; expected: number; high: number }>();
    requests.forEach((request, i) => {
      const subject = { eeProject, labels, request, tenantId: who.tenantId ?? null };
      for (const b of budgetsFor(subject, budgets)) {
        const id = budgetId(b, month);
        const cur = expected.get(id) ?? { b, limit: Infinity, expected: 0, high: 0 };
        cur.limit = Math.min(cur.limit, limitFor(b, subject));
        cur.expected += parts[i]!.eecuSeconds.expected;
        cur.high += parts[i]!.eecuSeconds.high;
        expected.set(id, cur);
      }
    });
    return [...expected.entries()].map(([id, { limit, expected: e, high }]) => {
      const usage = usages.get(id);
      const used = usage ? usedTotal(usage) : 0;
      const remaining = Math.max(0, limit - used);
      return { budget: id, limitEecuSeconds: limit, usedEecuSeconds: used, remainingEecuSeconds: remaining, shareOfRemaining: remaining > 0 ? Math.round((e / remaining) * 10_000) / 10_000 : Infinity, wouldExceed: used + e > limit, mayExceed: used + high > limit };
    });
  }

  /** Estimates the tasks a job (one request) or a batch (its children) would start. Reads only. */
  async function estimate(requests: readonly ExportImageRequest[], eeProject: string, labels: Record<string, string>, who: EstimateFor = {}): Promise<EstimateAnswer> {
    const h = await history(eeProject);
    const at = clock.now().toISOString();
    const parts = requests.map((r) => estimateRequest(r, h, at, s));
    const bases = new Map<string, { tasks: number; method: JobEstimate['method']; basis: string }>();
    for (const p of parts) {
      const key = `${p.method}|${p.basis}`;
      const cur = bases.get(key) ?? { tasks: 0, method: p.method, basis: p.basis };
      cur.tasks++;
      bases.set(key, cur);
    }
    return {
      eecuSeconds: sumEstimates(parts),
      tasks: parts.length,
      pixels: parts.every((p) => p.pixels !== null) ? parts.reduce((n, p) => n + p.pixels!, 0) : null,
      method: parts.reduce((m, p) => (RANK[p.method] < RANK[m] ? p.method : m), parts[0]?.method ?? 'prior'),
      basis: [...bases.values()],
      budget: await budgetShares(requests, eeProject, labels, parts, who),
    };
  }

  /** Accuracy of recorded estimates over the most recent finished jobs (of one project, or all). */
  async function accuracy(opts: { eeProject?: string; jobs?: number; tenantId?: string | null } = {}): Promise<{ jobs: number; methods: MethodAccuracy[] }> {
    const wanted = opts.jobs ?? 1000;
    const jobs: Job[] = [];
    let pageToken: string | undefined;
    do {
      const page = await store.listJobs({ states: ['SUCCEEDED'], ...(opts.eeProject ? { eeProject: opts.eeProject } : {}), ...(opts.tenantId !== undefined ? { tenantId: opts.tenantId } : {}), pageSize: Math.min(500, wanted - jobs.length), ...(pageToken ? { pageToken } : {}) });
      jobs.push(...page.jobs);
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken && jobs.length < wanted);
    const methods = accuracyOf(jobs);
    return { jobs: methods.reduce((n, m) => n + m.jobs, 0), methods };
  }

  return { estimate, estimateJob, accuracy, probeRequest, probeLabel: PROBE_LABEL };
}

export type Estimates = ReturnType<typeof createEstimates>;

/**
 * Monthly EECU budgets, per Earth Engine project and optionally per label or workload
 * tag, with a limit in EECU-seconds or a quota tier's. Month-to-date use, in
 * `budgets/{project~scope~yyyy-mm}`, is finished tasks' `batchEecuUsageSeconds`
 * (resubmitted attempts included, counted in the transaction that records the finish)
 * plus the partial use Earth Engine reports for covered tasks still running (replaced
 * at each report, dropped when the task finishes). Crossing a threshold (default
 * 50/80/100 %) writes one `dev.eeport.budget.v1.threshold` event per month. Before a job
 * is released to Earth Engine the budgets that cover it are read in the same
 * transaction; over budget (or over the unreserved share, for work a reserve does not
 * name), the job waits in QUEUED with the reason, is rejected, or stops its batch
 * (onExceeded), and one `dev.eeport.budget.v1.exceeded` event is emitted per budget and
 * month once the whole limit is used.
 */
import { z } from 'zod';
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from '../requests/index.ts';
import type { CloudEvent, Job } from '../jobs/index.ts';

const DEFAULT_THRESHOLDS_LITERAL = [50, 80, 100] as const;

/** Earth Engine's noncommercial quota tiers (since 2026-04-27), in EECU-hours per month. */
export const TIER_EECU_HOURS = { community: 150, contributor: 1_000, partner: 100_000 } as const;
export type TierName = keyof typeof TIER_EECU_HOURS;

const LabelMatchSchema = z.strictObject({ key: z.string().regex(LABEL_KEY_PATTERN), value: z.string().regex(LABEL_VALUE_PATTERN) });

/** A share of the limit kept for jobs with a label or workload tag (exactly one); others stop at (1 − Σ shares) of it. */
const ReserveSchema = z
  .strictObject({ label: LabelMatchSchema.optional(), workloadTag: z.string().min(1).optional(), share: z.number().gt(0).lt(1) })
  .refine((r) => (r.label === undefined) !== (r.workloadTag === undefined), 'a reserve names exactly one of label or workloadTag');

export const BudgetSchema = z
  .strictObject({
    eeProject: z.string().min(1),
    /** Covers only this tenant's jobs (TENANTS); absent: every job in the project. */
    tenant: z.string().min(1).optional(),
    label: LabelMatchSchema.optional(),
    workloadTag: z.string().min(1).optional(),
    /** The limit in EECU-seconds per UTC month; or give `tier` instead (exactly one of the two). */
    monthlyEecuSeconds: z.number().positive().optional(),
    /** A quota tier's limit (community 150, contributor 1,000, partner 100,000 EECU-hours a month), or a number of EECU-hours. */
    tier: z.union([z.enum(['community', 'contributor', 'partner']), z.number().positive()]).optional(),
    /** Percentages of the limit at which one budget.threshold event is emitted per month. */
    thresholds: z.array(z.number().gt(0).max(1000)).max(20).default([...DEFAULT_THRESHOLDS_LITERAL]),
    onExceeded: z.enum(['queue', 'reject', 'stop-batches']).default('queue'),
    /** Shares of the limit only jobs with a label or workload tag may use (production before exploration). */
    reserve: z.array(ReserveSchema).max(20).default([]),
    /** Runaway guard default: a running task of a covered job past this many EECU-seconds is cancelled (EECU_CAP). */
    maxEecuSecondsPerJob: z.number().positive().optional(),
  })
  .superRefine((b, ctx) => {
    if ((b.monthlyEecuSeconds === undefined) === (b.tier === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tier'], message: 'give exactly one of monthlyEecuSeconds or tier ("community", "contributor", "partner" or a number of EECU-hours)' });
    }
    const reserved = b.reserve.reduce((n, r) => n + r.share, 0);
    if (reserved >= 1) ctx.addIssue({ code: 'custom', path: ['reserve'], message: `the reserved shares add up to ${reserved}; they must leave something (< 1) for other jobs` });
  })
  .transform((b) => ({
    ...b,
    monthlyEecuSeconds: b.monthlyEecuSeconds ?? (typeof b.tier === 'number' ? b.tier : TIER_EECU_HOURS[b.tier!]) * 3600,
    thresholds: [...new Set(b.thresholds)].sort((x, y) => x - y),
  }));
type ParsedBudget = z.output<typeof BudgetSchema>;
/** A parsed budget; thresholds and reserve may be left out by code that builds one (their defaults apply). */
export type Budget = Omit<ParsedBudget, 'thresholds' | 'reserve'> & Partial<Pick<ParsedBudget, 'thresholds' | 'reserve'>>;
export const DEFAULT_THRESHOLDS: readonly number[] = DEFAULT_THRESHOLDS_LITERAL;
const reserveOf = (b: Budget) => b.reserve ?? [];
const thresholdsOf = (b: Budget) => b.thresholds ?? DEFAULT_THRESHOLDS;
export const BudgetsSchema = z.array(BudgetSchema);

export interface BudgetUsage {
  id: string;
  eeProject: string;
  scope: string;
  month: string;
  /** EECU-seconds of tasks that finished this month (resubmitted attempts included). */
  usedEecuSeconds: number;
  limitEecuSeconds: number;
  /** Set once the exceeded event for this month was written. */
  exceededNotified: boolean;
  updateTime: string;
  /** Partial EECU-seconds Earth Engine reports for covered tasks still running, by job id; an entry goes when its task finishes (then counted in usedEecuSeconds). */
  runningEecuSeconds?: Record<string, number>;
  /** Finished EECU-seconds by day of the month ("01".."31"): the burn-down chart and the recent rate. */
  dailyEecuSeconds?: Record<string, number>;
  /** Threshold percentages whose event was written this month. */
  thresholdsNotified?: number[];
}

export const BUDGET_EVENT_TYPE = 'dev.eeport.budget.v1.exceeded';
export const BUDGET_THRESHOLD_EVENT_TYPE = 'dev.eeport.budget.v1.threshold';

export const monthOf = (iso: string) => iso.slice(0, 7);

export function scopeOf(b: Pick<Budget, 'tenant' | 'label' | 'workloadTag'>): string {
  const tenant = b.tenant ? `tenant.${b.tenant}.` : '';
  if (b.label) return `${tenant}label.${b.label.key}=${b.label.value}`;
  if (b.workloadTag) return `${tenant}tag.${b.workloadTag}`;
  return `${tenant}all`;
}

/** Document-id safe: Firestore ids may not contain '/'. */
export function budgetId(b: Pick<Budget, 'eeProject' | 'tenant' | 'label' | 'workloadTag'>, month: string): string {
  return `${b.eeProject}~${scopeOf(b)}~${month}`.replace(/\//g, '_');
}

type Covered = Pick<Job, 'eeProject' | 'labels' | 'request'> & Partial<Pick<Job, 'tenantId'>>;

export function budgetsFor(job: Covered, budgets: readonly Budget[]): Budget[] {
  return budgets.filter(
    (b) =>
      b.eeProject === job.eeProject &&
      (!b.tenant || job.tenantId === b.tenant) &&
      (!b.label || job.labels[b.label.key] === b.label.value) &&
      (!b.workloadTag || job.request?.workloadTag === b.workloadTag),
  );
}

/** Month-to-date use: finished tasks plus the partial use running tasks report. */
export function usedTotal(u: Pick<BudgetUsage, 'usedEecuSeconds' | 'runningEecuSeconds'>): number {
  let n = u.usedEecuSeconds;
  for (const v of Object.values(u.runningEecuSeconds ?? {})) n += v;
  return n;
}

/** Whether a job may use a budget's reserved shares; if not, it stops at (1 − Σ shares) of the limit. */
export function reservedFor(b: Budget, job: Covered): boolean {
  return reserveOf(b).some((r) => (r.label ? job.labels[r.label.key] === r.label.value : job.request?.workloadTag === r.workloadTag));
}

/** The limit that applies to a job: the whole for reserved work, the unreserved part for the rest. */
export function limitFor(b: Budget, job: Covered): number {
  if (!reserveOf(b).length || reservedFor(b, job)) return b.monthlyEecuSeconds;
  return b.monthlyEecuSeconds * (1 - reserveOf(b).reduce((n, r) => n + r.share, 0));
}

export function emptyUsage(b: Budget, month: string, at: string): BudgetUsage {
  return { id: budgetId(b, month), eeProject: b.eeProject, scope: scopeOf(b), month, usedEecuSeconds: 0, limitEecuSeconds: b.monthlyEecuSeconds, exceededNotified: false, updateTime: at, runningEecuSeconds: {}, dailyEecuSeconds: {}, thresholdsNotified: [] };
}

export function exceededEvent(u: BudgetUsage, source: string, at: string, tenantId: string | null = null): CloudEvent {
  return {
    specversion: '1.0',
    id: `budget.${u.id}.exceeded`,
    source,
    type: BUDGET_EVENT_TYPE,
    subject: u.id,
    time: at,
    datacontenttype: 'application/json',
    data: { budget: u.id, ...(tenantId !== null ? { tenantId } : {}), eeProject: u.eeProject, scope: u.scope, month: u.month, usedEecuSeconds: usedTotal(u), limitEecuSeconds: u.limitEecuSeconds } as never,
  };
}

/** One per budget, threshold and month: the id names all three, so a relayed-again event repeats it. */
export function thresholdEvent(b: Budget, u: BudgetUsage, percent: number, source: string, at: string): CloudEvent {
  return {
    specversion: '1.0',
    id: `budget.${u.id}.threshold.${percent}`,
    source,
    type: BUDGET_THRESHOLD_EVENT_TYPE,
    subject: u.id,
    time: at,
    datacontenttype: 'application/json',
    data: { budget: u.id, ...(b.tenant ? { tenantId: b.tenant } : {}), eeProject: u.eeProject, scope: u.scope, month: u.month, percent, usedEecuSeconds: usedTotal(u), limitEecuSeconds: b.monthlyEecuSeconds } as never,
  };
}

/** Minimal transaction surface the budget checks need. */
export interface BudgetTx {
  getBudgetUsage(id: string): Promise<BudgetUsage | null>;
  setBudgetUsage(u: BudgetUsage): void;
  addEvents(events: CloudEvent[]): void;
}

export type BudgetVerdict = { ok: true } | { ok: false; budget: Budget; usage: BudgetUsage; reason: string; notify: CloudEvent | null };

/** Reads the budgets covering a job (reads only; apply the verdict's writes after all reads). */
export async function checkBudgets(tx: BudgetTx, job: Covered, budgets: readonly Budget[], at: string, source: string): Promise<BudgetVerdict> {
  const month = monthOf(at);
  for (const b of budgetsFor(job, budgets)) {
    const usage = (await tx.getBudgetUsage(budgetId(b, month))) ?? emptyUsage(b, month, at);
    const used = usedTotal(usage);
    const limit = limitFor(b, job);
    if (used >= limit) {
      const part = limit < b.monthlyEecuSeconds ? ` (the share not reserved for ${reserveOf(b).map((r) => (r.label ? `${r.label.key}=${r.label.value}` : `tag ${r.workloadTag}`)).join(', ')})` : '';
      const reason = `EECU budget ${usage.id} used up: ${Math.round(used)} of ${Math.round(limit)} EECU-seconds${part} in ${month}`;
      return { ok: false, budget: b, usage, reason, notify: usage.exceededNotified || used < b.monthlyEecuSeconds ? null : exceededEvent({ ...usage, limitEecuSeconds: b.monthlyEecuSeconds }, source, at, b.tenant ?? null) };
    }
  }
  return { ok: true };
}

/** Writes the one-per-month exceeded event (and its flag) for a verdict. */
export function notifyExceeded(tx: BudgetTx, v: Extract<BudgetVerdict, { ok: false }>, at: string): CloudEvent[] {
  if (!v.notify) return [];
  tx.setBudgetUsage({ ...v.usage, exceededNotified: true, updateTime: at });
  tx.addEvents([v.notify]);
  return [v.notify];
}

export interface CoveredUsage {
  budget: Budget;
  usage: BudgetUsage;
}

/** Reads the usages a task's EECU counts against (call before any write). */
export async function readUsages(tx: BudgetTx, job: Covered, budgets: readonly Budget[], at: string): Promise<CoveredUsage[]> {
  const month = monthOf(at);
  const out: CoveredUsage[] = [];
  for (const b of budgetsFor(job, budgets)) out.push({ budget: b, usage: (await tx.getBudgetUsage(budgetId(b, month))) ?? emptyUsage(b, month, at) });
  return out;
}

/**
 * Counts a task's EECU: while it runs, its latest reported partial use replaces its
 * previous one (runningEecuSeconds[jobId]); when the attempt finishes, its final use is
 * added to usedEecuSeconds (and to the day's) and its running entry goes, so nothing is
 * counted twice. Writes the threshold events the new total crosses (once per month).
 * `minStep`: a running figure that moved less than this share of the limit is not
 * written (fewer writes on one document while many tasks run).
 */
export function countUsage(tx: BudgetTx, covered: CoveredUsage[], jobId: string, eecuSeconds: number, finished: boolean, at: string, source: string, minStep = 0.001): CloudEvent[] {
  const events: CloudEvent[] = [];
  for (const { budget, usage } of covered) {
    const running = { ...(usage.runningEecuSeconds ?? {}) };
    const before = running[jobId];
    const daily = { ...(usage.dailyEecuSeconds ?? {}) };
    let used = usage.usedEecuSeconds;
    if (finished) {
      if (!(eecuSeconds > 0) && before === undefined) continue;
      delete running[jobId];
      if (eecuSeconds > 0) {
        used += eecuSeconds;
        const day = at.slice(8, 10);
        daily[day] = (daily[day] ?? 0) + eecuSeconds;
      }
    } else {
      if (!(eecuSeconds > 0) || (before !== undefined && Math.abs(eecuSeconds - before) < minStep * budget.monthlyEecuSeconds)) continue;
      running[jobId] = eecuSeconds;
    }
    const next: BudgetUsage = { ...usage, usedEecuSeconds: used, runningEecuSeconds: running, dailyEecuSeconds: daily, limitEecuSeconds: budget.monthlyEecuSeconds, updateTime: at };
    const total = usedTotal(next);
    const notified = new Set(usage.thresholdsNotified ?? []);
    for (const pct of thresholdsOf(budget)) {
      if (notified.has(pct) || total < (pct / 100) * budget.monthlyEecuSeconds) continue;
      notified.add(pct);
      events.push(thresholdEvent(budget, next, pct, source, at));
    }
    next.thresholdsNotified = [...notified].sort((a, b) => a - b);
    tx.setBudgetUsage(next);
  }
  tx.addEvents(events);
  return events;
}

/** Days in a yyyy-mm month. */
const daysIn = (month: string) => new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0)).getUTCDate();

export interface BudgetProjection {
  /** Finished plus running, month to date. */
  usedEecuSeconds: number;
  /** Use per day over the recent window. */
  ratePerDay: number;
  /** usedEecuSeconds + ratePerDay × the days left in the month. */
  projectedEecuSeconds: number;
  /** How the rate was taken. */
  basis: string;
}

/**
 * The projected month-end burn: the use of the last 7 days (fewer early in the month,
 * at least one day so the first hour's tasks are not extrapolated from minutes),
 * running tasks' partial use included, as a daily rate, carried to the month's end.
 * Days are whole UTC days, today counted as elapsed so far.
 */
export function projectBudget(u: Pick<BudgetUsage, 'month' | 'usedEecuSeconds' | 'runningEecuSeconds' | 'dailyEecuSeconds'>, now: string): BudgetProjection {
  const used = usedTotal(u);
  const monthStart = Date.parse(`${u.month}-01T00:00:00Z`);
  const monthEnd = monthStart + daysIn(u.month) * 86_400_000;
  const nowMs = Math.min(Math.max(Date.parse(now), monthStart), monthEnd);
  const elapsedDays = (nowMs - monthStart) / 86_400_000;
  const windowDays = Math.max(1, Math.min(7, elapsedDays));
  const today = Math.floor(elapsedDays) + 1;
  const firstDay = Math.max(1, Math.floor(elapsedDays - windowDays) + 1);
  let recent = 0;
  for (let d = firstDay; d <= Math.min(today, daysIn(u.month)); d++) recent += u.dailyEecuSeconds?.[String(d).padStart(2, '0')] ?? 0;
  recent += used - u.usedEecuSeconds;
  const ratePerDay = recent / windowDays;
  const left = (monthEnd - nowMs) / 86_400_000;
  return { usedEecuSeconds: used, ratePerDay, projectedEecuSeconds: used + ratePerDay * left, basis: `use of the last ${Math.round(windowDays * 10) / 10} days (running tasks included) per day × ${Math.round(left * 10) / 10} days left` };
}

/** The thresholds this month's use has crossed (percent). */
export function thresholdsCrossed(b: Budget, u: Pick<BudgetUsage, 'usedEecuSeconds' | 'runningEecuSeconds'>): number[] {
  const used = usedTotal(u);
  return thresholdsOf(b).filter((pct) => used >= (pct / 100) * b.monthlyEecuSeconds);
}

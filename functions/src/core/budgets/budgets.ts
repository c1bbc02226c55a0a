/**
 * Monthly EECU budgets, per Earth Engine project and optionally per label or workload
 * tag. Usage is the sum of `batchEecuUsageSeconds` of finished tasks (resubmitted
 * attempts included), counted in the transaction that records the finish, into
 * `budgets/{project~scope~yyyy-mm}`. Before a job is released to Earth Engine the
 * budgets that cover it are read in the same transaction; over budget, the job waits
 * in QUEUED with the reason (or is rejected, by configuration), and one
 * `dev.eeport.budget.v1.exceeded` event is emitted per budget and month.
 */
import { z } from 'zod';
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from '../requests/index.ts';
import type { CloudEvent, Job } from '../jobs/index.ts';

export const BudgetSchema = z.strictObject({
  eeProject: z.string().min(1),
  /** Covers only this tenant's jobs (TENANTS); absent: every job in the project. */
  tenant: z.string().min(1).optional(),
  label: z.strictObject({ key: z.string().regex(LABEL_KEY_PATTERN), value: z.string().regex(LABEL_VALUE_PATTERN) }).optional(),
  workloadTag: z.string().min(1).optional(),
  monthlyEecuSeconds: z.number().positive(),
  onExceeded: z.enum(['queue', 'reject']).default('queue'),
  /** Runaway guard default: a running task of a covered job past this many EECU-seconds is cancelled (EECU_CAP). */
  maxEecuSecondsPerJob: z.number().positive().optional(),
});
export type Budget = z.output<typeof BudgetSchema>;
export const BudgetsSchema = z.array(BudgetSchema);

export interface BudgetUsage {
  id: string;
  eeProject: string;
  scope: string;
  month: string;
  usedEecuSeconds: number;
  limitEecuSeconds: number;
  /** Set once the exceeded event for this month was written. */
  exceededNotified: boolean;
  updateTime: string;
}

export const BUDGET_EVENT_TYPE = 'dev.eeport.budget.v1.exceeded';

export const monthOf = (iso: string) => iso.slice(0, 7);

export function scopeOf(b: Budget): string {
  const tenant = b.tenant ? `tenant.${b.tenant}.` : '';
  if (b.label) return `${tenant}label.${b.label.key}=${b.label.value}`;
  if (b.workloadTag) return `${tenant}tag.${b.workloadTag}`;
  return `${tenant}all`;
}

/** Document-id safe: Firestore ids may not contain '/'. */
export function budgetId(b: Budget, month: string): string {
  return `${b.eeProject}~${scopeOf(b)}~${month}`.replace(/\//g, '_');
}

export function budgetsFor(job: Pick<Job, 'eeProject' | 'labels' | 'request'> & Partial<Pick<Job, 'tenantId'>>, budgets: readonly Budget[]): Budget[] {
  return budgets.filter(
    (b) =>
      b.eeProject === job.eeProject &&
      (!b.tenant || job.tenantId === b.tenant) &&
      (!b.label || job.labels[b.label.key] === b.label.value) &&
      (!b.workloadTag || job.request?.workloadTag === b.workloadTag),
  );
}

export function emptyUsage(b: Budget, month: string, at: string): BudgetUsage {
  return { id: budgetId(b, month), eeProject: b.eeProject, scope: scopeOf(b), month, usedEecuSeconds: 0, limitEecuSeconds: b.monthlyEecuSeconds, exceededNotified: false, updateTime: at };
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
    data: { budget: u.id, ...(tenantId !== null ? { tenantId } : {}), eeProject: u.eeProject, scope: u.scope, month: u.month, usedEecuSeconds: u.usedEecuSeconds, limitEecuSeconds: u.limitEecuSeconds } as never,
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
export async function checkBudgets(tx: BudgetTx, job: Pick<Job, 'eeProject' | 'labels' | 'request'> & Partial<Pick<Job, 'tenantId'>>, budgets: readonly Budget[], at: string, source: string): Promise<BudgetVerdict> {
  const month = monthOf(at);
  for (const b of budgetsFor(job, budgets)) {
    const usage = (await tx.getBudgetUsage(budgetId(b, month))) ?? emptyUsage(b, month, at);
    if (usage.usedEecuSeconds >= b.monthlyEecuSeconds) {
      const reason = `EECU budget ${usage.id} used up: ${Math.round(usage.usedEecuSeconds)} of ${b.monthlyEecuSeconds} EECU-seconds in ${month}`;
      return { ok: false, budget: b, usage, reason, notify: usage.exceededNotified ? null : exceededEvent({ ...usage, limitEecuSeconds: b.monthlyEecuSeconds }, source, at, b.tenant ?? null) };
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

/** Reads the usages a finished task adds to (call before any write). */
export async function readUsages(tx: BudgetTx, job: Pick<Job, 'eeProject' | 'labels' | 'request'> & Partial<Pick<Job, 'tenantId'>>, budgets: readonly Budget[], at: string): Promise<BudgetUsage[]> {
  const month = monthOf(at);
  const out: BudgetUsage[] = [];
  for (const b of budgetsFor(job, budgets)) out.push((await tx.getBudgetUsage(budgetId(b, month))) ?? emptyUsage(b, month, at));
  return out;
}

export function addUsage(tx: BudgetTx, usages: BudgetUsage[], eecuSeconds: number, at: string): void {
  if (!(eecuSeconds > 0)) return;
  for (const u of usages) tx.setBudgetUsage({ ...u, usedEecuSeconds: u.usedEecuSeconds + eecuSeconds, updateTime: at });
}

/** Budgets: monthly EECU budgets per project, label or workload tag (or a quota tier), counted as tasks run and finish, checked where jobs are admitted. */
export { BUDGET_EVENT_TYPE, BUDGET_THRESHOLD_EVENT_TYPE, BudgetsSchema, TIER_EECU_HOURS, budgetId, budgetsFor, checkBudgets, countUsage, limitFor, monthOf, notifyExceeded, projectBudget, readUsages, reservedFor, scopeOf, thresholdsCrossed, usedTotal } from './budgets.ts';
export type { Budget, BudgetProjection, BudgetUsage, BudgetVerdict, CoveredUsage, TierName } from './budgets.ts';

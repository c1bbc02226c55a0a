/** Budgets: monthly EECU budgets per project, label or workload tag, counted where tasks finish and checked where jobs are admitted. */
export { BUDGET_EVENT_TYPE, BudgetsSchema, addUsage, budgetId, budgetsFor, checkBudgets, monthOf, notifyExceeded, readUsages, scopeOf } from './budgets.ts';
export type { Budget, BudgetUsage } from './budgets.ts';

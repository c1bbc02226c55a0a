/** Public face of the budgets capability. */
export { BUDGET_EVENT_TYPE, BudgetsSchema, addUsage, budgetId, checkBudgets, monthOf, notifyExceeded, readUsages, scopeOf } from './budgets.ts';
export type { Budget, BudgetUsage } from './budgets.ts';

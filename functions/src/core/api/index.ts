/** Public face of the api capability. */
export { BatchCancelResponseSchema, BatchEstimateResponseSchema, BatchJobsResponseSchema, BatchListResponseSchema, BatchResumeResponseSchema, BatchRetryResponseSchema, BatchSubmitResponseSchema, BatchViewSchema, BudgetsResponseSchema, CancelResponseSchema, IssueSchema, JobListResponseSchema, JobViewSchema, StatsResponseSchema, SubmitResponseSchema, apiErrorBody } from './api-contract.ts';
export type { ApiErrorCode, BatchView, JobView } from './api-contract.ts';
export { createApiHandler, jsonContentTypeProblem } from './api-handler.ts';
export { createStatsCache } from './stats-cache.ts';
export type { ApiHandler, ApiResponse } from './api-handler.ts';
export { createApiLogEvents } from './api-log-events.ts';
export type { ApiLogEvents } from './api-log-events.ts';
export { apiOpenApiDocument } from './api-openapi.ts';
export { EstimateAccuracyResponseSchema, EstimateResponseSchema } from './api-contract.ts';

/** Public face of the estimates capability. */
export { DEFAULT_ESTIMATE_SETTINGS, PROBE_LABEL, accuracyOf, estimateRequest, probeRequest, quantile, sampleOf, sumEstimates } from './estimates.ts';
export type { EstimateSettings, MethodAccuracy, Sample } from './estimates.ts';
export { expressionFingerprint, outputPixels, regionAndScale } from './work.ts';
export { createEstimates } from './estimate-service.ts';
export type { BudgetShare, EstimateAnswer, Estimates, EstimateServiceSettings } from './estimate-service.ts';
export { createEstimateApi } from './estimate-api.ts';
export type { EstimateApi } from './estimate-api.ts';
export { createEstimateMessages, ESTIMATE_EVENT_TYPE } from './estimate-message.ts';
export type { EstimateEventData, EstimateMessages } from './estimate-message.ts';
export type { BatchCheck, EstimateContext, EstimateOutcome, ProbeOutcome } from './estimate-api.ts';
export type { EstimateFor } from './estimate-service.ts';

/** Public face of the jobs capability. */
export { JOB_STATES, LIVE_STATES, WEBHOOK_ATTEMPTS_KEPT, isTerminal, newJob, transition } from './job.ts';
export type { EstimateMethod, Job, JobEstimate, JobSource, JobState, RunawayStop, StallMark, TiledRecovery, Verifying, WebhookAttempt } from './job.ts';
export { eventsFor, slotDelta } from './transitions.ts';
export { JOB_ID_PATTERN, derivedRequestId, identityString, jobIdFor, sentRequestId, tenantIdentity } from './ids.ts';
export type { IdentityKey } from './ids.ts';
export { EVENT_TYPES, EVENT_TYPE_PREFIX, eventAttributes, eventSummary } from './events.ts';
export type { JobEventData } from './events.ts';
export type { CloudEvent } from './events.ts';
export { relayEvents, sweepOutbox } from './outbox.ts';
export { OPERATION_NAME_PATTERN, OperationSchema, fieldsFromOperation, jobStateOf } from './operation.ts';
export type { Operation } from './operation.ts';
export { resolveFailure } from './failure-classification.ts';
export { hasRoom, overshootBound, RELEASES_PER_COUNT, freesSlot, createAdmissionGate, rememberedCountMargin, type AdmissionGate } from './slots.ts';
export { createLogEvents } from './log-events.ts';
export type { LogEvents } from './log-events.ts';

/** Public face of the submit capability. */
export { createSubmitExport } from './submit-export.ts';
export type { SubmitExport, SubmitOutcome } from './submit-export.ts';
export { intakeBody } from './intake.ts';
export type { IncomingMessage, IntakePolicy } from './intake.ts';
export { createRequestMessageHandler } from './request-message.ts';

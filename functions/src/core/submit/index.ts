/** Submit: a message, API body or command becomes exactly one Earth Engine task, recorded as a job (intake, the submit lease, adopting an operation Earth Engine says already exists). */
export { createSubmitExport } from './submit-export.ts';
export type { SubmitExport, SubmitOutcome } from './submit-export.ts';
export { intakeBody } from './intake.ts';
export type { IncomingMessage, IntakePolicy, IntakeResult } from './intake.ts';
export { createRequestMessageHandler } from './request-message.ts';

/** Uploads: routing rules turn a finalized Cloud Storage object into an export request. */
export { createSubmitUpload } from './submit-upload.ts';
export type { ObjectEvent } from './submit-upload.ts';
export { createUploadRouter, loadUploadRules, uploadRulesJsonSchema } from './upload-rules.ts';
export type { UploadRule } from './upload-rules.ts';
export { createUploadLogEvents } from './upload-log-events.ts';

/** Public face of the uploads capability. */
export { createSubmitUpload } from './submit-upload.ts';
export type { ObjectEvent } from './submit-upload.ts';
export { createUploadRouter, loadUploadRules, uploadRulesJsonSchema } from './upload-rules.ts';
export type { UploadRule } from './upload-rules.ts';
export { createUploadLogEvents } from './upload-log-events.ts';

/** Public face of the cancel capability. */
export { createCancelJob } from './cancel-job.ts';
export type { CancelJob } from './cancel-job.ts';

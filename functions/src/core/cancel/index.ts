/** Cancel: a job is cancelled before it reaches Earth Engine, or its operation is asked to cancel and the poller follows it. */
export { createCancelJob } from './cancel-job.ts';
export type { CancelJob } from './cancel-job.ts';

/** Poll: follows every live job's operation, writes its changes with their events, releases queued jobs, sweeps the outbox. */
export { createPollExports } from './poll-exports.ts';
export type { CycleStats, PollResult } from './poll-exports.ts';

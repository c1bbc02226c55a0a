/** Public face of the poll capability. */
export { createPollExports } from './poll-exports.ts';
export type { CycleStats, PollResult } from './poll-exports.ts';

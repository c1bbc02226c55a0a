/** Public face of the watch: stalled tasks (durations learned from finished jobs, one `stalled` event per attempt, an optional bounded resubmission) and tiled recovery of jobs that failed too big. */
export { DEFAULT_WATCH_SETTINGS, STALLED_EVENT_TYPE, STALLED_KIND, descriptionPattern, learnDurations, p95, runSecondsOf, similarityKey, stallCheck, stallIsCurrent, stalledEvent, stallMessage } from './watch.ts';
export type { StalledEventData, WatchSettings } from './watch.ts';
export { createWatch } from './watch-service.ts';
export type { Watch, WatchDeps, WatchServiceSettings } from './watch-service.ts';
export { COMPUTE_FAILURE_PATTERNS, DEFAULT_RECOVERY_SETTINGS, METRES_PER_DEGREE, gridFromRegionAndScale, RECOVERED_EVENT_TYPE, RECOVERY_DEPTH_LABEL, computeFailureKind, pixelGridOf, planRecovery, recoveredEvent, recoveryDepthOf, tileGridOf, tileRects, tileRequest } from './tiled-recovery.ts';
export type { ComputeFailureKind, PixelGrid, PixelRect, RecoveredEventData, RecoveryPlan, RecoverySettings } from './tiled-recovery.ts';
export { createTiledRecovery, recoveryBatchName } from './recovery-service.ts';
export type { RecoveryDeps, RecoveryServiceSettings, TiledRecoveryService } from './recovery-service.ts';

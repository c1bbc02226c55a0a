/** Public face of the stalled-task watch: durations learned from finished jobs, one `stalled` event per stalled attempt, an optional bounded resubmission. */
export { DEFAULT_WATCH_SETTINGS, STALLED_EVENT_TYPE, STALLED_KIND, descriptionPattern, learnDurations, p95, runSecondsOf, similarityKey, stallCheck, stallIsCurrent, stalledEvent, stallMessage } from './watch.ts';
export type { StalledEventData, WatchSettings } from './watch.ts';
export { createWatch } from './watch-service.ts';
export type { Watch, WatchDeps, WatchServiceSettings } from './watch-service.ts';

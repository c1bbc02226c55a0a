/** Public face of the schedules capability: template requests run on a cadence, one job per window. */
export { SCHEDULE_STATES, ScheduleSpecSchema, CadenceSchema, PLACEHOLDERS, IMAGE_PLACEHOLDERS, isImageCadence, nextFire, previousFire, upcomingWindows, substitute, placeholderIssues, stamped } from './schedule.ts';
export type { Cadence, Schedule, ScheduleRun, ScheduleSpec, ScheduleState } from './schedule.ts';
export { createSchedules, runIdentity } from './schedules.ts';
export type { ScheduleDeps, SchedulePolicy, Schedules } from './schedules.ts';
export { createScheduleRoutes, scheduleView } from './schedule-routes.ts';
export type { ScheduleRoutes, BodyRead, RouteRequest, RouteResponse } from './schedule-routes.ts';
export { scheduleOpenApi } from './schedule-openapi.ts';

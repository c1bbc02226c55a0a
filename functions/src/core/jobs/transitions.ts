/**
 * What a state change implies beyond the job document: the in-flight slot it takes or
 * frees, and the events it must publish. Kept apart from the use cases so submit, poll
 * and cancel account for slots and events the same way.
 */
import { IN_FLIGHT_STATES, type Job, type JobState } from './job.ts';
import { stateEvent, type CloudEvent } from './events.ts';

/** +1 when a job starts holding an in-flight slot, -1 when it frees one, 0 otherwise. */
export function slotDelta(from: JobState | null, to: JobState): number {
  return (IN_FLIGHT_STATES.has(to) ? 1 : 0) - (from && IN_FLIGHT_STATES.has(from) ? 1 : 0);
}

/**
 * One event per state change. A job that gets its operation and is already past
 * PENDING (a recovered submit, a fast task) still announces `submitted` first, so
 * every job that reached Earth Engine has exactly one `submitted` event.
 */
export function eventsFor(prev: Job | null, next: Job, source: string): CloudEvent[] {
  if (prev && prev.state === next.state) return [];
  const events: CloudEvent[] = [];
  const gotOperation = !prev?.operationName && next.operationName;
  if (gotOperation && next.state !== 'PENDING') {
    const submitted = stateEvent(next, source, 'submitted');
    if (submitted) events.push(submitted);
  }
  // A submit that finds its task already failed and resubmits it (QUEUED, operation moved to
  // previousOperations) still announces the task it started: one `submitted` per task.
  const startedAndFailed = !prev?.operationName && !next.operationName && next.previousOperations.length > (prev?.previousOperations.length ?? 0);
  if (startedAndFailed) {
    const submitted = stateEvent({ ...next, operationName: next.previousOperations[next.previousOperations.length - 1]! }, source, 'submitted');
    if (submitted) events.push(submitted);
  }
  const ev = stateEvent(next, source);
  if (ev) events.push(ev);
  return events;
}

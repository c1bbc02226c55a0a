/**
 * Completion events: CloudEvents 1.0 in JSON, one per job state change, published on
 * the events topic through the transactional outbox. The id is `{jobId}.{version}`,
 * stable across redelivery and relay retries, so consumers drop duplicates by id.
 */
import type { Job, JobState } from './job.ts';

export const EVENT_TYPE_PREFIX = 'dev.eeport.export.v1.';

export const EVENT_KIND_BY_STATE: Partial<Record<JobState, string>> = {
  QUEUED: 'queued',
  PENDING: 'submitted',
  RUNNING: 'running',
  CANCELLING: 'cancelling',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  REJECTED: 'rejected',
  SKIPPED: 'skipped',
};

export const EVENT_TYPES = Object.values(EVENT_KIND_BY_STATE).map((k) => `${EVENT_TYPE_PREFIX}${k}`);

/** The job summary an event carries: references (names, URIs), never data. */
export interface JobEventData {
  jobId: string;
  /** The job's tenant (TENANTS), null without; also the `tenant` attribute of the Pub/Sub message. */
  tenantId: string | null;
  state: JobState;
  eeProject: string;
  operationName: string | null;
  requestId: string;
  description: string | null;
  labels: Record<string, string>;
  progress: number | null;
  attempt: number | null;
  eecuSeconds: number | null;
  destinationUris: string[];
  error: Job['error'];
  createTime: string;
  submitTime: string | null;
  startTime: string | null;
  endTime: string | null;
  callbackUrl: string | null;
}

export interface CloudEvent<T = JobEventData> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
}

export function eventSummary(job: Job): JobEventData {
  return {
    jobId: job.jobId,
    tenantId: job.tenantId,
    state: job.state,
    eeProject: job.eeProject,
    operationName: job.operationName,
    requestId: job.requestId,
    description: job.description,
    labels: job.labels,
    progress: job.progress,
    attempt: job.attempt,
    eecuSeconds: job.eecuSeconds,
    destinationUris: job.destinationUris,
    error: job.error,
    createTime: job.createTime,
    submitTime: job.submitTime,
    startTime: job.startTime,
    endTime: job.endTime,
    callbackUrl: job.callbackUrl,
  };
}

/** The event for a job that has just entered its current state (null for internal states). */
export function stateEvent(job: Job, source: string, kind = EVENT_KIND_BY_STATE[job.state]): CloudEvent | null {
  if (!kind) return null;
  return {
    specversion: '1.0',
    id: `${job.jobId}.${job.version}${kind === EVENT_KIND_BY_STATE[job.state] ? '' : `.${kind}`}`,
    source,
    type: `${EVENT_TYPE_PREFIX}${kind}`,
    subject: job.jobId,
    time: job.updateTime,
    datacontenttype: 'application/json',
    data: eventSummary(job),
  };
}

/** Pub/Sub attributes mirroring the event, so subscriptions can filter without parsing. */
export function eventAttributes(ev: CloudEvent): Record<string, string> {
  const attrs: Record<string, string> = { 'ce-id': ev.id, 'ce-type': ev.type, 'ce-subject': ev.subject, 'ce-source': ev.source, 'ce-specversion': ev.specversion };
  // Budget events carry no job state; attributes must be strings.
  if (typeof ev.data?.state === 'string') attrs.state = ev.data.state;
  // Subscribers filter on it (attributes.tenant = "forest"); absent for untenanted events.
  if (typeof ev.data?.tenantId === 'string') attrs.tenant = ev.data.tenantId;
  return attrs;
}

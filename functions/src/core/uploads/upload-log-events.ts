/**
 * The log lines of the upload trigger, by name (the export.* lines of the job it
 * creates come from log-events.ts). Every line names the object, so Cloud Logging can
 * answer "what happened to gs://bucket/name?".
 */
import type { LogSink } from '../ports.ts';
import type { StorageObject } from './upload-rules.ts';

const objectFields = (obj: StorageObject) => ({ bucket: obj.bucket, name: obj.name, generation: obj.generation, contentType: obj.contentType });

/** What is known of a CloudEvent that did not describe a finalized object. */
export interface UnusableEvent {
  eventId: string;
  type: string;
  source: string;
  subject: string | null;
  problems: string[];
  /** First bytes of the event data, so a person can see what arrived. */
  preview: string | null;
}

export function createUploadLogEvents(sink: LogSink, trace?: string) {
  const t = trace ? { trace } : {};
  return {
    uploadIgnored: (obj: StorageObject) =>
      sink.write({ severity: 'INFO', event: 'upload.ignored', message: `No upload rule matches gs://${obj.bucket}/${obj.name}; ignored`, ...objectFields(obj), ...t }),
    uploadMatched: (obj: StorageObject, rule: string, jobId: string) =>
      sink.write({ severity: 'INFO', event: 'upload.matched', message: `Upload rule "${rule}" claims gs://${obj.bucket}/${obj.name}`, rule, jobId, ...objectFields(obj), ...t }),
    uploadUnusableEvent: (ev: UnusableEvent) =>
      sink.write({
        severity: 'ERROR',
        event: 'upload.malformed_event',
        message: `CloudEvent ${ev.eventId} is not a usable object-finalized event: ${ev.problems.join('; ')}`.slice(0, 1000),
        eventId: ev.eventId,
        eventType: ev.type,
        eventSource: ev.source,
        eventSubject: ev.subject,
        problems: ev.problems.slice(0, 20),
        preview: ev.preview,
        ...t,
      }),
  };
}

export type UploadLogEvents = ReturnType<typeof createUploadLogEvents>;

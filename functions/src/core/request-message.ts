/**
 * What a message on the requests topic asks for: by default a submit (the data is the
 * request), or, with the attribute `action=cancel`, the cancellation of a job named by
 * `jobId`, `idempotencyKey`, or `requestId` (+ optional `eeProject`).
 */
import { JOB_ID_PATTERN, jobIdFor } from './ids.ts';
import type { IncomingMessage } from './intake.ts';
import type { SubmitExport, SubmitOutcome } from './submit-export.ts';
import type { CancelJob, CancelOutcome } from './cancel-job.ts';
import type { LogEvents } from './log-events.ts';

export const ACTIONS = ['submit', 'cancel'] as const;

/** The job a cancel message names, or null when it names none we can resolve. */
export function jobIdToCancel(attrs: Record<string, string>, defaultEeProject: string): string | null {
  if (attrs.jobId && JOB_ID_PATTERN.test(attrs.jobId)) return attrs.jobId;
  if (attrs.idempotencyKey) return jobIdFor({ kind: 'key', key: attrs.idempotencyKey });
  if (attrs.requestId) return jobIdFor({ kind: 'requestId', eeProject: attrs.eeProject ?? defaultEeProject, requestId: attrs.requestId });
  return null;
}

export function createRequestMessageHandler(deps: { submit: SubmitExport; cancel: CancelJob; logs: LogEvents; defaultEeProject: string }) {
  return async (msg: IncomingMessage): Promise<SubmitOutcome | CancelOutcome | { kind: 'unresolvable' }> => {
    const action = msg.attributes.action ?? 'submit';
    if (action === 'cancel') {
      const jobId = jobIdToCancel(msg.attributes, deps.defaultEeProject);
      if (!jobId) {
        deps.logs.cancelUnresolvable(msg.messageId, 'a cancel message needs a jobId, idempotencyKey or requestId attribute');
        return { kind: 'unresolvable' };
      }
      const out = await deps.cancel.cancelJob(jobId);
      if (out.kind === 'not-found') deps.logs.cancelUnresolvable(msg.messageId, `no job ${jobId}`);
      return out;
    }
    if (action !== 'submit') {
      // Not silently dropped: an unknown action becomes a REJECTED job like any bad message.
      return deps.submit.recordRejection({
        ok: false,
        code: 'EXPORT.INVALID_ENVELOPE',
        errors: [{ path: 'attributes.action', message: `unknown action "${action.slice(0, 50)}"; expected one of ${ACTIONS.join(', ')}` }],
        identity: { kind: 'message', source: msg.eventSource, messageId: msg.messageId },
        source: { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource },
        eeProject: deps.defaultEeProject,
        labels: {},
        callbackUrl: null,
        rawPreview: msg.data ? new TextDecoder().decode(msg.data.subarray(0, 2048)) : null,
      });
    }
    return deps.submit.submitMessage(msg);
  };
}

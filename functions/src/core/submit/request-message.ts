/**
 * What a message on the requests topic asks for: by default a submit (the data is the
 * request, or `{"batch": {...}}` for a batch), or, with the attribute `action=cancel`,
 * the cancellation of a job named by `jobId`, `idempotencyKey`, or `requestId`
 * (+ optional `eeProject`) — or of a batch named by `batchId`; `action=retry` with
 * `batchId` resubmits a batch's transiently failed children.
 */
import { JOB_ID_PATTERN, jobIdFor, type LogEvents } from '../jobs/index.ts';
import type { IncomingMessage } from './intake.ts';
import type { SubmitExport } from './submit-export.ts';
import type { CancelJob } from '../cancel/index.ts';
import type { Batches } from '../batches/index.ts';

export const ACTIONS = ['submit', 'cancel', 'retry'] as const;

/** The `batch` member of a message whose data is `{"batch": {...}}`, if it is one. */
function batchBody(data: Uint8Array | null): { batch: unknown } | null {
  if (!data?.length) return null;
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) && 'batch' in v ? (v as { batch: unknown }) : null;
  } catch {
    return null; // not JSON: the submit path records the rejection
  }
}

const BATCH_ID = /^[0-9a-f]{32}$/;

/** The job a cancel message names, or null when it names none we can resolve. */
export function jobIdToCancel(attrs: Record<string, string>, defaultEeProject: string): string | null {
  if (attrs.jobId && JOB_ID_PATTERN.test(attrs.jobId)) return attrs.jobId;
  if (attrs.idempotencyKey) return jobIdFor({ kind: 'key', key: attrs.idempotencyKey });
  if (attrs.requestId) return jobIdFor({ kind: 'requestId', eeProject: attrs.eeProject ?? defaultEeProject, requestId: attrs.requestId });
  return null;
}

export function createRequestMessageHandler(deps: { submit: SubmitExport; cancel: CancelJob; batches: Batches; logs: LogEvents; defaultEeProject: string }) {
  return async (msg: IncomingMessage): Promise<unknown> => {
    const action = msg.attributes.action ?? 'submit';
    const batchId = msg.attributes.batchId;
    if ((action === 'cancel' || action === 'retry') && batchId !== undefined) {
      if (!BATCH_ID.test(batchId)) {
        deps.logs.cancelUnresolvable(msg.messageId, `batchId "${batchId.slice(0, 40)}" is not a batch id`);
        return { kind: 'unresolvable' };
      }
      const out = action === 'cancel' ? await deps.batches.cancelBatch(batchId) : await deps.batches.retryBatch(batchId);
      if (out.kind === 'not-found') deps.logs.cancelUnresolvable(msg.messageId, `no batch ${batchId}`);
      return out;
    }
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
        errors: [
          {
            path: 'attributes.action',
            message: action === 'retry' ? 'action=retry needs a batchId attribute' : `unknown action "${action.slice(0, 50).toWellFormed()}"; expected one of ${ACTIONS.join(', ')}`,
          },
        ],
        identity: { kind: 'message', source: msg.eventSource, messageId: msg.messageId },
        source: { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource },
        eeProject: deps.defaultEeProject,
        labels: {},
        callbackUrl: null,
        rawPreview: msg.data ? new TextDecoder().decode(msg.data.subarray(0, 2048)) : null,
      });
    }
    const batch = batchBody(msg.data);
    if (batch) {
      return deps.batches.submitBatch(batch.batch, { kind: 'message', source: msg.eventSource, messageId: msg.messageId }, { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource });
    }
    return deps.submit.submitMessage(msg);
  };
}

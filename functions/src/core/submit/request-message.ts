/**
 * What a message on the requests topic asks for: by default a submit (the data is the
 * request, or `{"batch": {...}}` for a batch), or, with the attribute `action=cancel`,
 * the cancellation of a job named by `jobId`, `idempotencyKey`, or `requestId`
 * (+ optional `eeProject`) — or of a batch named by `batchId`; `action=retry` with
 * `batchId` resubmits a batch's transiently failed children; `action=estimate` is a dry
 * run, answered with an event and nothing stored.
 */
import { JOB_ID_PATTERN, jobIdFor, tenantIdentity, type IdentityKey, type LogEvents } from '../jobs/index.ts';
import type { IncomingMessage, IntakePolicy } from './intake.ts';
import { tenantOfTopic, tenantScope, topicOfSource, type TenantDirectory } from '../tenants/index.ts';
import type { SubmitExport } from './submit-export.ts';
import type { CancelJob } from '../cancel/index.ts';
import type { Batches } from '../batches/index.ts';

/** Answers an action=estimate message (core/estimates' createEstimateMessages; wired by the composition, so submit does not depend on estimates). */
export type EstimateDryRun = (msg: IncomingMessage, tenantId: string | null, intake?: IntakePolicy) => Promise<unknown>;

export const ACTIONS = ['submit', 'cancel', 'retry', 'estimate'] as const;

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

/** The job a cancel message names, or null when it names none we can resolve. Keys and requestIds name a job of the message's tenant. */
export function jobIdToCancel(attrs: Record<string, string>, defaultEeProject: string, tenantId: string | null = null): string | null {
  if (attrs.jobId && JOB_ID_PATTERN.test(attrs.jobId)) return attrs.jobId;
  if (attrs.idempotencyKey) return jobIdFor(tenantIdentity(tenantId, { kind: 'key', key: attrs.idempotencyKey }));
  if (attrs.requestId) return jobIdFor(tenantIdentity(tenantId, { kind: 'requestId', eeProject: attrs.eeProject ?? defaultEeProject, requestId: attrs.requestId }));
  return null;
}

/**
 * Tenants on the topic (TENANTS): each has its own requests topic, and the topic a
 * message came through (the push subscription's, never anything the publisher wrote)
 * says whose it is. The shared topic stays the operators' own, untenanted.
 */
export interface TopicTenancy {
  requestsTopic: string;
  directory: Pick<TenantDirectory, 'enabled' | 'get'>;
  /** The intake policy of a tenant's submissions. */
  intakeFor(tenantId: string): IntakePolicy | null;
}

export function createRequestMessageHandler(deps: { submit: SubmitExport; cancel: CancelJob; batches: Batches; logs: LogEvents; defaultEeProject: string; tenancy?: TopicTenancy; estimate?: EstimateDryRun }) {
  return async (msg: IncomingMessage): Promise<unknown> => {
    const tenancy = deps.tenancy?.directory.enabled ? deps.tenancy : undefined;
    const route = tenancy ? tenantOfTopic(topicOfSource(msg.eventSource), tenancy.requestsTopic, tenancy.directory) : ({ kind: 'shared' } as const);
    const tenantId = route.kind === 'tenant' ? route.tenantId : null;
    const intake = tenantId !== null ? tenancy?.intakeFor(tenantId) : undefined;
    const defaultEeProject = intake?.defaultEeProject ?? deps.defaultEeProject;
    const scope = tenantScope(tenantId);
    const rejectMessage = (code: 'EXPORT.INVALID_ENVELOPE' | 'EXPORT.UNKNOWN_TENANT', path: string, message: string) =>
      deps.submit.recordRejection({
        ok: false,
        code,
        errors: [{ path, message }],
        identity: tenantIdentity(tenantId, { kind: 'message', source: msg.eventSource, messageId: msg.messageId } satisfies IdentityKey),
        tenantId,
        source: { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource },
        eeProject: defaultEeProject,
        labels: {},
        callbackUrl: null,
        rawPreview: msg.data ? new TextDecoder().decode(msg.data.subarray(0, 2048)) : null,
      });
    if (route.kind === 'unknown') {
      // Whose it is cannot be told, so it is nobody's: a REJECTED job only the operators see.
      return rejectMessage('EXPORT.UNKNOWN_TENANT', 'topic', `the message came through ${route.topic ? `topic "${route.topic}"` : `"${msg.eventSource.slice(0, 200)}"`}, which is neither ${tenancy!.requestsTopic} nor a configured tenant's (${tenancy!.requestsTopic}-{tenant})`);
    }
    const action = msg.attributes.action ?? 'submit';
    const batchId = msg.attributes.batchId;
    if ((action === 'cancel' || action === 'retry') && batchId !== undefined) {
      if (!BATCH_ID.test(batchId)) {
        deps.logs.cancelUnresolvable(msg.messageId, `batchId "${batchId.slice(0, 40)}" is not a batch id`);
        return { kind: 'unresolvable' };
      }
      const out = action === 'cancel' ? await deps.batches.cancelBatch(batchId, scope) : await deps.batches.retryBatch(batchId, scope);
      if (out.kind === 'not-found') deps.logs.cancelUnresolvable(msg.messageId, `no batch ${batchId}`);
      return out;
    }
    if (action === 'cancel') {
      const jobId = jobIdToCancel(msg.attributes, defaultEeProject, tenantId);
      if (!jobId) {
        deps.logs.cancelUnresolvable(msg.messageId, 'a cancel message needs a jobId, idempotencyKey or requestId attribute');
        return { kind: 'unresolvable' };
      }
      const out = await deps.cancel.cancelJob(jobId, undefined, scope);
      if (out.kind === 'not-found') deps.logs.cancelUnresolvable(msg.messageId, `no job ${jobId}`);
      return out;
    }
    // A dry run (docs/estimates.md): answered as an event, nothing stored; its intake is the tenant's, as a submission's would be.
    if (action === 'estimate' && deps.estimate) return deps.estimate(msg, tenantId, ...(intake ? [intake] : []));
    if (action !== 'submit') {
      // Not silently dropped: an unknown action becomes a REJECTED job like any bad message.
      return rejectMessage(
        'EXPORT.INVALID_ENVELOPE',
        'attributes.action',
        action === 'retry' ? 'action=retry needs a batchId attribute' : `unknown action "${action.slice(0, 50).toWellFormed()}"; expected one of ${ACTIONS.join(', ')}`,
      );
    }
    if (tenantId !== null && !intake) return rejectMessage('EXPORT.UNKNOWN_TENANT', 'topic', `tenant "${tenantId}" is not configured`);
    const batch = batchBody(msg.data);
    if (batch) {
      return deps.batches.submitBatch(batch.batch, { kind: 'message', source: msg.eventSource, messageId: msg.messageId }, { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource }, undefined, tenantId);
    }
    return intake ? deps.submit.submitMessage(msg, intake) : deps.submit.submitMessage(msg);
  };
}

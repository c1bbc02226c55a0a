/**
 * The requests topic's dry run: a message with attribute `action=estimate` whose data is
 * what a submission's would be (a request, an envelope, or `{"batch": …}`) is estimated,
 * never stored, and answered with one `dev.eeport.estimate.v1.answered` event on the
 * events topic. Its id is `estimate.{messageId}`, so a redelivered message answers with
 * the same id and consumers drop the duplicate; `subject` is the message's
 * `correlationId` attribute when it has one (else its messageId), for matching answers
 * to questions. Invalid input is answered too (`ok: false` with every problem), not
 * recorded as a REJECTED job: a dry run leaves nothing behind.
 */
import type { CloudEvent } from '../jobs/index.ts';
import type { IncomingMessage, IntakePolicy } from '../submit/index.ts';
import { ATTRIBUTE_NAMES } from '../requests/index.ts';
import type { Clock, EventPublisher } from '../ports.ts';
import type { BatchCheck, EstimateApi } from './estimate-api.ts';

export const ESTIMATE_EVENT_TYPE = 'dev.eeport.estimate.v1.answered';

export interface EstimateMessageDeps {
  api: Pick<EstimateApi, 'estimateBody'>;
  publisher: EventPublisher;
  clock: Clock;
  eventSource: string;
  /** The operators' intake policy (the shared topic). */
  intake: IntakePolicy;
  checkBatch: (spec: unknown, tenantId: string | null) => BatchCheck;
}

export interface EstimateEventData {
  messageId: string;
  correlationId: string | null;
  /** The tenant whose topic asked (TENANTS); also the event's `tenant` attribute. */
  tenantId: string | null;
  ok: boolean;
  /** The estimate (as POST /v1/estimates answers it), when ok. */
  estimate?: unknown;
  /** Why there is none, when not ok. */
  error?: { code: string; message: string; details: Array<{ path: string; message: string }> };
}

export function createEstimateMessages(deps: EstimateMessageDeps) {
  /** Answers one action=estimate message; `intake` is the tenant's policy on a tenant's topic. */
  return async (msg: IncomingMessage, tenantId: string | null = null, tenantIntake?: IntakePolicy): Promise<{ kind: 'estimated'; event: CloudEvent<EstimateEventData> }> => {
    const intake = tenantId === null ? deps.intake : tenantIntake;
    const correlationId = msg.attributes.correlationId?.slice(0, 200) ?? null;
    const base = { messageId: msg.messageId, correlationId, tenantId };
    let data: EstimateEventData;
    let body: unknown;
    let parsed = false;
    try {
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data ?? new Uint8Array()));
      parsed = true;
    } catch (err) {
      data = { ...base, ok: false, error: { code: 'EXPORT.INVALID_JSON', message: `message data is not valid UTF-8 JSON: ${(err as Error).message}`, details: [] } };
    }
    const optionAttrs = Object.values(ATTRIBUTE_NAMES).filter((a) => msg.attributes[a] !== undefined);
    if (parsed && optionAttrs.length) data = { ...base, ok: false, error: { code: 'EXPORT.INVALID_ENVELOPE', message: `a dry run takes its options in the envelope, not as attributes (${optionAttrs.join(', ')})`, details: optionAttrs.map((a) => ({ path: `attributes.${a}`, message: 'put it in the envelope' })) } };
    else if (parsed && !intake) data = { ...base, ok: false, error: { code: 'EXPORT.UNKNOWN_TENANT', message: `tenant "${tenantId}" is not configured`, details: [] } };
    else if (parsed) {
      const out = await deps.api.estimateBody(body, { intake: intake!, checkBatch: (spec) => deps.checkBatch(spec, tenantId), source: { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource } });
      if (out.ok) {
        const budget = out.answer.budget.map((b) => ({ ...b, shareOfRemaining: Number.isFinite(b.shareOfRemaining) ? b.shareOfRemaining : null }));
        data = { ...base, ok: true, estimate: { ...out.answer, budget } };
      } else {
        const first = out.errors[0];
        data = { ...base, ok: false, error: { code: out.code, message: first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid', details: out.errors.slice(0, 50) } };
      }
    }
    const event: CloudEvent<EstimateEventData> = {
      specversion: '1.0',
      id: `estimate.${msg.messageId}`,
      source: deps.eventSource,
      type: ESTIMATE_EVENT_TYPE,
      subject: correlationId ?? msg.messageId,
      time: deps.clock.now().toISOString(),
      datacontenttype: 'application/json',
      data: data!,
    };
    await deps.publisher.publish([event as unknown as CloudEvent]);
    return { kind: 'estimated', event };
  };
}

export type EstimateMessages = ReturnType<typeof createEstimateMessages>;

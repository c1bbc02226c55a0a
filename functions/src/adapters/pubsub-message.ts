/**
 * Reads the Pub/Sub message out of a `google.cloud.pubsub.topic.v1.messagePublished`
 * CloudEvent. A malformed event still yields a message (with no data), so that it ends
 * as a REJECTED job rather than disappearing.
 */
import { z } from 'zod';
import type { IncomingMessage } from '../core/submit/index.ts';

const PushSchema = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
  }),
  subscription: z.string().optional(),
});

export interface CloudEventLike {
  id: string;
  source: string;
  data?: unknown;
  traceparent?: unknown;
}

export function incomingFromCloudEvent(event: CloudEventLike): IncomingMessage {
  // Our own push subscriptions (infra/) deliver raw Pub/Sub pushes, which the functions
  // framework turns into this CloudEvent; a message without data it does not recognise,
  // and hands over the push body itself as the event.
  const parsed = PushSchema.safeParse(event.data ?? event);
  if (!parsed.success) return { data: null, attributes: {}, messageId: event.id, eventSource: event.source };
  const m = parsed.data.message;
  return {
    data: m.data ? Buffer.from(m.data, 'base64') : null,
    attributes: m.attributes ?? {},
    // Redeliveries keep the message id; the CloudEvent id equals it for Pub/Sub triggers.
    messageId: m.messageId ?? m.message_id ?? event.id,
    eventSource: event.source ?? `//pubsub.googleapis.com/${parsed.data.subscription ?? ''}`,
  };
}

/** The trace id from a W3C traceparent, for Cloud Logging's trace field. */
export function traceOf(event: object): string | undefined {
  const raw = (event as { traceparent?: unknown }).traceparent;
  const tp = typeof raw === 'string' ? raw : undefined;
  return tp?.split('-')[1];
}

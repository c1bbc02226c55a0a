/**
 * Reads an eeport CloudEvent back out of a Pub/Sub push on the events topic (the
 * publisher writes structured-mode JSON as the message data).
 */
import { z } from 'zod';
import type { CloudEvent } from '../core/jobs/index.ts';

const CloudEventSchema = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string().min(1),
    source: z.string(),
    type: z.string(),
    subject: z.string(),
    time: z.string(),
    datacontenttype: z.literal('application/json'),
    // Every eeport event: a job's, a batch's, a budget's, a chain's, an estimate's answer. Which ones
    // call back is the core's decision (deliver-webhook.ts), not the parser's: requiring a job's
    // fields here dropped every batch event as a bad message, so batch callbacks never went out.
    data: z.record(z.string(), z.unknown()),
  })
  .loose();

const PushSchema = z.object({ message: z.object({ data: z.string() }) });

export function eventFromPush(data: unknown): { ok: true; event: CloudEvent } | { ok: false; reason: string } {
  const push = PushSchema.safeParse(data);
  if (!push.success) return { ok: false, reason: 'not a Pub/Sub push with message data' };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(push.data.message.data, 'base64').toString('utf8'));
  } catch {
    return { ok: false, reason: 'message data is not JSON' };
  }
  const ev = CloudEventSchema.safeParse(json);
  if (!ev.success) return { ok: false, reason: `not an eeport CloudEvent: ${ev.error.issues[0]?.path.join('.')}: ${ev.error.issues[0]?.message}` };
  return { ok: true, event: ev.data as unknown as CloudEvent };
}

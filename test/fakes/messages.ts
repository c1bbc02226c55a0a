/** A message as the requests topic's push subscription hands it to submit (a string body is sent as it is). */
import type { IncomingMessage } from '../../functions/src/core/submit/intake.ts';

export const topicMessage = (body: unknown, attributes: Record<string, string> = {}, messageId = 'm1'): IncomingMessage => ({
  data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
  attributes,
  messageId,
  eventSource: '//pubsub.googleapis.com/projects/p/topics/eeport-requests',
});

/**
 * deliverWebhook — CloudEvent function on the events topic. Calls the job's callback
 * URL (signed); failed attempts are scheduled for the poller's retry sweep rather than
 * thrown, because the webhook schedule runs for hours and Pub/Sub's backoff stops at
 * ten minutes. Throws only when the attempt could not even be recorded.
 */
import * as ff from '@google-cloud/functions-framework';
import { deliverWebhook } from '../composition/webhook.ts';
import { eventFromPush } from '../adapters/event-message.ts';
import { traceOf } from '../adapters/pubsub-message.ts';
import { createCloudLoggingSink } from '../adapters/log-sink.cloud-logging.ts';

ff.cloudEvent('deliverWebhook', async (event: ff.CloudEvent<unknown>) => {
  const parsed = eventFromPush(event.data);
  if (!parsed.ok) {
    // Our own topic: a foreign message is a deployment mistake, logged loudly and acknowledged.
    createCloudLoggingSink().write({ severity: 'ERROR', event: 'webhook.bad_event', message: `Ignored message ${event.id} on the events topic: ${parsed.reason}` });
    return;
  }
  await deliverWebhook(traceOf(event)).onEvent(parsed.event);
});

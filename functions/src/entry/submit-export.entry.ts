/**
 * submitExport — CloudEvent function on the requests topic (messagePublished).
 * Also carries cancels (attribute action=cancel). Returns (acknowledges) when the message became a job, whatever its fate; throws
 * only for transient faults, so Pub/Sub redelivers.
 */
import * as ff from '@google-cloud/functions-framework';
import { requestMessages } from '../composition/submit.ts';
import { incomingFromCloudEvent, traceOf } from '../adapters/pubsub-message.ts';

ff.cloudEvent('submitExport', async (event: ff.CloudEvent<unknown>) => {
  await requestMessages(traceOf(event))(incomingFromCloudEvent(event));
});

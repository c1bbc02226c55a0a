/**
 * onObjectFinalized — CloudEvent function on google.cloud.storage.object.v1.finalized.
 * An object an upload rule claims becomes an export job; others are logged and
 * acknowledged. Throws only for transient faults, so Eventarc redelivers.
 */
import * as ff from '@google-cloud/functions-framework';
import { uploads } from '../composition/uploads.ts';
import { objectEventFromCloudEvent } from '../adapters/storage-object-event.ts';
import { traceOf } from '../adapters/pubsub-message.ts';

ff.cloudEvent('onObjectFinalized', async (event: ff.CloudEvent<unknown>) => {
  await uploads(traceOf(event))(objectEventFromCloudEvent(event));
});

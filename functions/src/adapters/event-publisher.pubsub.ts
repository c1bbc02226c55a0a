/**
 * Publishes CloudEvents (JSON, structured mode) to the events topic, with attributes
 * mirroring type and subject so subscriptions can filter without parsing.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { eventAttributes, type CloudEvent } from '../core/jobs/index.ts';
import type { EventPublisher } from '../core/ports.ts';

/**
 * `pubsub` may be a function that loads the client: a function target that publishes
 * rarely (the API, the poller) then loads the Pub/Sub client on its first publish, not
 * at cold start (ADR 0016). A failed load is tried again at the next publish.
 */
export function createPubSubEventPublisher(pubsub: PubSub | (() => Promise<PubSub>), topicName: string): EventPublisher {
  let topic: Topic | undefined;
  return {
    async publish(events: CloudEvent[]) {
      if (!topic) {
        const client = typeof pubsub === 'function' ? await pubsub() : pubsub;
        topic ??= client.topic(topicName, { batching: { maxMessages: 100, maxMilliseconds: 10 } });
      }
      await Promise.all(
        events.map((ev) =>
          topic!.publishMessage({ data: Buffer.from(JSON.stringify(ev)), attributes: { ...eventAttributes(ev), 'content-type': 'application/cloudevents+json' } }),
        ),
      );
    },
  };
}

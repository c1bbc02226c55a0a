/**
 * Publishes CloudEvents (JSON, structured mode) to the events topic, with attributes
 * mirroring type and subject so subscriptions can filter without parsing.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { eventAttributes, type CloudEvent } from '../core/jobs/index.ts';
import type { EventPublisher } from '../core/ports.ts';

export function createPubSubEventPublisher(pubsub: PubSub, topicName: string): EventPublisher {
  let topic: Topic | undefined;
  return {
    async publish(events: CloudEvent[]) {
      topic ??= pubsub.topic(topicName, { batching: { maxMessages: 100, maxMilliseconds: 10 } });
      await Promise.all(
        events.map((ev) =>
          topic!.publishMessage({ data: Buffer.from(JSON.stringify(ev)), attributes: { ...eventAttributes(ev), 'content-type': 'application/cloudevents+json' } }),
        ),
      );
    },
  };
}

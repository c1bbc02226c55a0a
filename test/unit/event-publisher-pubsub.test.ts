/**
 * The Pub/Sub event publisher given a loader instead of a client (ADR 0016): the client
 * is loaded on the first publish, once, and a failed load is tried again at the next
 * publish rather than failing every later one.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { describe, expect, it } from 'vitest';
import { createPubSubEventPublisher } from '../../functions/src/adapters/event-publisher.pubsub.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/index.ts';

const event = (id: string) => ({ specversion: '1.0', id, source: '//eeport/test', type: 'dev.eeport.export.v1.submitted', subject: 'job1', time: '2026-12-02T00:00:00.000Z', datacontenttype: 'application/json', data: {} }) as unknown as CloudEvent;

function fakePubSub() {
  const published: { topic: string; data: string }[] = [];
  const client = {
    topic: (name: string) => ({
      publishMessage: async (m: { data: Buffer }) => {
        published.push({ topic: name, data: m.data.toString() });
        return 'msg-id';
      },
    }),
  } as unknown as PubSub;
  return { client, published };
}

describe('Pub/Sub event publisher with a loader', () => {
  it('loads the client on the first publish, not when created, and only once', async () => {
    const { client, published } = fakePubSub();
    let loads = 0;
    const publisher = createPubSubEventPublisher(async () => {
      loads++;
      return client;
    }, 'eeport-events');
    expect(loads).toBe(0);
    await publisher.publish([event('a.1')]);
    await publisher.publish([event('a.2'), event('a.3')]);
    expect(loads).toBe(1);
    expect(published.map((p) => [p.topic, (JSON.parse(p.data) as { id: string }).id])).toEqual([
      ['eeport-events', 'a.1'],
      ['eeport-events', 'a.2'],
      ['eeport-events', 'a.3'],
    ]);
  });

  it('a failed load fails that publish and is tried again at the next', async () => {
    const { client, published } = fakePubSub();
    let loads = 0;
    const publisher = createPubSubEventPublisher(async () => {
      if (++loads === 1) throw new Error('chunk not readable');
      return client;
    }, 'eeport-events');
    await expect(publisher.publish([event('b.1')])).rejects.toThrow(/chunk not readable/);
    await publisher.publish([event('b.1')]);
    expect(loads).toBe(2);
    expect(published).toHaveLength(1);
  });

  it('still takes a client as it is (the local stack passes its own)', async () => {
    const { client, published } = fakePubSub();
    await createPubSubEventPublisher(client, 'eeport-events').publish([event('c.1')]);
    expect(published).toHaveLength(1);
  });
});

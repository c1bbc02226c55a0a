/**
 * The push relay against a local HTTP target, over the in-memory broker: Eventarc's
 * binary CloudEvent, redelivery with backoff and the same message id, dead-lettering
 * after N deliveries; and the broker's REST stand-in that the printed commands use.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryBroker } from '../../tools/local-stack/broker.ts';
import { backoffMs, messagePublishedFormat, startPushRelay, type DeadLetter, type DeliveryReport, type PushRelay } from '../../tools/local-stack/push-relay.ts';

interface Hit {
  headers: IncomingHttpHeaders;
  body: { message: { data?: string; attributes: Record<string, string>; messageId: string; message_id: string; publishTime: string }; subscription: string; deliveryAttempt: number };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function target(statuses: number[]): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      hits.push({ headers: req.headers, body: JSON.parse(raw) as Hit['body'] });
      res.writeHead(statuses.shift() ?? 204).end('nope');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, hits };
}

async function relayFor(url: string, maxAttempts = 3) {
  const broker = new MemoryBroker('p-local');
  await broker.ensureTopic('reqs');
  await broker.ensureSubscription('reqs-fn', 'reqs', 60);
  const dead: DeadLetter[] = [];
  const reports: DeliveryReport[] = [];
  const relay: PushRelay = startPushRelay({
    subscription: broker.subscription('reqs-fn'),
    target: url,
    format: messagePublishedFormat('p-local', 'reqs', 'reqs-fn'),
    maxAttempts,
    minBackoffMs: 50,
    maxBackoffMs: 100,
    idlePollMs: 10,
    deadLetter: async (d) => void dead.push(d),
    onDelivery: (r) => reports.push(r),
  });
  cleanups.push(() => relay.stop());
  return { broker, relay, dead, reports };
}

const until = async (cond: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('push relay', () => {
  it('POSTs a binary-mode messagePublished CloudEvent, as Eventarc does, and acknowledges a 2xx', async () => {
    const t = await target([204]);
    const { broker, reports } = await relayFor(t.url);
    const id = await broker.publish('reqs', { data: '{"description":"d"}', attributes: { eeProject: 'my-ee' } });
    await until(() => reports.length === 1);
    const [hit] = t.hits;
    expect(hit!.headers).toMatchObject({
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': '//pubsub.googleapis.com/projects/p-local/topics/reqs',
    });
    expect(hit!.body.subscription).toBe('projects/p-local/subscriptions/reqs-fn');
    expect(hit!.body.message).toMatchObject({ messageId: id, message_id: id, attributes: { eeProject: 'my-ee' } });
    expect(Buffer.from(hit!.body.message.data!, 'base64').toString()).toBe('{"description":"d"}');
    expect(reports[0]).toMatchObject({ outcome: 'acked', attempt: 1, status: 204 });
    expect(broker.backlog('reqs-fn')).toBe(0);
  });

  it('redelivers a non-2xx with backoff and the same message id until acknowledged', async () => {
    const t = await target([500, 503]);
    const { broker, reports, dead } = await relayFor(t.url);
    const id = await broker.publish('reqs', { data: 'x' });
    await until(() => reports.some((r) => r.outcome === 'acked'));
    expect(t.hits.map((h) => h.headers['ce-id'])).toEqual([id, id, id]);
    expect(t.hits.map((h) => h.body.deliveryAttempt)).toEqual([1, 2, 3]);
    expect(reports.map((r) => [r.outcome, r.status])).toEqual([
      ['retry', 500],
      ['retry', 503],
      ['acked', 204],
    ]);
    expect(dead).toEqual([]);
    expect(broker.backlog('reqs-fn')).toBe(0);
  });

  it('dead-letters after maxAttempts deliveries, then acknowledges', async () => {
    const t = await target([500, 500, 500, 500]);
    const { broker, dead, reports } = await relayFor(t.url, 3);
    await broker.publish('reqs', { data: 'poison', attributes: { a: 'b' } });
    await until(() => dead.length === 1);
    expect(t.hits).toHaveLength(3);
    expect(dead[0]).toMatchObject({ attempts: 3, lastStatus: 500, subscription: 'projects/p-local/subscriptions/reqs-fn', message: { attributes: { a: 'b' } } });
    expect(reports.at(-1)!.outcome).toBe('dead-lettered');
    await until(() => broker.backlog('reqs-fn') === 0);
  });

  it('counts a refused connection as a failed delivery', async () => {
    const { broker, dead } = await relayFor('http://127.0.0.1:1/', 2);
    await broker.publish('reqs', { data: 'x' });
    await until(() => dead.length === 1);
    expect(dead[0]!.lastStatus).toBeNull();
    expect(dead[0]!.lastError).toBeTruthy();
  });

  it('backs off exponentially, capped', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 1_000, 10_000))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });
});

describe('in-memory broker REST stand-in', () => {
  it('answers publish, pull and acknowledge like the Pub/Sub REST API', async () => {
    const broker = new MemoryBroker('p-local');
    const server = broker.serveRest();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/projects/p-local`;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}/${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect((await call('PUT', 'topics/t1')).status).toBe(200);
    expect((await call('PUT', 'subscriptions/s1', { topic: 'projects/p-local/topics/t1' })).status).toBe(200);
    const pub = await call('POST', 'topics/t1:publish', { messages: [{ data: Buffer.from('hi').toString('base64'), attributes: { k: 'v' } }] });
    expect(pub.body.messageIds).toHaveLength(1);
    const pulled = (await call('POST', 'subscriptions/s1:pull', { maxMessages: 10 })).body.receivedMessages as { ackId: string; message: { data: string; attributes: Record<string, string> } }[];
    expect(pulled).toHaveLength(1);
    expect(Buffer.from(pulled[0]!.message.data, 'base64').toString()).toBe('hi');
    expect(pulled[0]!.message.attributes).toEqual({ k: 'v' });
    expect((await call('POST', 'subscriptions/s1:acknowledge', { ackIds: [pulled[0]!.ackId] })).status).toBe(200);
    expect(broker.backlog('s1')).toBe(0);
    expect((await call('POST', 'topics/nope:publish', { messages: [{ data: 'aGk=' }] })).status).toBe(404);
  });
});

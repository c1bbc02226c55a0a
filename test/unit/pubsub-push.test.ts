/**
 * infra/ delivers the requests and events topics to the functions with its own push
 * subscriptions (so they can have dead-letter topics), not with Eventarc triggers. The
 * functions framework turns such a raw push into a CloudEvent; these tests hold the
 * adapter to every shape that reaches it: Eventarc's binary CloudEvent, a raw push with
 * data, and a raw push without data (an attributes-only cancel), which the framework
 * does not convert.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incomingFromCloudEvent } from '../../functions/src/adapters/pubsub-message.ts';
import type { IncomingMessage } from '../../functions/src/core/submit/intake.ts';

const seen: IncomingMessage[] = [];
ff.cloudEvent('probeRawPush', (event: ff.CloudEvent<unknown>) => {
  seen.push(incomingFromCloudEvent(event));
});

let server: Server;
let url: string;
beforeAll(async () => {
  server = getTestServer('probeRawPush');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  seen.length = 0;
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  expect(res.status).toBe(204);
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

const TOPIC_PATH = '/projects/p/topics/eeport-requests';
const data = Buffer.from('{"description":"d"}').toString('base64');

describe('Pub/Sub push shapes reaching submitExport', () => {
  it('Eventarc binary CloudEvent', async () => {
    const m = await post(
      '/',
      { message: { data, attributes: { eeProject: 'x' }, messageId: 'm-1' }, subscription: 'projects/p/subscriptions/s' },
      { 'ce-id': 'm-1', 'ce-specversion': '1.0', 'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished', 'ce-source': '//pubsub.googleapis.com/projects/p/topics/eeport-requests' },
    );
    expect(m).toMatchObject({ attributes: { eeProject: 'x' }, messageId: 'm-1' });
    expect(m.data?.toString()).toBe('{"description":"d"}');
  });

  it('raw push with data (our push subscription), topic taken from the endpoint path', async () => {
    const m = await post(TOPIC_PATH, { message: { data, attributes: { idempotencyKey: 'k' }, messageId: 'm-2', publishTime: '2026-01-01T00:00:00Z' }, subscription: 'projects/p/subscriptions/s' });
    expect(m).toMatchObject({ attributes: { idempotencyKey: 'k' }, messageId: 'm-2', eventSource: '//pubsub.googleapis.com/projects/p/topics/eeport-requests' });
    expect(m.data?.toString()).toBe('{"description":"d"}');
  });

  it('raw push without data (an attributes-only cancel) keeps its attributes and message id', async () => {
    const m = await post(TOPIC_PATH, { message: { attributes: { action: 'cancel', jobId: 'j1' }, messageId: 'm-3' }, subscription: 'projects/p/subscriptions/s' });
    expect(m).toMatchObject({ data: null, attributes: { action: 'cancel', jobId: 'j1' }, messageId: 'm-3', eventSource: '//pubsub.googleapis.com/projects/p/subscriptions/s' });
  });
});

/**
 * Builds a real eeport graph for integration tests: Firestore and Pub/Sub emulators,
 * the Earth Engine simulator, the functions-framework test server. Delivers
 * CloudEvents the way Pub/Sub push does (same message id on every redelivery), and
 * reads the events topic through a pull subscription.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { PubSub, type Subscription } from '@google-cloud/pubsub';
import { Firestore } from '@google-cloud/firestore';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { loadConfig, type Config } from '../../functions/src/config.ts';
import { buildServices, realAdapters, setServices, type Adapters, type Services } from '../../functions/src/composition-root.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/events.ts';
import type { Emulators } from './emulators.ts';

export function testConfig(emu: Emulators, eeApiRoot: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    GOOGLE_CLOUD_PROJECT: emu.projectId,
    FIRESTORE_EMULATOR_HOST: emu.firestoreHost,
    PUBSUB_EMULATOR_HOST: emu.pubsubHost,
    EE_PROJECT: 'ee-test-project',
    EE_API_ROOT: eeApiRoot,
    EE_ACCESS_TOKEN: 'test-token',
    EE_RETRY_BASE_MS: '5',
    EE_RETRY_MAX_DELAY_MS: '50',
    EE_HTTP_TIMEOUT_MS: '1000',
    EE_RETRY_DEADLINE_MS: '1500',
    SUBMIT_LEASE_SECONDS: '3',
    LOG_LEVEL: 'error',
    // A local run: the local-only switches (POLL_AUTH_DISABLED, WEBHOOK_ALLOW_*, API_AUTH=none) need it.
    EEPORT_LOCAL: 'true',
    ...env,
  });
}

export interface TestStack {
  config: Config;
  services: Services;
  firestore: Firestore;
  pubsub: PubSub;
  /** POSTs one delivery; returns the HTTP status the function answered. */
  deliverOnce(target: string, message: PushMessage): Promise<number>;
  /** Delivers until acknowledged (2xx), like Pub/Sub with retries; returns the statuses seen. */
  deliverUntilAcked(target: string, message: PushMessage, opts?: { maxAttempts?: number; delayMs?: number }): Promise<number[]>;
  /** Calls an HTTP function target through its test server. */
  http(target: string, path?: string, init?: RequestInit): Promise<Response>;
  /** Events published so far on the events topic (pulled and acked). */
  drainEvents(): Promise<CloudEvent[]>;
  close(): Promise<void>;
}

export interface PushMessage {
  data?: Buffer | string | object;
  attributes?: Record<string, string>;
  messageId?: string;
}

export function pushMessage(body: unknown, attributes: Record<string, string> = {}, messageId = randomUUID()): PushMessage {
  return { data: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), attributes, messageId };
}

export async function startTestStack(config: Config, adapterOverrides: (a: Adapters) => Adapters = (a) => a): Promise<TestStack> {
  const firestore = new Firestore({ projectId: config.GOOGLE_CLOUD_PROJECT!, host: config.FIRESTORE_EMULATOR_HOST!, ssl: false, ignoreUndefinedProperties: true });
  const pubsub = new PubSub({ projectId: config.GOOGLE_CLOUD_PROJECT!, apiEndpoint: config.PUBSUB_EMULATOR_HOST!, emulatorMode: true });
  const [topic] = await pubsub.topic(config.EVENTS_TOPIC).get({ autoCreate: true });
  const [sub] = await topic.createSubscription(`events-test-${randomUUID().slice(0, 8)}`);
  const subscription: Subscription = sub;
  const services = buildServices(config, adapterOverrides(realAdapters(config)));
  setServices(services);
  const servers = new Map<string, { server: Server; url: string }>();

  async function urlFor(target: string) {
    let s = servers.get(target);
    if (!s) {
      const server = getTestServer(target);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      s = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
      servers.set(target, s);
    }
    return s.url;
  }

  async function deliverOnce(target: string, message: PushMessage): Promise<number> {
    const messageId = message.messageId ?? randomUUID();
    const raw = message.data === undefined ? undefined : typeof message.data === 'object' && !Buffer.isBuffer(message.data) ? JSON.stringify(message.data) : message.data;
    const body = {
      message: { ...(raw !== undefined ? { data: Buffer.from(raw).toString('base64') } : {}), attributes: message.attributes ?? {}, messageId, publishTime: new Date().toISOString() },
      subscription: `projects/${config.GOOGLE_CLOUD_PROJECT}/subscriptions/requests-push`,
    };
    const res = await fetch(await urlFor(target), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'ce-id': messageId,
        'ce-specversion': '1.0',
        'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
        'ce-source': `//pubsub.googleapis.com/projects/${config.GOOGLE_CLOUD_PROJECT}/topics/${config.REQUESTS_TOPIC}`,
        'ce-time': new Date().toISOString(),
      },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  }

  return {
    config,
    services,
    firestore,
    pubsub,
    deliverOnce,
    async http(target, path = '', init = {}) {
      return fetch(new URL(path, await urlFor(target)), init);
    },
    async deliverUntilAcked(target, message, opts = {}) {
      const msg = { ...message, messageId: message.messageId ?? randomUUID() };
      const statuses: number[] = [];
      for (let i = 0; i < (opts.maxAttempts ?? 20); i++) {
        const s = await deliverOnce(target, msg);
        statuses.push(s);
        if (s >= 200 && s < 300) return statuses;
        await new Promise((r) => setTimeout(r, opts.delayMs ?? 200));
      }
      throw new Error(`not acknowledged after ${statuses.length} deliveries: ${statuses.join(',')}`);
    },
    async drainEvents() {
      // The emulator's REST pull answers at once with what it has; loop until it has nothing.
      const base = `http://${config.PUBSUB_EMULATOR_HOST}/v1/${subscription.name}`;
      const events: CloudEvent[] = [];
      for (;;) {
        const res = await fetch(`${base}:pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMessages: 1000, returnImmediately: true }) });
        const { receivedMessages = [] } = (await res.json()) as { receivedMessages?: { ackId: string; message: { data: string } }[] };
        if (!receivedMessages.length) break;
        for (const r of receivedMessages) events.push(JSON.parse(Buffer.from(r.message.data, 'base64').toString()) as CloudEvent);
        await fetch(`${base}:acknowledge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ackIds: receivedMessages.map((r) => r.ackId) }) });
      }
      return events;
    },
    async close() {
      setServices(undefined);
      for (const { server } of servers.values()) await new Promise((r) => server.close(r));
      await subscription.delete().catch(() => undefined);
      await pubsub.close();
      await firestore.terminate();
    },
  };
}

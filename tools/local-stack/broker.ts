/**
 * Topics and pull subscriptions, as the push relay and the demo need them, over two
 * backends with the same shape:
 *
 * - EmulatorBroker: Google's Pub/Sub emulator through its REST API (publish, pull,
 *   acknowledge, modifyAckDeadline — the calls a push subscription makes internally).
 * - MemoryBroker: the same in this process, for the fallback when the emulator is
 *   missing. It also answers that REST subset over HTTP (serveRest), so the `curl` and
 *   `gcloud pubsub` commands printed by `npm start` work in both modes.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';

/** A message as Pub/Sub's pull and push bodies carry it. */
export interface PubsubMessage {
  /** base64 */
  data?: string;
  attributes?: Record<string, string>;
  messageId: string;
  publishTime: string;
}

export interface ReceivedMessage {
  ackId: string;
  message: PubsubMessage;
}

export interface OutgoingMessage {
  data?: Buffer | string;
  attributes?: Record<string, string>;
}

/** One pull subscription. */
export interface SubscriptionPort {
  /** projects/{p}/subscriptions/{s} */
  readonly name: string;
  /** Up to `max` messages that are due, at once (an empty list when none are). */
  pull(max: number): Promise<ReceivedMessage[]>;
  ack(ackIds: string[]): Promise<void>;
  /** Hands the message back for redelivery after `seconds` (0: at once) — Pub/Sub's modifyAckDeadline. */
  nack(ackId: string, seconds: number): Promise<void>;
}

export interface Broker {
  readonly kind: 'emulator' | 'in-memory';
  readonly project: string;
  ensureTopic(topic: string): Promise<void>;
  ensureSubscription(subscription: string, topic: string, ackDeadlineSeconds: number): Promise<void>;
  /** Returns the message id. */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
  subscription(subscription: string): SubscriptionPort;
}

const b64 = (d: Buffer | string | undefined) => (d === undefined ? undefined : Buffer.from(d).toString('base64'));

// ---------------------------------------------------------------------------
// Google's emulator, over REST
// ---------------------------------------------------------------------------

export class EmulatorBroker implements Broker {
  readonly kind = 'emulator';
  constructor(
    readonly host: string,
    readonly project: string,
  ) {}

  private async call(method: string, path: string, body?: unknown, okStatuses: number[] = []): Promise<unknown> {
    const res = await fetch(`http://${this.host}/v1/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok && !okStatuses.includes(res.status)) throw new Error(`Pub/Sub emulator ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : {};
  }

  async ensureTopic(topic: string) {
    await this.call('PUT', `projects/${this.project}/topics/${topic}`, {}, [409]);
  }

  async ensureSubscription(subscription: string, topic: string, ackDeadlineSeconds: number) {
    await this.call('PUT', `projects/${this.project}/subscriptions/${subscription}`, { topic: `projects/${this.project}/topics/${topic}`, ackDeadlineSeconds }, [409]);
  }

  async publish(topic: string, message: OutgoingMessage) {
    const data = b64(message.data);
    const out = (await this.call('POST', `projects/${this.project}/topics/${topic}:publish`, {
      messages: [{ ...(data !== undefined ? { data } : {}), ...(message.attributes ? { attributes: message.attributes } : {}) }],
    })) as { messageIds: string[] };
    return out.messageIds[0]!;
  }

  subscription(subscription: string): SubscriptionPort {
    const name = `projects/${this.project}/subscriptions/${subscription}`;
    return {
      name,
      pull: async (max) => {
        // returnImmediately is deprecated on the service but is what makes the emulator answer at once.
        const out = (await this.call('POST', `${name}:pull`, { maxMessages: max, returnImmediately: true })) as { receivedMessages?: ReceivedMessage[] };
        return out.receivedMessages ?? [];
      },
      ack: async (ackIds) => {
        if (ackIds.length) await this.call('POST', `${name}:acknowledge`, { ackIds });
      },
      nack: async (ackId, seconds) => {
        await this.call('POST', `${name}:modifyAckDeadline`, { ackIds: [ackId], ackDeadlineSeconds: Math.max(0, Math.min(600, Math.ceil(seconds))) });
      },
    };
  }
}

// ---------------------------------------------------------------------------
// In-process fallback
// ---------------------------------------------------------------------------

interface Stored {
  message: PubsubMessage;
  /** Epoch ms from which the message may be pulled (again). */
  visibleAt: number;
  /** The ackId of the current delivery, if pulled and not yet acked or expired. */
  ackId: string | null;
}

interface MemorySubscription {
  topic: string;
  ackDeadlineMs: number;
  messages: Stored[];
}

/**
 * Topics and subscriptions in this process. Messages published before a subscription
 * existed are not delivered to it (as in Pub/Sub); an unacknowledged message comes back
 * after the ack deadline, a nacked one after the delay asked for.
 */
export class MemoryBroker implements Broker {
  readonly kind = 'in-memory';
  private topics = new Set<string>();
  private subs = new Map<string, MemorySubscription>();
  private nextId = 1;

  constructor(readonly project: string) {}

  async ensureTopic(topic: string) {
    this.topics.add(topic);
  }

  async ensureSubscription(subscription: string, topic: string, ackDeadlineSeconds: number) {
    if (!this.topics.has(topic)) throw new Error(`topic ${topic} does not exist`);
    if (!this.subs.has(subscription)) this.subs.set(subscription, { topic, ackDeadlineMs: ackDeadlineSeconds * 1000, messages: [] });
  }

  async publish(topic: string, message: OutgoingMessage) {
    if (!this.topics.has(topic)) throw new Error(`NOT_FOUND: topic projects/${this.project}/topics/${topic}`);
    const data = b64(message.data);
    const msg: PubsubMessage = {
      ...(data !== undefined ? { data } : {}),
      attributes: { ...(message.attributes ?? {}) },
      messageId: String(this.nextId++),
      publishTime: new Date().toISOString(),
    };
    for (const sub of this.subs.values()) if (sub.topic === topic) sub.messages.push({ message: structuredClone(msg), visibleAt: 0, ackId: null });
    return msg.messageId;
  }

  /** Messages not yet acknowledged, per subscription (for tests and the table). */
  backlog(subscription: string): number {
    return this.subs.get(subscription)?.messages.length ?? 0;
  }

  subscription(subscription: string): SubscriptionPort {
    const get = () => {
      const s = this.subs.get(subscription);
      if (!s) throw new Error(`NOT_FOUND: subscription ${subscription}`);
      return s;
    };
    return {
      name: `projects/${this.project}/subscriptions/${subscription}`,
      pull: async (max) => {
        const s = get();
        const now = Date.now();
        const out: ReceivedMessage[] = [];
        for (const m of s.messages) {
          if (out.length >= max) break;
          if (m.visibleAt > now) continue;
          m.ackId = randomUUID();
          m.visibleAt = now + s.ackDeadlineMs;
          out.push({ ackId: m.ackId, message: structuredClone(m.message) });
        }
        return out;
      },
      ack: async (ackIds) => {
        const s = get();
        const ids = new Set(ackIds);
        s.messages = s.messages.filter((m) => !(m.ackId !== null && ids.has(m.ackId)));
      },
      nack: async (ackId, seconds) => {
        const m = get().messages.find((x) => x.ackId === ackId);
        if (m) {
          m.ackId = null;
          m.visibleAt = Date.now() + seconds * 1000;
        }
      },
    };
  }

  /**
   * Answers the Pub/Sub REST calls the printed commands use (create topic/subscription,
   * publish, pull, acknowledge, modifyAckDeadline), so they work against the fallback too.
   */
  serveRest(): Server {
    return createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        };
        const fail = (status: number, message: string) => reply(status, { error: { code: status, message, status: status === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT' } });
        void (async () => {
          const url = new URL(req.url ?? '/', 'http://x');
          const m = /^\/v1\/projects\/([^/]+)\/(topics|subscriptions)\/([^/:]+)(?::(\w+))?$/.exec(url.pathname);
          if (!m || m[1] !== this.project) return fail(404, `the in-memory Pub/Sub stand-in knows only projects/${this.project}/topics|subscriptions/…`);
          const [, , kind, name, verb] = m as unknown as [string, string, string, string, string | undefined];
          let body: Record<string, unknown> = {};
          try {
            body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
          } catch {
            return fail(400, 'body is not JSON');
          }
          try {
            if (kind === 'topics' && req.method === 'PUT' && !verb) {
              await this.ensureTopic(name);
              return reply(200, { name: `projects/${this.project}/topics/${name}` });
            }
            if (kind === 'topics' && verb === 'publish') {
              const messages = (body.messages ?? []) as { data?: string; attributes?: Record<string, string> }[];
              const ids: string[] = [];
              for (const msg of messages) ids.push(await this.publish(name, { ...(msg.data ? { data: Buffer.from(msg.data, 'base64') } : {}), ...(msg.attributes ? { attributes: msg.attributes } : {}) }));
              return reply(200, { messageIds: ids });
            }
            if (kind === 'subscriptions' && req.method === 'PUT' && !verb) {
              const topic = String(body.topic ?? '').split('/').pop() ?? '';
              await this.ensureSubscription(name, topic, Number(body.ackDeadlineSeconds ?? 10));
              return reply(200, { name: `projects/${this.project}/subscriptions/${name}`, topic: body.topic });
            }
            const sub = this.subscription(name);
            if (verb === 'pull') return reply(200, { receivedMessages: await sub.pull(Number(body.maxMessages ?? 1)) });
            if (verb === 'acknowledge') return reply(200, (await sub.ack((body.ackIds ?? []) as string[]), {}));
            if (verb === 'modifyAckDeadline') {
              for (const id of (body.ackIds ?? []) as string[]) await sub.nack(id, Number(body.ackDeadlineSeconds ?? 0));
              return reply(200, {});
            }
            return fail(404, `${req.method} ${url.pathname} is not part of the in-memory stand-in`);
          } catch (err) {
            const message = (err as Error).message;
            return fail(message.startsWith('NOT_FOUND') ? 404 : 400, message);
          }
        })();
      });
    });
  }
}

/**
 * The push relay: what a Pub/Sub push subscription with Eventarc does in production,
 * which the emulator cannot do (it applies no retry or dead-letter policy, and its own
 * push body is not a CloudEvent).
 *
 * It pulls from a subscription and POSTs each message to a function as a binary-mode
 * CloudEvent (ce-* headers, the push body as JSON data) — exactly what the functions
 * framework receives from Eventarc. A 2xx acknowledges; anything else, a timeout or a
 * refused connection hands the message back with exponential backoff (Pub/Sub's retry
 * policy, scaled down), and after `maxAttempts` deliveries the message goes to the
 * dead-letter sink (with the attributes Pub/Sub's dead-lettering adds) and is
 * acknowledged. Redeliveries keep the message id, so the function's idempotency is
 * exercised as in production.
 */
import type { PubsubMessage, ReceivedMessage, SubscriptionPort } from './broker.ts';

/** The HTTP request one delivery makes. */
export interface PushRequest {
  headers: Record<string, string>;
  body: string;
}

/** Builds the request for a message; `attempt` counts from 1. */
export type PushFormat = (msg: PubsubMessage, attempt: number) => PushRequest;

/** A `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent in binary mode, as Eventarc sends it. */
export function messagePublishedFormat(project: string, topic: string, subscription: string): PushFormat {
  return (msg, attempt) => ({
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': msg.messageId,
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': `//pubsub.googleapis.com/projects/${project}/topics/${topic}`,
      'ce-time': msg.publishTime,
    },
    body: JSON.stringify({
      message: { ...msg, attributes: msg.attributes ?? {}, message_id: msg.messageId, publish_time: msg.publishTime },
      subscription: `projects/${project}/subscriptions/${subscription}`,
      // Pub/Sub adds this to push bodies when the subscription has a dead-letter policy.
      deliveryAttempt: attempt,
    }),
  });
}

export interface DeadLetter {
  subscription: string;
  target: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  message: PubsubMessage;
  time: string;
}

export interface DeliveryReport {
  subscription: string;
  messageId: string;
  attempt: number;
  status: number | null;
  error: string | null;
  outcome: 'acked' | 'retry' | 'dead-lettered';
  /** For 'retry': seconds until the next delivery. */
  retryInSeconds?: number;
}

export interface PushRelayOptions {
  subscription: SubscriptionPort;
  /** The function's URL. */
  target: string;
  format: PushFormat;
  /** Deliveries before a message is dead-lettered (Pub/Sub: 5–100, default 5). */
  maxAttempts?: number;
  /** Backoff after the first failure, doubling per attempt up to maxBackoffMs (Pub/Sub: 10 s … 600 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A delivery not answered within this counts as failed (Pub/Sub: the ack deadline). */
  timeoutMs?: number;
  maxInFlight?: number;
  /** How long to wait before pulling again when the subscription was empty. */
  idlePollMs?: number;
  deadLetter: (dl: DeadLetter) => Promise<void>;
  onDelivery?: (r: DeliveryReport) => void;
  /** Called when pulling fails (e.g. the emulator is gone); the relay keeps trying. */
  onPullError?: (err: Error) => void;
}

export interface PushRelay {
  readonly subscription: string;
  readonly target: string;
  /** Stops pulling and waits (up to `graceMs`) for deliveries in flight. */
  stop(graceMs?: number): Promise<void>;
  readonly stats: { delivered: number; retried: number; deadLettered: number };
}

/** Pub/Sub's exponential backoff: min × 2^(attempt-1), capped. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1));
}

export function startPushRelay(o: PushRelayOptions): PushRelay {
  const maxAttempts = o.maxAttempts ?? 5;
  const minBackoff = o.minBackoffMs ?? 1_000;
  const maxBackoff = o.maxBackoffMs ?? 10_000;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const maxInFlight = o.maxInFlight ?? 16;
  const idlePollMs = o.idlePollMs ?? 100;
  /** Deliveries so far per message id: the emulator does not count them. */
  const attempts = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const stats = { delivered: 0, retried: 0, deadLettered: 0 };
  const stopping = new AbortController();
  let pullErrorShown = false;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      stopping.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  async function deliver(r: ReceivedMessage): Promise<void> {
    const id = r.message.messageId;
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    const req = o.format(r.message, attempt);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(o.target, { method: 'POST', headers: req.headers, body: req.body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      status = res.status;
      const text = await res.text();
      if (status < 200 || status > 299) error = text.slice(0, 300) || `HTTP ${status}`;
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    }
    const report = { subscription: o.subscription.name, messageId: id, attempt, status, error };
    if (error === null) {
      attempts.delete(id);
      stats.delivered++;
      await o.subscription.ack([r.ackId]);
      o.onDelivery?.({ ...report, outcome: 'acked' });
      return;
    }
    if (attempt >= maxAttempts) {
      await o.deadLetter({ subscription: o.subscription.name, target: o.target, attempts: attempt, lastStatus: status, lastError: error, message: r.message, time: new Date().toISOString() });
      attempts.delete(id);
      stats.deadLettered++;
      await o.subscription.ack([r.ackId]);
      o.onDelivery?.({ ...report, outcome: 'dead-lettered' });
      return;
    }
    const delay = backoffMs(attempt, minBackoff, maxBackoff);
    stats.retried++;
    await o.subscription.nack(r.ackId, delay / 1000);
    o.onDelivery?.({ ...report, outcome: 'retry', retryInSeconds: delay / 1000 });
  }

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const room = maxInFlight - inFlight.size;
      if (room <= 0) {
        await Promise.race([...inFlight, wait(idlePollMs)]);
        continue;
      }
      let batch: ReceivedMessage[];
      try {
        batch = await o.subscription.pull(room);
        pullErrorShown = false;
      } catch (err) {
        if (!stopping.signal.aborted && !pullErrorShown) o.onPullError?.(err as Error);
        pullErrorShown = true;
        await wait(1_000);
        continue;
      }
      if (stopping.signal.aborted) {
        // Pulled while stopping: give them straight back.
        await Promise.all(batch.map((r) => o.subscription.nack(r.ackId, 0).catch(() => undefined)));
        break;
      }
      for (const r of batch) {
        const p = deliver(r)
          .catch((err: Error) => o.onPullError?.(err))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (batch.length === 0) await wait(idlePollMs);
    }
  })();

  return {
    subscription: o.subscription.name,
    target: o.target,
    stats,
    async stop(graceMs = 5_000) {
      stopping.abort();
      await loop;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    },
  };
}

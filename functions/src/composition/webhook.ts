/**
 * The deliverWebhook target's graph (the poller reuses it for its retry sweep): the
 * only targets that load the SSRF-safe HTTP client and sign with the webhook secrets.
 */
import type { Config } from '../config.ts';
import { createSafeHttpClient } from '../adapters/safe-http.ts';
import { createDeliverWebhook } from '../core/webhooks/index.ts';
import { createLogEvents } from '../core/jobs/index.ts';
import type { WebhookSender } from '../core/ports.ts';
import { instanceGraph, type Graph } from './instance.ts';

/** Resolves once, refuses private/loopback/metadata addresses, connects to the checked address, follows no redirect. */
export function webhookSenderFor(config: Config): WebhookSender {
  return createSafeHttpClient({ allowHttp: config.WEBHOOK_ALLOW_HTTP, allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK, allowedPorts: config.WEBHOOK_ALLOWED_PORTS, timeoutMs: config.WEBHOOK_TIMEOUT_MS });
}

export function wireDeliverWebhook({ config, adapters }: Graph, trace?: string) {
  return createDeliverWebhook({
    store: adapters.store,
    sender: adapters.webhookSender,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    settings: {
      secrets: config.WEBHOOK_SECRETS,
      tenantSecrets: Object.fromEntries(config.tenants.map((t) => [t.id, t.webhookSecrets])),
      scheduleMs: config.WEBHOOK_RETRY_SCHEDULE_SECONDS.map((s) => s * 1000),
      events: config.WEBHOOK_EVENTS,
      leaseMs: config.WEBHOOK_TIMEOUT_MS * 2,
      eventSource: config.eventSource,
    },
  });
}

/** deliverWebhook's handler, on this instance's graph. */
export const deliverWebhook = (trace?: string) => wireDeliverWebhook(instanceGraph({ webhookSender: webhookSenderFor }), trace);

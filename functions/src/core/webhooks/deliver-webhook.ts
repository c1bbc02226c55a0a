/**
 * Webhooks: a job's callback URL is called, signed by the Standard Webhooks scheme, when
 * its events arrive on the events topic. Each event is one delivery
 * (`webhookDeliveries/{eventId}`), so a redelivered event is recognised by its id and
 * sent at most once successfully. A failed attempt is retried on the scheme's schedule
 * (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with jitter) by the poller's
 * sweep, far beyond what Pub/Sub's 600 s retry backoff allows. `410 Gone` disables the
 * endpoint; a refused URL (SSRF guard) or an exhausted schedule fails the delivery for
 * good, recorded on the job and announced with a `webhook_failed` event.
 */
import { EVENT_TYPE_PREFIX, type CloudEvent, isTerminal, WEBHOOK_ATTEMPTS_KEPT, type Job, type JobState, type WebhookAttempt, relayEvents, type LogEvents } from '../jobs/index.ts';
import { BATCH_EVENT_PREFIX } from '../batches/index.ts';
import { nextRetryDelayMs, signWebhook } from './webhook-signature.ts';
import type { Clock, EventPublisher, JobStore, WebhookDelivery, WebhookSender } from '../ports.ts';

export const WEBHOOK_FAILED_KIND = 'webhook_failed';

export interface WebhookSettings {
  /** whsec_… secrets; every one signs (several during a rotation). */
  secrets: readonly string[];
  /** Each tenant's own secrets (TENANTS): its callbacks are signed with these, never with another's or the deployment's. */
  tenantSecrets?: Readonly<Record<string, readonly string[]>>;
  /** Delay before each attempt, in ms; its length is the number of attempts. */
  scheduleMs: readonly number[];
  /** 'terminal': only succeeded/failed/cancelled/rejected; 'all': every state change. */
  events: 'terminal' | 'all';
  leaseMs: number;
  eventSource: string;
}

export interface WebhookDeps {
  store: JobStore;
  sender: WebhookSender;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  settings: WebhookSettings;
  random?: () => number;
}

export type WebhookOutcome =
  | { kind: 'ignored'; reason: string }
  | { kind: 'duplicate' | 'busy'; delivery: WebhookDelivery }
  | { kind: 'delivered' | 'retrying' | 'failed'; delivery: WebhookDelivery; status: number | null };

/** The small body a receiver gets: references (ids, URIs), not data. */
export function webhookBody(ev: CloudEvent): string {
  if (ev.type.startsWith(BATCH_EVENT_PREFIX)) {
    const { callbackUrl: _omit, tenantId, ...data } = ev.data as unknown as Record<string, unknown>;
    return JSON.stringify({ type: ev.type, id: ev.id, timestamp: ev.time, data: typeof tenantId === 'string' ? { tenantId, ...data } : data });
  }
  const d = ev.data;
  return JSON.stringify({
    type: ev.type,
    id: ev.id,
    timestamp: ev.time,
    data: {
      ...(typeof d.tenantId === 'string' ? { tenantId: d.tenantId } : {}),
      jobId: d.jobId,
      state: d.state,
      eeProject: d.eeProject,
      operationName: d.operationName,
      description: d.description,
      labels: d.labels,
      destinationUris: d.destinationUris,
      error: d.error,
      eecuSeconds: d.eecuSeconds,
      submitTime: d.submitTime,
      startTime: d.startTime,
      endTime: d.endTime,
    },
  });
}

/** The `webhook-id`: stable per event (receivers dedupe on it); the scheme's ids carry no dots. */
export const webhookIdFor = (eventId: string) => `msg_${eventId.replace(/\./g, '_')}`;

export function createDeliverWebhook(deps: WebhookDeps) {
  const { store, sender, clock, logs, settings } = deps;
  const random = deps.random ?? Math.random;
  const iso = (offsetMs = 0) => new Date(clock.now().getTime() + offsetMs).toISOString();

  function wanted(ev: CloudEvent): string | null {
    if (ev.type.startsWith(BATCH_EVENT_PREFIX)) {
      // A batch calls back once, when it ends (or is rejected).
      const final = ['succeeded', 'partially_failed', 'failed', 'cancelled', 'rejected'].includes(ev.type.slice(BATCH_EVENT_PREFIX.length));
      return !final ? 'not a final batch event' : ev.data?.callbackUrl ? null : 'batch has no callback URL';
    }
    if (!ev.type.startsWith(EVENT_TYPE_PREFIX)) return 'not an eeport job event';
    if (ev.type.endsWith(`.${WEBHOOK_FAILED_KIND}`)) return 'webhook failures are not called back';
    if (!ev.data?.callbackUrl) return 'job has no callback URL';
    if (settings.events === 'terminal' && !isTerminal(ev.data.state as JobState)) return 'not a terminal event';
    return null;
  }

  /** Takes the delivery for one attempt, or says why not. */
  async function claim(ev: CloudEvent | null, eventId: string): Promise<{ delivery: WebhookDelivery } | { outcome: WebhookOutcome }> {
    return store.transact(async (tx) => {
      const existing = await tx.getDelivery(eventId);
      const url = existing?.url ?? ev!.data.callbackUrl!;
      const endpoint = await tx.getEndpoint(url);
      const job = await tx.getJob(existing?.jobId ?? ev!.subject);
      if (existing && (existing.state === 'delivered' || existing.state === 'failed')) return { outcome: { kind: 'duplicate', delivery: existing } };
      if (existing?.leaseUntil && existing.leaseUntil > iso()) return { outcome: { kind: 'busy', delivery: existing } };
      if (existing && !ev && existing.state === 'pending' && existing.nextAttemptAt && existing.nextAttemptAt > iso()) return { outcome: { kind: 'busy', delivery: existing } };
      const base: WebhookDelivery = existing ?? {
        eventId,
        jobId: ev!.subject,
        // The job's own record wins; a batch event's tenant is in its data (eeport's own topic).
        tenantId: job ? job.tenantId : typeof ev!.data.tenantId === 'string' ? ev!.data.tenantId : null,
        url,
        eventType: ev!.type,
        body: webhookBody(ev!),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: null,
        leaseUntil: null,
        lastStatus: null,
        lastError: null,
        createTime: iso(),
        updateTime: iso(),
      };
      if (endpoint?.disabled) {
        const failed: WebhookDelivery = { ...base, state: 'failed', lastError: `endpoint disabled: ${endpoint.reason ?? ''}`, updateTime: iso(), nextAttemptAt: null };
        tx.setDelivery(failed);
        if (job) recordOnJob(tx, job, failed, null, 'disabled');
        return { outcome: { kind: 'failed', delivery: failed, status: null } };
      }
      // nextAttemptAt = the lease's end: if this claimant dies before recording its attempt, the
      // poller's sweep finds the delivery due then (redeliveries meanwhile are answered "busy").
      const claimed: WebhookDelivery = { ...base, state: 'delivering', leaseUntil: iso(settings.leaseMs), nextAttemptAt: iso(settings.leaseMs), updateTime: iso() };
      tx.setDelivery(claimed);
      return { delivery: claimed };
    });
  }

  function recordOnJob(
    tx: Parameters<Parameters<JobStore['transact']>[0]>[0],
    job: Job,
    d: WebhookDelivery,
    attempt: WebhookAttempt | null,
    state: 'pending' | 'delivered' | 'failed' | 'disabled',
  ): CloudEvent[] {
    const attempts = attempt ? [...(job.webhook?.attempts ?? []), attempt].slice(-WEBHOOK_ATTEMPTS_KEPT) : (job.webhook?.attempts ?? []);
    const next: Job = { ...job, webhook: { url: d.url, state, lastEventId: d.eventId, attempts, updateTime: iso() }, updateTime: iso(), version: job.version + 1 };
    tx.updateJob(next);
    if (state !== 'failed' && state !== 'disabled') return [];
    const ev: CloudEvent = {
      specversion: '1.0',
      id: `${job.jobId}.${next.version}.${WEBHOOK_FAILED_KIND}`,
      source: settings.eventSource,
      type: `${EVENT_TYPE_PREFIX}${WEBHOOK_FAILED_KIND}`,
      subject: job.jobId,
      time: iso(),
      datacontenttype: 'application/json',
      data: { ...JSON.parse(d.body).data, tenantId: job.tenantId, callbackUrl: d.url, requestId: job.requestId, progress: job.progress, attempt: job.attempt, createTime: job.createTime, webhookError: d.lastError, webhookEventId: d.eventId },
    };
    tx.addEvents([ev]);
    return [ev];
  }

  async function attempt(d: WebhookDelivery): Promise<WebhookOutcome> {
    const secrets = d.tenantId === null ? settings.secrets : (settings.tenantSecrets?.[d.tenantId] ?? []);
    // A tenant without secrets (removed since the job was accepted) is never signed for with someone else's.
    const headers = d.tenantId !== null && !secrets.length ? null : signWebhook({ secrets, id: webhookIdFor(d.eventId), timestamp: Math.floor(clock.now().getTime() / 1000), body: d.body });
    let status: number | null = null;
    let latencyMs: number | null = null;
    let error: string | null = null;
    let refused = false;
    try {
      if (!headers) throw Object.assign(new Error(`tenant ${d.tenantId} has no webhookSecrets to sign with`), { retryable: false });
      const res = await sender.post(d.url, d.body, { ...headers, 'content-type': 'application/json', 'user-agent': 'eeport-webhooks/1' });
      status = res.status;
      latencyMs = res.latencyMs;
      if (status < 200 || status >= 300) error = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      refused = (err as { retryable?: boolean }).retryable === false;
    }
    const ok = status !== null && status >= 200 && status < 300;
    const gone = status === 410;
    const attemptsMade = d.attempts + 1;
    const delay = ok || gone || refused ? null : nextRetryDelayMs(attemptsMade, settings.scheduleMs, random);
    const state: WebhookDelivery['state'] = ok ? 'delivered' : delay === null ? 'failed' : 'pending';
    const r = await store.transact(async (tx) => {
      const cur = (await tx.getDelivery(d.eventId)) ?? d;
      const job = await tx.getJob(d.jobId);
      const next: WebhookDelivery = {
        ...cur,
        state,
        attempts: attemptsMade,
        nextAttemptAt: state === 'pending' ? iso(delay ?? 0) : null,
        leaseUntil: null,
        lastStatus: status,
        lastError: error ? (gone ? 'HTTP 410 Gone: endpoint disabled' : refused ? `refused: ${error}` : error).slice(0, 500) : null,
        updateTime: iso(),
      };
      tx.setDelivery(next);
      if (gone) tx.setEndpoint({ url: d.url, disabled: true, reason: `410 Gone on ${iso()} (event ${d.eventId})`, updateTime: iso() });
      const events = job ? recordOnJob(tx, job, next, { at: iso(), eventId: d.eventId, status, latencyMs, error: next.lastError }, gone ? 'disabled' : state) : [];
      return { next, events };
    });
    await relayEvents(deps, r.events);
    logs.webhookAttempt(r.next, status, latencyMs);
    return { kind: ok ? 'delivered' : state === 'failed' ? 'failed' : 'retrying', delivery: r.next, status };
  }

  return {
    /** An event from the events topic. Never throws for a failed delivery: retries are scheduled, not redelivered. */
    async onEvent(ev: CloudEvent): Promise<WebhookOutcome> {
      const why = wanted(ev);
      if (why) return { kind: 'ignored', reason: why };
      const c = await claim(ev, ev.id);
      return 'outcome' in c ? c.outcome : attempt(c.delivery);
    },
    /** Sends the deliveries whose retry time has come; returns how many were attempted. */
    async retryDue(limit = 100): Promise<number> {
      let n = 0;
      for (const due of await store.listDueDeliveries(iso(), limit)) {
        const c = await claim(null, due.eventId);
        if ('outcome' in c) continue;
        await attempt(c.delivery);
        n++;
      }
      return n;
    },
  };
}

export type DeliverWebhook = ReturnType<typeof createDeliverWebhook>;

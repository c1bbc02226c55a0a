import { describe, it, expect, beforeEach } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createDeliverWebhook, webhookIdFor, type WebhookSettings } from '../../functions/src/core/webhooks/deliver-webhook.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { newJob, type Job } from '../../functions/src/core/jobs/job.ts';
import { stateEvent, type CloudEvent } from '../../functions/src/core/jobs/events.ts';
import { intakeBody } from '../../functions/src/core/submit/intake.ts';
import { createSafeHttpClient } from '../../functions/src/adapters/safe-http.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import type { WebhookSender } from '../../functions/src/core/ports.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const URL_OK = 'https://hooks.example.com/eeport';

class ScriptedSender implements WebhookSender {
  calls: { url: string; body: string; headers: Record<string, string> }[] = [];
  answers: (number | Error)[] = [];
  async post(url: string, body: string, headers: Readonly<Record<string, string>>) {
    this.calls.push({ url, body, headers: { ...headers } });
    const a = this.answers.shift() ?? 200;
    if (a instanceof Error) throw a;
    return { status: a, latencyMs: 12 };
  }
}

let store: MemoryStore;
let sender: ScriptedSender;
let publisher: MemoryPublisher;
let now: Date;
const settings: WebhookSettings = { secrets: [SECRET], scheduleMs: [0, 5_000, 300_000], events: 'terminal', leaseMs: 30_000, eventSource: '//eeport/test' };

function svc(over: Partial<WebhookSettings> = {}, s: WebhookSender = sender) {
  return createDeliverWebhook({ store, sender: s, publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()), settings: { ...settings, ...over }, random: () => 0.5 });
}

async function jobWithCallback(state: Job['state'] = 'SUCCEEDED', url = URL_OK, id = 'a'.repeat(32)): Promise<{ job: Job; event: CloudEvent }> {
  const job = { ...newJob({ jobId: id, state, eeProject: 'ee-p', request: null, requestId: 'r', identity: 'x', labels: { team: 'forest' }, callbackUrl: url, source: { kind: 'api' } }, now.toISOString()), operationName: 'projects/ee-p/operations/OP1', destinationUris: ['gs://b/x.tif'] };
  await store.transact(async (tx) => tx.createJob(job));
  return { job, event: stateEvent(job, '//eeport/test')! };
}

beforeEach(() => {
  store = new MemoryStore();
  sender = new ScriptedSender();
  publisher = new MemoryPublisher();
  now = new Date('2026-01-01T00:00:00Z');
});

describe('deliverWebhook (core, with fakes)', () => {
  it('delivers a small signed body that an independent Standard Webhooks verifier accepts', async () => {
    now = new Date();
    const { job, event } = await jobWithCallback();
    const out = await svc().onEvent(event);
    expect(out.kind).toBe('delivered');
    const [call] = sender.calls;
    expect(call!.url).toBe(URL_OK);
    expect(call!.headers['webhook-id']).toBe(webhookIdFor(event.id));
    const verified = new Webhook(SECRET).verify(call!.body, call!.headers) as { type: string; data: Record<string, unknown> };
    expect(verified.type).toBe('dev.eeport.export.v1.succeeded');
    expect(verified.data).toMatchObject({ jobId: job.jobId, state: 'SUCCEEDED', operationName: 'projects/ee-p/operations/OP1', destinationUris: ['gs://b/x.tif'], labels: { team: 'forest' } });
    expect(call!.body.length).toBeLessThan(20_000);
    const after = await store.getJob(job.jobId);
    expect(after!.webhook).toMatchObject({ state: 'delivered', url: URL_OK, attempts: [{ status: 200, latencyMs: 12 }] });
  });

  it('signs with every secret during a rotation', async () => {
    now = new Date();
    const { event } = await jobWithCallback();
    const other = 'whsec_' + Buffer.from('another-secret-of-32-bytes-long!').toString('base64');
    await svc({ secrets: [SECRET, other] }).onEvent(event);
    const { body, headers } = sender.calls[0]!;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(other).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(SECRET).verify(body, headers)).not.toThrow();
  });

  it('a redelivered event is recognised by id and not sent again', async () => {
    const { event } = await jobWithCallback();
    await svc().onEvent(event);
    const again = await svc().onEvent(event);
    expect(again.kind).toBe('duplicate');
    expect(sender.calls).toHaveLength(1);
  });

  it('retries on the schedule over a receiver that fails twice, then succeeds', async () => {
    sender.answers = [500, Object.assign(new Error('socket hang up'), { retryable: true }), 204];
    const { job, event } = await jobWithCallback();
    expect((await svc().onEvent(event)).kind).toBe('retrying');
    expect(await svc().retryDue()).toBe(0); // not due yet
    now = new Date(now.getTime() + 5_500);
    expect(await svc().retryDue()).toBe(1);
    now = new Date(now.getTime() + 300_000 * 1.1);
    expect(await svc().retryDue()).toBe(1);
    expect(sender.calls).toHaveLength(3);
    expect(new Set(sender.calls.map((c) => c.headers['webhook-id']))).toEqual(new Set([webhookIdFor(event.id)]));
    const after = await store.getJob(job.jobId);
    expect(after!.webhook!.state).toBe('delivered');
    expect(after!.webhook!.attempts.map((a) => a.status)).toEqual([500, null, 204]);
    expect(store.deliveries.get(event.id)!.state).toBe('delivered');
  });

  it('a redirect is a failed attempt (not followed); an exhausted schedule fails for good with a webhook_failed event', async () => {
    sender.answers = [302, 503, 503];
    const { job, event } = await jobWithCallback();
    await svc().onEvent(event);
    for (let i = 0; i < 3; i++) {
      now = new Date(now.getTime() + 400_000);
      await svc().retryDue();
    }
    expect(sender.calls).toHaveLength(3);
    expect(store.deliveries.get(event.id)).toMatchObject({ state: 'failed', attempts: 3 });
    const after = await store.getJob(job.jobId);
    expect(after!.webhook!.state).toBe('failed');
    expect(after!.webhook!.attempts[0]!.error).toMatch(/redirects are not followed/);
    expect(publisher.published.map((e) => e.type)).toEqual(['dev.eeport.export.v1.webhook_failed']);
  });

  it('410 Gone disables the endpoint: later events for it are not sent', async () => {
    sender.answers = [410];
    const { event } = await jobWithCallback();
    expect((await svc().onEvent(event)).kind).toBe('failed');
    expect([...store.endpoints.values()][0]).toMatchObject({ disabled: true });
    const second = await jobWithCallback('FAILED', URL_OK, 'b'.repeat(32));
    expect((await svc().onEvent(second.event)).kind).toBe('failed');
    expect(sender.calls).toHaveLength(1);
    expect((await store.getJob('b'.repeat(32)))!.webhook!.state).toBe('disabled');
  });

  it('only terminal events call back by default; all of them with WEBHOOK_EVENTS=all', async () => {
    const { event } = await jobWithCallback('RUNNING');
    expect((await svc().onEvent(event)).kind).toBe('ignored');
    expect((await svc({ events: 'all' }).onEvent(event)).kind).toBe('delivered');
  });

  it('a hostname that resolves to 127.0.0.1 is refused at delivery, failed for good, never retried', async () => {
    const safe = createSafeHttpClient({ allowHttp: false, allowLoopback: false, lookup: async () => [{ address: '127.0.0.1' }] });
    const { job, event } = await jobWithCallback('SUCCEEDED', 'https://innocent-looking.example.com/hook');
    const out = await svc({}, safe).onEvent(event);
    expect(out.kind).toBe('failed');
    expect(store.deliveries.get(event.id)!.lastError).toMatch(/refused.*127\.0\.0\.1.*loopback/);
    expect((await store.getJob(job.jobId))!.webhook!.state).toBe('failed');
    now = new Date(now.getTime() + 86_400_000);
    expect(await svc({}, safe).retryDue()).toBe(0);
  });
});

describe('callback URL check at registration', () => {
  const policy = { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 };
  const BLOCKED = [
    'https://127.0.0.1/x',
    'https://127.8.9.10/x',
    'https://[::1]/x',
    'https://10.1.2.3/x',
    'https://172.16.0.1/x',
    'https://172.31.255.255/x',
    'https://192.168.1.1/x',
    'https://[fc00::1]/x',
    'https://[fd12:3456::1]/x',
    'https://169.254.169.254/computeMetadata/v1/',
    'https://[fe80::1]/x',
    'https://100.64.0.1/x',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://[::ffff:127.0.0.1]/x',
    'https://[64:ff9b::7f00:1]/x',
    'https://2130706433/x',
    'https://0177.0.0.1/x',
    'https://0x7f.1/x',
    'https://localhost/x',
    'http://hooks.example.com/x',
  ];
  it.each(BLOCKED)('refuses %s', (url) => {
    const r = intakeBody(assetLoadRequest(), { callbackUrl: url }, [], policy, { kind: 'api' }, { kind: 'random', value: '1' }, null);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.some((e) => e.path === 'callbackUrl' && /refused/.test(e.message))).toBe(true);
  });
  it('accepts a public https URL, and loopback http only when configured', () => {
    expect(intakeBody(assetLoadRequest(), { callbackUrl: 'https://hooks.example.com/x' }, [], policy, { kind: 'api' }, { kind: 'random', value: '1' }, null).ok).toBe(true);
    const local = { ...policy, callbackPolicy: { allowHttp: true, allowLoopback: true } };
    expect(intakeBody(assetLoadRequest(), { callbackUrl: 'http://127.0.0.1:9999/hook' }, [], local, { kind: 'api' }, { kind: 'random', value: '1' }, null).ok).toBe(true);
    expect(intakeBody(assetLoadRequest(), { callbackUrl: 'http://10.0.0.1/hook' }, [], local, { kind: 'api' }, { kind: 'random', value: '1' }, null).ok).toBe(false);
  });
});

describe('deliverWebhook: a claimant that dies', () => {
  it('is taken over by the sweep once its lease ends (a redelivery inside the lease is answered busy)', async () => {
    store = new MemoryStore();
    publisher = new MemoryPublisher();
    now = new Date('2026-01-01T00:00:00Z');
    const dying: WebhookSender = { post: () => new Promise(() => undefined) }; // never answers: the process died mid-send
    const { event } = await jobWithCallback();
    void svc({}, dying).onEvent(event);
    await new Promise((r) => setTimeout(r, 10));
    sender = new ScriptedSender();
    expect((await svc().onEvent(event)).kind).toBe('busy');
    expect(await svc().retryDue()).toBe(0);
    now = new Date(now.getTime() + settings.leaseMs + 1);
    expect(await svc().retryDue()).toBe(1);
    expect(sender.calls).toHaveLength(1);
    expect(store.deliveries.get(event.id)!.state).toBe('delivered');
  });
});

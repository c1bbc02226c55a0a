/**
 * Webhooks end to end: a job with a callback URL finishes; the events topic feeds
 * deliverWebhook; a local receiver (loopback, allowed by explicit test settings only)
 * gets signed calls, failing on demand; the poller's sweep sends the retries.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import '../../functions/src/entry/deliver-webhook.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';

const emu = emulatorsOrSkip('webhooks integration');
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe.skipIf(!emu)('deliverWebhook (emulators + simulator + local receiver)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let receiver: Server;
  let receiverUrl: string;
  const received: { path: string; body: string; headers: Record<string, string> }[] = [];
  const answers = new Map<string, number[]>();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ path: req.url!, body, headers: req.headers as Record<string, string> });
        const queue = answers.get(req.url!) ?? [];
        res.writeHead(queue.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    sim = await startSimulator({ clock: { mode: 'manual' } });
    stack = await startTestStack(
      testConfig(emu!, sim.url, {
        POLL_WINDOW_SECONDS: '0',
        POLL_AUTH_DISABLED: 'true',
        WEBHOOK_SECRETS: SECRET,
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOW_LOOPBACK: 'true',
        WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,0.3,0.3',
      }),
    );
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
    await new Promise((r) => receiver?.close(r));
  });

  const job = async (id: string) => (await stack.firestore.collection('jobs').doc(id).get()).data() as Job;
  const poll = async () => expect((await stack.http('pollExports', '', { method: 'POST' })).status).toBe(200);
  /** Feeds every event on the topic to deliverWebhook, as the push subscription would. */
  const pump = async () => {
    for (const ev of await stack.drainEvents()) expect(await stack.deliverOnce('deliverWebhook', pushMessage(ev))).toBe(204);
  };

  async function runJob(path: string) {
    await stack.deliverUntilAcked('submitExport', pushMessage({ request: assetLoadRequest(), callbackUrl: `${receiverUrl}${path}` }));
    const [doc] = (await stack.firestore.collection('jobs').where('callbackUrl', '==', `${receiverUrl}${path}`).get()).docs;
    sim.clock.advance(200_000);
    await poll();
    await pump();
    return doc!.id;
  }

  it('calls back once on success, signed, verified by an independent library; retries a receiver that fails twice', async () => {
    answers.set('/flaky', [500, 503]);
    const jobId = await runJob('/flaky');
    expect(received.filter((r) => r.path === '/flaky')).toHaveLength(1);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 400));
      await poll();
    }
    const calls = received.filter((r) => r.path === '/flaky');
    expect(calls).toHaveLength(3);
    for (const c of calls) {
      const payload = new Webhook(SECRET).verify(c.body, c.headers) as { type: string; data: { jobId: string; state: string } };
      expect(payload).toMatchObject({ type: 'dev.eeport.export.v1.succeeded', data: { jobId, state: 'SUCCEEDED' } });
    }
    expect(new Set(calls.map((c) => c.headers['webhook-id'])).size).toBe(1);
    const after = await job(jobId);
    expect(after.webhook!.state).toBe('delivered');
    expect(after.webhook!.attempts.map((a) => a.status)).toEqual([500, 503, 200]);
    // The same event pushed again is recognised and not sent again.
    await pump();
    await poll();
    expect(received.filter((r) => r.path === '/flaky')).toHaveLength(3);
  });

  it('a batch calls back once, when its last child ends, through the same push path; its children call none', async () => {
    const path = '/batch-done';
    const batch = { batchId: `wb-${Date.now()}`, requests: [assetLoadRequest('projects/p/assets/a'), assetLoadRequest('projects/p/assets/b')], callbackUrl: `${receiverUrl}${path}` };
    await stack.deliverUntilAcked('submitExport', pushMessage({ batch }));
    for (let round = 0; round < 6 && !received.some((r) => r.path === path); round++) {
      await poll(); // releases the children, then follows them
      sim.clock.advance(200_000);
      await poll();
      await pump();
    }
    const calls = received.filter((r) => r.path === path);
    expect(calls).toHaveLength(1);
    const payload = new Webhook(SECRET).verify(calls[0]!.body, calls[0]!.headers) as { type: string; data: { batchId: string; state: string; total: number } };
    expect(payload).toMatchObject({ type: 'dev.eeport.batch.v1.succeeded', data: { state: 'SUCCEEDED', total: 2 } });
    expect(payload.data.batchId).toMatch(/^[0-9a-f]{32}$/);
    await pump();
    await poll();
    expect(received.filter((r) => r.path === path)).toHaveLength(1);
  });

  it('410 Gone disables the endpoint and records the failure, with a webhook_failed event', async () => {
    answers.set('/gone', [410]);
    const first = await runJob('/gone');
    const events = await stack.drainEvents();
    expect(events.map((e) => e.type)).toContain('dev.eeport.export.v1.webhook_failed');
    expect((await job(first)).webhook!.state).toBe('disabled');
    const second = await runJob('/gone');
    expect(received.filter((r) => r.path === '/gone')).toHaveLength(1);
    expect((await job(second)).webhook!.state).toBe('disabled');
  });
});

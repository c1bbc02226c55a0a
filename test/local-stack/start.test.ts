/**
 * The local stack end to end: the demo's exports reach SUCCEEDED / FAILED / CANCELLED as
 * scripted with verified webhooks, the push relay redelivers and dead-letters on the
 * real Pub/Sub emulator, and everything the stack started is gone afterwards (servers
 * closed, emulator process groups ended). The in-process fallback is always tested;
 * the emulator runs are skipped, saying why, where the emulators are missing.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { candidateSdkRoots, locateEmulator } from '../../tools/emulators/emulators.ts';
import { processGroupAlive as groupAlive, startLocalStack, type LocalStack } from '../../tools/local-stack/stack.ts';
import { runDemo } from '../../tools/local-stack/demo.ts';
import { messagePublishedFormat, startPushRelay, type DeliveryReport } from '../../tools/local-stack/push-relay.ts';
import type { ReceivedMessage } from '../../tools/local-stack/broker.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'eeport-local-stack-'));
  dirs.push(d);
  return d;
};
let child: ChildProcess | undefined;
afterAll(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const roots = candidateSdkRoots();
const missing = (['firestore', 'pubsub'] as const).map((k) => locateEmulator(k, roots)).flatMap((l) => ('missing' in l ? [l.missing] : []));
if (missing.length) console.warn(`SKIPPING the local stack's emulator runs (the in-process fallback is still tested): ${missing.join('; ')}`);


async function unreachable(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return false;
  } catch {
    return true;
  }
}

function expectDemoPassed(result: Awaited<ReturnType<typeof runDemo>>) {
  expect(result.problems).toEqual([]);
  expect(Object.fromEntries(result.jobs.map((j) => [j.label, j.final]))).toEqual({
    'asset-export': 'SUCCEEDED',
    'failing-export': 'FAILED',
    'cancelled-export': 'CANCELLED',
    'geotiff-upload': 'SUCCEEDED',
  });
  for (const j of result.jobs) {
    expect(j.webhook, j.label).not.toBeNull();
    expect(j.webhook!.verified).toBe(true);
    expect(j.webhook!.payload?.data?.jobId).toBe(j.jobId);
    expect(j.webhook!.payload?.type).toBe(`dev.eeport.export.v1.${j.expected.toLowerCase()}`);
  }
}

describe('local stack, in-process fallback', () => {
  it('falls back when the emulators are missing, runs the demo to its scripted ends with signed webhooks, and stops everything', async () => {
    const lines: string[] = [];
    // An SDK root without the emulators: the stack must say why and carry on in-process.
    const stack = await startLocalStack({ mode: 'auto', sdkRoots: [tmp()], ports: 'free', stateDir: tmp(), print: (l) => lines.push(l) });
    let stopped = false;
    try {
      expect(stack.mode).toBe('in-memory');
      expect(stack.fallbackReason).toMatch(/firestore emulator not found/);
      expect(stack.emulators).toEqual([]);
      expect(lines.join('\n')).toMatch(/IN-PROCESS MODE[^]*firestore emulator not found/);
      expect(stack.table()).toMatch(/Job store \(IN-MEMORY\)/);
      expect([...stack.functions.keys()]).toEqual(expect.arrayContaining(['submitExport', 'pollExports', 'deliverWebhook']));
      const result = await runDemo(stack, { timeoutMs: 40_000, print: (l) => lines.push(l) });
      expectDemoPassed(result);
      // The printed publish command works against the in-memory stand-in too.
      const cmd = stack.rows().find((r) => r.service.startsWith('topic eeport-requests'))!.how[0]!;
      expect(cmd).toContain(`/v1/projects/eeport-local/topics/eeport-requests:publish`);
      const urls = [...stack.functions.values()].map((f) => f.url).concat(stack.receiver.url, stack.simulator.url);
      await stack.stop();
      stopped = true;
      for (const u of urls) expect(await unreachable(u), u).toBe(true);
    } finally {
      if (!stopped) await stack.stop();
    }
  }, 60_000);
});

describe.skipIf(missing.length > 0)('local stack with the emulators', () => {
  it('redelivers and dead-letters through the real Pub/Sub emulator; runs the demo; stops the emulator processes', async () => {
    const lines: string[] = [];
    const stateDir = tmp();
    const stack: LocalStack = await startLocalStack({ mode: 'emulators', ports: 'free', stateDir, print: (l) => lines.push(l), relay: { maxAttempts: 3, minBackoffMs: 1_000, maxBackoffMs: 1_000 } });
    const pids = stack.emulators.map((e) => e.pid);
    let stopped = false;
    try {
      expect(stack.mode).toBe('emulators');
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(stack.table()).toContain(`(pid ${pid})`);

      // A function that fails twice, then accepts: the emulator hands the message back after the backoff.
      const statuses = [500, 502];
      const seen: { id: string; attempt: number }[] = [];
      const server = createServer((req, res) => {
        let raw = '';
        req.on('data', (c: Buffer) => (raw += c.toString()));
        req.on('end', () => {
          seen.push({ id: String(req.headers['ce-id']), attempt: (JSON.parse(raw) as { deliveryAttempt: number }).deliveryAttempt });
          res.writeHead(statuses.shift() ?? (raw.includes('cG9pc29u') ? 500 : 204)).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await stack.broker.ensureTopic('relay-check');
      await stack.broker.ensureSubscription('relay-check-fn', 'relay-check', 30);
      const reports: DeliveryReport[] = [];
      const relay = startPushRelay({
        subscription: stack.broker.subscription('relay-check-fn'),
        target: url,
        format: messagePublishedFormat('eeport-local', 'relay-check', 'relay-check-fn'),
        maxAttempts: 3,
        minBackoffMs: 1_000,
        maxBackoffMs: 1_000,
        idlePollMs: 50,
        deadLetter: async (dl) => {
          // Through the stack's dead-letter topic, as its own relays do.
          await stack.broker.publish('eeport-dead-letter', { data: Buffer.from(dl.message.data ?? '', 'base64'), attributes: { CloudPubSubDeadLetterSourceDeliveryCount: String(dl.attempts) } });
        },
        onDelivery: (r) => reports.push(r),
      });
      const good = await stack.broker.publish('relay-check', { data: 'fine' });
      const poison = await stack.broker.publish('relay-check', { data: 'poison' });

      // Meanwhile, the demo on the real emulators.
      const result = await runDemo(stack, { timeoutMs: 45_000, print: (l) => lines.push(l) });
      expectDemoPassed(result);

      const end = Date.now() + 15_000;
      while (!(reports.some((r) => r.messageId === good && r.outcome === 'acked') && reports.some((r) => r.messageId === poison && r.outcome === 'dead-lettered')) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await relay.stop();
      await new Promise((r) => server.close(r));
      const forGood = reports.filter((r) => r.messageId === good);
      const forPoison = reports.filter((r) => r.messageId === poison);
      expect(forGood.at(-1)?.outcome).toBe('acked');
      expect(forPoison.map((r) => r.outcome)).toEqual(['retry', 'retry', 'dead-lettered']);
      expect(seen.filter((s) => s.id === poison).map((s) => s.attempt)).toEqual([1, 2, 3]);
      const dlq: ReceivedMessage[] = await stack.broker.subscription('eeport-dead-letter-inspect').pull(10);
      expect(dlq.map((m) => Buffer.from(m.message.data ?? '', 'base64').toString())).toContain('poison');

      await stack.stop();
      stopped = true;
      for (const pid of pids) expect(groupAlive(pid), `emulator process group ${pid}`).toBe(false);
      expect(readFileSync(join(stateDir, 'functions.log'), 'utf8')).toMatch(/"event":"export.submitted"/);
    } finally {
      if (!stopped) await stack.stop();
    }
  }, 60_000);

  it('`npm start -- --demo-only` exits 0 after the demo, leaving no emulator running', async () => {
    const out: string[] = [];
    child = spawn(process.execPath, ['--import', 'tsx', 'tools/local-stack/start.ts', '--demo-only', '--free-ports', '--state-dir', tmp(), '--sim-duplicate-request-id', 'return-existing', '--sim-queue-full-status', '503'], {
      cwd: ROOT,
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
    const text = out.join('');
    expect(code, text).toBe(0);
    expect(text).toMatch(/Firestore emulator/);
    expect(text).toMatch(/all 4 scripted jobs ended as expected/);
    // The simulator options reached the simulator.
    expect(text).toMatch(/repeated requestId → the existing operation; queue full → HTTP 503/);
    for (const label of ['asset-export', 'failing-export', 'cancelled-export', 'geotiff-upload']) expect(text).toMatch(new RegExp(`\\[webhook\\] POST /hooks/(${label}|uploads) .*signature verified`));
    const pids = [...text.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(groupAlive(pid), `emulator process group ${pid}`).toBe(false);
  }, 60_000);
});

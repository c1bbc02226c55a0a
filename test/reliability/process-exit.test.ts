/**
 * Crash points with a real death: the function runs in a child process
 * (lib/function-child.ts) that calls process.exit(137) at the injected step — no
 * finally blocks, no error handling, open sockets cut. The next instance (this
 * process's stack) takes the redeliveries and the polls; the invariants must hold.
 * Reduced mode exits at three steps; full mode at every step of submit, poll, relay,
 * cancel and webhook delivery.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import '../../functions/src/entry/deliver-webhook.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { FULL, banner } from './lib/mode.ts';
import { World, message, request, type PushMessage } from './lib/world.ts';
import { Receiver } from './lib/receiver.ts';
import { startFunctionChild } from './lib/child.ts';
import type { ChildCrash } from './lib/function-child.ts';

const emu = emulatorsOrSkip('reliability: process exit');

interface Scenario {
  crash: ChildCrash;
  /** Runs before the child starts (submissions, clock moves). */
  setup(w: World, r: Receiver): Promise<{ msgs: PushMessage[]; target?: string; poll?: boolean }>;
  env?: Record<string, string>;
  expect: Record<string, number>;
  /** The relay died after publishing: the same ids come again. */
  duplicates?: number;
  reduced?: boolean;
  webhooks?: boolean;
}

const WEBHOOK_ENV = { WEBHOOK_SECRETS: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,1,1' };

const one = async (w: World, attrs: Record<string, string> = {}) => ({ msgs: [message(request(0), attrs)] });
const submitted = async (w: World, n: number, attrs: Record<string, string> = {}) => {
  const msgs = Array.from({ length: n }, (_, i) => message(request(i), attrs));
  for (const m of msgs) await w.deliverUntilAcked(m);
  return msgs;
};
/** A job with a callback that has finished; the child gets its succeeded event. */
const finishedWithCallback = async (w: World, r: Receiver) => {
  await submitted(w, 1, { callbackUrl: `${r.url}/hook` });
  w.sim.clock.advance(200_000);
  expect((await w.poll()).status).toBe(200);
  const ev = (await w.collect()).find((e) => e.type.endsWith('.succeeded'))!;
  w.holdEvents([ev.id]);
  return { msgs: [w.eventMessage(ev.id)], target: 'deliverWebhook' };
};

const SCENARIOS: Scenario[] = [
  { crash: { at: 'tx-after-commit', step: 'submit:after-intake', tx: 'intakeSubmitting' }, setup: (w) => one(w), expect: { SUCCEEDED: 1 } },
  { crash: { at: 'ee-after', step: 'submit:after-export', method: 'exportImage' }, setup: (w) => one(w), expect: { SUCCEEDED: 1 }, reduced: true },
  { crash: { at: 'tx-after-commit', step: 'submit:after-record', tx: 'record' }, setup: (w) => one(w), expect: { SUCCEEDED: 1 } },
  { crash: { at: 'publish-after', step: 'relay:after-publish' }, setup: (w) => one(w), expect: { SUCCEEDED: 1 }, duplicates: 1, reduced: true },
  {
    crash: { at: 'tx-after-commit', step: 'poll:after-apply', tx: 'applyChange' },
    setup: async (w) => {
      await submitted(w, 2);
      w.sim.clock.advance(30_000);
      return { msgs: [], poll: true };
    },
    expect: { SUCCEEDED: 2 },
    reduced: true,
  },
  {
    crash: { at: 'tx-after-commit', step: 'poll:after-release', tx: 'release' },
    env: { MAX_IN_FLIGHT_PER_PROJECT: '1' },
    setup: async (w) => {
      await submitted(w, 2);
      w.sim.clock.advance(70_000);
      return { msgs: [], poll: true };
    },
    expect: { SUCCEEDED: 2 },
  },
  {
    crash: { at: 'ee-after', step: 'poll:release-after-export', method: 'exportImage' },
    env: { MAX_IN_FLIGHT_PER_PROJECT: '1' },
    setup: async (w) => {
      await submitted(w, 2);
      w.sim.clock.advance(70_000);
      return { msgs: [], poll: true };
    },
    expect: { SUCCEEDED: 2 },
  },
  {
    crash: { at: 'tx-after-commit', step: 'poll:mid-cycle', tx: 'applyChange', skip: 2 },
    setup: async (w) => {
      await submitted(w, 4);
      w.sim.clock.advance(200_000);
      return { msgs: [], poll: true };
    },
    expect: { SUCCEEDED: 4 },
  },
  {
    crash: { at: 'tx-after-commit', step: 'cancel:after-mark', tx: 'cancelMark' },
    setup: async (w) => {
      await submitted(w, 1, { idempotencyKey: 'exit-cancel' });
      return { msgs: [message('', { action: 'cancel', idempotencyKey: 'exit-cancel' })] };
    },
    expect: { CANCELLED: 1 },
  },
  { crash: { at: 'tx-after-commit', step: 'webhook:after-claim', tx: 'webhookClaim' }, env: WEBHOOK_ENV, setup: (w, r) => finishedWithCallback(w, r), expect: { SUCCEEDED: 1 }, webhooks: true },
  { crash: { at: 'send-after', step: 'webhook:after-send' }, env: WEBHOOK_ENV, setup: (w, r) => finishedWithCallback(w, r), expect: { SUCCEEDED: 1 }, webhooks: true },
  { crash: { at: 'tx-after-commit', step: 'webhook:after-record', tx: 'webhookRecord' }, env: WEBHOOK_ENV, setup: (w, r) => finishedWithCallback(w, r), expect: { SUCCEEDED: 1 }, webhooks: true },
];

const RUN = FULL ? SCENARIOS : SCENARIOS.filter((s) => s.reduced);

describe.skipIf(!emu)('process exit: a child process serving the function dies at each step', () => {
  const world = new World(emu!);
  const receiver = new Receiver();

  beforeAll(async () => {
    banner('process exit (child process, process.exit(137))', { steps: RUN.map((s) => s.crash.step) }, null);
    await receiver.start();
  });
  afterAll(async () => {
    await world.close();
    await receiver.close();
  });

  for (const s of RUN) {
    it(`dies at ${s.crash.step} (exit 137); the next instance converges`, async () => {
      receiver.reset();
      await world.start({ env: s.env ?? {} });
      const { msgs, target = 'submitExport', poll } = await s.setup(world, receiver);
      const child = await startFunctionChild(world.env, s.crash, world.clock.skewMs, world.config);
      try {
        const status = poll ? await child.poll() : await child.deliver(target, msgs[0]!);
        expect(status, `the child answered instead of dying; its stderr:\n${child.stderr()}`).toBe(0);
        const { code } = await child.exited;
        expect(code).toBe(137);
        expect(child.stderr()).toContain(`exiting at ${s.crash.step}`);
      } finally {
        await child.stop();
      }
      // The next instance: Pub/Sub redelivers what was never acknowledged; the scheduler polls on.
      world.clock.advance(31_000);
      for (const m of msgs) await world.deliverUntilAcked(m, { target });
      await world.settle({ webhooks: s.webhooks ?? false, simStepMs: s.crash.step.startsWith('cancel') ? 1_000 : 70_000 });
      const report = await world.check({ allowDuplicateEvents: (s.duplicates ?? 0) > 0 });
      expect(report.stats.byState).toEqual(s.expect);
      expect(report.stats.duplicateEvents).toBe(s.duplicates ?? 0);
      if (s.webhooks) {
        const job = (await world.jobs())[0]!;
        expect(job.webhook?.state).toBe('delivered');
        // After a death between sending and recording the call is repeated (same webhook-id); otherwise once.
        expect(receiver.calls.length).toBe(s.crash.step === 'webhook:after-send' ? 2 : 1);
        expect(new Set(receiver.calls.map((c) => c.webhookId)).size).toBe(1);
      }
    });
  }
});

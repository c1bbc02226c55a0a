/**
 * Crash points (in process): the handler is killed at each step of submit, poll, the
 * outbox relay, cancel and webhook delivery (lib/crash.ts — from the crash on, nothing
 * the dead invocation does reaches Firestore, Pub/Sub, Earth Engine or the receiver).
 * Then Pub/Sub redelivers (or gives up) and the poller runs until nothing is left; the
 * invariants (lib/invariants.ts) must hold: each job in the right terminal state, one
 * task per requestId, one event per transition (copies of one id only after a relay
 * crash), slot counters exact. The same steps with a real process exit are in
 * process-exit.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import '../../functions/src/entry/deliver-webhook.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { TX, type CrashSpec } from './lib/crash.ts';
import { banner, size } from './lib/mode.ts';
import { World, message, request, type PushMessage, DUPLICATE_REQUEST_ID_MODES } from './lib/world.ts';
import { Receiver } from './lib/receiver.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';

const emu = emulatorsOrSkip('reliability: crash points');
const JOBS = size(1, 3);

describe.skipIf(!emu).each(DUPLICATE_REQUEST_ID_MODES)('crash points: kill the handler at each step, then recover (repeated requestId: %s)', (duplicateMode) => {
  const world = new World(emu!, duplicateMode);
  const receiver = new Receiver();
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  beforeAll(async () => {
    banner('crash points (in-process kill)', { jobsPerScenario: JOBS });
    await receiver.start();
  });
  afterAll(async () => {
    await world.close();
    await receiver.close();
  });

  const submitAll = async (n: number, attrs: (i: number) => Record<string, string> = () => ({})): Promise<PushMessage[]> => {
    const msgs = Array.from({ length: n }, (_, i) => message(request(i), attrs(i)));
    for (const m of msgs) await world.deliverUntilAcked(m);
    return msgs;
  };

  /** Delivers each message once with the crash armed: exactly one delivery dies at the step. */
  async function crashDuring(spec: CrashSpec, act: () => Promise<unknown>): Promise<void> {
    world.crash.arm(spec);
    await act();
    expect(world.crash.fired, `the crash at ${spec.step} never fired`).toContain(spec.step);
    expect(world.crash.isArmed).toBe(false);
    world.crash.revive();
  }

  // ---- submit ---------------------------------------------------------------------------

  const submitSteps: { name: string; spec: CrashSpec; tasksAfterCrash: number; stateAfterCrash: string }[] = [
    { name: 'after the intake transaction', spec: { at: 'tx-after-commit', step: 'submit:after-intake', match: TX.intakeSubmitting }, tasksAfterCrash: 0, stateAfterCrash: 'SUBMITTING' },
    { name: 'after image:export, before the record transaction', spec: { at: 'ee-after', step: 'submit:after-export', method: 'exportImage' }, tasksAfterCrash: 1, stateAfterCrash: 'SUBMITTING' },
    { name: 'inside the record transaction, before it commits', spec: { at: 'tx-before-commit', step: 'submit:record-uncommitted', match: TX.record }, tasksAfterCrash: 1, stateAfterCrash: 'SUBMITTING' },
    { name: 'after the record transaction, before the relay', spec: { at: 'tx-after-commit', step: 'submit:after-record', match: TX.record }, tasksAfterCrash: 1, stateAfterCrash: 'PENDING' },
  ];

  for (const step of submitSteps) {
    for (const recovery of ['Pub/Sub redelivers', 'Pub/Sub gives up; the poller recovers'] as const) {
      it(`submit dies ${step.name}; ${recovery}: one task per job, one event per transition`, async () => {
        await world.start();
        const msgs = Array.from({ length: JOBS }, (_, i) => message(request(i)));
        for (const m of msgs) {
          const before = world.sim.stats().tasksStarted;
          await crashDuring({ ...step.spec }, async () => expect(await world.deliver(m)).not.toBe(204));
          expect(world.sim.stats().tasksStarted - before).toBe(step.tasksAfterCrash);
        }
        for (const j of await world.jobs()) expect(j.state).toBe(step.stateAfterCrash);
        if (recovery === 'Pub/Sub redelivers') for (const m of msgs) await world.deliverUntilAcked(m);
        await world.settle();
        const report = await world.check();
        expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS });
        expect(world.sim.stats().tasksStarted).toBe(JOBS);
      });
    }
  }

  // Regression test for a defect this suite found (fixed: submit-export.ts dispatch() now applies the
  // same failure classification as the poller, and the failed task gets its `submitted` event): a submit
  // recovered after a crash found its task already failed for a transient reason and ended the job
  // FAILED, without the resubmission README promises.
  it('a transient task failure first seen by a recovered submit is resubmitted, with one submitted event per task', async () => {
    await world.start();
    world.sim.faults.inject({ kind: 'task-failure', match: { description: '^rel-' }, times: 1, atProgress: 0.1, code: 13, message: 'An internal error has occurred.' });
    const m = message(request(0));
    await crashDuring({ at: 'ee-after', step: 'submit:after-export', method: 'exportImage' }, async () => expect(await world.deliver(m)).toBe(0));
    world.sim.clock.advance(70_000); // the task fails (transient) before anyone records it
    expect(world.sim.tasks().map((t) => t.state)).toEqual(['FAILED']);
    await world.deliverUntilAcked(m);
    await world.settle();
    // The design: resubmitted with eeport-{jobId}-r1, which succeeds; two tasks, one job SUCCEEDED.
    await world.check();
    expect((await world.jobs()).map((j) => [j.state, j.resubmissions])).toEqual([['SUCCEEDED', 1]]);
  });

  it('the relay dies after publishing, before marking sent: the sweep publishes the same ids again (dedupable), nothing missing', async () => {
    await world.start();
    for (let i = 0; i < JOBS; i++) {
      const m = message(request(i));
      await crashDuring({ at: 'publish-after', step: 'relay:after-publish' }, async () => expect(await world.deliver(m)).toBe(0));
      await world.deliverUntilAcked(m);
    }
    await world.settle();
    const report = await world.check({ allowDuplicateEvents: true });
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS });
    // The design's one source of duplicates: an event published, then republished under the same id.
    expect(report.stats.duplicateEvents).toBe(JOBS);
  });

  it('a queued job whose intake committed but whose delivery died: no task until released, then exactly one', async () => {
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '1' } });
    await submitAll(1);
    const m = message(request('queued'));
    await crashDuring({ at: 'tx-after-commit', step: 'submit:after-intake(queued)', match: TX.intake }, async () => expect(await world.deliver(m)).toBe(0));
    expect((await world.jobs()).map((j) => j.state).sort()).toEqual(['PENDING', 'QUEUED']);
    await world.deliverUntilAcked(m);
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: 2 });
  });

  // ---- poll -----------------------------------------------------------------------------

  it('poll dies after applyOperation committed, before the relay: the next poller relays, no transition lost', async () => {
    await world.start();
    await submitAll(JOBS + 1);
    world.sim.clock.advance(30_000);
    await crashDuring({ at: 'tx-after-commit', step: 'poll:after-apply', match: TX.applyChange }, async () => expect((await world.poll()).status).not.toBe(200));
    // The dead poller still holds the lease: a poller now stands aside.
    const busy = await world.poll();
    expect(busy.body?.kind).toBe('busy');
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS + 1 });
  });

  it('poll dies mid-release (QUEUED → SUBMITTING committed, image:export not sent): the job is submitted once, later', async () => {
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '1' } });
    await submitAll(JOBS + 1);
    world.sim.clock.advance(70_000);
    await crashDuring({ at: 'tx-after-commit', step: 'poll:after-release', match: TX.release }, async () => expect((await world.poll()).status).not.toBe(200));
    expect((await world.jobs()).filter((j) => j.state === 'SUBMITTING')).toHaveLength(1);
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS + 1 });
    expect(world.sim.stats().tasksStarted).toBe(JOBS + 1);
  });

  it('poll dies after a released job’s image:export, before its record: the stale-submit sweep finds the same task', async () => {
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '1' } });
    await submitAll(JOBS + 1);
    world.sim.clock.advance(70_000);
    await crashDuring({ at: 'ee-after', step: 'poll:release-after-export', method: 'exportImage' }, async () => expect((await world.poll()).status).not.toBe(200));
    expect(world.sim.stats().tasksStarted).toBe(2);
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS + 1 });
    expect(world.sim.stats().tasksStarted).toBe(JOBS + 1);
  });

  it('the lease holder dies mid-cycle (after some jobs, before others): the next holder finishes, nothing twice', async () => {
    const n = size(4, 8);
    await world.start({ sim: { maxConcurrentPerProject: n } });
    await submitAll(n);
    world.sim.clock.advance(120_000);
    await crashDuring({ at: 'tx-after-commit', step: 'poll:mid-cycle', match: TX.applyChange, skip: Math.floor(n / 2) }, async () => expect((await world.poll()).status).not.toBe(200));
    const mid = await world.jobs();
    expect(mid.filter((j) => j.state === 'SUCCEEDED').length).toBe(Math.floor(n / 2) + 1);
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: n });
  });

  it('a stalled lease holder that resumes after another took over is fenced: none of its stale writes land', async () => {
    // Poller A stalls inside its Earth Engine reads; its lease runs out; B polls; A resumes with old answers.
    let holding = false;
    const held: (() => void)[] = [];
    const gate = (a: Adapters): Adapters => ({
      ...a,
      ee: {
        ...a.ee,
        getOperation: async (name) => {
          const op = await a.ee.getOperation(name);
          if (holding) await new Promise<void>((r) => held.push(r));
          return op;
        },
      },
    });
    await world.start({ wrap: gate });
    await submitAll(JOBS + 1);
    world.sim.clock.advance(30_000); // RUNNING, as A will see it
    holding = true;
    const a = world.stack.services.pollExports().run();
    for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(held.length).toBeGreaterThan(0);
    holding = false;
    world.clock.advance(31_000); // A's lease (window 0 s + 30 s) has run out
    world.sim.clock.advance(120_000); // everything SUCCEEDED, as B sees it
    expect((await world.poll()).body?.kind).toBe('done');
    const afterB = (await world.jobs()).map((j) => [j.jobId, j.state, j.version]);
    for (const release of held.splice(0)) release();
    const resultA = await a;
    expect(resultA.kind).toBe('done');
    expect(world.logs.some((e) => e.event === 'poll.failed' && JSON.stringify(e).includes('POLL.LEASE_LOST'))).toBe(true);
    // A's RUNNING answers changed nothing B had written.
    expect((await world.jobs()).map((j) => [j.jobId, j.state, j.version])).toEqual(afterB);
    await world.settle();
    const report = await world.check();
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS + 1 });
  });

  it('the outbox sweep dies after publishing, before marking sent: the next sweep republishes the same ids, nothing missing', async () => {
    await world.start();
    const msgs = Array.from({ length: JOBS }, (_, i) => message(request(i)));
    for (const m of msgs) {
      await crashDuring({ at: 'tx-after-commit', step: 'submit:after-record', match: TX.record }, async () => expect(await world.deliver(m)).toBe(0));
    }
    expect((await world.outbox()).filter((o) => !o.sent)).toHaveLength(JOBS);
    await crashDuring({ at: 'publish-after', step: 'relay:sweep-after-publish' }, async () => expect((await world.poll()).status).not.toBe(200));
    for (const m of msgs) await world.deliverUntilAcked(m);
    await world.settle();
    const report = await world.check({ allowDuplicateEvents: true });
    expect(report.stats.byState).toEqual({ SUCCEEDED: JOBS });
    expect(report.stats.duplicateEvents).toBe(JOBS);
  });

  // ---- cancel -----------------------------------------------------------------------------

  it('a cancel dies after marking the job, before operations.cancel: the poller sends the cancel', async () => {
    await world.start();
    const msgs = await submitAll(JOBS, (i) => ({ idempotencyKey: `cancel-me-${i}` }));
    expect(msgs).toHaveLength(JOBS);
    for (let i = 0; i < JOBS; i++) {
      const cancel = message('', { action: 'cancel', idempotencyKey: `cancel-me-${i}` });
      await crashDuring({ at: 'tx-after-commit', step: 'cancel:after-mark', match: TX.cancelMark }, async () => expect(await world.deliver(cancel)).toBe(0));
    }
    // Pub/Sub gives up on the cancel messages; the poller carries the cancels out.
    await world.settle({ simStepMs: 1_000 });
    const report = await world.check();
    expect(report.stats.byState).toEqual({ CANCELLED: JOBS });
  });

  // ---- webhooks ---------------------------------------------------------------------------

  const webhookEnv = {
    WEBHOOK_SECRETS: SECRET,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_RETRY_SCHEDULE_SECONDS: '0,1,1',
  };

  /** Runs JOBS jobs with a callback to `path`/{i} until their terminal events are on the topic. */
  async function jobsWithCallback(path: string): Promise<string[]> {
    receiver.reset();
    await world.start({ env: webhookEnv });
    await submitAll(JOBS, (i) => ({ callbackUrl: `${receiver.url}${path}/${i}` }));
    world.sim.clock.advance(200_000);
    expect((await world.poll()).status).toBe(200);
    const terminal = (await world.collect()).filter((e) => e.type.endsWith('.succeeded'));
    expect(terminal).toHaveLength(JOBS);
    // The test pushes these itself; the subscription's backlog keeps only what it has not acknowledged.
    world.holdEvents(terminal.map((e) => e.id));
    return terminal.map((e) => e.id);
  }

  const pushEvent = (id: string) => world.eventMessage(id);

  /** Pub/Sub redelivering one event until deliverWebhook acknowledges it. */
  const redeliverEvent = (id: string) => world.deliverUntilAcked(pushEvent(id), { target: 'deliverWebhook' });

  it('webhook delivery dies after claiming, before sending; redelivered after the lease: one call, delivered', async () => {
    const ids = await jobsWithCallback('/claim');
    for (const id of ids) {
      await crashDuring({ at: 'tx-after-commit', step: 'webhook:after-claim', match: TX.webhookClaim }, async () => expect(await world.deliver(pushEvent(id), 'deliverWebhook')).toBe(0));
    }
    expect(receiver.calls).toHaveLength(0);
    world.clock.advance(31_000); // the claim's lease (2 × WEBHOOK_TIMEOUT_MS) has run out
    for (const id of ids) await redeliverEvent(id);
    await world.settle({ webhooks: true });
    await world.check();
    expect(receiver.calls.map((c) => c.webhookId).sort()).toEqual(ids.map((id) => `msg_${id.replace(/\./g, '_')}`).sort());
    for (const j of await world.jobs()) expect(j.webhook?.state).toBe('delivered');
  });

  it('webhook delivery dies after sending, before recording: sent again under the same webhook-id (at least once), then delivered', async () => {
    const ids = await jobsWithCallback('/sent');
    for (const id of ids) {
      await crashDuring({ at: 'send-after', step: 'webhook:after-send' }, async () => expect(await world.deliver(pushEvent(id), 'deliverWebhook')).toBe(0));
    }
    world.clock.advance(31_000);
    for (const id of ids) await redeliverEvent(id);
    await world.settle({ webhooks: true });
    await world.check();
    const calls = receiver.calls;
    expect(calls).toHaveLength(2 * JOBS);
    expect(new Set(calls.map((c) => c.webhookId)).size).toBe(JOBS);
    for (const j of await world.jobs()) expect(j.webhook?.state).toBe('delivered');
  });

  it('webhook delivery dies after recording a final failure, before relaying webhook_failed: the sweep relays it, once', async () => {
    const ids = await jobsWithCallback('/gone');
    for (let i = 0; i < JOBS; i++) receiver.answers.set(`/gone/${i}`, [410]);
    for (const id of ids) {
      await crashDuring({ at: 'tx-after-commit', step: 'webhook:after-record', match: TX.webhookRecord }, async () => expect(await world.deliver(pushEvent(id), 'deliverWebhook')).toBe(0));
    }
    for (const id of ids) await redeliverEvent(id);
    await world.settle({ webhooks: true });
    await world.check();
    expect(receiver.calls).toHaveLength(JOBS);
    const failed = world.events.filter((e) => e.type.endsWith('.webhook_failed'));
    expect(failed).toHaveLength(JOBS);
    for (const j of await world.jobs()) expect(j.webhook?.state).toBe('disabled');
  });

  // Regression test for a defect this suite found (fixed: a claim sets nextAttemptAt to the lease's end
  // and the sweep lists 'delivering' deliveries): a redelivery inside a dead claimant's lease was
  // acknowledged as busy, and since the sweep only listed 'pending' deliveries the webhook was never sent.
  it('a webhook redelivered while a dead claimant’s lease is live is answered busy, then sent by the sweep when the lease ends', async () => {
    const ids = await jobsWithCallback('/busy');
    for (const id of ids) {
      await crashDuring({ at: 'tx-after-commit', step: 'webhook:after-claim', match: TX.webhookClaim }, async () => expect(await world.deliver(pushEvent(id), 'deliverWebhook')).toBe(0));
    }
    // Pub/Sub redelivers within the lease: acknowledged at once (busy), so it never comes again.
    for (const id of ids) expect(await redeliverEvent(id)).toEqual([204]);
    for (let round = 0; round < 10; round++) {
      world.clock.advance(31_000);
      world.sim.clock.advance(70_000);
      expect((await world.poll()).status).toBe(200);
      await world.pumpWebhooks();
    }
    // What the design promises: the callback is made (once) and recorded.
    expect(receiver.calls, 'the receiver was never called').toHaveLength(JOBS);
    for (const j of await world.jobs()) expect(j.webhook?.state).toBe('delivered');
  });
});

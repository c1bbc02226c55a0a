/**
 * pollExports end to end: submit through the function, let the simulator's clock run
 * the tasks, poll through the HTTP function, and check jobs and events.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, pushMessage, type TestStack } from '../harness/stack.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { IN_FLIGHT_STATES, isTerminal, type Job } from '../../functions/src/core/jobs/job.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/events.ts';

const emu = emulatorsOrSkip('pollExports integration');

describe.skipIf(!emu)('pollExports (emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let failPublishes = 0;
  const faulty = (a: Adapters): Adapters => ({
    ...a,
    publisher: {
      publish: async (events) => {
        if (failPublishes > 0) {
          failPublishes--;
          throw new Error('process died before publishing (injected)');
        }
        await a.publisher.publish(events);
      },
    },
  });

  async function restart(env: Record<string, string> = {}) {
    await stack?.close();
    await emu!.clear();
    sim?.reset();
    stack = await startTestStack(testConfig(emu!, sim.url, { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true', ...env }), faulty);
  }

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 3, taskDurationMs: 60_000 });
  });
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });
  beforeEach(async () => {
    failPublishes = 0;
    await restart();
  });

  const jobs = async (): Promise<Job[]> => (await stack.firestore.collection('jobs').get()).docs.map((d) => d.data() as Job);
  const poll = async () => {
    const res = await stack.http('pollExports', '', { method: 'POST' });
    expect(res.status).toBe(200);
    return (await res.json()) as { kind: string; totals?: Record<string, number> };
  };
  const submit = async (n: number, make = (i: number) => assetLoadRequest(`projects/p/assets/a${i}`, { description: `job-${i}` })) => {
    for (let i = 0; i < n; i++) await stack.deliverUntilAcked('submitExport', pushMessage(make(i)));
  };
  const eventsByJob = (events: CloudEvent[]) => {
    const m = new Map<string, string[]>();
    for (const e of events) m.set(e.subject, [...(m.get(e.subject) ?? []), e.type.split('.').pop()!]);
    return m;
  };

  it('a batch runs to completion; each job ends SUCCEEDED with exactly its events, no duplicates', async () => {
    await submit(6);
    const events: CloudEvent[] = [];
    for (let step = 0; step < 20 && !(await jobs()).every((j) => isTerminal(j.state)); step++) {
      sim.clock.advance(25_000);
      await poll();
      events.push(...(await stack.drainEvents()));
    }
    const all = await jobs();
    expect(all.every((j) => j.state === 'SUCCEEDED')).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const [jobId, kinds] of eventsByJob(events)) {
      expect(kinds[0], jobId).toBe('submitted');
      expect(kinds.at(-1), jobId).toBe('succeeded');
      expect(kinds.filter((k) => k === 'running').length).toBeLessThanOrEqual(1);
      expect(kinds.length).toBe(new Set(kinds).size);
    }
    for (const j of all) {
      expect(j.progress).toBe(1);
      expect(j.destinationUris.length).toBeGreaterThan(0);
      expect(j.eecuSeconds).toBeGreaterThan(0);
      expect(j.endTime).toBeTruthy();
    }
    // Every slot given back: no job of the project is left in flight (its slots, ADR 0012).
    const inFlight = await stack.firestore.collection('jobs').where('eeProject', '==', 'ee-test-project').where('state', 'in', ['SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING']).count().get();
    expect(inFlight.data().count).toBe(0);
  });

  it('progress and stages are copied while running, and a failing task ends FAILED with its message', async () => {
    sim.faults.inject({ kind: 'task-failure', match: { description: 'doomed' }, atProgress: 0.6, code: 3, message: 'Export too large: specified 1e12 pixels (max: 1e8).' });
    await submit(1, () => assetLoadRequest('projects/p/assets/x', { description: 'doomed' }));
    await submit(1, () => assetLoadRequest('projects/p/assets/y', { description: 'fine' }));
    sim.clock.advance(30_000);
    await poll();
    const mid = (await jobs()).find((j) => j.description === 'fine')!;
    expect(mid.state).toBe('RUNNING');
    expect(mid.progress).toBeGreaterThan(0);
    expect(mid.progress).toBeLessThan(1);
    expect(mid.stages.length).toBeGreaterThan(0);
    sim.clock.advance(60_000);
    await poll();
    const doomed = (await jobs()).find((j) => j.description === 'doomed')!;
    expect(doomed.state).toBe('FAILED');
    expect(doomed.error).toMatchObject({ code: 'EE.TASK_FAILED', message: expect.stringMatching(/Export too large/) });
    const kinds = eventsByJob(await stack.drainEvents()).get(doomed.jobId);
    expect(kinds).toContain('failed');
  });

  it('two pollers at the same instant: one works, the other stands aside; no duplicate event, no lost transition', async () => {
    await submit(4);
    sim.clock.advance(70_000);
    // Slow Earth Engine answers keep the first poller inside its lease while the second arrives.
    sim.faults.inject({ kind: 'latency', ms: 1500, method: 'get', times: 4 });
    const [a, b] = await Promise.all([poll(), poll()]);
    // The emulator serializes the two lease transactions; the loser either finds the lease held (busy)
    // or, if its retry came after the winner finished, runs a second, idle pass. Never both at once.
    expect([a.kind, b.kind]).toContain('done');
    const updated = [a, b].reduce((n, r) => n + (r.totals?.updated ?? 0), 0);
    expect(updated).toBe(4);
    sim.clock.advance(200_000);
    await Promise.all([poll(), poll()]);
    await poll();
    const events = await stack.drainEvents();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const all = await jobs();
    expect(all.every((j) => j.state === 'SUCCEEDED')).toBe(true);
    for (const j of all) expect(eventsByJob(events).get(j.jobId)).toContain('succeeded');
  });

  it('a crash between the state write and the publish still publishes the event, once', async () => {
    await submit(1);
    await stack.drainEvents();
    sim.clock.advance(120_000);
    failPublishes = 1;
    await poll();
    const [job] = await jobs();
    expect(job!.state).toBe('SUCCEEDED');
    expect(await stack.drainEvents()).toHaveLength(0);
    await poll(); // the next cycle sweeps the outbox
    await poll();
    const events = await stack.drainEvents();
    expect(events.map((e) => e.type)).toEqual(['dev.eeport.export.v1.succeeded']);
    expect(events[0]!.id).toBe(`${job!.jobId}.${job!.version}`);
  });

  it('a queue of 50 jobs with cap 5 never exceeds 5 in flight and drains in priority order', async () => {
    await restart({ MAX_IN_FLIGHT_PER_PROJECT: '5' });
    const priorities = Array.from({ length: 50 }, (_, i) => (i * 37) % 10); // 0..9, shuffled
    await submit(50, (i) => assetLoadRequest(`projects/p/assets/q${i}`, { description: `q-${i}`, priority: priorities[i] }));
    /** Each released job with the poll that released it. */
    const releaseOrder: { job: Job; poll: number }[] = [];
    let maxInFlight = 0;
    for (let step = 0; step < 200; step++) {
      const all = await jobs();
      maxInFlight = Math.max(maxInFlight, all.filter((j) => IN_FLIGHT_STATES.has(j.state)).length);
      const simLive = sim.tasks('ee-test-project').filter((t) => !['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.state)).length;
      maxInFlight = Math.max(maxInFlight, simLive);
      if (all.every((j) => isTerminal(j.state))) break;
      sim.clock.advance(30_000);
      await poll();
      for (const j of await jobs()) if (j.submitTime && j.history.some((h) => h.from === 'QUEUED') && !releaseOrder.some((r) => r.job.jobId === j.jobId)) releaseOrder.push({ job: j, poll: step });
    }
    const all = await jobs();
    expect(all.filter((j) => j.state === 'SUCCEEDED')).toHaveLength(50);
    expect(maxInFlight).toBeLessThanOrEqual(5);
    expect(releaseOrder).toHaveLength(45);
    // Released by priority (high first), then age: every job a poll released ranks at or below
    // every job an earlier poll released. Within one poll the claimed group's Earth Engine calls
    // run concurrently (ADR 0017), so their submit times say nothing about order.
    const polls = [...new Set(releaseOrder.map((r) => r.poll))].sort((a, b) => a - b);
    const prios = (poll: number) => releaseOrder.filter((r) => r.poll === poll).map((r) => r.job.priority);
    for (let i = 1; i < polls.length; i++) expect(Math.max(...prios(polls[i]!)), `poll ${polls[i]} after poll ${polls[i - 1]}`).toBeLessThanOrEqual(Math.min(...prios(polls[i - 1]!)));
    expect(polls.length).toBeGreaterThan(1);
  }, 180_000);

  it('operations.list is used when many jobs are live: calls grow with pages, not jobs', async () => {
    await restart({ POLL_GET_THRESHOLD: '5', POLL_LIST_PAGE_SIZE: '10' });
    await submit(25);
    const before = sim.stats().requests;
    sim.clock.advance(10_000);
    const result = await poll();
    const after = sim.stats().requests;
    expect(after.get - before.get).toBe(0);
    expect(after.list - before.list).toBe(3); // 25 operations, 10 a page
    expect(result.totals!.listPages).toBe(3);
    expect((await jobs()).filter((j) => j.state === 'RUNNING')).toHaveLength(3);
  });

  it('a job Earth Engine no longer knows (404) ends FAILED as lost, never stays live', async () => {
    await submit(1);
    const [job] = await jobs();
    const del = await fetch(`${sim.url}/v1/${job!.operationName}`, { method: 'DELETE', headers: { authorization: 'Bearer t' } });
    expect(del.status).toBe(200);
    await poll();
    const [after] = await jobs();
    expect(after!.state).toBe('FAILED');
    expect(after!.error!.code).toBe('EE.OPERATION_LOST');
  });

  it('cancel: a PENDING job is cancelled in Earth Engine and followed to CANCELLED', async () => {
    await submit(4);
    const pending = (await jobs()).find((j) => j.state === 'PENDING')!;
    const out = await stack.services.cancelJob().cancelJob(pending.jobId);
    expect(['cancelling', 'already-terminal']).toContain(out.kind);
    sim.clock.advance(1_000);
    await poll();
    const after = (await jobs()).find((j) => j.jobId === pending.jobId)!;
    expect(after.state).toBe('CANCELLED');
    const kinds = eventsByJob(await stack.drainEvents()).get(pending.jobId)!;
    expect(kinds.filter((k) => k === 'cancelled')).toHaveLength(1);
  });

  it('rejects a poll without credentials when auth is on', async () => {
    await restart({ POLL_AUTH_DISABLED: 'false', POLL_OIDC_AUDIENCE: 'https://poll.example', POLL_INVOKER_EMAIL: 'scheduler@p.iam.gserviceaccount.com' });
    const res = await stack.http('pollExports', '', { method: 'POST' });
    expect(res.status).toBe(401);
  });
});

/**
 * Duplicates and races, from a seeded PRNG (the seed is printed; RELIABILITY_SEED
 * replays it): every request is published once or twice (the same idempotency key or
 * client requestId) and each publication delivered 1–5 times at random moments,
 * concurrently; non-acknowledged deliveries are redelivered like Pub/Sub does. Pollers
 * overlap (two scheduler ticks at once), the simulator's clock jumps while deliveries
 * are in flight, and cancels race the tasks' completion. Throughout, the in-flight cap
 * is sampled; at the end every invariant must hold.
 */
import { describe, it, expect, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { jobIdFor } from '../../functions/src/core/jobs/ids.ts';
import { IN_FLIGHT_STATES } from '../../functions/src/core/jobs/job.ts';
import { RELEASES_PER_COUNT, overshootBound } from '../../functions/src/core/jobs/slots.ts';
import { Rng, SEED, banner, forEachLimit, size, sleep } from './lib/mode.ts';
import { World, message, request, type PushMessage, DUPLICATE_REQUEST_ID_MODES } from './lib/world.ts';

const emu = emulatorsOrSkip('reliability: duplicates and races');

const REQUESTS = size(30, 200);
const CAP = 6;
const WORKERS = 6;
const PROJECTS = ['ee-test-project', 'ee-second-project'];

interface Logical {
  i: number;
  identity: 'message' | 'key' | 'requestId';
  jobId: string | null;
  publications: PushMessage[];
  deliveries: number;
  cancel: PushMessage | null;
}

describe.skipIf(!emu).each(DUPLICATE_REQUEST_ID_MODES)('duplicates and races (repeated requestId: %s)', (duplicateMode) => {
  const world = new World(emu!, duplicateMode);
  afterAll(() => world.close());

  it(`${REQUESTS} requests, each published 1–2× and delivered 1–5× concurrently, overlapping pollers, cancels racing completion`, async () => {
    const rng = new Rng(SEED);
    banner('duplicates and races', { requests: REQUESTS, cap: CAP, projects: PROJECTS.length, deliveryWorkers: WORKERS });
    const durations = new Map<string, number>();
    await world.start({
      env: { MAX_IN_FLIGHT_PER_PROJECT: String(CAP) },
      sim: { maxConcurrentPerProject: 3, taskDurationMs: (req) => durations.get(req.description) ?? 30_000 },
    });
    // WORKERS deliveries and the poller (its releases from one count) may all decide at the same moment:
    // the soft cap's documented bound (ADR 0012), which the rounds check.
    world.admissionConcurrency = WORKERS + RELEASES_PER_COUNT;

    const plan: Logical[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const identity = rng.pick(['message', 'key', 'requestId'] as const);
      const eeProject = rng.pick(PROJECTS);
      durations.set(`rel-${i}`, rng.int(5_000, 120_000));
      const attrs: Record<string, string> = { eeProject };
      const body: Record<string, unknown> = request(i);
      let jobId: string | null = null;
      if (identity === 'key') {
        attrs.idempotencyKey = `race-${SEED}-${i}`;
        jobId = jobIdFor({ kind: 'key', key: attrs.idempotencyKey });
      } else if (identity === 'requestId') {
        body.requestId = `race-${SEED}-${i}`;
        jobId = jobIdFor({ kind: 'requestId', eeProject, requestId: body.requestId as string });
      }
      const publications = Array.from({ length: identity === 'message' ? 1 : rng.int(1, 2) }, () => message(body, attrs));
      // Every other request with a key is cancelled (racing its completion).
      const cancel = identity === 'key' && rng.chance(0.5) ? message('', { action: 'cancel', idempotencyKey: attrs.idempotencyKey! }) : null;
      plan.push({ i, identity, jobId, publications, deliveries: 0, cancel });
    }

    // The scheduler: overlapping polls while the simulated clock jumps; samples the caps.
    let running = true;
    let maxSimLive = 0;
    let maxSlots = 0;
    const pollRng = rng.fork(1);
    let polls = 0;
    let busy = 0;
    const scheduler = (async () => {
      while (running) {
        world.sim.clock.advance(pollRng.int(2_000, 40_000));
        // One scheduler tick, or (sometimes) two at once: the second must stand aside or find nothing to do.
        const results = await Promise.all(Array.from({ length: pollRng.chance(0.25) ? 2 : 1 }, () => world.poll()));
        for (const r of results) {
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          polls++;
          if (r.body?.kind === 'busy') busy++;
        }
        for (const p of PROJECTS) maxSimLive = Math.max(maxSimLive, world.sim.tasks(p).filter((t) => !t.done).length);
        for (const v of Object.values(await world.inFlightByProject())) maxSlots = Math.max(maxSlots, v);
        await sleep(pollRng.int(50, 250));
      }
    })();

    // Every publication delivered 1–5 times, the copies close together in a shuffled schedule that a
    // pool of WORKERS consumes concurrently (so copies race each other); each delivery that is not
    // acknowledged is redelivered after a random backoff, as Pub/Sub does.
    const deliveryRng = rng.fork(2);
    let redeliveries = 0;
    const schedule: { l: Logical; msg: PushMessage; pos: number; delay: number; kind: 'submit' | 'cancel' }[] = [];
    let slot = 0;
    for (const l of deliveryRng.shuffle(plan)) {
      for (const pub of l.publications) {
        const copies = deliveryRng.int(1, 5);
        for (let c = 0; c < copies; c++) schedule.push({ l, msg: pub, pos: slot + deliveryRng.next() * 6, delay: deliveryRng.int(0, 60), kind: 'submit' });
        l.deliveries += copies;
        slot += 2;
      }
      if (l.cancel) {
        // Later in the schedule, while the job may be queued, pending, running or finishing.
        const copies = deliveryRng.int(1, 3);
        for (let c = 0; c < copies; c++) schedule.push({ l, msg: l.cancel, pos: slot + deliveryRng.int(2, 40), delay: deliveryRng.int(0, 200), kind: 'cancel' });
      }
    }
    schedule.sort((a, b) => a.pos - b.pos);
    const deliverings = forEachLimit(schedule.length, WORKERS, async (k) => {
      const d = schedule[k]!;
      await sleep(d.delay);
      for (let attempt = 0; ; attempt++) {
        const s = await world.deliver(d.msg);
        if (s >= 200 && s < 300) return;
        if (attempt > 60) throw new Error(`${d.kind} of request ${d.l.i} not acknowledged after ${attempt} deliveries (last ${s})`);
        redeliveries++;
        await sleep(deliveryRng.int(50, 300));
      }
    });
    try {
      await deliverings;
    } finally {
      running = false;
      await scheduler;
    }
    const settleRounds = await world.settle({ simStepMs: 60_000 });
    const report = await world.check({ allowDuplicateEvents: true });

    const jobs = await world.jobs();
    console.log(
      `[reliability] duplicates and races: ${plan.reduce((n, l) => n + l.deliveries, 0)} deliveries of ${plan.reduce((n, l) => n + l.publications.length, 0)} publications ` +
        `(${REQUESTS} requests, ${WORKERS} at once), ${redeliveries} redeliveries after a non-2xx, ${plan.filter((l) => l.cancel).length} cancels, ${polls} polls (${busy} stood aside), ` +
        `max live tasks/project ${maxSimLive}, max jobs in flight/project ${maxSlots}, settled in ${settleRounds + 1} rounds; ` +
        `states ${JSON.stringify(report.stats.byState)}, events ${report.stats.uniqueEvents} unique + ${report.stats.duplicateEvents} re-relayed copies`,
    );
    // One job per logical request, whatever the duplicates.
    expect(jobs).toHaveLength(REQUESTS);
    for (const l of plan) if (l.jobId) expect(jobs.some((j) => j.jobId === l.jobId), `request ${l.i}`).toBe(true);
    // Cancelled requests end CANCELLED, or SUCCEEDED when the task won the race; the others SUCCEEDED.
    for (const j of jobs) {
      const l = plan.find((p) => p.jobId === j.jobId);
      expect(l?.cancel ? ['CANCELLED', 'SUCCEEDED'] : ['SUCCEEDED'], `job ${j.jobId}`).toContain(j.state);
    }
    // Admission is a soft cap (ADR 0012): never past the bound for the deliveries and the poller deciding at once.
    expect(maxSimLive).toBeLessThanOrEqual(overshootBound(CAP, WORKERS + RELEASES_PER_COUNT));
    expect(maxSlots).toBeLessThanOrEqual(overshootBound(CAP, WORKERS + RELEASES_PER_COUNT));
    expect(jobs.filter((j) => IN_FLIGHT_STATES.has(j.state))).toHaveLength(0);
  });

  // The job's identity prefers an idempotency key over the request's own requestId, but Earth Engine
  // deduplicates on the requestId, which eeport sends unchanged. So the client requestId is owned by
  // the job that first sent it (requestIds/{requestId} in Firestore): publishing the same request again
  // without a key, or under another key, is that job, never a second job sharing its task.
  it('one client requestId under two identities (no key, then a key) is one job with one task', async () => {
    await world.start();
    const body = request('shared', { requestId: `shared-${SEED}` });
    await world.deliverUntilAcked(message(body));
    await world.deliverUntilAcked(message(body, { idempotencyKey: `later-key-${SEED}` }));
    await world.settle();
    await world.check();
    expect(await world.jobs()).toHaveLength(1);
  });
});

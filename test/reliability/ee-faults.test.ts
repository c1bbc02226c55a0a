/**
 * Earth Engine misbehaving, through the simulator's faults: tasks failing at random
 * stages with transient and permanent codes (checked against an exact oracle: which
 * attempts run, how each job ends, how many tasks exist), internal task retries, storms
 * of 429s, 5xx bursts, latency spikes past the HTTP timeout and dropped connections
 * (before and after the call took effect) on every method while jobs are submitted,
 * polled and cancelled, and Earth Engine's own queue cap reached. Nothing may be lost,
 * no task duplicated, no permanent failure retried.
 */
import { describe, it, expect, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { jobIdFor, derivedRequestId } from '../../functions/src/core/jobs/ids.ts';
import { classifyFailure } from '../../functions/src/core/jobs/failure-classification.ts';
import type { FaultSpec } from '../../tools/ee-simulator/index.ts';
import { Rng, SEED, banner, size } from './lib/mode.ts';
import { World, message, request, DUPLICATE_REQUEST_ID_MODES } from './lib/world.ts';

const emu = emulatorsOrSkip('reliability: Earth Engine faults');
const MAX_RESUBMISSIONS = 2;

/** Failures as Earth Engine reports them, with the class eeport's rules must give them. */
const TRANSIENT = [
  { code: 13, message: 'An internal error has occurred.' },
  { code: 14, message: 'The service is currently unavailable.' },
  { code: 10, message: 'Task aborted: worker lost.' },
  { code: 4, message: 'Deadline exceeded.' },
  { code: 8, message: 'Too many concurrent aggregations.' },
  { code: 2, message: 'Backend error while computing tiles.' },
];
const PERMANENT = [
  { code: 3, message: 'Export too large: specified 1000000000000 pixels (max: 100000000).' },
  { code: 5, message: "Image.load: Image asset 'projects/p/assets/gone' not found." },
  { code: 7, message: 'Permission denied on the destination bucket.' },
  { code: 13, message: 'User memory limit exceeded.' },
  { code: 9, message: 'Failed precondition.' },
  { code: 2, message: 'Something nobody has seen before.' },
];

type Outcome = { kind: 'ok'; retries: number } | { kind: 'transient' | 'permanent'; code: number; message: string; at: { atStage: number } | { atProgress: number } };

/** What must happen to a job whose attempts go like `plan`: how it ends and how many attempts reach Earth Engine. */
function oracle(plan: Outcome[]): { state: 'SUCCEEDED' | 'FAILED'; attempts: number; lastClass: 'transient' | 'permanent' | null } {
  for (let i = 0; i < plan.length; i++) {
    const o = plan[i]!;
    if (o.kind === 'ok') return { state: 'SUCCEEDED', attempts: i + 1, lastClass: i > 0 ? 'transient' : null };
    if (o.kind === 'permanent') return { state: 'FAILED', attempts: i + 1, lastClass: 'permanent' };
    if (i === MAX_RESUBMISSIONS) return { state: 'FAILED', attempts: i + 1, lastClass: 'transient' };
  }
  throw new Error('plan too short');
}

describe.skipIf(!emu).each(DUPLICATE_REQUEST_ID_MODES)('Earth Engine faults (repeated requestId: %s)', (duplicateMode) => {
  const world = new World(emu!, duplicateMode);
  afterAll(() => world.close());

  it('the failure tables used below are classified as this suite expects (else the oracle would be wrong)', () => {
    for (const f of TRANSIENT) expect(classifyFailure(f.code, f.message).class, `${f.code} ${f.message}`).toBe('transient');
    for (const f of PERMANENT) expect(classifyFailure(f.code, f.message).class, `${f.code} ${f.message}`).toBe('permanent');
  });

  const TASK_JOBS = size(12, 60);
  it(`tasks fail at random stages (transient and permanent): ${TASK_JOBS} jobs end exactly as the oracle says`, async () => {
    const rng = new Rng(SEED).fork(11);
    banner('Earth Engine faults: task failures', { jobs: TASK_JOBS, maxResubmissions: MAX_RESUBMISSIONS });
    await world.start({ env: { MAX_RESUBMISSIONS: String(MAX_RESUBMISSIONS) }, sim: { maxConcurrentPerProject: 6 } });
    const plans: { key: string; jobId: string; plan: Outcome[] }[] = [];
    for (let i = 0; i < TASK_JOBS; i++) {
      const key = `fault-${SEED}-${i}`;
      const jobId = jobIdFor({ kind: 'key', key });
      const plan: Outcome[] = [];
      for (let a = 0; a <= MAX_RESUBMISSIONS; a++) {
        const r = rng.next();
        const at = rng.chance(0.5) ? { atStage: rng.int(0, 2) } : { atProgress: Math.round(rng.next() * 100) / 100 };
        if (r < 0.4) plan.push({ kind: 'ok', retries: rng.chance(0.3) ? rng.int(1, 2) : 0 });
        else if (r < 0.75) plan.push({ kind: 'transient', ...rng.pick(TRANSIENT), at });
        else plan.push({ kind: 'permanent', ...rng.pick(PERMANENT), at });
      }
      plans.push({ key, jobId, plan });
      // Each attempt's task is told how to end, by its requestId (eeport-{jobId}, then -r1, -r2).
      plan.forEach((o, a) => {
        const requestId = derivedRequestId(jobId, a);
        if (o.kind === 'ok') {
          if (o.retries) world.sim.faults.inject({ kind: 'task-retry', match: { requestId }, times: 1, retries: o.retries });
        } else world.sim.faults.inject({ kind: 'task-failure', match: { requestId }, times: 1, code: o.code, message: o.message, ...o.at });
      });
    }
    for (const [i, p] of plans.entries()) await world.deliverUntilAcked(message(request(i), { idempotencyKey: p.key }));
    await world.settle({ maxRounds: 80 });
    const report = await world.check();
    const jobs = new Map((await world.jobs()).map((j) => [j.jobId, j]));
    const tasks = world.sim.tasks();
    for (const p of plans) {
      const want = oracle(p.plan);
      const job = jobs.get(p.jobId)!;
      const label = `${p.jobId} plan ${JSON.stringify(p.plan.map((o) => (o.kind === 'ok' ? 'ok' : `${o.kind}:${o.code}`)))}`;
      expect(job.state, label).toBe(want.state);
      expect(job.resubmissions, label).toBe(want.attempts - 1);
      expect(tasks.filter((t) => t.requestId?.startsWith(`eeport-${p.jobId}`)), label).toHaveLength(want.attempts);
      expect(job.lastFailure?.failureClass ?? null, label).toBe(want.lastClass);
      if (want.state === 'FAILED') expect(job.error?.code, label).toBe('EE.TASK_FAILED');
    }
    const summary = plans.map((p) => oracle(p.plan));
    console.log(
      `[reliability] task failures: ${JSON.stringify(report.stats.byState)}; ${summary.filter((s) => s.attempts > 1).length} job(s) resubmitted, ` +
        `${summary.filter((s) => s.lastClass === 'permanent').length} permanent failure(s) never retried, ${tasks.length} tasks for ${TASK_JOBS} jobs`,
    );
  });

  const STORM_JOBS = size(16, 80);
  it(`429 storms, 5xx bursts, latency spikes and dropped connections on every method: ${STORM_JOBS} jobs, nothing lost, nothing twice`, async () => {
    const rng = new Rng(SEED).fork(12);
    banner('Earth Engine faults: HTTP storm', { jobs: STORM_JOBS, inFlightCap: 5 });
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '5' }, sim: { maxConcurrentPerProject: 3, taskDurationMs: 40_000 } });
    const methods = ['export', 'get', 'list', 'cancel'] as const;
    const injected: Record<string, number> = {};
    const storm = (n: number) => {
      for (let k = 0; k < n; k++) {
        const method = rng.pick(methods);
        const r = rng.next();
        let spec: FaultSpec;
        if (r < 0.3) spec = { kind: 'http-error', httpStatus: 429, status: 'RESOURCE_EXHAUSTED', message: 'Too many concurrent requests.', method, times: rng.int(1, 8) };
        else if (r < 0.55) spec = { kind: 'http-error', httpStatus: rng.pick([500, 502, 503, 504]), method, times: rng.int(1, 8) };
        else if (r < 0.7) spec = { kind: 'latency', ms: rng.pick([300, 800, 1_200]), method, times: rng.int(1, 3) };
        else spec = { kind: 'drop-connection', phase: rng.pick(['before', 'after'] as const), method, times: rng.int(1, 3) };
        world.sim.faults.inject(spec);
        const name = `${spec.kind}${spec.kind === 'drop-connection' ? `:${spec.phase}` : spec.kind === 'http-error' ? `:${spec.httpStatus}` : ''}`;
        injected[name] = (injected[name] ?? 0) + 1;
      }
    };
    const cancelled = new Set<number>();
    for (let i = 0; i < STORM_JOBS; i++) {
      storm(rng.int(0, 2));
      await world.deliverUntilAcked(message(request(i), { idempotencyKey: `storm-${SEED}-${i}` }), { maxAttempts: 40 });
    }
    let cancelsSent = 0;
    await world.settle({
      maxRounds: 120,
      simStepMs: 20_000,
      each: async (round) => {
        if (round < 12) storm(rng.int(1, 4));
        else world.sim.faults.clear();
        // Cancels in the middle of the storm, racing the tasks' ends.
        if (round >= 1 && round <= 4) {
          for (let c = 0; c < 2; c++) {
            const i = rng.int(0, STORM_JOBS - 1);
            if (cancelled.has(i)) continue;
            cancelled.add(i);
            cancelsSent++;
            await world.deliverUntilAcked(message('', { action: 'cancel', idempotencyKey: `storm-${SEED}-${i}` }), { maxAttempts: 40 });
          }
        }
      },
    });
    const report = await world.check();
    const stats = world.sim.stats();
    console.log(
      `[reliability] HTTP storm: faults injected ${JSON.stringify(injected)}; simulator answered ${JSON.stringify(stats.errorsByStatus)} errors, dropped ${stats.droppedConnections} connections, ` +
        `${stats.totalRequests} requests; ${cancelsSent} cancels; final ${JSON.stringify(report.stats.byState)}; tasks ${stats.tasksStarted} for ${STORM_JOBS} jobs`,
    );
    const jobs = await world.jobs();
    expect(jobs).toHaveLength(STORM_JOBS);
    // The storm is transient only: every job ends SUCCEEDED, or CANCELLED when it was cancelled in time.
    for (const j of jobs) expect(['SUCCEEDED', 'CANCELLED']).toContain(j.state);
    expect(jobs.filter((j) => j.state === 'CANCELLED').length).toBeLessThanOrEqual(cancelsSent);
    // One task per job that reached Earth Engine: all but those cancelled while still QUEUED.
    expect(stats.tasksStarted).toBe(jobs.filter((j) => j.operationName !== null).length);
    for (const j of jobs) if (j.state === 'SUCCEEDED') expect(j.operationName).not.toBeNull();
    expect(stats.droppedConnections).toBeGreaterThan(0);
  });

  const CAP_JOBS = size(10, 40);
  it(`Earth Engine's queue cap reached (queueCap 2): ${CAP_JOBS} jobs wait in QUEUED and all run, once each`, async () => {
    banner('Earth Engine faults: queue cap', { jobs: CAP_JOBS, simQueueCap: 2, simConcurrency: 1 });
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '50' }, sim: { queueCap: 2, maxConcurrentPerProject: 1, taskDurationMs: 20_000 } });
    for (let i = 0; i < CAP_JOBS; i++) await world.deliverUntilAcked(message(request(i)));
    const afterSubmit = await world.jobs();
    // Earth Engine took two into its queue; the rest were sent back to QUEUED by its 429 "Too many tasks".
    expect(afterSubmit.filter((j) => j.state === 'PENDING')).toHaveLength(2);
    expect(afterSubmit.filter((j) => j.state === 'QUEUED' && /queue full/i.test(j.queuedReason ?? ''))).toHaveLength(CAP_JOBS - 2);
    let maxPending = 0;
    await world.settle({
      maxRounds: 150,
      simStepMs: 15_000,
      each: async () => {
        maxPending = Math.max(maxPending, world.sim.tasks().filter((t) => t.state === 'PENDING').length);
      },
    });
    await world.check();
    expect(world.sim.stats().tasksStarted).toBe(CAP_JOBS);
    expect(maxPending).toBeLessThanOrEqual(2);
    expect((await world.jobs()).every((j) => j.state === 'SUCCEEDED')).toBe(true);
  });

  // Earth Engine's answer to a repeated requestId is undocumented. With 409 ALREADY_EXISTS (the
  // simulator's default), a retry after a lost response cannot get the operation back: the job must
  // find its task in the operation list and adopt it (submit/adopt-operation.ts), never fail for it.
  // With 'return-existing' the retry gets the operation itself. Either way: one task, followed to the end.
  it('a lost export response, then a retry with the same requestId: the job follows its one task to SUCCEEDED', async () => {
    await world.start();
    world.sim.faults.inject({ kind: 'drop-connection', phase: 'after', method: 'export', times: 1 });
    await world.deliverUntilAcked(message(request(0)));
    expect(world.sim.stats().tasksStarted).toBe(1);
    await world.settle();
    // The design: exactly one task per job, and the job follows it to SUCCEEDED.
    await world.check();
    expect((await world.jobs()).map((j) => j.state)).toEqual(['SUCCEEDED']);
  });
});

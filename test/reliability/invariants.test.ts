/**
 * The invariant checks can fail: each one is shown a world that breaks it (built by
 * hand, and — with the emulators — produced by sabotaged adapters: a publisher that
 * loses an event, a store that loses a slot-counter write, an Earth Engine that starts a
 * second task). A check that passed everything would make every other suite worthless.
 */
import { describe, it, expect, afterAll } from 'vitest';
import '../../functions/src/entry/submit-export.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { checkInvariants, type InvariantOptions, type JobLike, type TaskLike, type WorldSnapshot } from './lib/invariants.ts';
import { stateEvent, type CloudEvent } from '../../functions/src/core/jobs/events.ts';
import { newJob, transition, type Job, type JobState } from '../../functions/src/core/jobs/job.ts';
import { derivedRequestId } from '../../functions/src/core/jobs/ids.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { World, message, request } from './lib/world.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';

const OPTS: InvariantOptions = { settled: true, allowDuplicateEvents: false, maxResubmissions: 2 };
const P = 'ee-test-project';
const SRC = '//eeport/test';
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function task(name: string, requestId: string, state: string, error?: { code: number; message: string }): TaskLike {
  return { name: `projects/${P}/operations/${name}`, project: P, requestId, state, done: ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(state), operation: error ? { error } : {} };
}

/** A job walked through `states` the way the use cases do it, with the events they emit. */
function walk(jobId: string, states: JobState[], opName: string | null): { job: Job; events: CloudEvent[] } {
  let job = newJob({ jobId, state: 'SUBMITTING', eeProject: P, request: null, requestId: derivedRequestId(jobId), identity: `key:${jobId}`, labels: {}, callbackUrl: null, source: { kind: 'api' } }, at(0));
  const events: CloudEvent[] = [];
  states.forEach((s, i) => {
    const prev = job;
    job = transition(job, s, at(i + 1), opName && !prev.operationName ? { operationName: `projects/${P}/operations/${opName}` } : {})!;
    if (!prev.operationName && job.operationName && s !== 'PENDING') events.push(stateEvent(job, SRC, 'submitted')!);
    const ev = stateEvent(job, SRC);
    if (ev) events.push(ev);
  });
  return { job, events };
}

const JOB_A = 'a'.repeat(32);
const JOB_B = 'b'.repeat(32);

function goodWorld(): WorldSnapshot {
  const a = walk(JOB_A, ['PENDING', 'RUNNING', 'SUCCEEDED'], 'OPA');
  const b = walk(JOB_B, ['FAILED'], null); // Earth Engine refused the export: no task
  return {
    jobs: [a.job, b.job] as JobLike[],
    tasks: [task('OPA', derivedRequestId(JOB_A), 'SUCCEEDED')],
    events: [...a.events, ...b.events],
    outbox: [...a.events, ...b.events].map((e) => ({ id: e.id, sent: true })),
  };
}

const violations = (w: WorldSnapshot, o: Partial<InvariantOptions> = {}) => checkInvariants(w, { ...OPTS, ...o }).violations;

describe('the invariant checks catch what they claim to', () => {
  it('a consistent world has no violations', () => {
    expect(violations(goodWorld())).toEqual([]);
  });

  const cases: [string, (w: WorldSnapshot) => void, RegExp, Partial<InvariantOptions>?][] = [
    ['a second task for one requestId', (w) => w.tasks.push(task('OPA2', derivedRequestId(JOB_A), 'SUCCEEDED')), /2 tasks for requestId/],
    ['a task no job knows', (w) => w.tasks.push(task('STRAY', 'someone-else', 'RUNNING')), /orphan task/],
    ['a job that disagrees with its task', (w) => (w.tasks[0]!.state = 'FAILED'), /job SUCCEEDED but its task .* is FAILED/],
    ['a job that ended without knowing its task', (w) => w.tasks.push(task('OPB', derivedRequestId(JOB_B), 'RUNNING')), /without an operation, yet Earth Engine has task/],
    ['a lost event', (w) => (w.events = w.events.filter((e) => !e.type.endsWith('.running'))), /state changes \[PENDING → RUNNING → SUCCEEDED\] but events \[PENDING → SUCCEEDED\]/],
    ['an event twice (no re-relay expected)', (w) => w.events.push(w.events[1]!), /received 2 times/],
    ['an event twice with different contents', (w) => w.events.push({ ...w.events[1]!, time: at(99) }), /different contents/, { allowDuplicateEvents: true }],
    ['an extra transition event under a new id', (w) => w.events.push({ ...w.events[1]!, id: `${JOB_A}.9` }), /not a valid step|after terminal/],
    ['an event after the terminal one', (w) => w.events.push({ ...w.events[2]!, id: `${JOB_A}.9`, type: 'dev.eeport.export.v1.running', data: { ...w.events[2]!.data, state: 'RUNNING' } }), /after terminal/],
    ['a path that starts with running', (w) => (w.events = w.events.filter((e) => !e.type.endsWith('.submitted'))), /start → running is not a valid step/],
    ['a project past its cap', (w) => (w.jobs = w.jobs.map((j) => ({ ...j, state: 'RUNNING' }))), /ee-test-project: 2 jobs in flight, above the cap 1$/m, { settled: false, cap: { cap: 1, overshoot: 0 } }],
    ['a finished job still holding a slot', (w) => (w.jobs[0] = { ...w.jobs[0]!, slotShard: 3 }), /SUCCEEDED but still holds a slot in shard 3/],
    ['a project past its cap and the allowed overshoot', (w) => w.jobs.push(...w.jobs.map((j, k) => ({ ...j, jobId: `${k}`.repeat(32), state: 'PENDING' as const })), { ...w.jobs[0]!, jobId: 'c'.repeat(32), state: 'SUBMITTING' }), /3 jobs in flight, above the cap 1 plus the allowed overshoot 1/, { settled: false, cap: { cap: 1, overshoot: 1 } }],
    ['a job still live after settling', (w) => (w.jobs[0] = { ...w.jobs[0]!, state: 'RUNNING' }), /still RUNNING after everything settled/],
    ['an outbox event never relayed', (w) => (w.outbox![0]!.sent = false), /never relayed/],
    ['an outbox event that never arrived', (w) => w.outbox!.push({ id: `${JOB_A}.7`, sent: true }), /never arrived/],
  ];
  for (const [name, breakIt, expected, o] of cases) {
    it(`catches ${name}`, () => {
      const w = goodWorld();
      breakIt(w);
      expect(violations(w, o).join('\n')).toMatch(expected);
    });
  }

  it('once-per-job notices ({jobId}.stalled, .r{attempt} after a resubmission) pass beside the state events; one named otherwise is caught', () => {
    const w = goodWorld();
    const notice = (id: string): CloudEvent => ({ ...w.events[0]!, id, type: 'dev.eeport.export.v1.stalled' });
    w.events.push(notice(`${JOB_A}.stalled`), notice(`${JOB_A}.stalled.r1`));
    w.outbox!.push({ id: `${JOB_A}.stalled`, sent: true }, { id: `${JOB_A}.stalled.r1`, sent: true });
    expect(violations(w)).toEqual([]);
    w.events.push(notice(`${JOB_B}.stalled`));
    expect(violations(w).join('\n')).toMatch(/notice b{32}\.stalled is not \{jobId\}\.stalled/);
  });

  it('duplicates of one id with identical contents pass only where a re-relay is expected', () => {
    const w = goodWorld();
    w.events.push(w.events[0]!);
    expect(violations(w, { allowDuplicateEvents: true })).toEqual([]);
    expect(violations(w)).not.toEqual([]);
  });

  it('catches a permanent failure resubmitted, and a transient one not resubmitted', () => {
    // Attempt 0 failed permanently (too many pixels), yet attempt 1 ran.
    const r = walk(JOB_A, ['PENDING', 'QUEUED', 'SUBMITTING', 'PENDING', 'SUCCEEDED'], null);
    const job = { ...r.job, resubmissions: 1, requestId: derivedRequestId(JOB_A, 1), operationName: `projects/${P}/operations/OP1`, previousOperations: [`projects/${P}/operations/OP0`] };
    const w: WorldSnapshot = {
      jobs: [job as JobLike],
      tasks: [task('OP0', derivedRequestId(JOB_A), 'FAILED', { code: 3, message: 'Export too large: specified 1e12 pixels' }), task('OP1', derivedRequestId(JOB_A, 1), 'SUCCEEDED')],
      events: r.events,
    };
    expect(violations(w, { settled: false }).join('\n')).toMatch(/failed permanently .* and was resubmitted anyway/);
    // A transient failure (internal error) that ended the job at its first attempt.
    const f = walk(JOB_B, ['PENDING', 'FAILED'], 'OPF');
    const w2: WorldSnapshot = { jobs: [f.job as JobLike], tasks: [task('OPF', derivedRequestId(JOB_B), 'FAILED', { code: 13, message: 'An internal error has occurred.' })], events: f.events };
    expect(violations(w2).join('\n')).toMatch(/failed transiently .* ended FAILED after 0 of 2 resubmissions/);
  });
});

const emu = emulatorsOrSkip('reliability: sabotaged adapters');

describe.skipIf(!emu)('sabotaged adapters are caught end to end (emulators + simulator)', () => {
  const world = new World(emu!);
  afterAll(() => world.close());

  const run = async (wrap: (a: Adapters) => Adapters) => {
    await world.start({ wrap });
    for (let i = 0; i < 3; i++) await world.deliverUntilAcked(message(request(i)));
    return world
      .settle()
      .then(() => world.check())
      .then(
        () => 'no violation',
        (err: Error) => err.message,
      );
  };

  it('a publisher that silently loses one event (and still reports success)', async () => {
    let lost = 0;
    const out = await run((a) => ({
      ...a,
      publisher: { publish: (events) => (lost++ === 2 ? Promise.resolve() : a.publisher.publish(events)) },
    }));
    expect(out).toMatch(/never arrived on the events topic|but events/);
  });

  it('a store whose admission count misses the jobs in flight', async () => {
    await world.start({ env: { MAX_IN_FLIGHT_PER_PROJECT: '2' }, wrap: (a) => ({ ...a, store: { ...a.store, inFlight: async () => 0 } }) });
    for (let i = 0; i < 4; i++) await world.deliverUntilAcked(message(request(i)));
    // Delivered one at a time, so no overshoot is allowed: the four admitted jobs break the cap of 2.
    expect((await world.slotDrift()).join('\n')).toMatch(/4 jobs in flight, above the cap 2$/m);
  });

  it('an Earth Engine that starts a second task for a repeated requestId', async () => {
    const out = await run((a) => ({
      ...a,
      ee: { ...a.ee, exportImage: async (p, r) => (await a.ee.exportImage(p, { ...r, requestId: `${r.requestId}-x` }), a.ee.exportImage(p, r)) },
    }));
    expect(out).toMatch(/orphan task/);
  });
});

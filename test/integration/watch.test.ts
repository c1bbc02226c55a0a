/**
 * The stalled-task watch through the `api` and `pollExports` functions on the Firestore
 * and Pub/Sub emulators (the simulator answering Earth Engine, holding a task PENDING):
 * one `stalled` event on the events topic; with WATCH_STALL_RESUBMISSIONS the stalled task
 * is cancelled and the job resubmitted through the queue with a new requestId, once.
 */
import { describe, it, expect } from 'vitest';
import '../../functions/src/entry/api.entry.ts';
import '../../functions/src/entry/poll-exports.entry.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { useApiStack } from '../harness/api-stack.ts';
import { jsClientRequest } from '../../tools/samples/export-requests.ts';
import type { CloudEvent, Job } from '../../functions/src/core/jobs/index.ts';

const emu = emulatorsOrSkip('stalled-task watch integration');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!emu)('stalled-task watch (emulators + simulator)', () => {
  const api = useApiStack(emu, { env: { POLL_WINDOW_SECONDS: '0', POLL_AUTH_DISABLED: 'true', WATCH_PENDING_SECONDS: '1', WATCH_INTERVAL_SECONDS: '0' } });
  const poll = async () => expect((await api.stack.http('pollExports', '', { method: 'POST' })).status).toBe(200);
  const job = async (id: string) => (await (await api.call(`/v1/jobs/${id}`)).json()) as Job;
  const submit = async (description: string) => {
    const res = await api.post('/v1/jobs', jsClientRequest({ description }));
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return ((await res.json()) as { jobId: string }).jobId;
  };
  const stalledOf = (events: CloudEvent[]) => events.filter((e) => e.type === 'dev.eeport.export.v1.stalled');

  it('a task held PENDING: one stalled event across many poller ticks, the finding on the job', async () => {
    api.sim.faults.inject({ kind: 'hold-pending', match: { description: '^held' } });
    const id = await submit('held one');
    await sleep(1_200);
    for (let i = 0; i < 4; i++) await poll();
    const j = await job(id);
    expect(j.state).toBe('PENDING');
    expect(j.stalled).toMatchObject({ kind: 'pending', attempt: 0, action: 'none', cancelPending: false, limitSeconds: 1 });
    const events = stalledOf(await api.stack.drainEvents());
    expect(events.map((e) => e.id)).toEqual([`${id}.stalled`]);
    expect(events[0]!.data).toMatchObject({ jobId: id, state: 'PENDING', operationName: j.operationName, stall: { kind: 'pending' } });
    api.sim.faults.clear();
  });

  it('WATCH_STALL_RESUBMISSIONS=1: the stalled task is cancelled, the job resubmitted with a new requestId once, and it finishes', async () => {
    await api.restart({ WATCH_STALL_RESUBMISSIONS: '1' });
    api.sim.faults.inject({ kind: 'hold-pending', times: 1 });
    const id = await submit('stuck then fine');
    const first = (await job(id)).operationName!;
    await sleep(1_200);
    await poll();
    const j = await job(id);
    expect(j).toMatchObject({ resubmissions: 1, stallResubmissions: 1, requestId: `eeport-${id}-r1`, previousOperations: [first] });
    expect(j.stalled).toMatchObject({ action: 'resubmitted', cancelPending: false, operationName: first });
    expect(j.operationName).not.toBe(first);
    expect(api.sim.tasks().find((t) => t.name === first)?.state).toBe('CANCELLED');
    api.sim.clock.advance(10 * 60_000);
    for (let i = 0; i < 3 && (await job(id)).state !== 'SUCCEEDED'; i++) await poll();
    expect((await job(id)).state).toBe('SUCCEEDED');
    const events = await api.stack.drainEvents();
    expect(stalledOf(events).map((e) => e.id)).toEqual([`${id}.stalled`]);
    expect(events.filter((e) => e.subject === id).map((e) => e.type.split('.').pop())).toContain('queued');
    expect(api.sim.tasks()).toHaveLength(2);
  });
});

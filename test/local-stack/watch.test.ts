/**
 * The stalled-task watch on the local stack (Google's Firestore and Pub/Sub emulators,
 * the Earth Engine simulator, the scheduler stand-in ticking pollExports): a task the
 * simulator holds PENDING (its hold-pending fault) emits exactly one `stalled` event on
 * the events topic, however many more poll cycles pass, and the job shows the finding;
 * a task next to it that runs normally does not.
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor, tapEvents, until } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';
import { jsClientRequest } from '../../tools/samples/export-requests.ts';

const missing = missingEmulators(`the local stack's stalled-task watch run`);

const stateDir = stateDirFor('watch');

const KEY = 'watch-test-key-0123456789abcdef';


describe.skipIf(missing.length > 0)('the stalled-task watch on the local stack', () => {
  it('a task held PENDING by the simulator emits exactly one stalled event', async () => {
    const stack = await startLocalStack({
      mode: 'emulators',
      ports: 'free',
      stateDir,
      print: () => {},
      pollEverySeconds: 1,
      env: { API_AUTH: 'api-key', API_KEYS: KEY, WATCH_PENDING_SECONDS: '3', WATCH_INTERVAL_SECONDS: '0' },
    });
    try {
      const { events, drain } = await tapEvents(stack, 'watch-test-events');
      stack.simulator.faults.inject({ kind: 'hold-pending', match: { description: '^held' } });
      const submit = async (description: string) => {
        const res = await fetch(new URL('/v1/jobs', stack.functions.get('api')!.url), {
          method: 'POST',
          headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
          body: JSON.stringify(jsClientRequest({ description })),
        });
        expect(res.status, await res.clone().text()).toBeLessThan(300);
        return ((await res.json()) as { jobId: string }).jobId;
      };
      const held = await submit('held-export');
      const fine = await submit('fine-export');
      const store = stack.services.adapters.store;
      const stalled = await until('the held job found stalled', async () => {
        const j = await store.getJob(held);
        return j?.stalled ? j : null;
      });
      expect(stalled.state).toBe('PENDING');
      expect(stalled.stalled).toMatchObject({ kind: 'pending', attempt: 0, operationName: stalled.operationName, limitSeconds: 3, action: 'none' });
      await until('the other job to finish', async () => (await store.getJob(fine))?.state === 'SUCCEEDED');
      // Many more poll cycles: still one event.
      await new Promise((r) => setTimeout(r, 5_000));
      await until('events relayed', async () => (await drain(), events.some((e) => e.type.endsWith('.stalled'))));
      await new Promise((r) => setTimeout(r, 1_000));
      await drain();
      const stalledEvents = events.filter((e) => e.type === 'dev.eeport.export.v1.stalled');
      expect(stalledEvents).toHaveLength(1);
      expect(stalledEvents[0]).toMatchObject({ id: `${held}.stalled`, subject: held, data: { jobId: held, state: 'PENDING', stall: { kind: 'pending' } } });
      expect((await store.getJob(held))!.state).toBe('PENDING');
      expect((await store.getJob(fine))!.stalled ?? null).toBeNull();
      const task = stack.simulator.tasks().find((t) => t.name === stalled.operationName);
      expect(task?.state).toBe('PENDING');
      // The API's job view carries the finding (the dashboard's badge reads it).
      const view = await fetch(new URL(`/v1/jobs/${held}`, stack.functions.get('api')!.url), { headers: { 'x-api-key': KEY } }).then((r) => r.json() as Promise<Record<string, unknown>>);
      expect(view.stalled).toMatchObject({ kind: 'pending', attempt: 0 });
    } finally {
      await stack.stop();
    }
  }, 120_000);
});

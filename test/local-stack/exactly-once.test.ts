/**
 * On the local stack (Google's emulators, the simulator answering a repeated requestId
 * with 409 ALREADY_EXISTS, as `npm start -- --sim-duplicate-request-id error` does): an
 * export whose answer is lost, retried with the same requestId, ends SUCCEEDED with
 * exactly one task — the job adopts its operation instead of failing for it.
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';
import { jsClientRequest } from '../../tools/samples/export-requests.ts';
import type { Job } from '../../functions/src/core/jobs/job.ts';

const missing = missingEmulators(`the local stack's exactly-once run`);

const stateDir = stateDirFor('exactly-once');

describe.skipIf(missing.length > 0)('local stack, Earth Engine answering 409 to a repeated requestId', () => {
  it('a lost export answer, then a retry: the job adopts its one task and ends SUCCEEDED', async () => {
    const stack = await startLocalStack({
      mode: 'emulators',
      ports: 'free',
      stateDir,
      print: () => {},
      pollEverySeconds: 1,
      sim: { duplicateRequestId: 'error' },
      // Short waits so the test takes seconds: the poller's stale-submit sweep and the adoption's confirmation.
      env: { POLL_STALE_SUBMIT_SECONDS: '2', ADOPT_CONFIRM_SECONDS: '1' },
    });
    try {
      expect(stack.simulator.options.duplicateRequestId).toBe('error');
      // The task is created, then the connection drops before the answer.
      stack.simulator.faults.inject({ kind: 'drop-connection', phase: 'after', method: 'export', times: 1 });
      await stack.publishRequest(jsClientRequest({ description: 'lost-answer' }));
      const store = stack.services.adapters.store;
      let job: Job | undefined;
      const seen = new Set<string>();
      const until = Date.now() + 45_000;
      while (Date.now() < until) {
        job = (await store.listJobs({ pageSize: 10 })).jobs[0];
        if (job) seen.add(job.verifying ? `${job.state}/verifying` : job.state);
        if (job?.state === 'SUCCEEDED') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(job?.state, JSON.stringify(job?.verifying ?? job?.error)).toBe('SUCCEEDED');
      const tasks = stack.simulator.tasks();
      expect(tasks).toHaveLength(1);
      expect(job!.operationName).toBe(tasks[0]!.name);
      expect(job!.error).toBeNull();
      expect(job!.history.map((h) => h.reason ?? '').join(' | ')).toMatch(/adopted .*already exists/);
      expect(stack.simulator.stats().errorsByStatus[409]).toBeGreaterThanOrEqual(1);
      expect(seen.has('SUBMITTING/verifying')).toBe(true);
    } finally {
      await stack.stop();
    }
  }, 90_000);
});

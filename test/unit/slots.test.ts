import { describe, it, expect } from 'vitest';
import { overshootBound } from '../../functions/src/core/jobs/slots.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { IN_FLIGHT_STATES } from '../../functions/src/core/jobs/job.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const CAP = 10;

function submitter(store: MemoryStore) {
  return createSubmitExport({
    store,
    ee: new FakeEarthEngine(),
    publisher: new MemoryPublisher(),
    clock: { now: () => new Date('2026-01-01T00:00:00Z') },
    logs: createLogEvents(new CapturingLogSink()),
    settings: { eventSource: '//t', maxInFlightPerProject: CAP, submitLeaseMs: 60_000, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } },
  });
}

const message = (i: number) => ({ data: new TextEncoder().encode(JSON.stringify(assetLoadRequest(`projects/p/assets/a${i}`))), attributes: {}, messageId: `m${i}`, eventSource: '//t' });
const inFlight = (store: MemoryStore) => [...store.jobs.values()].filter((j) => IN_FLIGHT_STATES.has(j.state));

describe('admission by a count of the jobs in flight (ADR 0012)', () => {
  it('submits one after another: exactly the cap is admitted, the rest queue; the count is the jobs in flight', async () => {
    const store = new MemoryStore();
    const submit = submitter(store);
    const kinds: string[] = [];
    for (let i = 0; i < 40; i++) kinds.push((await submit.submitMessage(message(i))).kind);
    expect(inFlight(store)).toHaveLength(CAP);
    expect(kinds.filter((k) => k === 'submitted')).toHaveLength(CAP);
    expect(kinds.filter((k) => k === 'queued')).toHaveLength(40 - CAP);
    expect(await store.inFlight('ee-project-1')).toBe(CAP);
    // No counter document: the new jobs carry no slot shard.
    expect(inFlight(store).every((j) => j.slotShard === null)).toBe(true);
  });

  it('submits that count at the same moment overshoot by at most their number less one, and the next submit queues', async () => {
    const store = new MemoryStore();
    // Fill to one below the cap, one at a time.
    const submit = submitter(store);
    for (let i = 0; i < CAP - 1; i++) await submit.submitMessage(message(i));
    expect(inFlight(store)).toHaveLength(CAP - 1);
    // Then D submits whose counts all land before any of them creates its job: the worst case.
    const D = 6;
    const count = store.inFlight.bind(store);
    let waiting = 0;
    let release!: () => void;
    const together = new Promise<void>((r) => (release = r));
    store.inFlight = async (p: string) => {
      const n = await count(p);
      if (++waiting === D) release();
      await together;
      return n;
    };
    const outs = await Promise.all(Array.from({ length: D }, (_, k) => submit.submitMessage(message(100 + k))));
    store.inFlight = count;
    expect(outs.every((o) => o.kind === 'submitted')).toBe(true);
    expect(inFlight(store)).toHaveLength(CAP - 1 + D);
    expect(inFlight(store).length).toBeLessThanOrEqual(overshootBound(CAP, D));
    expect(overshootBound(CAP, D)).toBe(CAP + D - 1);
    // Over the cap, the next submit queues.
    expect((await submit.submitMessage(message(200))).kind).toBe('queued');
  });
});

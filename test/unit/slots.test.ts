import { describe, it, expect } from 'vitest';
import { probeOrder, shardCapacity, shardCount } from '../../functions/src/core/jobs/slots.ts';
import { createSubmitExport } from '../../functions/src/core/submit/submit-export.ts';
import { createLogEvents } from '../../functions/src/core/jobs/log-events.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

describe('slot shards', () => {
  it.each([
    [1000, 16],
    [5, 16],
    [17, 4],
    [1, 1],
  ])('split a cap of %i over %i shards exactly', (cap, shards) => {
    const p = { cap, shards };
    const caps = Array.from({ length: shardCount(p) }, (_, k) => shardCapacity(p, k));
    expect(caps.reduce((a, b) => a + b, 0)).toBe(cap);
    expect(Math.max(...caps) - Math.min(...caps)).toBeLessThanOrEqual(1);
    expect(shardCount(p)).toBe(Math.min(cap, shards));
  });

  it('probes distinct shards in random order', () => {
    const order = probeOrder({ cap: 100, shards: 8 }, 20);
    expect(new Set(order).size).toBe(8);
    expect(probeOrder({ cap: 100, shards: 8 }, 2)).toHaveLength(2);
  });

  it('never admits more than the cap, whatever shards the submits probe; finishes give slots back to their shard', async () => {
    const store = new MemoryStore();
    const ee = new FakeEarthEngine();
    const submit = createSubmitExport({
      store,
      ee,
      publisher: new MemoryPublisher(),
      clock: { now: () => new Date('2026-01-01T00:00:00Z') },
      logs: createLogEvents(new CapturingLogSink()),
      settings: { eventSource: '//t', maxInFlightPerProject: 10, slotShards: 4, submitLeaseMs: 60_000, intake: { defaultEeProject: 'ee-project-1', allowedEeProjects: [], maxRequestBytes: 800_000 } },
    });
    const kinds: string[] = [];
    for (let i = 0; i < 40; i++) {
      const out = await submit.submitMessage({ data: new TextEncoder().encode(JSON.stringify(assetLoadRequest(`projects/p/assets/a${i}`))), attributes: {}, messageId: `m${i}`, eventSource: '//t' });
      kinds.push(out.kind);
    }
    const admitted = [...store.jobs.values()].filter((j) => j.state === 'PENDING');
    expect(admitted.length).toBeGreaterThan(0);
    expect(admitted.length).toBeLessThanOrEqual(10);
    expect(await store.inFlight('ee-project-1')).toBe(admitted.length);
    for (let k = 0; k < 4; k++) {
      const holders = admitted.filter((j) => j.slotShard === k).length;
      expect(holders).toBeLessThanOrEqual(shardCapacity({ cap: 10, shards: 4 }, k));
      expect(store.slots.get(`ee-project-1#${k}`) ?? 0).toBe(holders);
    }
    expect(kinds.filter((k) => k === 'queued').length).toBe(40 - admitted.length);
  });
});

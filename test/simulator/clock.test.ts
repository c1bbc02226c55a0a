/** Manual and scaled clocks, discrete-event stepping, and a simulated day in well under a second. */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../tools/ee-simulator/clock.ts';
import { type Operation, startSimulator } from '../../tools/ee-simulator/index.ts';
import { PROJECT, call, exportBody, getOp, submit } from './helpers.ts';

describe('SimClock', () => {
  it('manual: stands still, and advance() runs due events in time order with now() pinned to each', () => {
    const clock = new SimClock({ mode: 'manual', start: '2025-01-01T00:00:00Z' });
    const t0 = clock.now();
    const seen: Array<[string, number]> = [];
    clock.schedule(t0 + 300, (at) => seen.push(['c', at - t0]));
    clock.schedule(t0 + 100, () => {
      seen.push(['a', clock.now() - t0]);
      clock.schedule(clock.now() + 50, (at) => seen.push(['a+50', at - t0]));
    });
    clock.schedule(t0 + 100, () => seen.push(['b', clock.now() - t0]));
    const cancelled = clock.schedule(t0 + 200, () => seen.push(['cancelled', 0]));
    cancelled.cancel();
    expect(clock.now()).toBe(t0);
    clock.advance(250);
    expect(seen).toEqual([
      ['a', 100],
      ['b', 100],
      ['a+50', 150],
    ]);
    expect(clock.now()).toBe(t0 + 250);
    clock.advance(50);
    expect(seen.at(-1)).toEqual(['c', 300]);
    expect(clock.iso()).toBe('2025-01-01T00:00:00.300Z');
    expect(() => clock.advance(-1)).toThrow();
  });

  it('scaled: simulated time flows `scale` times faster and events fire on their own', async () => {
    const clock = new SimClock({ mode: 'scaled', scale: 1000 });
    const t0 = clock.now();
    const fired = new Promise<number>((resolve) => clock.schedule(t0 + 30_000, (at) => resolve(at)));
    const realStart = performance.now();
    expect(await fired).toBe(t0 + 30_000);
    const realMs = performance.now() - realStart;
    expect(realMs).toBeGreaterThanOrEqual(25);
    expect(realMs).toBeLessThan(1_000);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(30_000);
    clock.advance(60_000); // also allowed in scaled mode: a jump
    expect(clock.now() - t0).toBeGreaterThanOrEqual(90_000);
    clock.dispose();
  });
});

describe('simulator clocks', () => {
  it('manual clock: tasks only move when the test advances time (also via POST /_sim/clock/advance)', async () => {
    const sim = await startSimulator({ clock: { mode: 'manual', start: '2030-06-01T12:00:00Z' } });
    try {
      const op = await submit(sim);
      expect(op.metadata.createTime).toBe('2030-06-01T12:00:00.000Z');
      await new Promise((r) => setTimeout(r, 30));
      expect((await getOp(sim, op)).metadata.state).toBe('PENDING');
      const adv = await call<{ now: string }>(sim, 'POST', '/_sim/clock/advance', { ms: 65_000 });
      expect(adv.body.now).toBe('2030-06-01T12:01:05.000Z');
      expect((await getOp(sim, op)).metadata).toMatchObject({ state: 'SUCCEEDED', endTime: '2030-06-01T12:01:05.000Z' });
      expect((await call(sim, 'POST', '/_sim/clock/advance', { ms: -5 })).status).toBe(400);
      expect((await call(sim, 'GET', '/_sim/clock')).body).toEqual({ mode: 'manual', scale: 0, now: '2030-06-01T12:01:05.000Z' });
    } finally {
      await sim.close();
    }
  });

  it('scaled clock: a one-minute task finishes in about a second of real time at scale 60', async () => {
    const sim = await startSimulator({ clock: { mode: 'scaled', scale: 60 }, taskDurationMs: 30_000, pendingDelayMs: 1_000 });
    try {
      const op = await submit(sim);
      const realStart = performance.now();
      let current: Operation = op;
      while (!current.done) {
        await new Promise((r) => setTimeout(r, 25));
        current = await getOp(sim, op);
      }
      const realMs = performance.now() - realStart;
      expect(current.metadata.state).toBe('SUCCEEDED');
      expect(realMs).toBeGreaterThan(450); // 31 simulated seconds / 60
      expect(realMs).toBeLessThan(2_000);
      const simMs = Date.parse(current.metadata.endTime ?? '') - Date.parse(current.metadata.createTime);
      expect(simMs).toBe(31_000);
    } finally {
      await sim.close();
    }
  });

  it('runs a simulated day of tasks in well under a second', async () => {
    const sim = await startSimulator({
      rateLimitPerSecond: 0,
      maxConcurrentPerProject: 4,
      // 2 to 10 simulated minutes per task, varied by description.
      taskDurationMs: (req) => (2 + (Number(req.description.slice(5)) % 9)) * 60_000,
    });
    try {
      const N = 600;
      // Submitting is HTTP (20 at a time, over kept-alive connections); the day itself is one advance() call.
      const statuses: number[] = [];
      for (let i = 0; i < N; i += 20) {
        const batch = Array.from({ length: 20 }, (_, j) => call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody({ description: `task-${i + j}` })));
        statuses.push(...(await Promise.all(batch)).map((r) => r.status));
      }
      expect(new Set(statuses)).toEqual(new Set([200]));

      const t0 = performance.now();
      sim.clock.advance(24 * 3600 * 1000);
      const elapsed = performance.now() - t0;

      const tasks = sim.tasks(PROJECT);
      expect(tasks.filter((t) => t.state === 'SUCCEEDED')).toHaveLength(N);
      expect(sim.stats().tasksDispatched).toBe(N);
      // Never more than 4 at once: the last task cannot finish before sum(durations)/4.
      const totalMs = tasks.reduce((s, t) => s + t.durationMs, 0);
      const lastEnd = Math.max(...tasks.map((t) => Date.parse(t.operation.metadata.endTime ?? '')));
      const firstCreate = Math.min(...tasks.map((t) => Date.parse(t.operation.metadata.createTime)));
      expect(lastEnd - firstCreate).toBeGreaterThanOrEqual(totalMs / 4);
      expect(lastEnd - firstCreate).toBeLessThan(24 * 3600 * 1000);
      expect(elapsed).toBeLessThan(500);
    } finally {
      await sim.close();
    }
  });
});

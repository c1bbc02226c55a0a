/** The work-based EECU model: pixels × expression cost × noise, occasional outliers, accrued with progress. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { expressionCost, outputPixels, taskEecu } from '../../tools/ee-simulator/eecu-model.ts';
import type { ExportImageRequest } from '../../tools/ee-simulator/validate-export.ts';
import { getOp, referenceExpression, submit } from './helpers.ts';

const req = (over: Partial<ExportImageRequest>): ExportImageRequest =>
  ({ expression: referenceExpression() as never, description: 'd', maxPixels: 1e10, priority: 100, destination: { kind: 'cloudStorage', bucket: 'b', filenamePrefix: 'x' }, body: {}, ...over }) as ExportImageRequest;

describe('EECU work model', () => {
  it('counts pixels from the grid, else from a region over a scale', () => {
    expect(outputPixels(req({ grid: { width: 1000, height: 500 } }), 1)).toBe(500_000);
    const region = {
      result: '0',
      values: { '0': { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: { constantValue: 1 }, scale: { constantValue: 30 }, geometry: { constantValue: { type: 'Polygon', coordinates: [[[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1], [0, 0]]] } } } } } },
    };
    expect(outputPixels(req({ expression: region as never }), 1)).toBeCloseTo(((0.1 * 111_320) / 30) * ((0.1 * 110_540) / 30), -2);
    expect(outputPixels(req({}), 123)).toBe(123);
  });

  it('costs heavy functions and more bands more', () => {
    const light = expressionCost(req({}));
    const heavy = expressionCost(req({ expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'ImageCollection.reduce', arguments: { collection: { functionInvocationValue: { functionName: 'Image.select', arguments: { bandSelectors: { constantValue: ['B4'] } } } } } } } } } as never }));
    expect(heavy).toBeGreaterThan(light * 2);
  });

  it('spreads like a log-normal with a few outliers, and repeats per seed', () => {
    const r = req({ grid: { width: 1000, height: 1000 } });
    const costs = Array.from({ length: 2000 }, (_, i) => taskEecu(r, `s${i}`));
    const base = outputPixels(r, 0) * expressionCost(r) * 2e-6;
    const sorted = [...costs].sort((a, b) => a - b);
    expect(sorted[1000]! / base).toBeGreaterThan(0.9);
    expect(sorted[1000]! / base).toBeLessThan(1.1);
    const outliers = costs.filter((c) => c > base * 2.5).length / costs.length;
    expect(outliers).toBeGreaterThan(0.01);
    expect(outliers).toBeLessThan(0.06);
    expect(taskEecu(r, 'same')).toBe(taskEecu(r, 'same'));
  });

  describe('in the server', () => {
    let sim: Simulator;
    let hidden: Simulator;
    beforeAll(async () => {
      sim = await startSimulator({ clock: { mode: 'manual' }, rateLimitPerSecond: 0, taskDurationMs: 100_000, eecuModel: 'work' });
      hidden = await startSimulator({ clock: { mode: 'manual' }, rateLimitPerSecond: 0, taskDurationMs: 100_000, eecuModel: 'work', eecuWhileRunning: false });
    });
    afterAll(async () => {
      await sim.close();
      await hidden.close();
    });

    it('accrues the task’s cost with progress, whatever its duration', async () => {
      const op = await submit(sim, { grid: { dimensions: { width: 2000, height: 2000 } } });
      sim.clock.advance(5_000 + 50_000);
      const mid = (await getOp(sim, op)).metadata.batchEecuUsageSeconds!;
      sim.clock.advance(60_000);
      const end = (await getOp(sim, op)).metadata.batchEecuUsageSeconds!;
      expect(mid).toBeCloseTo(end / 2, 1);
      // 4e6 pixels × cost × 2e-6, within noise and outliers
      expect(end).toBeGreaterThan(4);
      expect(end).toBeLessThan(400);
    });

    it('can keep a running task’s EECU to itself (eecuWhileRunning: false)', async () => {
      const op = await submit(hidden, {});
      hidden.clock.advance(55_000);
      const mid = await getOp(hidden, op);
      expect(mid.metadata.state).toBe('RUNNING');
      expect(mid.metadata.batchEecuUsageSeconds).toBeUndefined();
      hidden.clock.advance(60_000);
      expect((await getOp(hidden, op)).metadata.batchEecuUsageSeconds).toBeGreaterThan(0);
    });
  });
});

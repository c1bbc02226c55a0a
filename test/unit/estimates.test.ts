/** Estimates: pixels and fingerprints, calibration from history, the prior, accuracy, and the service over a store. */
import { describe, expect, it } from 'vitest';
import { accuracyOf, createEstimates, estimateRequest, expressionFingerprint, outputPixels, probeRequest, sampleOf, type Sample } from '../../functions/src/core/estimates/index.ts';
import { parseExportRequest, type ExportImageRequest } from '../../functions/src/core/requests/index.ts';
import { newJob, type Job } from '../../functions/src/core/jobs/index.ts';
import { jsClientRequest } from '../fakes/requests.ts';
import { BudgetsSchema } from '../../functions/src/core/budgets/index.ts';
import { MemoryStore } from '../fakes/memory-store.ts';

const AT = '2026-05-10T12:00:00.000Z';
function request(over: Record<string, unknown> = {}): ExportImageRequest {
  const r = parseExportRequest({ ...jsClientRequest(), ...over });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}
const gridded = (w: number, h: number, over: Record<string, unknown> = {}) => request({ grid: { dimensions: { width: w, height: h }, crsCode: 'EPSG:4326' }, ...over });
const sample = (req: ExportImageRequest, eecu: number, extra: Partial<Sample> = {}): Sample => ({ eecu, pixels: outputPixels(req), runSeconds: 60, fingerprint: expressionFingerprint(req), workloadTag: req.workloadTag || null, probe: false, ...extra });

describe('what a request computes', () => {
  it('counts pixels from the grid; the fingerprint ignores where and how big', () => {
    expect(outputPixels(gridded(1000, 200))).toBe(200_000);
    expect(expressionFingerprint(gridded(10, 10))).toBe(expressionFingerprint(gridded(5000, 5000, { description: 'other' })));
    const other = request({ expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/b' } } } } } } });
    expect(expressionFingerprint(other)).not.toBe(expressionFingerprint(gridded(10, 10)));
  });

  it('samples a gridded request for a probe, and cannot sample one without a grid', () => {
    const p = probeRequest(gridded(10_000, 8_000))!;
    expect(p.grid?.dimensions).toEqual({ width: 256, height: 256 });
    expect(p.description).toMatch(/^eeport probe/);
    expect(expressionFingerprint(p)).toBe(expressionFingerprint(gridded(10_000, 8_000)));
    expect(probeRequest(request())).toBeNull();
  });
});

describe('estimateRequest', () => {
  it('uses EECU per pixel of the same computation, with a band around the median', () => {
    const base = gridded(1000, 1000);
    const h = [8, 10, 12, 9, 11].map((e) => sample(base, e));
    const e = estimateRequest(gridded(2000, 1000), h, AT);
    expect(e.method).toBe('history:expression');
    expect(e.eecuSeconds.expected).toBeCloseTo(20, 5);
    expect(e.eecuSeconds.low).toBeLessThan(e.eecuSeconds.expected);
    expect(e.eecuSeconds.high).toBeGreaterThan(e.eecuSeconds.expected);
    expect(e.runSeconds?.expected).toBeCloseTo(120, 5);
  });

  it('falls back to the workload tag, then the project, then a wide prior', () => {
    const other = gridded(1000, 1000, { workloadTag: 'forest', expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/z' } } } } } } });
    const h = [1, 1, 1].map((e) => sample(other, e));
    expect(estimateRequest(gridded(1000, 1000, { workloadTag: 'forest' }), h, AT).method).toBe('history:workload-tag');
    expect(estimateRequest(gridded(1000, 1000), h, AT).method).toBe('history:project');
    const prior = estimateRequest(gridded(1000, 1000), h.slice(0, 2), AT);
    expect(prior.method).toBe('prior');
    expect(prior.eecuSeconds.high / prior.eecuSeconds.low).toBeCloseTo(100, 5);
  });

  it('calls a history made only of probes the probe method', () => {
    const base = gridded(256, 256);
    const e = estimateRequest(gridded(2560, 2560), [1, 1.1, 0.9].map((x) => sample(base, x, { probe: true })), AT);
    expect(e.method).toBe('probe');
    expect(e.eecuSeconds.expected).toBeCloseTo(100, 5);
  });

  it('uses the one probe of a computation although it is fewer than minSamples, and only for that computation', () => {
    const base = gridded(256, 256);
    const e = estimateRequest(gridded(2560, 2560), [sample(base, 2, { probe: true })], AT);
    expect(e).toMatchObject({ method: 'probe', samples: 1 });
    expect(e.eecuSeconds.expected).toBeCloseTo(200, 5);
    expect(e.eecuSeconds.low).toBeLessThan(200);
    expect(e.eecuSeconds.high).toBeGreaterThan(200);
    const other = request({ grid: { dimensions: { width: 2560, height: 2560 }, crsCode: 'EPSG:4326' }, expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/b' } } } } } } });
    expect(estimateRequest(other, [sample(base, 2, { probe: true })], AT).method).toBe('prior');
    // A single finished job that is not a probe is still too little.
    expect(estimateRequest(gridded(2560, 2560), [sample(base, 2)], AT).method).toBe('prior');
  });
});

function finished(req: ExportImageRequest, actual: number, estimate: Job['estimate'], i: number): Job {
  return { ...newJob({ jobId: String(i).padStart(32, '0'), state: 'SUCCEEDED', eeProject: 'proj-one', request: req, requestId: `r${i}`, identity: `k${i}`, labels: {}, callbackUrl: null, source: { kind: 'api' } }, AT), eecuSeconds: actual, estimate, startTime: AT, endTime: '2026-05-10T12:01:00.000Z' };
}

describe('accuracy', () => {
  it('reports the median absolute error and band coverage per method', () => {
    const req = gridded(100, 100);
    const est = (method: 'prior' | 'history:expression', expected: number) => ({ ...estimateRequest(req, [], AT), method, eecuSeconds: { low: expected / 2, expected, high: expected * 2 } });
    const jobs = [finished(req, 10, est('history:expression', 9), 1), finished(req, 10, est('history:expression', 12), 2), finished(req, 10, est('history:expression', 30), 3), finished(req, 10, est('prior', 100), 4)];
    expect(accuracyOf(jobs)).toEqual([
      { method: 'history:expression', jobs: 3, medianAbsoluteError: 2, medianAbsolutePercentError: 20, bandCoverage: 0.667 },
      { method: 'prior', jobs: 1, medianAbsoluteError: 90, medianAbsolutePercentError: 900, bandCoverage: 0 },
    ]);
  });
});

describe('the estimates service', () => {
  it('estimates from the store’s finished jobs and shows each budget’s share', async () => {
    const store = new MemoryStore();
    const req = gridded(1000, 1000);
    await store.createJobsIfAbsent([1, 2, 3, 4].map((i) => finished(req, 10 + i, null, i)));
    expect(sampleOf((await store.getJob(String(1).padStart(32, '0')))!)?.pixels).toBe(1_000_000);
    const svc = createEstimates({ store, clock: { now: () => new Date(AT) }, settings: { minSamples: 3, priorEecuPerMegapixel: 5, priorEecuPerTask: 100, priorSpread: 10, historyJobs: 100, cacheSeconds: 0, budgets: [{ eeProject: 'proj-one', monthlyEecuSeconds: 100, onExceeded: 'queue' }] } });
    const a = await svc.estimate([gridded(1000, 1000), gridded(1000, 1000), gridded(1000, 1000), gridded(1000, 1000)], 'proj-one', {});
    expect(a.tasks).toBe(4);
    expect(a.method).toBe('history:expression');
    expect(a.eecuSeconds.low).toBeLessThanOrEqual(a.eecuSeconds.expected);
    expect(a.eecuSeconds.expected).toBeLessThanOrEqual(a.eecuSeconds.high);
    expect(a.eecuSeconds.expected).toBeCloseTo(4 * 12.5, 5);
    expect(a.budget).toEqual([expect.objectContaining({ budget: 'proj-one~all~2026-05', remainingEecuSeconds: 100, shareOfRemaining: 0.5, wouldExceed: false, mayExceed: expect.any(Boolean) })]);
  });

  it('measures a budget share as the governor does: running tasks’ use counted, a share reserved for other work left out', async () => {
    const store = new MemoryStore();
    await store.createJobsIfAbsent([1, 2, 3, 4].map((i) => finished(gridded(1000, 1000), 10 + i, null, i)));
    const [budget] = BudgetsSchema.parse([{ eeProject: 'proj-one', monthlyEecuSeconds: 200, reserve: [{ label: { key: 'env', value: 'prod' }, share: 0.5 }] }]);
    // 20 finished and 30 still running (its last report) this month.
    await store.transact(async (tx) => {
      tx.setBudgetUsage({ id: 'proj-one~all~2026-05', eeProject: 'proj-one', scope: 'all', month: '2026-05', usedEecuSeconds: 20, limitEecuSeconds: 200, exceededNotified: false, updateTime: AT, runningEecuSeconds: { [String(9).padStart(32, '0')]: 30 }, dailyEecuSeconds: {}, thresholdsNotified: [] });
    });
    const svc = createEstimates({ store, clock: { now: () => new Date(AT) }, settings: { minSamples: 3, priorEecuPerMegapixel: 5, priorEecuPerTask: 100, priorSpread: 10, historyJobs: 100, cacheSeconds: 0, budgets: [budget!] } });
    const other = await svc.estimate([gridded(1000, 1000)], 'proj-one', {});
    expect(other.budget).toEqual([expect.objectContaining({ limitEecuSeconds: 100, usedEecuSeconds: 50, remainingEecuSeconds: 50, shareOfRemaining: 0.25 })]);
    const prod = await svc.estimate([gridded(1000, 1000)], 'proj-one', { env: 'prod' });
    expect(prod.budget).toEqual([expect.objectContaining({ limitEecuSeconds: 200, usedEecuSeconds: 50, remainingEecuSeconds: 150 })]);
  });
});

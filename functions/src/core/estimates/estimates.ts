/**
 * Estimates: what an export will cost in EECU-seconds before it runs, with a band, and
 * how good past estimates were. The method is in docs/adr/0011-estimates.md: EECU per
 * output pixel learned from finished jobs, most specific history first (the same
 * computation, then the workload tag, then the project), a wide prior where there is no
 * history, and a probe (a small real export of a sample) to start a history.
 */
import type { ExportImageRequest } from '../requests/index.ts';
import type { Job, JobEstimate, EstimateMethod } from '../jobs/index.ts';
import { expressionFingerprint, outputPixels } from './work.ts';

export interface EstimateSettings {
  /** Finished jobs a history key needs before it is used (ESTIMATE_MIN_SAMPLES). */
  minSamples: number;
  /** Prior EECU-seconds per megapixel where there is no history (ESTIMATE_PRIOR_EECU_PER_MEGAPIXEL). */
  priorEecuPerMegapixel: number;
  /** Prior EECU-seconds for a task whose pixels cannot be told (ESTIMATE_PRIOR_EECU_PER_TASK). */
  priorEecuPerTask: number;
  /** The prior's band: expected ÷ and × this factor. */
  priorSpread: number;
}

export const DEFAULT_ESTIMATE_SETTINGS: EstimateSettings = { minSamples: 3, priorEecuPerMegapixel: 5, priorEecuPerTask: 100, priorSpread: 10 };

/** One finished job as calibration sees it. */
export interface Sample {
  eecu: number;
  pixels: number | null;
  runSeconds: number | null;
  fingerprint: string;
  workloadTag: string | null;
  probe: boolean;
}

export const PROBE_LABEL = 'eeport-probe';

export function sampleOf(job: Job): Sample | null {
  if (job.state !== 'SUCCEEDED' || !job.request || !(job.eecuSeconds && job.eecuSeconds > 0)) return null;
  const run = job.startTime && job.endTime ? (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000 : null;
  return {
    eecu: job.eecuSeconds,
    pixels: job.estimate?.pixels ?? outputPixels(job.request),
    runSeconds: run !== null && run > 0 ? run : null,
    fingerprint: job.estimate?.fingerprint ?? expressionFingerprint(job.request),
    workloadTag: job.request.workloadTag || null,
    probe: job.labels[PROBE_LABEL] === 'true',
  };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Median and 10th/90th percentiles, the band widened for small histories (×/÷ 1 + 1/√n, at least ±20 %). */
function spread(values: number[]): { low: number; expected: number; high: number } {
  const s = [...values].sort((a, b) => a - b);
  const med = quantile(s, 0.5);
  const widen = 1 + 1 / Math.sqrt(s.length);
  return { low: Math.min(quantile(s, 0.1) / widen, med / 1.2), expected: med, high: Math.max(quantile(s, 0.9) * widen, med * 1.2) };
}

/**
 * Estimates one request from a history of samples (finished jobs of its project).
 * Per pixel where the pixels are known, per task (same computation only) where not.
 */
export function estimateRequest(req: ExportImageRequest, history: readonly Sample[], at: string, s: EstimateSettings = DEFAULT_ESTIMATE_SETTINGS): JobEstimate {
  const pixels = outputPixels(req);
  const fingerprint = expressionFingerprint(req);
  const tag = req.workloadTag || null;
  const keys: Array<{ method: EstimateMethod; match: (x: Sample) => boolean; basis: string }> = [
    { method: 'history:expression', match: (x) => x.fingerprint === fingerprint, basis: `expression ${fingerprint}` },
    ...(tag ? [{ method: 'history:workload-tag' as const, match: (x: Sample) => x.workloadTag === tag, basis: `workload tag ${tag}` }] : []),
    { method: 'history:project', match: () => true, basis: 'the project' },
  ];
  for (const k of pixels !== null ? keys : keys.slice(0, 1)) {
    const found = history.filter((x) => k.match(x) && (pixels !== null ? x.pixels !== null && x.pixels > 0 : x.pixels === null));
    // A finished probe is a deliberate sample of this very computation: it is enough on its own
    // (there is one probe per computation, so waiting for minSamples would never use it).
    const enough = found.length >= s.minSamples || (k.method === 'history:expression' && found.some((x) => x.probe));
    if (!enough) continue;
    const scale = pixels ?? 1;
    const e = spread(found.map((x) => x.eecu / (x.pixels ?? 1)));
    const runs = found.filter((x) => x.runSeconds !== null).map((x) => x.runSeconds! / (x.pixels ?? 1));
    const r = runs.length ? spread(runs) : null;
    const probes = found.filter((x) => x.probe).length;
    // A history made only of probes is the probe method: say so.
    const method: EstimateMethod = probes === found.length ? 'probe' : k.method;
    return {
      method,
      pixels,
      fingerprint,
      eecuSeconds: { low: round(e.low * scale), expected: round(e.expected * scale), high: round(e.high * scale) },
      runSeconds: r ? { expected: round(r.expected * scale), high: round(r.high * scale) } : null,
      basis: `${found.length} finished job${found.length === 1 ? '' : 's'} of ${k.basis}${probes ? ` (${probes} probe${probes === 1 ? '' : 's'})` : ''}, ${pixels !== null ? 'EECU per output pixel' : 'EECU per task'}`,
      samples: found.length,
      at,
    };
  }
  const expected = pixels !== null ? (pixels / 1e6) * s.priorEecuPerMegapixel : s.priorEecuPerTask;
  return {
    method: 'prior',
    pixels,
    fingerprint,
    eecuSeconds: { low: round(expected / s.priorSpread), expected: round(expected), high: round(expected * s.priorSpread) },
    runSeconds: null,
    basis: `no history (fewer than ${s.minSamples} finished jobs of this computation, workload tag or project): ${pixels !== null ? `${s.priorEecuPerMegapixel} EECU-seconds per megapixel` : `${s.priorEecuPerTask} EECU-seconds per task`}, ÷/× ${s.priorSpread}`,
    samples: 0,
    at,
  };
}

/** Sums the estimates of a batch's children: the band is the sum of the bands (conservative: children's errors are not all one way). */
export function sumEstimates(parts: readonly JobEstimate[]): { low: number; expected: number; high: number } {
  const sum = (f: (e: JobEstimate) => number) => round(parts.reduce((n, e) => n + f(e), 0));
  return { low: sum((e) => e.eecuSeconds.low), expected: sum((e) => e.eecuSeconds.expected), high: sum((e) => e.eecuSeconds.high) };
}

export interface MethodAccuracy {
  method: EstimateMethod;
  jobs: number;
  /** Median of |actual − expected|, EECU-seconds. */
  medianAbsoluteError: number;
  /** Median of |actual − expected| / actual. */
  medianAbsolutePercentError: number;
  /** Share of jobs whose actual fell within [low, high]. */
  bandCoverage: number;
}

/** How the recorded estimates of finished jobs compare with what they used, per method. */
export function accuracyOf(jobs: readonly Job[]): MethodAccuracy[] {
  const by = new Map<EstimateMethod, Array<{ abs: number; rel: number; inBand: boolean }>>();
  for (const j of jobs) {
    const e = j.estimate;
    if (j.state !== 'SUCCEEDED' || !e || !(j.eecuSeconds && j.eecuSeconds > 0)) continue;
    const a = j.eecuSeconds;
    const list = by.get(e.method) ?? [];
    list.push({ abs: Math.abs(a - e.eecuSeconds.expected), rel: Math.abs(a - e.eecuSeconds.expected) / a, inBand: a >= e.eecuSeconds.low && a <= e.eecuSeconds.high });
    by.set(e.method, list);
  }
  return [...by.entries()]
    .map(([method, l]) => ({
      method,
      jobs: l.length,
      medianAbsoluteError: round(quantile(l.map((x) => x.abs).sort((a, b) => a - b), 0.5)),
      medianAbsolutePercentError: round(100 * quantile(l.map((x) => x.rel).sort((a, b) => a - b), 0.5)),
      bandCoverage: round(l.filter((x) => x.inBand).length / l.length),
    }))
    .sort((a, b) => a.method.localeCompare(b.method));
}

/** Where a probe writes: beside the request's own output, never over it (an `eeport-probe/` folder, an asset name ending `-eeport-probe`). */
function probeDestination(req: ExportImageRequest): Partial<ExportImageRequest> {
  const f = req.fileExportOptions;
  if (f) {
    const inFolder = (d: { filenamePrefix?: string } | undefined) => (d ? { ...d, filenamePrefix: `eeport-probe/${d.filenamePrefix ?? ''}` } : undefined);
    return { fileExportOptions: { ...f, ...(f.cloudStorageDestination ? { cloudStorageDestination: inFolder(f.cloudStorageDestination) } : {}), ...(f.driveDestination ? { driveDestination: inFolder(f.driveDestination) } : {}) } } as Partial<ExportImageRequest>;
  }
  const a = req.assetExportOptions;
  if (a) return { assetExportOptions: { ...a, earthEngineDestination: { ...a.earthEngineDestination, name: `${a.earthEngineDestination.name}-eeport-probe`, overwrite: true } } } as Partial<ExportImageRequest>;
  return {};
}

/**
 * A sample of a request small enough to probe: the same computation on the top-left
 * corner of its grid, at most `side`×`side` pixels, written beside the request's own
 * destination (see probeDestination). Null when the request has no grid dimensions to
 * shrink (its region lives in the expression).
 */
export function probeRequest(req: ExportImageRequest, side = 256): ExportImageRequest | null {
  const d = req.grid?.dimensions;
  if (!d?.width || !d.height) return null;
  const { requestId: _drop, ...rest } = req;
  return {
    ...rest,
    ...probeDestination(req),
    description: `eeport probe ${(req.description ?? '').slice(0, 60)}`.trim(),
    grid: { ...req.grid, dimensions: { width: Math.min(side, d.width), height: Math.min(side, d.height) } },
  } as ExportImageRequest;
}

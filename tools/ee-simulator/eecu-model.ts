/**
 * How much EECU a task costs when `eecuModel: 'work'`: a function of the work it does,
 * not of how long the simulator lets it run. Deliberately unlike any estimator: it
 * weighs the expression's functions (which an estimator cannot see), adds per-task
 * noise and occasional outliers, so estimates are tested against something that is
 * not their own formula. Deterministic per task (seeded by requestId or description
 * and creation order), so runs repeat.
 */
import type { ExportImageRequest } from './validate-export.ts';

export interface EecuModel {
  /** EECU-seconds per output pixel per unit of expression cost. Default 2e-6. */
  perPixel: number;
  /** Standard deviation of the log-normal noise on every task. Default 0.2. */
  noiseSigma: number;
  /** Share of tasks that cost several times what they should (a bad reprojection, a hot tile). Default 0.03. */
  outlierRate: number;
  /** How many times more an outlier costs: uniform in [min, max]. Default [3, 6]. */
  outlierFactor: [number, number];
  /** Pixels assumed when neither the grid nor the expression bounds the output. Default 1e7. */
  unboundedPixels: number;
}

export const DEFAULT_EECU_MODEL: EecuModel = { perPixel: 2e-6, noiseSigma: 0.2, outlierRate: 0.03, outlierFactor: [3, 6], unboundedPixels: 1e7 };

/** Functions that cost far more per pixel than a band select (temporal reductions, mosaics, joins). */
const HEAVY = /reduce|composite|median|mosaic|qualityMosaic|join|convolve|focal|entropy|glcm|classify|sample/i;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function walk(v: unknown, visit: (o: Obj) => void): void {
  if (Array.isArray(v)) for (const x of v) walk(x, visit);
  else if (isObj(v)) {
    visit(v);
    for (const x of Object.values(v)) walk(x, visit);
  }
}

/** Bounding box (lon/lat degrees) of every coordinate pair found under a value. */
function bbox(v: unknown): [number, number, number, number] | null {
  let box = null as [number, number, number, number] | null;
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) {
      if (x.length >= 2 && typeof x[0] === 'number' && typeof x[1] === 'number') {
        const [lon, lat] = x as number[];
        box = box ? [Math.min(box[0], lon!), Math.min(box[1], lat!), Math.max(box[2], lon!), Math.max(box[3], lat!)] : [lon!, lat!, lon!, lat!];
      } else for (const y of x) visit(y);
    } else if (isObj(x)) for (const y of Object.values(x)) visit(y);
  };
  visit(v);
  return box;
}

/** Output pixels: the grid's dimensions, else the expression's region over its scale. */
export function outputPixels(req: ExportImageRequest, fallback: number): number {
  const g = req.grid;
  if (g?.width && g.height) return g.width * g.height;
  let scale: number | undefined;
  let region = null as [number, number, number, number] | null;
  walk(req.expression, (o) => {
    const args = isObj(o.functionInvocationValue) ? (o.functionInvocationValue as Obj).arguments : undefined;
    if (!isObj(args)) return;
    const s = isObj(args.scale) ? (args.scale as Obj).constantValue : undefined;
    if (typeof s === 'number' && s > 0) scale ??= s;
    for (const k of ['geometry', 'region', 'clipGeometry']) if (args[k] !== undefined) region ??= bbox(args[k]);
  });
  if (!scale || !region) return fallback;
  const [w, s, e, n] = region;
  const midLat = ((s + n) / 2) * (Math.PI / 180);
  const width = Math.max(scale, (e - w) * 111_320 * Math.cos(midLat));
  const height = Math.max(scale, (n - s) * 110_540);
  return Math.round((width / scale) * (height / scale));
}

/** Cost factor of an expression: every invocation adds a little, heavy ones a lot, bands multiply. */
export function expressionCost(req: ExportImageRequest): number {
  let calls = 0;
  let heavy = 0;
  let bands = 0;
  walk(req.expression, (o) => {
    const f = isObj(o.functionInvocationValue) ? (o.functionInvocationValue as Obj) : undefined;
    if (!f) return;
    calls += 1;
    if (typeof f.functionName === 'string' && HEAVY.test(f.functionName)) heavy += 1;
    const sel = isObj(f.arguments) && isObj((f.arguments as Obj).bandSelectors) ? ((f.arguments as Obj).bandSelectors as Obj).constantValue : undefined;
    if (Array.isArray(sel)) bands = Math.max(bands, sel.length);
  });
  return (1 + 0.25 * calls + 4 * heavy) * Math.max(1, bands);
}

/** A small deterministic PRNG (mulberry32) from a string seed. */
function rng(seed: string): () => number {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  let a = h;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Total EECU-seconds one attempt of a task costs when it runs to the end. */
export function taskEecu(req: ExportImageRequest, seed: string, m: EecuModel = DEFAULT_EECU_MODEL): number {
  const r = rng(seed);
  // Box-Muller: one standard normal from two uniforms.
  const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  let eecu = outputPixels(req, m.unboundedPixels) * expressionCost(req) * m.perPixel * Math.exp(m.noiseSigma * z);
  if (r() < m.outlierRate) eecu *= m.outlierFactor[0] + r() * (m.outlierFactor[1] - m.outlierFactor[0]);
  return eecu;
}

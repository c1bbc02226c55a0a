/**
 * What a request asks Earth Engine to compute, as far as eeport can tell before it runs:
 * how many output pixels, and a fingerprint of the computation that ignores where it
 * runs (regions, file names), so tiles of one fan-out share their history.
 */
import type { ExportImageRequest } from '../requests/index.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Arguments whose constants change the computation itself (which image, which bands); other constants are where and how big. */
const KEPT_CONSTANTS = new Set(['id', 'bandSelectors', 'collection', 'reducer']);
const REGION_ARGS = ['geometry', 'region', 'clipGeometry'];

/** The expression with references inlined (flat and nested graphs of the same computation look alike), depth-capped. */
function inline(expr: ExportImageRequest['expression']): unknown {
  const values = expr.values as Obj;
  const resolve = (v: unknown, depth: number): unknown => {
    if (depth > 64) return '…';
    if (Array.isArray(v)) return v.map((x) => resolve(x, depth + 1));
    if (!isObj(v)) return v;
    if (typeof v.valueReference === 'string' && Object.hasOwn(values, v.valueReference)) return resolve(values[v.valueReference], depth + 1);
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = resolve(x, depth + 1);
    return out;
  };
  return resolve(values[expr.result], 0);
}

/** The computation's shape: function names and argument names, constants kept only where they pick data. */
function shape(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => shape(x, key));
  if (!isObj(v)) return v;
  if ('constantValue' in v) return KEPT_CONSTANTS.has(key) ? v.constantValue : '#';
  if ('integerValue' in v || 'bytesValue' in v) return '#';
  const out: Obj = {};
  for (const k of Object.keys(v).sort()) out[k] = shape(v[k], k === 'arguments' ? key : k);
  return out;
}

/** FNV-1a, twice with different offsets: 16 hex characters, stable across processes (no node crypto in the core). */
function hash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619) >>> 0;
    b = Math.imul(b ^ c, 16777619 ^ 0x2f) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

export function expressionFingerprint(req: ExportImageRequest): string {
  return hash(JSON.stringify(shape(inline(req.expression))));
}

function bbox(v: unknown): [number, number, number, number] | null {
  let box = null as [number, number, number, number] | null;
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) {
      if (x.length >= 2 && typeof x[0] === 'number' && typeof x[1] === 'number') {
        const lon = x[0];
        const lat = x[1];
        box = box ? [Math.min(box[0], lon), Math.min(box[1], lat), Math.max(box[2], lon), Math.max(box[3], lat)] : [lon, lat, lon, lat];
      } else x.forEach(visit);
    } else if (isObj(x)) Object.values(x).forEach(visit);
  };
  visit(v);
  return box;
}

/**
 * Output pixels: the grid's dimensions when it has them; else the bounding box of a
 * region argument (lon/lat) over a scale argument in metres; else null (unknown: the
 * image's own footprint, which eeport cannot see).
 */
export function outputPixels(req: ExportImageRequest): number | null {
  const d = req.grid?.dimensions;
  if (d?.width && d.height) return d.width * d.height;
  const rs = regionAndScale(req);
  if (!rs) return null;
  const { scale } = rs;
  const [w, s, e, n] = rs.region;
  const lat = ((s + n) / 2) * (Math.PI / 180);
  const width = Math.max(scale, (e - w) * 111_320 * Math.cos(lat));
  const height = Math.max(scale, (n - s) * 110_540);
  return Math.round((width / scale) * (height / scale));
}

/** The first `scale` argument (metres per pixel) and the bounding box [west, south, east, north] of the first region argument in the expression; null when it has not both. */
export function regionAndScale(req: ExportImageRequest): { region: [number, number, number, number]; scale: number } | null {
  let scale: number | undefined;
  let region = null as [number, number, number, number] | null;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!isObj(v)) return;
    const args = isObj(v.functionInvocationValue) && isObj(v.functionInvocationValue.arguments) ? v.functionInvocationValue.arguments : null;
    if (args) {
      const s = isObj(args.scale) ? args.scale.constantValue : undefined;
      if (typeof s === 'number' && s > 0) scale ??= s;
      for (const k of REGION_ARGS) if (args[k] !== undefined) region ??= bbox(args[k]);
    }
    Object.values(v).forEach(visit);
  };
  visit(inline(req.expression));
  return scale && region ? { region, scale } : null;
}

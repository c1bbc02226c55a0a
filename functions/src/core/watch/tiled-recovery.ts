/**
 * Recovery that changes the request (docs/watch.md, ADR 0015): a task that FAILED because
 * it needed too much memory or compute time, or made too big an output, is submitted
 * again as a batch of tiles on the **same pixel grid** — every tile keeps the original's
 * CRS and affine transform's scale and shear, and moves its translation by a whole number
 * of pixels, so the tiles' pixel rectangles partition the original's exactly and mosaic
 * without gaps or overlaps. Pure functions; the tick that applies them is recovery-service.ts.
 */
import { EVENT_TYPE_PREFIX, eventSummary, type CloudEvent, type Job, type JobEventData, type TiledRecovery } from '../jobs/index.ts';
import type { ExportImageRequest } from '../requests/index.ts';
import { regionAndScale } from '../estimates/index.ts';

/** Metres in a degree at the equator: how Earth Engine turns a scale in metres into degrees of EPSG:4326. */
export const METRES_PER_DEGREE = 111_319.490793;

export const RECOVERED_KIND = 'recovered';
export const RECOVERED_EVENT_TYPE = `${EVENT_TYPE_PREFIX}${RECOVERED_KIND}`;
/** The label a recovery batch (and so each tile's job) carries: how many tilings deep it is. */
export const RECOVERY_DEPTH_LABEL = 'eeport-recovery-depth';

export type ComputeFailureKind = TiledRecovery['kind'];

/**
 * Earth Engine's messages for a task too big for one worker. The texts are those users
 * report (forum and issue threads); Earth Engine documents none of them, nor their
 * google.rpc codes, so only the message is matched. "Computation timed out" is also
 * transient for failure classification (core/jobs): it is resubmitted unchanged up to
 * MAX_RESUBMISSIONS times first, and tiled only once the job has FAILED.
 */
export const COMPUTE_FAILURE_PATTERNS: readonly { kind: ComputeFailureKind; pattern: RegExp }[] = [
  { kind: 'memory', pattern: /user memory limit exceeded|memory capacity exceeded|out of memory/i },
  { kind: 'compute-time', pattern: /computation timed out|computation time limit|compute time limit exceeded/i },
  { kind: 'too-large', pattern: /output of image computation is too large|export too large|too many pixels|exceeds? maxpixels/i },
];

/** Which kind of too-big failure a message is; null when it is not one tiling can help. */
export function computeFailureKind(message: string | null | undefined): ComputeFailureKind | null {
  if (!message) return null;
  return COMPUTE_FAILURE_PATTERNS.find((p) => p.pattern.test(message))?.kind ?? null;
}

export interface PixelGrid {
  width: number;
  height: number;
  affine: { scaleX: number; shearX: number; translateX: number; shearY: number; scaleY: number; translateY: number };
  crs: { crsCode: string } | { crsWkt: string };
}

/** A rectangle of pixels of a grid: columns [x, x + width), rows [y, y + height). */
export interface PixelRect {
  row: number;
  col: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

const positiveInt = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : null;
};

/**
 * A grid for a request that has only a region and a scale in its expression (what the
 * official clients send): EPSG:4326, a pixel of `scale` metres as degrees at the equator
 * (scale / 111,319.49 m, Earth Engine's own conversion), the origin snapped to a whole
 * multiple of the pixel size at or outside the region's north-west corner, and enough
 * pixels to cover the region's bounding box. Earth Engine would have placed the original's
 * pixels in the image's own projection; the tiles share this grid with each other exactly.
 */
export function gridFromRegionAndScale(region: readonly [number, number, number, number], scale: number): PixelGrid {
  const d = scale / METRES_PER_DEGREE;
  const [west, south, east, north] = region;
  const x0 = Math.floor(west / d + 1e-9) * d;
  const y0 = Math.ceil(north / d - 1e-9) * d;
  const width = Math.max(1, Math.ceil((east - x0) / d - 1e-9));
  const height = Math.max(1, Math.ceil((y0 - south) / d - 1e-9));
  return { width, height, affine: { scaleX: d, shearX: 0, translateX: x0, shearY: 0, scaleY: -d, translateY: y0 }, crs: { crsCode: 'EPSG:4326' } };
}

/**
 * The request's pixel grid, or why there is none: its explicit `grid` (dimensions,
 * affineTransform, crsCode or crsWkt), else one defined from the region and scale in its
 * expression (gridFromRegionAndScale), else none.
 */
export function pixelGridOf(request: ExportImageRequest): { ok: true; grid: PixelGrid } | { ok: false; reason: string } {
  const g = (request as { grid?: Record<string, unknown> }).grid;
  if (!g || typeof g !== 'object') {
    const rs = regionAndScale(request);
    if (rs) return { ok: true, grid: gridFromRegionAndScale(rs.region, rs.scale) };
    return { ok: false, reason: 'the request has no grid, nor a region and a scale in its expression to define one' };
  }
  const dims = g.dimensions as { width?: unknown; height?: unknown } | undefined;
  const width = positiveInt(dims?.width);
  const height = positiveInt(dims?.height);
  if (width === null || height === null) return { ok: false, reason: 'the grid has no whole-number dimensions' };
  const a = (g.affineTransform ?? {}) as Record<string, unknown>;
  const num = (k: string, d: number) => (a[k] === undefined ? d : typeof a[k] === 'number' && Number.isFinite(a[k]) ? (a[k] as number) : NaN);
  const affine = { scaleX: num('scaleX', 1), shearX: num('shearX', 0), translateX: num('translateX', 0), shearY: num('shearY', 0), scaleY: num('scaleY', 1), translateY: num('translateY', 0) };
  if (Object.values(affine).some((v) => Number.isNaN(v))) return { ok: false, reason: 'the grid’s affineTransform is not numbers' };
  const crs = typeof g.crsCode === 'string' ? { crsCode: g.crsCode } : typeof g.crsWkt === 'string' ? { crsWkt: g.crsWkt } : null;
  if (!crs) return { ok: false, reason: 'the grid names no CRS (crsCode or crsWkt)' };
  return { ok: true, grid: { width, height, affine, crs } };
}

/** Splits `total` pixels into `parts` runs whose lengths differ by at most one. */
function cuts(total: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * total) / parts));
}

/**
 * About `tiles` rectangles (columns × rows, as square as the count allows, never more of
 * either than there are pixels) that partition a width × height grid exactly, row-major
 * from the grid's origin.
 */
export function tileRects(width: number, height: number, tiles: number): PixelRect[] {
  const n = Math.max(1, Math.floor(tiles));
  // Columns along the longer side first: a 4-tile split of a 10 × 1000 strip is 1 × 4.
  const aspect = width / height;
  let cols = Math.max(1, Math.min(width, Math.round(Math.sqrt(n * aspect))));
  let rows = Math.max(1, Math.min(height, Math.ceil(n / cols)));
  cols = Math.max(1, Math.min(width, Math.ceil(n / rows)));
  rows = Math.max(1, Math.min(height, rows));
  const xs = cuts(width, cols);
  const ys = cuts(height, rows);
  const out: PixelRect[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push({ row: r, col: c, x: xs[c]!, y: ys[r]!, width: xs[c + 1]! - xs[c]!, height: ys[r + 1]! - ys[r]! });
  return out;
}

/** The grid of one tile: the same CRS, scale and shear; the translation moved by the tile's whole-pixel offset. */
export function tileGridOf(grid: PixelGrid, rect: PixelRect): PixelGrid {
  const a = grid.affine;
  return {
    width: rect.width,
    height: rect.height,
    crs: grid.crs,
    affine: { ...a, translateX: a.translateX + rect.x * a.scaleX + rect.y * a.shearX, translateY: a.translateY + rect.x * a.shearY + rect.y * a.scaleY },
  };
}

/** A tile's name suffix: the depth keeps a re-tiled tile's names apart from its parent's siblings'. */
export const tileSuffix = (depth: number, rect: PixelRect) => `t${depth}-r${rect.row}-c${rect.col}`;

/** The original request with the tile's grid, its file name prefix or asset id suffixed, and no requestId (each tile gets its own). */
export function tileRequest(request: ExportImageRequest, grid: PixelGrid, rect: PixelRect, depth: number): ExportImageRequest {
  const suffix = tileSuffix(depth, rect);
  const out = structuredClone(request) as Record<string, unknown> & { fileExportOptions?: Record<string, Record<string, unknown> | undefined>; assetExportOptions?: { earthEngineDestination?: { name?: string } } };
  delete out.requestId;
  const t = tileGridOf(grid, rect);
  out.grid = { dimensions: { width: t.width, height: t.height }, affineTransform: t.affine, ...t.crs };
  const file = out.fileExportOptions;
  if (file) {
    for (const d of ['cloudStorageDestination', 'gcsDestination', 'driveDestination']) {
      const dest = file[d];
      if (dest) file[d] = { ...dest, filenamePrefix: `${(dest.filenamePrefix as string | undefined) ?? 'tile'}_${suffix}` };
    }
  }
  const asset = out.assetExportOptions?.earthEngineDestination;
  if (asset?.name) asset.name = `${asset.name}_${suffix}`;
  if (typeof out.description === 'string') out.description = `${out.description} ${suffix}`.slice(0, 100);
  return out as ExportImageRequest;
}

export interface RecoverySettings {
  /** Tiles a failed job is split into (RECOVERY_TILES; 0: the policy is off). */
  tiles: number;
  /** How many times a tile's own failure may be tiled again (RECOVERY_MAX_DEPTH; 1: tiles are never re-tiled). */
  maxDepth: number;
}

export const DEFAULT_RECOVERY_SETTINGS: RecoverySettings = { tiles: 0, maxDepth: 1 };

/** How many tilings deep a job is: 0 for an ordinary job, n for a tile of the nth tiling. */
export function recoveryDepthOf(job: Pick<Job, 'labels'>): number {
  const d = Number(job.labels?.[RECOVERY_DEPTH_LABEL] ?? 0);
  return Number.isInteger(d) && d >= 0 ? d : 0;
}

export type RecoveryPlan = { ok: true; kind: ComputeFailureKind; depth: number; grid: PixelGrid; rects: PixelRect[]; requests: ExportImageRequest[]; reason: string } | { ok: false; reason: string };

/**
 * What the policy does with a job: tile it, or not and why. At most once per job (a job
 * with a recovery is never planned again), and a tile only while its depth is under the
 * limit.
 */
export function planRecovery(job: Job, s: RecoverySettings): RecoveryPlan {
  if (s.tiles < 2) return { ok: false, reason: 'the policy is off (RECOVERY_TILES)' };
  if (job.state !== 'FAILED') return { ok: false, reason: 'the job has not failed' };
  if (job.recovery) return { ok: false, reason: 'the job was already recovered' };
  const message = job.error?.message ?? job.lastFailure?.message ?? null;
  const kind = computeFailureKind(message);
  if (!kind) return { ok: false, reason: 'not a memory, compute-time or output-size failure' };
  const depth = recoveryDepthOf(job) + 1;
  if (depth > s.maxDepth) return { ok: false, reason: `a tile of depth ${depth - 1}; RECOVERY_MAX_DEPTH is ${s.maxDepth}` };
  if (!job.request) return { ok: false, reason: 'the job has no request' };
  const g = pixelGridOf(job.request);
  if (!g.ok) return { ok: false, reason: g.reason };
  const rects = tileRects(g.grid.width, g.grid.height, s.tiles);
  if (rects.length < 2) return { ok: false, reason: 'the grid is one pixel: nothing to split' };
  const requests = rects.map((r) => tileRequest(job.request!, g.grid, r, depth));
  return { ok: true, kind, depth, grid: g.grid, rects, requests, reason: `${kind}: ${message!.slice(0, 300)}` };
}

export interface RecoveredEventData extends JobEventData {
  recovery: TiledRecovery;
}

/** The one `recovered` event of a job: its id depends on the job only (recovery happens once). */
export function recoveredEvent(job: Job, recovery: TiledRecovery, source: string): CloudEvent {
  const data: RecoveredEventData = { ...eventSummary(job), recovery };
  return { specversion: '1.0', id: `${job.jobId}.${RECOVERED_KIND}`, source, type: RECOVERED_EVENT_TYPE, subject: job.jobId, time: recovery.at, datacontenttype: 'application/json', data };
}

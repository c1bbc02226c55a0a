/**
 * Batches: one message (or API call) describing many exports — an explicit list, a
 * template fanned out over values (dates, asset ids), or a template over a tiling of a
 * region that eeport computes (each tile its own `grid`, file names from the tile
 * index). The whole batch is expanded and validated up front: it is accepted whole or
 * rejected whole, with the reasons.
 *
 * A template batch multiplies its template: 60 KB × 5,000 values is 300 MB of requests
 * from a 120 KB body. So its size is estimated from the spec before a single child is
 * made, and a batch over the budget (BATCH_MAX_EXPANDED_BYTES) is refused unexpanded;
 * within it, children are made one at a time (no second copy of them all).
 */
import { z } from 'zod';
import { parseExportRequest, type ExportImageRequest, CallbackUrlSchema, EeProjectSchema, LabelsSchema, type Issue } from '../requests/index.ts';
import { ThenSchema } from '../chains/index.ts';

/** The default of BATCH_MAX_CHILDREN: children a batch may have. */
export const DEFAULT_MAX_BATCH_CHILDREN = 10_000;

/**
 * The most BATCH_MAX_CHILDREN may be raised to, and what the spec's lists allow at most:
 * the largest batch the benchmark submits (bench/batch-100k.ts). A batch is expanded whole
 * in one instance's memory before anything is written (accepted whole or rejected whole).
 */
export const MAX_BATCH_CHILDREN = 100_000;

/** The default of BATCH_MAX_EXPANDED_BYTES: 10,000 children of about 6.5 KB each. */
export const DEFAULT_MAX_EXPANDED_BYTES = 64 * 1024 * 1024;

/** What a tile adds to each child: its `grid` (dimensions, affine transform, CRS), generously. */
const GRID_BYTES = 400;

const jsonObject = z.record(z.string(), z.unknown());

const RegionSchema = z
  .strictObject({ west: z.number(), south: z.number(), east: z.number(), north: z.number() })
  .refine((r) => r.east > r.west && r.north > r.south, 'east must exceed west and north must exceed south');

export const BatchSpecSchema = z
  .strictObject({
    batchId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'batchId: 1–100 letters, digits, _ or -').optional().describe('Idempotency key of the batch'),
    description: z.string().max(200).optional(),
    eeProject: EeProjectSchema.optional(),
    labels: LabelsSchema.optional(),
    callbackUrl: CallbackUrlSchema.optional().describe('Called once, when the last child ends'),
    maxEecuSeconds: z.number().positive('must be a positive number of EECU-seconds').optional().describe('The batch’s EECU cap: once its children’s summed use (running ones’ reported partial use included) passes it, the batch STOPs (reason EECU_CAP) and its queued children wait for :resume'),
    then: ThenSchema.optional().describe('Requests to submit once the whole batch SUCCEEDS (every child): a chain, docs/chains.md; {{previous.batchId}} and {{previous.destinationUris[N]}} name the batch’s outputs'),
    requests: z.array(jsonObject).min(1).max(MAX_BATCH_CHILDREN).optional(),
    template: jsonObject.optional().describe('An ExportImageRequest whose strings may hold {{value}}, {{index}}, {{tile}}, {{row}}, {{col}}'),
    fanOut: z.strictObject({ values: z.array(z.union([z.string(), z.number()])).min(1).max(MAX_BATCH_CHILDREN) }).optional(),
    tiles: z
      .strictObject({
        region: RegionSchema,
        crsCode: z.string().min(1).default('EPSG:4326'),
        /** CRS units per pixel. */
        scale: z.number().positive(),
        tileWidth: z.number().int().positive().max(100_000),
        tileHeight: z.number().int().positive().max(100_000),
      })
      .optional(),
  })
  .superRefine((b, ctx) => {
    const kinds = [b.requests ? 'requests' : null, b.fanOut ? 'fanOut' : null, b.tiles ? 'tiles' : null].filter(Boolean);
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: `exactly one of requests, fanOut or tiles is required (got ${kinds.join(', ') || 'none'})`, path: [] });
    if ((b.fanOut || b.tiles) && !b.template) ctx.addIssue({ code: 'custom', message: 'fanOut and tiles need a template', path: ['template'] });
    if (b.requests && b.template) ctx.addIssue({ code: 'custom', message: 'a template goes with fanOut or tiles, not with requests', path: ['template'] });
  });
export type BatchSpec = z.output<typeof BatchSpecSchema>;

/** Replaces {{name}} in every string of a JSON value. */
export function fillPlaceholders(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(/\{\{(\w+)\}\}/g, (m, k: string) => (k in vars ? vars[k]! : m));
  if (Array.isArray(value)) return value.map((v) => fillPlaceholders(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillPlaceholders(v, vars)]));
  return value;
}

export interface Tile {
  row: number;
  col: number;
  width: number;
  height: number;
  translateX: number;
  translateY: number;
}

/** Pixels across a span; the tolerance keeps 0.4 / 0.001 = 400.00000000000006 from becoming 401. */
const pixels = (span: number, scale: number) => Math.ceil(span / scale - 1e-9);

export function tileCount(t: NonNullable<BatchSpec['tiles']>): number {
  return Math.ceil(pixels(t.region.east - t.region.west, t.scale) / t.tileWidth) * Math.ceil(pixels(t.region.north - t.region.south, t.scale) / t.tileHeight);
}

/** The tile grid over a region, row-major from the north-west corner; edge tiles are cut to the region. */
export function tileGrid(t: NonNullable<BatchSpec['tiles']>): Tile[] {
  const totalW = pixels(t.region.east - t.region.west, t.scale);
  const totalH = pixels(t.region.north - t.region.south, t.scale);
  const cols = Math.ceil(totalW / t.tileWidth);
  const rows = Math.ceil(totalH / t.tileHeight);
  const tiles: Tile[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      tiles.push({
        row,
        col,
        width: Math.min(t.tileWidth, totalW - col * t.tileWidth),
        height: Math.min(t.tileHeight, totalH - row * t.tileHeight),
        translateX: t.region.west + col * t.tileWidth * t.scale,
        translateY: t.region.north - row * t.tileHeight * t.scale,
      });
    }
  }
  return tiles;
}

/** Puts the tile index into the file name or asset id unless the template's destination already does. */
function nameByTile(req: Record<string, unknown>, tileId: string, destinationText: string): Record<string, unknown> {
  if (/\{\{(tile|row|col|index)\}\}/.test(destinationText)) return req;
  const out = structuredClone(req) as Record<string, Record<string, Record<string, unknown>>>;
  const file = out.fileExportOptions;
  if (file) {
    for (const d of ['cloudStorageDestination', 'gcsDestination', 'driveDestination']) {
      if (file[d]) file[d] = { ...file[d], filenamePrefix: `${(file[d].filenamePrefix as string | undefined) ?? 'tile'}_${tileId}` };
    }
  }
  const asset = out.assetExportOptions?.earthEngineDestination as { name?: string } | undefined;
  if (asset?.name) asset.name = `${asset.name}_${tileId}`;
  return out;
}

export type BatchExpansion = { ok: true; spec: BatchSpec; children: ExportImageRequest[] } | { ok: false; errors: Issue[] };

export interface ExpansionLimits {
  /** Largest estimated size of all children together, in bytes of JSON (BATCH_MAX_EXPANDED_BYTES). */
  maxExpandedBytes?: number;
  /** Most children (BATCH_MAX_CHILDREN); absent: DEFAULT_MAX_BATCH_CHILDREN. */
  maxChildren?: number;
}

const MAX_ERRORS = 50;
const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;
const occurrences = (text: string, placeholder: string) => text.split(`{{${placeholder}}}`).length - 1;

/**
 * The bytes of JSON a batch's children will take, from the spec alone: the template's
 * size times the number of children, plus each fan-out value times the places it goes
 * (an explicit list is its own size). Cheap: nothing is expanded.
 */
export function expandedBytes(spec: BatchSpec): { bytes: number; children: number; templateBytes: number } {
  if (spec.requests) return { bytes: utf8Bytes(JSON.stringify(spec.requests)), children: spec.requests.length, templateBytes: 0 };
  const text = JSON.stringify(spec.template ?? {});
  const templateBytes = utf8Bytes(text);
  if (spec.fanOut) {
    const n = spec.fanOut.values.length;
    const valueBytes = spec.fanOut.values.reduce<number>((sum, v) => sum + utf8Bytes(String(v)), 0);
    return { bytes: n * templateBytes + occurrences(text, 'value') * valueBytes + occurrences(text, 'index') * n * String(n).length, children: n, templateBytes };
  }
  const n = tileCount(spec.tiles!);
  // A tile id (r12-c34) is short; the grid is what each child gains.
  return { bytes: n * (templateBytes + GRID_BYTES), children: n, templateBytes };
}

/** The raw children of a parsed spec, one at a time, in order. */
function* rawChildren(spec: BatchSpec): Generator<unknown> {
  if (spec.requests) {
    yield* spec.requests;
    return;
  }
  if (spec.fanOut) {
    for (const [i, v] of spec.fanOut.values.entries()) yield fillPlaceholders(spec.template, { value: String(v), index: String(i) });
    return;
  }
  const text = JSON.stringify([spec.template?.fileExportOptions, spec.template?.assetExportOptions]);
  for (const [i, t] of tileGrid(spec.tiles!).entries()) {
    const id = `r${t.row}-c${t.col}`;
    const filled = fillPlaceholders(spec.template, { tile: id, row: String(t.row), col: String(t.col), index: String(i) }) as Record<string, unknown>;
    yield {
      ...nameByTile(filled, id, text),
      grid: {
        dimensions: { width: t.width, height: t.height },
        affineTransform: { scaleX: spec.tiles!.scale, shearX: 0, translateX: t.translateX, shearY: 0, scaleY: -spec.tiles!.scale, translateY: t.translateY },
        crsCode: spec.tiles!.crsCode,
      },
    };
  }
}

/** Parses, expands and validates a whole batch. Never throws on bad input. */
export function expandBatch(input: unknown, limits: ExpansionLimits = {}): BatchExpansion {
  const parsed = BatchSpecSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.slice(0, MAX_ERRORS).map((i) => ({ path: ['batch', ...i.path.map(String)].join('.'), message: i.message })) };
  const spec = parsed.data;
  const maxChildren = Math.min(limits.maxChildren ?? DEFAULT_MAX_BATCH_CHILDREN, MAX_BATCH_CHILDREN);
  // Counted before anything is made: a list or fan-out from its length, a tiling from its grid.
  const listed = spec.requests?.length ?? spec.fanOut?.values.length;
  if (listed !== undefined && listed > maxChildren) return { ok: false, errors: [{ path: spec.requests ? 'batch.requests' : 'batch.fanOut.values', message: `the batch has ${listed} children; at most ${maxChildren} (BATCH_MAX_CHILDREN): split it` }] };
  if (spec.tiles) {
    const count = tileCount(spec.tiles);
    if (count > maxChildren) return { ok: false, errors: [{ path: 'batch.tiles', message: `the tiling makes ${count} tiles; at most ${maxChildren} (BATCH_MAX_CHILDREN)` }] };
  }
  const budget = limits.maxExpandedBytes ?? DEFAULT_MAX_EXPANDED_BYTES;
  const size = expandedBytes(spec);
  if (size.bytes > budget) {
    const how = size.templateBytes ? `${size.children} children × a ${size.templateBytes}-byte template` : `${size.children} requests`;
    return {
      ok: false,
      errors: [{ path: 'batch', message: `the batch would expand to about ${size.bytes} bytes of requests (${how}); at most ${budget} (BATCH_MAX_EXPANDED_BYTES): make the template smaller or split the batch` }],
    };
  }
  const children: ExportImageRequest[] = [];
  const errors: Issue[] = [];
  let i = 0;
  for (const raw of rawChildren(spec)) {
    const c = parseExportRequest(raw);
    // Once one child is bad the batch is refused: the good ones need not be kept.
    if (c.ok) {
      if (!errors.length) children.push(c.value);
    } else if (errors.length < MAX_ERRORS) errors.push(...c.errors.slice(0, MAX_ERRORS - errors.length).map((e) => ({ path: `batch.children[${i}]${e.path ? `.${e.path}` : ''}`, message: e.message })));
    i++;
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, spec, children };
}

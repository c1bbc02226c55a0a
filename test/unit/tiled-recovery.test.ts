/** Tiled recovery: the grid math (tiles partition the pixel grid exactly), the policy (which failures, once per job, the depth limit) and the tick through the batch path. */
import { beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createLogEvents, newJob, type Job } from '../../functions/src/core/jobs/index.ts';
import { createBatches } from '../../functions/src/core/batches/index.ts';
import { createCancelJob } from '../../functions/src/core/cancel/index.ts';
import { classifyFailure } from '../../functions/src/core/jobs/failure-classification.ts';
import {
  computeFailureKind,
  createTiledRecovery,
  METRES_PER_DEGREE,
  pixelGridOf,
  planRecovery,
  RECOVERY_DEPTH_LABEL,
  tileGridOf,
  tileRects,
  tileRequest,
  type PixelGrid,
} from '../../functions/src/core/watch/index.ts';
import { TOO_BIG_FAILURES } from '../../tools/ee-simulator/faults.ts';
import { MemoryStore, MemoryPublisher, CapturingLogSink } from '../fakes/memory-store.ts';
import { FakeEarthEngine } from '../fakes/fake-earth-engine.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { jobDetails, makeStyle } from '../../tools/cli/format.ts';

const GRID = { dimensions: { width: 101, height: 37 }, affineTransform: { scaleX: 10, shearX: 0, translateX: 500_000, shearY: 0, scaleY: -10, translateY: 4_200_000 }, crsCode: 'EPSG:32633' };
const T0 = '2026-03-10T00:00:00.000Z';

function failedJob(id: string, message: string, over: Partial<Job> = {}): Job {
  const request = { ...assetLoadRequest(), description: 'big', grid: GRID } as Job['request'];
  return newJob(
    {
      jobId: id.padEnd(32, '0'),
      state: 'FAILED',
      eeProject: 'ee-project-1',
      request,
      requestId: `eeport-${id}`,
      identity: id,
      labels: { team: 'a' },
      callbackUrl: null,
      source: { kind: 'api' },
      description: 'big',
      error: { code: 'EE.3', message },
      endTime: T0,
      ...over,
    },
    T0,
  );
}

describe('tile grid math', () => {
  it('tiles partition the pixel rectangle exactly: every pixel in exactly one tile, whatever the size and count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 64 }), (w, h, n) => {
        const rects = tileRects(w, h, n);
        const seen = new Uint8Array(w * h);
        for (const r of rects) {
          expect(r.width).toBeGreaterThan(0);
          expect(r.height).toBeGreaterThan(0);
          for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) seen[y * w + x]! += 1;
        }
        expect(seen.every((c) => c === 1)).toBe(true);
        // As many tiles as asked for, unless the grid has fewer pixels along a side than that needs.
        if (w * h >= n * 4 && Math.min(w, h) >= Math.ceil(Math.sqrt(n)) * 2) expect(rects.length).toBeGreaterThanOrEqual(n);
      }),
    );
  });

  it('a tile’s grid keeps the CRS, scale and shear and moves the translation by whole pixels (with shear too)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 2, max: 16 }),
        fc.record({ scaleX: fc.constantFrom(0.5, 10, 30), shearX: fc.constantFrom(0, 2), shearY: fc.constantFrom(0, -1), scaleY: fc.constantFrom(-0.5, -10, -30), translateX: fc.integer({ min: -1e6, max: 1e6 }), translateY: fc.integer({ min: -1e6, max: 1e6 }) }),
        (w, h, n, affine) => {
          const grid: PixelGrid = { width: w, height: h, affine, crs: { crsCode: 'EPSG:3857' } };
          for (const r of tileRects(w, h, n)) {
            const t = tileGridOf(grid, r);
            expect(t.crs).toEqual(grid.crs);
            expect([t.affine.scaleX, t.affine.shearX, t.affine.shearY, t.affine.scaleY]).toEqual([affine.scaleX, affine.shearX, affine.shearY, affine.scaleY]);
            // The tile's pixel (0, 0) is the original's pixel (r.x, r.y): the same map coordinates.
            expect(t.affine.translateX).toBeCloseTo(affine.translateX + r.x * affine.scaleX + r.y * affine.shearX, 6);
            expect(t.affine.translateY).toBeCloseTo(affine.translateY + r.x * affine.shearY + r.y * affine.scaleY, 6);
            expect([t.width, t.height]).toEqual([r.width, r.height]);
          }
        },
      ),
    );
  });

  it('a tile request carries its grid and a tile suffix on the file prefix or asset id, and no requestId', () => {
    const g = pixelGridOf({ ...assetLoadRequest(), grid: GRID, requestId: 'mine' } as never);
    expect(g.ok).toBe(true);
    if (!g.ok) return;
    const [r] = tileRects(101, 37, 4);
    const file = tileRequest({ ...assetLoadRequest(), grid: GRID, requestId: 'mine' } as never, g.grid, r!, 1) as { requestId?: string; grid: unknown; fileExportOptions: { cloudStorageDestination: { filenamePrefix: string } } };
    expect(file.requestId).toBeUndefined();
    expect(file.grid).toEqual({ dimensions: { width: r!.width, height: r!.height }, affineTransform: GRID.affineTransform, crsCode: 'EPSG:32633' });
    expect(file.fileExportOptions.cloudStorageDestination.filenamePrefix).toBe('exports/asset_t1-r0-c0');
    const asset = tileRequest({ ...assetLoadRequest(), fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } }, grid: GRID } as never, g.grid, r!, 2) as { assetExportOptions: { earthEngineDestination: { name: string } } };
    expect(asset.assetExportOptions.earthEngineDestination.name).toBe('projects/p/assets/x_t2-r0-c0');
  });

  it('a request with only a region and a scale in its expression gets an EPSG:4326 grid covering the region, origin snapped to whole pixels', () => {
    fc.assert(
      fc.property(fc.double({ min: -170, max: 160, noNaN: true }), fc.double({ min: -80, max: 70, noNaN: true }), fc.double({ min: 0.001, max: 2, noNaN: true }), fc.double({ min: 0.001, max: 2, noNaN: true }), fc.constantFrom(10, 30, 250), (w, s, dx, dy, scale) => {
        const region = [w, s, w + dx, s + dy] as const;
        const expression = { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } }, geometry: { constantValue: { type: 'Polygon', coordinates: [[[w, s], [w + dx, s], [w + dx, s + dy], [w, s + dy], [w, s]]] } }, scale: { constantValue: scale } } } } } };
        const g = pixelGridOf({ ...assetLoadRequest(), expression } as never);
        expect(g.ok).toBe(true);
        if (!g.ok) return;
        const d = scale / METRES_PER_DEGREE;
        expect(g.grid.crs).toEqual({ crsCode: 'EPSG:4326' });
        expect(g.grid.affine).toMatchObject({ scaleX: d, scaleY: -d, shearX: 0, shearY: 0 });
        expect(Math.abs(g.grid.affine.translateX / d - Math.round(g.grid.affine.translateX / d))).toBeLessThan(1e-6);
        // Covers the region, with less than a pixel to spare on each side.
        expect(g.grid.affine.translateX).toBeLessThanOrEqual(region[0] + 1e-9);
        expect(region[0] - g.grid.affine.translateX).toBeLessThan(d);
        expect(g.grid.affine.translateY).toBeGreaterThanOrEqual(region[3] - 1e-9);
        expect(g.grid.affine.translateX + g.grid.width * d).toBeGreaterThanOrEqual(region[2] - 1e-9);
        expect(g.grid.affine.translateY - g.grid.height * d).toBeLessThanOrEqual(region[1] + 1e-9);
      }),
    );
  });

  it('a request with neither a grid nor a region and scale has none to tile, and says why', () => {
    expect(pixelGridOf(assetLoadRequest() as never)).toMatchObject({ ok: false, reason: expect.stringMatching(/no grid/) });
    expect(pixelGridOf({ ...assetLoadRequest(), grid: { dimensions: { width: 10, height: 10 } } } as never)).toMatchObject({ ok: false, reason: expect.stringMatching(/CRS/) });
  });
});

describe('tiled-recovery policy', () => {
  it('knows each of Earth Engine’s too-big messages the simulator can fail a task with, and nothing else', () => {
    expect(Object.fromEntries(Object.entries(TOO_BIG_FAILURES).map(([k, v]) => [k, computeFailureKind(v.message)]))).toEqual({
      'user-memory': 'memory',
      'memory-capacity': 'memory',
      'compute-time': 'compute-time',
      'output-too-large': 'too-large',
      'too-many-pixels': 'too-large',
    });
    for (const m of ['An internal error has occurred.', 'Asset not found: projects/p/assets/x', 'Permission denied', '']) expect(computeFailureKind(m)).toBeNull();
    // All but the time-out are permanent failures (never resubmitted unchanged); a time-out is first resubmitted as transient.
    expect(Object.values(TOO_BIG_FAILURES).map((f) => classifyFailure(f.code, f.message).class)).toEqual(['permanent', 'permanent', 'transient', 'permanent', 'permanent']);
  });

  it('off by default; once per job; a tile is re-tiled only below the depth limit', () => {
    const j = failedJob('a', 'User memory limit exceeded.');
    expect(planRecovery(j, { tiles: 0, maxDepth: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/off/) });
    const plan = planRecovery(j, { tiles: 4, maxDepth: 1 });
    expect(plan).toMatchObject({ ok: true, kind: 'memory', depth: 1 });
    expect(plan.ok && plan.requests).toHaveLength(4);
    expect(planRecovery({ ...j, recovery: { policy: 'tiled', kind: 'memory', reason: 'x', batchId: 'b', tiles: 4, depth: 1, at: T0 } }, { tiles: 4, maxDepth: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/already/) });
    const tile = failedJob('b', 'User memory limit exceeded.', { labels: { [RECOVERY_DEPTH_LABEL]: '1' } });
    expect(planRecovery(tile, { tiles: 4, maxDepth: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/RECOVERY_MAX_DEPTH is 1/) });
    expect(planRecovery(tile, { tiles: 4, maxDepth: 2 })).toMatchObject({ ok: true, depth: 2 });
    expect(planRecovery(failedJob('c', 'An internal error has occurred.'), { tiles: 4, maxDepth: 1 })).toMatchObject({ ok: false });
    expect(planRecovery({ ...j, state: 'SUCCEEDED' }, { tiles: 4, maxDepth: 1 })).toMatchObject({ ok: false });
  });
});

describe('tiled-recovery tick (core, with fakes)', () => {
  let store: MemoryStore;
  let publisher: MemoryPublisher;
  let now: Date;
  const build = (tiles = 4, maxDepth = 1) => {
    const base = { store, ee: new FakeEarthEngine(), publisher, clock: { now: () => now }, logs: createLogEvents(new CapturingLogSink()) };
    const batches = createBatches({ ...base, cancel: createCancelJob({ ...base, settings: { eventSource: '//t' } }), settings: { eventSource: '//t', defaultEeProject: 'ee-project-1', allowedEeProjects: [] } });
    return createTiledRecovery({ ...base, batches, logSink: new CapturingLogSink(), settings: { eventSource: '//t', tiles, maxDepth } });
  };
  const seed = (...jobs: Job[]) => store.transact(async (tx) => jobs.forEach((j) => tx.createJob(j)));
  beforeEach(() => {
    store = new MemoryStore();
    publisher = new MemoryPublisher();
    now = new Date(Date.parse(T0) + 60_000);
  });

  it('submits the tiles as a QUEUED batch through the batch path, records it on the job with one event, and never twice', async () => {
    const j = failedJob('a', 'User memory limit exceeded.');
    await seed(j);
    const r = build();
    expect(await r.tickRecovery()).toBe(1);
    expect(await r.tickRecovery()).toBe(0);
    const cur = (await store.getJob(j.jobId))!;
    expect(cur.recovery).toMatchObject({ policy: 'tiled', kind: 'memory', tiles: 4, depth: 1 });
    const batch = (await store.getBatch(cur.recovery!.batchId!))!;
    expect(batch.total).toBe(4);
    const children = [...store.jobs.values()].filter((c) => c.batchId === batch.batchId);
    expect(children.map((c) => c.state)).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED']);
    expect(children.every((c) => c.labels[RECOVERY_DEPTH_LABEL] === '1' && c.labels.team === 'a' && c.source.kind === 'recovery')).toBe(true);
    expect(publisher.published.filter((e) => e.type === 'dev.eeport.export.v1.recovered').map((e) => e.id)).toEqual([`${j.jobId}.recovered`]);
  });

  it('records why a too-big failure was not tiled (no grid), once; leaves other failures and old ones alone', async () => {
    const noGrid = failedJob('n', 'Computation timed out.', { request: assetLoadRequest() as Job['request'] });
    const other = failedJob('o', 'Asset not found: projects/p/assets/x');
    const old = { ...failedJob('z', 'User memory limit exceeded.'), updateTime: '2026-03-01T00:00:00.000Z' };
    await seed(noGrid, other, old);
    const r = build();
    expect(await r.tickRecovery()).toBe(1);
    expect(await r.tickRecovery()).toBe(0);
    expect((await store.getJob(noGrid.jobId))!.recovery).toMatchObject({ batchId: null, tiles: 0, kind: 'compute-time', reason: expect.stringMatching(/not tiled: .*no grid/) });
    expect((await store.getJob(other.jobId))!.recovery ?? null).toBeNull();
    expect((await store.getJob(old.jobId))!.recovery ?? null).toBeNull();
  });

  it('off (RECOVERY_TILES=0): nothing happens', async () => {
    await seed(failedJob('a', 'User memory limit exceeded.'));
    expect(await build(0).tickRecovery()).toBe(0);
    expect(store.batches.size).toBe(0);
  });
});

describe('the recovery where people look', () => {
  it('`eeport show` prints the recovery: the tile batch, or why the job was not tiled', () => {
    const { request: _r, ...view } = failedJob('a', 'User memory limit exceeded.');
    const tiled = jobDetails({ ...view, recovery: { policy: 'tiled', kind: 'memory', reason: 'memory: User memory limit exceeded.', batchId: 'b'.repeat(32), tiles: 4, depth: 1, at: T0 } } as never, makeStyle(false));
    expect(tiled).toMatch(new RegExp(`recovery\\s+memory: resubmitted as 4 tiles in batch ${'b'.repeat(32)} \\(depth 1\\)`));
    const not = jobDetails({ ...view, recovery: { policy: 'tiled', kind: 'compute-time', reason: 'not tiled: no grid', batchId: null, tiles: 0, depth: 0, at: T0 } } as never, makeStyle(false));
    expect(not).toMatch(/recovery\s+compute-time: not tiled: no grid/);
    expect(jobDetails(view as never, makeStyle(false))).not.toMatch(/recovery/);
  });
});

/**
 * Tiled recovery on the local stack (Google's Firestore and Pub/Sub emulators, the Earth
 * Engine simulator, the scheduler stand-in ticking pollExports): the simulator fails a
 * task with Earth Engine's "User memory limit exceeded." (its task-failure `preset`), and
 * with RECOVERY_TILES=4 eeport submits the failed job's request again as a batch of tiles
 * on the same pixel grid, whose tasks succeed; the recovery is recorded on the original
 * job (API view) with one `recovered` event, and Earth Engine received tiles that
 * partition the original grid exactly.
 */
import { describe, expect, it } from 'vitest';
import { missingEmulators, stateDirFor, tapEvents, until } from '../harness/local-stack.ts';
import { startLocalStack } from '../../tools/local-stack/stack.ts';
import { SAMPLE_REQUEST } from '../../tools/samples/export-requests.ts';

const missing = missingEmulators(`the local stack's tiled-recovery run`);
const stateDir = stateDirFor('recovery');
const KEY = 'recovery-test-key-0123456789abcdef';
const GRID = { dimensions: { width: 101, height: 37 }, affineTransform: { scaleX: 10, shearX: 0, translateX: 500_000, shearY: 0, scaleY: -10, translateY: 4_200_000 }, crsCode: 'EPSG:32633' };

describe.skipIf(missing.length > 0)('tiled recovery on the local stack', () => {
  it('a task failing with a memory error is resubmitted as tiles on its pixel grid, which succeed; recorded on the original job', async () => {
    const stack = await startLocalStack({
      mode: 'emulators',
      ports: 'free',
      stateDir,
      print: () => {},
      pollEverySeconds: 1,
      env: { API_AUTH: 'api-key', API_KEYS: KEY, RECOVERY_TILES: '4' },
    });
    try {
      const { events, drain } = await tapEvents(stack, 'recovery-test-events');
      // Only the original fails: its tiles' descriptions carry a suffix.
      stack.simulator.faults.inject({ kind: 'task-failure', match: { description: '^too-big$' }, preset: 'user-memory' });
      const api = stack.functions.get('api')!.url;
      const res = await fetch(new URL('/v1/jobs', api), {
        method: 'POST',
        headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ ...SAMPLE_REQUEST, description: 'too-big', grid: GRID }),
      });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
      const jobId = ((await res.json()) as { jobId: string }).jobId;
      const store = stack.services.adapters.store;

      const failed = await until('the failed job recovered', async () => {
        const j = await store.getJob(jobId);
        return j?.recovery ? j : null;
      });
      expect(failed.state).toBe('FAILED');
      expect(failed.error?.message).toMatch(/user memory limit exceeded/i);
      expect(failed.recovery).toMatchObject({ policy: 'tiled', kind: 'memory', tiles: 4, depth: 1 });
      const batchId = failed.recovery!.batchId!;
      const batch = await until('the tiles to succeed', async () => {
        const b = await store.getBatch(batchId);
        return b && b.state === 'SUCCEEDED' ? b : null;
      });
      expect(batch.total).toBe(4);

      // What Earth Engine received: four tiles on the original grid, covering its pixels exactly once.
      const tiles = stack.simulator.tasks().filter((t) => t.description.startsWith('too-big t1-'));
      expect(tiles).toHaveLength(4);
      const covered = new Map<string, number>();
      for (const t of tiles) {
        const g = t.request.grid as typeof GRID;
        expect(g.crsCode).toBe(GRID.crsCode);
        expect([g.affineTransform.scaleX, g.affineTransform.scaleY, g.affineTransform.shearX, g.affineTransform.shearY]).toEqual([10, -10, 0, 0]);
        const x0 = (g.affineTransform.translateX - GRID.affineTransform.translateX) / 10;
        const y0 = (GRID.affineTransform.translateY - g.affineTransform.translateY) / 10;
        expect(Number.isInteger(x0) && Number.isInteger(y0)).toBe(true);
        for (let y = y0; y < y0 + g.dimensions.height; y++) for (let x = x0; x < x0 + g.dimensions.width; x++) covered.set(`${x},${y}`, (covered.get(`${x},${y}`) ?? 0) + 1);
        expect((t.request.fileExportOptions as { cloudStorageDestination: { filenamePrefix: string } }).cloudStorageDestination.filenamePrefix).toMatch(/_t1-r\d+-c\d+$/);
      }
      expect(covered.size).toBe(101 * 37);
      expect([...covered.values()].every((n) => n === 1)).toBe(true);

      // The API's job view carries the recovery; one `recovered` event.
      const view = (await fetch(new URL(`/v1/jobs/${jobId}`, api), { headers: { 'x-api-key': KEY } }).then((r) => r.json())) as Record<string, unknown>;
      expect(view.recovery).toMatchObject({ batchId, tiles: 4, kind: 'memory' });
      await until('the recovered event relayed', async () => (await drain(), events.some((e) => e.type === 'dev.eeport.export.v1.recovered')));
      await new Promise((r) => setTimeout(r, 2_000));
      await drain();
      const recovered = events.filter((e) => e.type === 'dev.eeport.export.v1.recovered');
      expect(recovered).toHaveLength(1);
      expect(recovered[0]).toMatchObject({ id: `${jobId}.recovered`, subject: jobId, data: { jobId, state: 'FAILED', recovery: { batchId, tiles: 4 } } });
      // Later ticks do not tile it again.
      expect((await store.getJob(jobId))!.recovery!.batchId).toBe(batchId);
    } finally {
      await stack.stop();
    }
  }, 180_000);
});

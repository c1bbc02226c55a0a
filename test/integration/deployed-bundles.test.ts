/**
 * The bundles as deployed: each dist/<target>/index.js in a fresh node process, its
 * configuration from the environment and its graph built by the target's own module
 * (not the whole graph the other integration tests install), handling one realistic
 * event against the emulators and the simulator. This is the path production takes and
 * the other suites do not; bench/cold-start.ts runs the same processes and times them.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coldStartFigures } from '../../bench/cold-start.ts';
import { buildAll, discoverTargets, REPO_ROOT } from '../../tools/build-bundles.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';

const emu = emulatorsOrSkip('deployed bundles');

describe.skipIf(!emu)('deployed bundles (fresh process per target, emulators + simulator)', () => {
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  const out = mkdtempSync(join(REPO_ROOT, 'dist', '.test-deployed-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('every target loads its bundle and handles its first event (2xx)', async () => {
    const bundles = await buildAll({ outDir: out });
    const notes: string[] = [];
    // Throws, with the child's logs, when a first event is not answered 2xx.
    const rows = await coldStartFigures({ hosts: { firestoreHost: emu!.firestoreHost, pubsubHost: emu!.pubsubHost }, project: emu!.projectId, runs: 1, warmup: false, bundles, notes });
    for (const t of discoverTargets()) {
      expect(rows.map((r) => r.name), `${t.name}: ${notes.join('; ')}`).toContain(`cold start, ${t.name}, first event handled (emulators), median of 1`);
    }
  }, 600_000); // builds five bundles and starts two fresh processes per target: minutes on a loaded 2-core machine
});

/**
 * Memory ceiling of the poller: one poll cycle over 10,000 live jobs (all of them
 * changed state, so every job is written and every event published), then a quiet
 * cycle, must stay under 256 MiB resident. The poller runs alone in a child process
 * (lib/poller-memory-child.ts) with the real core and Earth Engine REST adapter; the
 * job store is the in-memory one of test/fakes (the Firestore emulator needs one
 * transaction per job, which makes a 10,000-job cycle take minutes; the in-memory store
 * also holds all 10,000 jobs and their outbox in the poller's own heap, so the figure is
 * conservative). The simulator, holding the 10,000 tasks, runs in this process and is
 * not counted. The child is bundled with esbuild and run by plain node, like the deployed
 * functions (full mode also prints the figure under the tsx loader, not asserted). The same
 * size runs in both modes (it takes seconds).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { derivedRequestId, jobIdFor } from '../../functions/src/core/jobs/ids.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { build } from 'esbuild';
import { FULL, banner, forEachLimit } from './lib/mode.ts';

const JOBS = 10_000;
const CEILING_MIB = 256;
const PROJECTS = ['ee-mem-0', 'ee-mem-1', 'ee-mem-2', 'ee-mem-3'];
const CHILD = fileURLToPath(new URL('./lib/poller-memory-child.ts', import.meta.url));

interface ChildReport {
  jobs: number;
  startMiB: { rss: number; heapUsed: number };
  baselineMiB: { rss: number; heapUsed: number };
  peakMiB: { rss: number; heapUsed: number };
  atPeakMiB: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  afterGcMiB: { rss: number; heapUsed: number };
  changedCycle: Record<string, number>;
  quietCycle: Record<string, number>;
  published: number;
  states: Record<string, number>;
}

// ESM output meets CommonJS inside the Google clients (as in tools/build-bundles.ts).
const BANNER = [
  "import { createRequire as __eeportCreateRequire } from 'node:module';",
  "import { fileURLToPath as __eeportFileURLToPath } from 'node:url';",
  "import { dirname as __eeportDirname } from 'node:path';",
  'const require = __eeportCreateRequire(import.meta.url);',
  'const __filename = __eeportFileURLToPath(import.meta.url);',
  'const __dirname = __eeportDirname(__filename);',
].join('\n');

async function runChild(args: string[]): Promise<ChildReport> {
  const child = spawn(process.execPath, ['--expose-gc', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, METADATA_SERVER_DETECTION: 'none' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('exit', resolve);
    child.once('error', (e) => reject(new Error(`poller child could not be started: ${e.message}`)));
  });
  expect(code, err).toBe(0);
  return JSON.parse(out.trim().split('\n').pop()!) as ChildReport;
}

describe('poller memory', () => {
  let sim: Simulator | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'eeport-poller-memory-'));
  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`one poll cycle over ${JOBS.toLocaleString('en')} live jobs stays under ${CEILING_MIB} MiB resident`, async () => {
    banner('poller memory', { liveJobs: JOBS, projects: PROJECTS.length, ceilingMiB: CEILING_MIB, store: 'in-memory (test/fakes)', run: 'esbuild bundle, plain node' }, null);
    sim = await startSimulator({ clock: { mode: 'manual' }, maxConcurrentPerProject: 100_000, queueCap: 100_000, rateLimitPerSecond: 0, maxConcurrentRequests: 0 });
    const seeds: { jobId: string; eeProject: string; requestId: string; operationName: string; i: number }[] = new Array(JOBS);
    await forEachLimit(JOBS, 16, async (i) => {
      const eeProject = PROJECTS[i % PROJECTS.length]!;
      const jobId = jobIdFor({ kind: 'key', key: `mem-${i}` });
      const requestId = derivedRequestId(jobId);
      const res = await fetch(`${sim!.url}/v1/projects/${eeProject}/image:export`, {
        method: 'POST',
        headers: { authorization: 'Bearer memory-token', 'content-type': 'application/json' },
        body: JSON.stringify({ ...assetLoadRequest(`projects/p/assets/m${i}`, { description: `mem-${i}` }), requestId }),
      });
      expect(res.status).toBe(200);
      const op = (await res.json()) as { name: string };
      seeds[i] = { jobId, eeProject, requestId, operationName: op.name, i };
    });
    // Every task has started since: the cycle finds all 10,000 changed (the heaviest cycle there is).
    sim.clock.advance(30_000);
    const file = join(dir, 'jobs.json');
    writeFileSync(file, JSON.stringify(seeds));

    // Bundled with esbuild and run by plain node, as the deployed functions are (tools/build-bundles.ts):
    // the tsx loader the tests otherwise use adds tens of MiB that production never carries.
    const bundle = join(dir, 'poller-memory-child.mjs');
    await build({ entryPoints: [CHILD], outfile: bundle, bundle: true, platform: 'node', format: 'esm', target: 'node22', banner: { js: BANNER }, logLevel: 'silent' });
    const report = await runChild([bundle, file, sim.url]);
    if (FULL) {
      const viaTsx = await runChild(['--import', 'tsx', CHILD, file, sim.url]);
      console.log(`[reliability] poller memory under the tsx loader (not asserted): RSS ${viaTsx.startMiB.rss} MiB at start, ${viaTsx.baselineMiB.rss} with the jobs, peak ${viaTsx.peakMiB.rss} MiB; heap peak ${viaTsx.peakMiB.heapUsed} MiB`);
    }
    console.log(
      `[reliability] poller memory figures (${JOBS} live jobs, in-memory store, esbuild bundle on Node ${process.version}): ` +
        `RSS ${report.startMiB.rss} MiB at start, ${report.baselineMiB.rss} MiB with the jobs built, peak ${report.peakMiB.rss} MiB during the cycles; ` +
        `heap used ${report.baselineMiB.heapUsed} → peak ${report.peakMiB.heapUsed} MiB (${report.afterGcMiB.heapUsed} MiB after GC); at the RSS peak: heap committed ${report.atPeakMiB.heapTotal} MiB, used ${report.atPeakMiB.heapUsed}, external ${report.atPeakMiB.external}; ` +
        `changed cycle: ${report.changedCycle.updated} jobs written, ${report.changedCycle.listPages} list pages, ${report.changedCycle.gets} gets, ${report.published} events, ${report.changedCycle.ms} ms; ` +
        `quiet cycle: ${report.quietCycle.unchanged} unchanged, ${report.quietCycle.ms} ms (reproduce: npx vitest run --project reliability test/reliability/poller-memory.test.ts)`,
    );
    expect(report.changedCycle.live).toBe(JOBS);
    expect(report.changedCycle.updated).toBe(JOBS);
    expect(report.changedCycle.errors).toBe(0);
    expect(report.quietCycle.unchanged).toBe(JOBS);
    expect(report.states).toEqual({ RUNNING: JOBS });
    // operations.list pages (500 a page), not one get per job.
    expect(report.changedCycle.listPages).toBeGreaterThanOrEqual(JOBS / 500);
    expect(report.changedCycle.gets).toBeLessThan(100);
    expect(report.peakMiB.rss).toBeLessThan(CEILING_MIB);
  });
});

/**
 * Figure — estimate accuracy per method on a mixed workload, run on the Earth Engine
 * simulator's work-based EECU model (pixels × expression cost × noise, occasional
 * outliers: docs/simulator.md), which is not eeport's estimator's formula.
 *
 * Everything is the real code: jobs go through the submit use case (the topic's intake),
 * the REST adapter starts them on the simulator, and the poller records each job's
 * estimate (core/estimates, history of that moment) the first time it follows it, then
 * the actual EECU when the task ends. The job store is the in-memory one from the tests
 * (this figure is about estimates, not Firestore); the clock is the simulator's manual
 * clock, so a wave of tasks runs in milliseconds.
 *
 * The workload comes in waves, so later jobs are estimated from earlier ones: several
 * computations (band selects, median and mean composites, a mosaic, a normalized
 * difference, a clip whose region is in the expression), with and without workload tags,
 * grids from 0.25 to 16 megapixels, two Earth Engine projects (history is per project).
 * A computation's first jobs meet no history (the prior); two computations introduced
 * late are probed first (POST /v1/estimates?probe=true's path), so their jobs rest on the
 * probe. Probe jobs themselves are calibration, not counted in the table.
 *
 * Baseline, same run, same jobs: the naive estimate — the global mean EECU per output
 * pixel of every job finished so far (all projects and computations; the prior's rate
 * before any finished) × the job's pixels. Each method's error is given against the
 * naive error on the jobs that method estimated; each in-band rate against 0.8, what a
 * 10th–90th percentile band would hold if history were a perfect guide.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../functions/src/config.ts';
import { buildServices, realAdapters } from '../functions/src/composition-root.ts';
import { createEarthEngineRest } from '../functions/src/adapters/earth-engine.rest.ts';
import { allowAllVerifier } from '../functions/src/adapters/scheduler-auth.oidc.ts';
import { intakePolicy } from '../functions/src/composition/instance.ts';
import { wireEstimates } from '../functions/src/composition/estimates.ts';
import { PROBE_LABEL, accuracyOf, createEstimateApi, outputPixels, quantile } from '../functions/src/core/estimates/index.ts';
import { parseExportRequest } from '../functions/src/core/requests/index.ts';
import type { EstimateMethod, Job } from '../functions/src/core/jobs/index.ts';
import { startSimulator } from '../tools/ee-simulator/index.ts';
import { MemoryPublisher, MemoryStore } from '../test/fakes/memory-store.ts';
import { QUICK, devNullLogSink, log, prng, result, round, type Result } from './lib.ts';

const PROJECTS = ['ee-bench-est-a', 'ee-bench-est-b'];
const TOKEN = 'bench-token';
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED']);

type Node = Record<string, unknown>;
const call = (functionName: string, args: Record<string, Node>): Node => ({ functionInvocationValue: { functionName, arguments: args } });
const c = (v: unknown): Node => ({ constantValue: v });
const load = (id: string) => call('Image.load', { id: c(id) });
const collection = (id: string) => call('ImageCollection.load', { id: c(id) });
const select = (input: Node, bands: string[]) => call('Image.select', { input, bandSelectors: c(bands) });

/** One computation of the workload: its expression root, workload tag, how its region is given, and the wave it first appears in. */
interface Computation {
  name: string;
  root: Node;
  tag: string | null;
  /** 'grid': grid dimensions; 'region': a polygon and scale inside the expression (no grid: cannot be probed). */
  region: 'grid' | 'region';
  firstWave: number;
  probe: boolean;
}

function computations(waves: number): Computation[] {
  const late = Math.max(2, Math.floor(waves / 2));
  return [
    { name: 'rgb A', root: select(load('projects/bench/assets/scene-a'), ['B4', 'B3', 'B2']), tag: 'rgb', region: 'grid', firstWave: 0, probe: false },
    { name: 'nir A', root: select(load('projects/bench/assets/scene-a'), ['B8']), tag: 'nir', region: 'grid', firstWave: 0, probe: false },
    { name: 'ndvi C', root: call('Image.normalizedDifference', { input: load('projects/bench/assets/scene-c'), bandNames: c(['B8', 'B4']) }), tag: null, region: 'grid', firstWave: 0, probe: false },
    { name: 'median composite', root: select(call('reduce.median', { collection: collection('projects/bench/assets/s2-2024') }), ['B4', 'B3', 'B2']), tag: 'composite', region: 'grid', firstWave: 1, probe: false },
    { name: 'rgb B', root: select(load('projects/bench/assets/scene-b'), ['B4', 'B3', 'B2']), tag: 'rgb', region: 'grid', firstWave: 1, probe: false },
    { name: 'mosaic', root: select(call('ImageCollection.mosaic', { collection: collection('projects/bench/assets/naip') }), ['R', 'N']), tag: 'composite', region: 'grid', firstWave: 2, probe: false },
    { name: 'clip D', root: select(load('projects/bench/assets/scene-d'), ['B2']), tag: 'clip', region: 'region', firstWave: 0, probe: false },
    { name: 'mean composite (probed)', root: select(call('reduce.mean', { collection: collection('projects/bench/assets/s2-2023') }), ['B2', 'B3', 'B4', 'B8']), tag: 'landcover', region: 'grid', firstWave: late, probe: true },
    { name: 'ndvi median (probed)', root: call('Image.normalizedDifference', { input: call('reduce.median', { collection: collection('projects/bench/assets/l8-2024') }), bandNames: c(['B5', 'B4']) }), tag: null, region: 'grid', firstWave: late, probe: true },
  ];
}

/** A request of computation `k` over a region of the given size (grid side in pixels, or the same area as a polygon at 30 m). */
function requestOf(k: Computation, side: [number, number], i: number) {
  const out = { cloudStorageDestination: { bucket: 'eeport-bench', filenamePrefix: `estimates/${i}` }, fileFormat: 'GEO_TIFF' };
  const base = { description: `${k.name} #${i}`, maxPixels: '100000000000', fileExportOptions: out, ...(k.tag ? { workloadTag: k.tag } : {}) };
  if (k.region === 'grid') return { ...base, grid: { dimensions: { width: side[0], height: side[1] }, crsCode: 'EPSG:4326' }, expression: { result: '0', values: { '0': k.root } } };
  // A polygon of side × side pixels at 30 m near the equator (both eeport and the simulator read its bounding box).
  const w = (side[0] * 30) / 111_320;
  const h = (side[1] * 30) / 110_540;
  const ring = [[10, 0], [10 + w, 0], [10 + w, h], [10, h], [10, 0]];
  return { ...base, expression: { result: '0', values: { '0': call('Image.clipToBoundsAndScale', { input: k.root, geometry: c({ type: 'Polygon', coordinates: [ring] }), scale: c(30) }) } } };
}

interface Row {
  job: Job;
  naive: number;
}

export async function estimateAccuracyFigure(notes: string[]): Promise<Result[]> {
  const waves = QUICK ? 5 : 10;
  const perWave = QUICK ? 16 : 36;
  const sim = await startSimulator({ clock: { mode: 'manual' }, eecuModel: 'work', rateLimitPerSecond: 0, maxConcurrentRequests: 0, maxConcurrentPerProject: 1000, auth: 'required' });
  try {
    const config = loadConfig({
      GOOGLE_CLOUD_PROJECT: 'bench-estimates',
      EE_PROJECT: PROJECTS[0]!,
      EE_ALLOWED_PROJECTS: PROJECTS.join(','),
      EE_API_ROOT: sim.url,
      EE_ACCESS_TOKEN: TOKEN,
      MAX_IN_FLIGHT_PER_PROJECT: '1000',
      POLL_WINDOW_SECONDS: '0',
    });
    const ee = createEarthEngineRest({
      apiRoot: config.EE_API_ROOT,
      version: config.EE_API_VERSION,
      timeoutMs: config.EE_HTTP_TIMEOUT_MS,
      retry: { maxAttempts: config.EE_RETRY_MAX_ATTEMPTS, baseMs: config.EE_RETRY_BASE_MS, maxDelayMs: config.EE_RETRY_MAX_DELAY_MS, deadlineMs: config.EE_RETRY_DEADLINE_MS },
      accessToken: TOKEN,
    });
    const store = new MemoryStore();
    // eeport's clock is the simulator's: history caching, poll times and run times all move with it.
    const clock = { now: () => new Date(sim.clock.now()) };
    const svc = buildServices(config, { ...realAdapters(config), store, ee, publisher: new MemoryPublisher(), clock, logSink: devNullLogSink(), schedulerVerifier: allowAllVerifier });
    const submit = svc.submitExport();
    const estimateApi = createEstimateApi({ estimates: wireEstimates({ config, adapters: svc.adapters }), submit, newId: randomUUID });
    const poller = svc.pollExports();

    /** Polls, moving the clock on, until none of these jobs is live. */
    const settle = async (ids: string[]) => {
      for (let i = 0; i < 40; i++) {
        await poller.run();
        const jobs = await Promise.all(ids.map((id) => store.getJob(id)));
        if (jobs.every((j) => j && TERMINAL.has(j.state))) return jobs as Job[];
        // Past the task's run time and the history cache (a minute), so the next wave sees these jobs.
        sim.clock.advance(70_000);
      }
      throw new Error('the simulator’s tasks did not end within 40 poll cycles');
    };

    const rand = prng(15);
    const ks = computations(waves);
    const sides: Array<[number, number]> = [[500, 500], [1000, 1000], [2000, 1000], [2000, 2000], [4000, 2000], [4000, 4000]];
    const rows: Row[] = [];
    const finished: Job[] = [];
    let probeEecu = 0;
    let n = 0;
    for (let w = 0; w < waves; w++) {
      // Probes first, for the computations that are new this wave and probed: their jobs then rest on the probe.
      for (const k of ks.filter((x) => x.probe && x.firstWave === w)) {
        for (const eeProject of PROJECTS) {
          const body = { request: requestOf(k, [4000, 4000], n++), eeProject };
          const out = await estimateApi.estimateBody(body, { intake: intakePolicy(config), checkBatch: () => ({ ok: false, errors: [{ path: 'batch', message: 'not used' }] }), source: { kind: 'api', caller: 'bench' }, probe: true });
          if (!out.ok || !out.answer.probe || !('jobId' in out.answer.probe)) throw new Error(`no probe started for ${k.name}: ${JSON.stringify(out)}`);
          const [p] = await settle([out.answer.probe.jobId]);
          if (p!.state !== 'SUCCEEDED') throw new Error(`probe of ${k.name} ended ${p!.state}`);
          probeEecu += p!.eecuSeconds ?? 0;
          finished.push(p!);
        }
        sim.clock.advance(70_000);
      }
      // The naive rate: mean EECU per output pixel of everything finished so far.
      const done = finished.filter((j) => j.state === 'SUCCEEDED' && j.eecuSeconds && j.request && outputPixels(j.request));
      const naiveRate = done.length ? done.reduce((a, j) => a + j.eecuSeconds!, 0) / done.reduce((a, j) => a + outputPixels(j.request!)!, 0) : config.ESTIMATE_PRIOR_EECU_PER_MEGAPIXEL / 1e6;
      const available = ks.filter((k) => k.firstWave <= w);
      const ids: string[] = [];
      const naive = new Map<string, number>();
      for (let i = 0; i < perWave; i++) {
        const k = available[Math.floor(rand() * available.length)]!;
        const side = sides[Math.floor(rand() * sides.length)]!;
        const eeProject = PROJECTS[rand() < 0.7 ? 0 : 1]!;
        const request = requestOf(k, side, n++);
        const parsed = parseExportRequest(request);
        if (!parsed.ok) throw new Error(`bench request does not validate: ${JSON.stringify(parsed.errors)}`);
        const out = await submit.submitMessage({ data: new TextEncoder().encode(JSON.stringify({ request, eeProject })), attributes: {}, messageId: `est-${n}`, eventSource: '//bench/estimates' });
        if (out.job.state === 'REJECTED') throw new Error(`bench job rejected: ${JSON.stringify(out.job.error)}`);
        ids.push(out.job.jobId);
        naive.set(out.job.jobId, naiveRate * outputPixels(parsed.value)!);
      }
      const jobs = await settle(ids);
      for (const j of jobs) {
        finished.push(j);
        rows.push({ job: j, naive: naive.get(j.jobId)! });
      }
      sim.clock.advance(70_000);
    }

    const ok = rows.filter((r) => r.job.state === 'SUCCEEDED' && r.job.estimate && r.job.eecuSeconds && !r.job.labels[PROBE_LABEL]);
    if (ok.length < rows.length) notes.push(`estimate accuracy: ${rows.length - ok.length} of ${rows.length} jobs did not succeed or had no estimate and are left out.`);
    const naiveApe = (rs: Row[]) => 100 * quantile(rs.map((r) => Math.abs(r.job.eecuSeconds! - r.naive) / r.job.eecuSeconds!).sort((a, b) => a - b), 0.5);
    const naiveName = (count: number) => `naive: global mean EECU per pixel so far × pixels, same ${count} jobs`;
    const results: Result[] = [];
    const table: string[] = [];
    const methods = accuracyOf(ok.map((r) => r.job));
    const ORDER: EstimateMethod[] = ['history:expression', 'history:workload-tag', 'history:project', 'probe', 'prior'];
    methods.sort((a, b) => ORDER.indexOf(a.method) - ORDER.indexOf(b.method));
    for (const m of methods) {
      const mine = ok.filter((r) => r.job.estimate!.method === m.method);
      const label = m.method.replace(/^history:/, 'history ');
      const naive = naiveApe(mine);
      const width = quantile(mine.map((r) => r.job.estimate!.eecuSeconds.high / r.job.estimate!.eecuSeconds.low).sort((a, b) => a - b), 0.5);
      results.push(result({ name: `estimates: median abs error, method ${label}`, value: m.medianAbsolutePercentError, unit: '% of actual' }, { name: naiveName(m.jobs), value: naive, unit: '% of actual' }));
      results.push(result({ name: `estimates: in-band rate, method ${label}`, value: m.bandCoverage, unit: 'share' }, { name: 'nominal coverage of a 10th–90th percentile band', value: 0.8, unit: 'share' }));
      table.push(`${m.method} ${m.jobs} jobs: median abs error ${round(m.medianAbsolutePercentError, 1)} % (naive ${round(naive, 1)} %), in band ${round(100 * m.bandCoverage, 0)} %, median band high/low ×${round(width, 1)}`);
    }
    const allApe = 100 * quantile(ok.map((r) => Math.abs(r.job.eecuSeconds! - r.job.estimate!.eecuSeconds.expected) / r.job.eecuSeconds!).sort((a, b) => a - b), 0.5);
    results.push(result({ name: 'estimates: median abs error, all methods', value: allApe, unit: '% of actual' }, { name: naiveName(ok.length), value: naiveApe(ok), unit: '% of actual' }));
    notes.push(
      `estimate accuracy: ${ok.length} jobs in ${waves} waves of ${perWave} on the simulator's work-based EECU model (${ks.length} computations, 2 projects, grids 0.25–16 MP), ` +
        `${PROJECTS.length * ks.filter((k) => k.probe).length} probes (${round(probeEecu, 1)} EECU-s, not in the table). ${table.join('; ')}.`,
    );
    log(`estimate-accuracy: ${ok.length} jobs, ${methods.map((m) => `${m.method} ${m.jobs}`).join(', ')}`);
    return results;
  } finally {
    await sim.close();
  }
}

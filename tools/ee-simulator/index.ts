/**
 * Earth Engine REST simulator: a local stand-in for `earthengine.googleapis.com`,
 * faithful enough for exports that the official `@google/earthengine` client cannot tell
 * the difference. Independent of the product code (it imports nothing from `functions/`).
 *
 * @example
 * const sim = await startSimulator({ clock: { mode: 'manual' } });
 * // point a client at sim.url (as EE_API_ROOT) with any "Bearer" token, then:
 * sim.clock.advance(10 * 60_000); // run ten simulated minutes of tasks
 * await sim.close();
 */
import type { AddressInfo } from 'node:net';
import { ALGORITHMS, type AlgorithmSignature } from './algorithms.ts';
import { AssetCatalog, type SimImage } from './assets.ts';
import { SimClock, type SimulatorClock } from './clock.ts';
import { type FaultControls, FaultRegistry } from './faults.ts';
import { type TaskSnapshot, snapshotTask } from './operation-view.ts';
import { type ResolvedOptions, type SimulatorOptions, resolveOptions } from './options.ts';
import { RateLimiter } from './rate-limit.ts';
import { createSimulatorServer } from './server.ts';
import { type SimulatorStats, StatsCounter } from './stats.ts';
import { TaskEngine } from './task-engine.ts';

export type { SimulatorOptions } from './options.ts';
export type { ClockConfig, SimulatorClock } from './clock.ts';
export type { FaultControls, FaultSpec, ApiMethod } from './faults.ts';
export type { TaskSnapshot, Operation, OperationMetadata } from './operation-view.ts';
export type { SimulatorStats } from './stats.ts';
export type { StageSpec, TaskState } from './task.ts';
export type { SimImage, ImageResource } from './assets.ts';
export type { ExportImageRequest, ExportDestination } from './validate-export.ts';
export { DEFAULT_STAGES } from './options.ts';
export { ALGORITHMS } from './algorithms.ts';

/** A running simulator. */
export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:43211`; use it as the API root (paths are `/v1/projects/{p}/…`). */
  readonly url: string;
  readonly port: number;
  /** The options it runs with, defaults filled in. */
  readonly options: Readonly<ResolvedOptions>;
  /** Simulated time: `now()` and, in any mode, `advance(ms)` (runs every task event due on the way). */
  readonly clock: SimulatorClock;
  /** Fault injection: `inject(spec)` → id, `clear(id?)`, `list()`. */
  readonly faults: FaultControls;
  /** Snapshot of every task (including deleted ones still known), oldest first; optionally of one project. */
  tasks(project?: string): TaskSnapshot[];
  /** Request counts per method, error counts, tasks started and dispatched. */
  stats(): SimulatorStats;
  /** Image collections for `projects.assets.listImages`: `addImages(collection, images)` → how many it holds; `list()`. */
  readonly assets: { addImages(collection: string, images: readonly SimImage[]): number; list(): Array<{ collection: string; images: number }> };
  /** Forgets all tasks, faults, counters, rate-limit state and image collections; the clock keeps its time. */
  reset(): void;
  /** Stops listening, drops open connections and timers. */
  close(): Promise<void>;
}

/** Starts a simulator listening on `options.host:options.port` (default 127.0.0.1, a free port). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const opts = resolveOptions(options);
  const clock = new SimClock(opts.clock);
  const faults = new FaultRegistry();
  const stats = new StatsCounter();
  const limiter = new RateLimiter(opts.rateLimitPerSecond);
  const engine = new TaskEngine(clock, opts, faults);
  const assets = new AssetCatalog(() => clock.now());
  engine.onCreated = () => {
    stats.tasksStarted += 1;
  };
  engine.onDispatched = () => {
    stats.tasksDispatched += 1;
  };
  const algorithms: readonly AlgorithmSignature[] = ALGORITHMS;
  const signatures = new Map(algorithms.map((a) => [a.name.replace(/^algorithms\//, ''), a]));

  const tasks = (project?: string): TaskSnapshot[] => engine.all(project).map((t) => snapshotTask(t, clock.now(), engine.plan, opts.eecuPerSecond));
  const snapshotStats = (): SimulatorStats => stats.snapshot(engine.countsByState());
  const reset = (): void => {
    engine.reset();
    clock.clearTimers();
    faults.clear();
    stats.reset();
    limiter.reset();
    assets.reset();
  };

  const server = createSimulatorServer({
    api: { engine, clock, options: opts, algorithms, signatures, assets },
    admin: { faults, clock, tasks, stats: snapshotStats, reset, assets },
    faults,
    stats,
    limiter,
    options: opts,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  return {
    url: `http://${host}:${port}`,
    port,
    options: opts,
    clock,
    faults,
    assets: { addImages: (collection, images) => assets.add(collection, images), list: () => assets.summary() },
    tasks,
    stats: snapshotStats,
    reset,
    close: async () => {
      clock.dispose();
      engine.reset();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

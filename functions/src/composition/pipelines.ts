/**
 * Pipelines: schedules (and, as they are added, chains and the stalled-task watch),
 * driven by the poller's tick and served by the API's extra routes. Shared by the poll
 * and api targets.
 */
import { createLogEvents } from '../core/jobs/index.ts';
import { createScheduleRoutes, createSchedules } from '../core/schedules/index.ts';
import { createChainRoutes, createChains } from '../core/chains/index.ts';
import { createTiledRecovery, createWatch } from '../core/watch/index.ts';
import { wireBatches } from './batches.ts';
import { intakePolicy, tenantIntakePolicy, type Graph } from './instance.ts';

export function wireSchedules(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  const policy = intakePolicy(config);
  return createSchedules({
    store: adapters.store,
    ee: adapters.ee,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    settings: {
      eventSource: config.eventSource,
      defaultEeProject: config.EE_PROJECT,
      allowedEeProjects: policy.allowedEeProjects,
      ...(policy.destinations ? { destinations: policy.destinations } : {}),
      ...(policy.callbackPolicy ? { callbackPolicy: policy.callbackPolicy } : {}),
      // A tenant's schedule is checked against its own projects and destinations, as its batches are (composition/batches.ts).
      policyFor: (tenantId) => tenantIntakePolicy(config, tenantId) ?? { ...policy, allowedEeProjects: [config.EE_PROJECT], noCallbacks: `tenant ${tenantId} is not configured` },
    },
  });
}

/** The stalled-task watch (docs/watch.md): one `stalled` event per stalled attempt, optionally a bounded resubmission. */
export function wireWatch(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  return createWatch({
    store: adapters.store,
    ee: adapters.ee,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    logSink: adapters.logSink,
    settings: {
      eventSource: config.eventSource,
      pendingSeconds: config.WATCH_PENDING_SECONDS,
      runningFactor: config.WATCH_RUNNING_P95_FACTOR,
      minSamples: config.WATCH_MIN_SAMPLES,
      minRunningSeconds: config.WATCH_MIN_RUNNING_SECONDS,
      historyJobs: config.WATCH_HISTORY_JOBS,
      intervalSeconds: config.WATCH_INTERVAL_SECONDS,
      maxResubmissions: config.WATCH_STALL_RESUBMISSIONS,
      maxJobs: config.POLL_MAX_JOBS,
    },
  });
}

/** Tiled recovery (docs/watch.md): a job that failed for memory, compute time or output size resubmitted as tiles on its pixel grid, through the batch path. */
export function wireRecovery(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  return createTiledRecovery({
    store: adapters.store,
    batches: wireBatches(graph, trace),
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    logSink: adapters.logSink,
    settings: { eventSource: config.eventSource, tiles: config.RECOVERY_TILES, maxDepth: config.RECOVERY_MAX_DEPTH },
  });
}

/** Chains (docs/chains.md): steps submitted, or skipped, as the steps before them end. */
export function wireChains(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  return createChains({ store: adapters.store, publisher: adapters.publisher, clock: adapters.clock, logs: createLogEvents(adapters.logSink, trace), settings: { eventSource: config.eventSource } });
}

/** What the poller runs each cycle. */
export function wirePipelineTick(graph: Graph, trace?: string): () => Promise<number> {
  const chains = wireChains(graph, trace);
  const schedules = wireSchedules(graph, trace);
  const watch = wireWatch(graph, trace);
  const recovery = wireRecovery(graph, trace);
  return async () => (await chains.tickChains()) + (await schedules.tickSchedules()) + (await watch.tickWatch()) + (await recovery.tickRecovery());
}

/** The API's pipeline routes (/v1/schedules…, /v1/chains/{id}). */
export function wirePipelineRoutes(graph: Graph, trace: string | undefined, newId: () => string) {
  return [createScheduleRoutes({ schedules: wireSchedules(graph, trace), store: graph.adapters.store, clock: graph.adapters.clock, newId }), createChainRoutes({ store: graph.adapters.store })];
}

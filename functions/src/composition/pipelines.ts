/**
 * Pipelines: schedules (and, as they are added, chains and the stalled-task watch),
 * driven by the poller's tick and served by the API's extra routes. Shared by the poll
 * and api targets.
 */
import { createLogEvents } from '../core/jobs/index.ts';
import { createScheduleRoutes, createSchedules } from '../core/schedules/index.ts';
import { intakePolicy, type Graph } from './instance.ts';

export function wireSchedules(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  const policy = intakePolicy(config);
  return createSchedules({
    store: adapters.store,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    settings: {
      eventSource: config.eventSource,
      defaultEeProject: config.EE_PROJECT,
      allowedEeProjects: policy.allowedEeProjects,
      ...(policy.destinations ? { destinations: policy.destinations } : {}),
      ...(policy.callbackPolicy ? { callbackPolicy: policy.callbackPolicy } : {}),
    },
  });
}

/** What the poller runs each cycle. */
export function wirePipelineTick(graph: Graph, trace?: string): () => Promise<number> {
  const schedules = wireSchedules(graph, trace);
  return async () => schedules.tickSchedules();
}

/** The API's pipeline routes (/v1/schedules…). */
export function wirePipelineRoutes(graph: Graph, trace: string | undefined, newId: () => string) {
  return [createScheduleRoutes({ schedules: wireSchedules(graph, trace), store: graph.adapters.store, clock: graph.adapters.clock, newId })];
}

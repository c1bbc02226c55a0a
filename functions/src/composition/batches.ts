/**
 * Batch use cases: submitted on the requests topic (and the API), refreshed and
 * finished by the poller. Shared by the submit, poll and api targets.
 */
import { createLogEvents } from '../core/jobs/index.ts';
import { createBatches } from '../core/batches/index.ts';
import { intakePolicy, tenantIntakePolicy, type Graph } from './instance.ts';
import { createCancelJob } from '../core/cancel/index.ts';

export function wireBatches(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  const policy = intakePolicy(config);
  return createBatches({
    store: adapters.store,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    // Built here, not through submit.ts, which wires batches itself.
    cancel: createCancelJob({ ...adapters, logs: createLogEvents(adapters.logSink, trace), settings: { eventSource: config.eventSource } }),
    settings: {
      eventSource: config.eventSource,
      defaultEeProject: config.EE_PROJECT,
      allowedEeProjects: policy.allowedEeProjects,
      maxExpandedBytes: config.BATCH_MAX_EXPANDED_BYTES,
      maxChildren: config.BATCH_MAX_CHILDREN,
      budgets: config.EECU_BUDGETS,
      ...(policy.destinations ? { destinations: policy.destinations } : {}),
      ...(policy.callbackPolicy ? { callbackPolicy: policy.callbackPolicy } : {}),
      // checkBatch asks only for tenants the caller's scope names, which TENANTS holds.
      policyFor: (tenantId) => tenantIntakePolicy(config, tenantId) ?? { ...policy, allowedEeProjects: [config.EE_PROJECT], noCallbacks: `tenant ${tenantId} is not configured` },
    },
  });
}

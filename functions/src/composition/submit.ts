/**
 * The submitExport target's graph: everything that arrives on the requests topic —
 * submits, and cancels (attribute action=cancel). Also the submit and cancel use cases
 * the other targets reuse.
 */
import { createAdmissionGate, createLogEvents } from '../core/jobs/index.ts';
import { createSubmitExport, createRequestMessageHandler } from '../core/submit/index.ts';
import { createCancelJob } from '../core/cancel/index.ts';
import { instanceGraph, intakePolicy, perGraph, tenantDirectory, tenantIntakePolicy, type Graph } from './instance.ts';
import { wireBatches } from './batches.ts';
import { wireEstimates } from './estimates.ts';
import { createEstimateApi, createEstimateMessages } from '../core/estimates/index.ts';
import { randomUUID } from 'node:crypto';

/** One per instance: a count of a project's jobs in flight is reused across invocations (ADMISSION_COUNT_MAX_AGE_MS). */
const admissionGate = perGraph(({ config, adapters }) =>
  createAdmissionGate({ count: (p) => adapters.store.inFlight(p), now: () => adapters.clock.now().getTime(), cap: config.MAX_IN_FLIGHT_PER_PROJECT, maxAgeMs: config.ADMISSION_COUNT_MAX_AGE_MS }),
);

export function wireSubmitExport(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  const { store, ee, publisher, clock, logSink } = adapters;
  return createSubmitExport({
    admission: admissionGate(graph),
    store,
    ee,
    publisher,
    clock,
    logs: createLogEvents(logSink, trace),
    settings: {
      eventSource: config.eventSource,
      maxInFlightPerProject: config.MAX_IN_FLIGHT_PER_PROJECT,
      submitLeaseMs: config.SUBMIT_LEASE_SECONDS * 1000,
      budgets: config.EECU_BUDGETS,
      maxResubmissions: config.MAX_RESUBMISSIONS,
      resubmitBackoffMs: config.RESUBMIT_BACKOFF_SECONDS * 1000,
      intake: intakePolicy(config),
      intakeFor: (tenantId) => tenantIntakePolicy(config, tenantId),
      adopt: { clockSkewMs: 5 * 60_000, confirmAfterMs: config.ADOPT_CONFIRM_SECONDS * 1000, maxPages: config.ADOPT_MAX_PAGES },
    },
  });
}

export function wireCancelJob({ config, adapters }: Graph, trace?: string) {
  const { store, ee, publisher, clock, logSink } = adapters;
  return createCancelJob({ store, ee, publisher, clock, logs: createLogEvents(logSink, trace), settings: { eventSource: config.eventSource } });
}

export function wireRequestMessages(graph: Graph, trace?: string) {
  return createRequestMessageHandler({
    submit: wireSubmitExport(graph, trace),
    cancel: wireCancelJob(graph, trace),
    batches: wireBatches(graph, trace),
    logs: createLogEvents(graph.adapters.logSink, trace),
    defaultEeProject: graph.config.EE_PROJECT,
    tenancy: { requestsTopic: graph.config.REQUESTS_TOPIC, directory: tenantDirectory(graph), intakeFor: (tenantId) => tenantIntakePolicy(graph.config, tenantId) },
    estimate: wireEstimateDryRun(graph, trace),
  });
}

/** The topic's dry run (action=estimate): estimated with the same intake and batch check, answered as an event. */
function wireEstimateDryRun(graph: Graph, trace?: string) {
  const batches = wireBatches(graph, trace);
  return createEstimateMessages({
    api: createEstimateApi({ estimates: wireEstimates(graph), submit: wireSubmitExport(graph, trace), newId: randomUUID }),
    publisher: graph.adapters.publisher,
    clock: graph.adapters.clock,
    eventSource: graph.config.eventSource,
    intake: intakePolicy(graph.config),
    checkBatch: (spec, tenantId) => batches.checkBatch(spec, tenantId),
  });
}

/** submitExport's handler, on this instance's graph. */
export const requestMessages = (trace?: string) => wireRequestMessages(instanceGraph(), trace);

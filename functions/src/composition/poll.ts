/**
 * The pollExports target's graph: the poll loop, which also re-submits stale jobs,
 * releases queued ones and sends due webhook retries — so it reuses the submit, cancel
 * and webhook wiring — and the check of Cloud Scheduler's OIDC token.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { allowAllVerifier, createOidcVerifier, type RequestVerifier } from '../adapters/scheduler-auth.oidc.ts';
import { createLogEvents } from '../core/jobs/index.ts';
import { createPollExports } from '../core/poll/index.ts';
import { instanceGraph, type Graph } from './instance.ts';
import { wireCancelJob, wireSubmitExport } from './submit.ts';
import { webhookSenderFor, wireDeliverWebhook } from './webhook.ts';
import { wireBatches } from './batches.ts';
import { wireEstimates } from './estimates.ts';
import { wirePipelineTick } from './pipelines.ts';

export function schedulerVerifierFor(config: Config): RequestVerifier {
  return config.POLL_AUTH_DISABLED ? allowAllVerifier : createOidcVerifier({ audience: config.POLL_OIDC_AUDIENCE ?? '', invokerEmail: config.POLL_INVOKER_EMAIL ?? '' });
}

export function wirePollExports(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  return createPollExports({
    store: adapters.store,
    ee: adapters.ee,
    publisher: adapters.publisher,
    clock: adapters.clock,
    logs: createLogEvents(adapters.logSink, trace),
    submit: wireSubmitExport(graph, trace),
    cancel: wireCancelJob(graph, trace),
    retryWebhooks: () => wireDeliverWebhook(graph, trace).retryDue(),
    refreshBatches: () => wireBatches(graph, trace).refreshBatches(),
    tickPipelines: wirePipelineTick(graph, trace),
    holder: `${config.K_SERVICE ?? 'local'}/${randomUUID()}`,
    ...(adapters.sleep ? { sleep: adapters.sleep } : {}),
    settings: {
      eventSource: config.eventSource,
      leaseName: 'poller',
      windowMs: config.POLL_WINDOW_SECONDS * 1000,
      maxIntervalMs: config.POLL_INTERVAL_SECONDS * 1000,
      minIntervalMs: config.POLL_MIN_INTERVAL_SECONDS * 1000,
      getThreshold: config.POLL_GET_THRESHOLD,
      listPageSize: config.POLL_LIST_PAGE_SIZE,
      maxJobsPerCycle: config.POLL_MAX_JOBS,
      maxInFlightPerProject: config.MAX_IN_FLIGHT_PER_PROJECT,
      operationMaxAgeMs: config.EE_OPERATION_MAX_AGE_DAYS * 86_400_000,
      staleSubmitMs: config.POLL_STALE_SUBMIT_SECONDS * 1000,
      getConcurrency: config.POLL_GET_CONCURRENCY,
      releaseConcurrency: config.POLL_RELEASE_CONCURRENCY,
      countMaxAgeMs: config.ADMISSION_COUNT_MAX_AGE_MS,
      maxResubmissions: config.MAX_RESUBMISSIONS,
      resubmitBackoffMs: config.RESUBMIT_BACKOFF_SECONDS * 1000,
      budgets: config.EECU_BUDGETS,
      timeGuardFactor: config.RUNAWAY_TIME_GUARD_FACTOR,
    },
    estimates: wireEstimates(graph),
  });
}

const POLL_NEEDS = { webhookSender: webhookSenderFor, schedulerVerifier: schedulerVerifierFor };

/** pollExports' handler, on this instance's graph. */
export const pollExports = (trace?: string) => wirePollExports(instanceGraph(POLL_NEEDS), trace);
/** Checks the caller is Cloud Scheduler's service account (defence in depth behind Cloud Run IAM). */
export const schedulerVerifier = (): RequestVerifier => instanceGraph(POLL_NEEDS).adapters.schedulerVerifier;

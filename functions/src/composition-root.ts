/**
 * The one place where the real object graph is built: config → Google clients →
 * adapters → use cases. Built lazily, once per instance, on first use; tests build
 * their own graph with buildServices() (emulators, the simulator, fakes) and install it
 * with setServices().
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { loadConfig, type Config } from './config.ts';
import { createEarthEngineRest } from './adapters/earth-engine.rest.ts';
import { createFirestoreJobStore } from './adapters/job-store.firestore.ts';
import { createPubSubEventPublisher } from './adapters/event-publisher.pubsub.ts';
import { createCloudLoggingSink } from './adapters/log-sink.cloud-logging.ts';
import { createLogEvents } from './core/log-events.ts';
import { createSubmitExport } from './core/submit-export.ts';
import { createCancelJob } from './core/cancel-job.ts';
import { createPollExports } from './core/poll-exports.ts';
import { createRequestMessageHandler } from './core/request-message.ts';
import { allowAllVerifier, createOidcVerifier, type RequestVerifier } from './adapters/scheduler-auth.oidc.ts';
import { randomUUID } from 'node:crypto';
import { createDeliverWebhook } from './core/deliver-webhook.ts';
import { createSafeHttpClient } from './adapters/safe-http.ts';
import { systemClock, type Clock, type EarthEngine, type EventPublisher, type JobStore, type LogSink, type WebhookSender } from './core/ports.ts';

export interface Adapters {
  store: JobStore;
  ee: EarthEngine;
  publisher: EventPublisher;
  clock: Clock;
  logSink: LogSink;
  schedulerVerifier: RequestVerifier;
  webhookSender: WebhookSender;
  sleep?: (ms: number) => Promise<void>;
}

export function realAdapters(config: Config): Adapters {
  const firestore = new Firestore({
    ...(config.GOOGLE_CLOUD_PROJECT ? { projectId: config.GOOGLE_CLOUD_PROJECT } : {}),
    databaseId: config.FIRESTORE_DATABASE,
    ignoreUndefinedProperties: true,
    ...(config.FIRESTORE_EMULATOR_HOST ? { host: config.FIRESTORE_EMULATOR_HOST, ssl: false } : {}),
  });
  const pubsub = new PubSub({
    ...(config.GOOGLE_CLOUD_PROJECT ? { projectId: config.GOOGLE_CLOUD_PROJECT } : {}),
    ...(config.PUBSUB_EMULATOR_HOST ? { apiEndpoint: config.PUBSUB_EMULATOR_HOST, emulatorMode: true } : {}),
  });
  return {
    store: createFirestoreJobStore(firestore),
    publisher: createPubSubEventPublisher(pubsub, config.EVENTS_TOPIC),
    ee: createEarthEngineRest({
      apiRoot: config.EE_API_ROOT,
      version: config.EE_API_VERSION,
      timeoutMs: config.EE_HTTP_TIMEOUT_MS,
      retry: { maxAttempts: config.EE_RETRY_MAX_ATTEMPTS, baseMs: config.EE_RETRY_BASE_MS, maxDelayMs: config.EE_RETRY_MAX_DELAY_MS, deadlineMs: config.EE_RETRY_DEADLINE_MS },
      ...(config.EE_ACCESS_TOKEN ? { accessToken: config.EE_ACCESS_TOKEN } : {}),
    }),
    clock: systemClock,
    // Resolves once, refuses private/loopback/metadata addresses, connects to the checked address, follows no redirect.
    webhookSender: createSafeHttpClient({ allowHttp: config.WEBHOOK_ALLOW_HTTP, allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK, timeoutMs: config.WEBHOOK_TIMEOUT_MS }),
    schedulerVerifier: config.POLL_AUTH_DISABLED
      ? allowAllVerifier
      : createOidcVerifier({ audience: config.POLL_OIDC_AUDIENCE ?? '', invokerEmail: config.POLL_INVOKER_EMAIL ?? '' }),
    logSink: createCloudLoggingSink({ level: config.LOG_LEVEL, ...(config.GOOGLE_CLOUD_PROJECT ? { gcpProject: config.GOOGLE_CLOUD_PROJECT } : {}) }),
  };
}

export function buildServices(config: Config, adapters: Adapters = realAdapters(config)) {
  const { store, ee, publisher, clock, logSink } = adapters;
  const submitExport = (trace?: string) =>
    createSubmitExport({
      store,
      ee,
      publisher,
      clock,
      logs: createLogEvents(logSink, trace),
      settings: {
        eventSource: config.eventSource,
        maxInFlightPerProject: config.MAX_IN_FLIGHT_PER_PROJECT,
        submitLeaseMs: config.SUBMIT_LEASE_SECONDS * 1000,
        intake: {
          defaultEeProject: config.EE_PROJECT,
          allowedEeProjects: config.EE_ALLOWED_PROJECTS,
          maxRequestBytes: config.MAX_REQUEST_BYTES,
          callbackPolicy: { allowHttp: config.WEBHOOK_ALLOW_HTTP, allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK },
        },
      },
    });
  const cancelJob = (trace?: string) => createCancelJob({ store, ee, publisher, clock, logs: createLogEvents(logSink, trace), settings: { eventSource: config.eventSource } });
  const deliverWebhook = (trace?: string) =>
    createDeliverWebhook({
      store,
      sender: adapters.webhookSender,
      publisher,
      clock,
      logs: createLogEvents(logSink, trace),
      settings: {
        secrets: config.WEBHOOK_SECRETS,
        scheduleMs: config.WEBHOOK_RETRY_SCHEDULE_SECONDS.map((s) => s * 1000),
        events: config.WEBHOOK_EVENTS,
        leaseMs: config.WEBHOOK_TIMEOUT_MS * 2,
        eventSource: config.eventSource,
      },
    });
  const pollExports = (trace?: string) =>
    createPollExports({
      store,
      ee,
      publisher,
      clock,
      logs: createLogEvents(logSink, trace),
      submit: submitExport(trace),
      cancel: cancelJob(trace),
      retryWebhooks: () => deliverWebhook(trace).retryDue(),
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
      },
    });
  /** Everything that arrives on the requests topic: submits, and cancels (attribute action=cancel). */
  const requestMessages = (trace?: string) =>
    createRequestMessageHandler({ submit: submitExport(trace), cancel: cancelJob(trace), logs: createLogEvents(logSink, trace), defaultEeProject: config.EE_PROJECT });
  return { config, adapters, submitExport, cancelJob, pollExports, deliverWebhook, requestMessages, schedulerVerifier: adapters.schedulerVerifier };
}

export type Services = ReturnType<typeof buildServices>;

let current: Services | undefined;

export function services(): Services {
  return (current ??= buildServices(loadConfig()));
}

/** Tests (and the local stack) install their own graph; undefined goes back to the lazy real one. */
export function setServices(s: Services | undefined): void {
  current = s;
}

/**
 * The shared half of the composition root: the configuration, read once per instance,
 * and the adapters, each built on first use — a target that never publishes never
 * constructs a Pub/Sub client, one that never calls Earth Engine never builds its auth.
 * The Pub/Sub client is also loaded on first use (import()): in a bundle it is a chunk
 * of its own, which a target whose first event publishes nothing never reads (ADR 0016).
 *
 * Each function target's graph is wired in its own module beside this one (submit.ts,
 * poll.ts, webhook.ts, uploads.ts, api.ts) and an entry file imports only its own, so a
 * bundle carries only its own use cases; the adapters only some targets use (the
 * webhook sender, the scheduler's token check) are passed in by those targets'
 * modules. composition-root.ts puts every part together for tests, the local stack and
 * the benchmarks.
 */
import { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { loadConfig, type Config } from '../config.ts';
import { createEarthEngineRest } from '../adapters/earth-engine.rest.ts';
import { createFirestoreJobStore } from '../adapters/job-store.firestore.ts';
import { createPubSubEventPublisher } from '../adapters/event-publisher.pubsub.ts';
import { createCloudLoggingSink } from '../adapters/log-sink.cloud-logging.ts';
import type { RequestVerifier } from '../adapters/scheduler-auth.oidc.ts';
import type { IntakePolicy } from '../core/submit/index.ts';
import { createTenantDirectory, tenantDestinations } from '../core/tenants/index.ts';
import { systemClock, type Clock, type EarthEngine, type EventPublisher, type JobStore, type LogSink, type WebhookSender } from '../core/ports.ts';

export interface Adapters {
  store: JobStore;
  ee: EarthEngine;
  publisher: EventPublisher;
  clock: Clock;
  logSink: LogSink;
  schedulerVerifier: RequestVerifier;
  webhookSender: WebhookSender;
  sleep?: (ms: number) => Promise<void>;
  /** Public keys for verifying API callers' ID tokens; default Google's (tests sign their own). */
  oidcCerts?: () => Promise<Record<string, string>>;
}

/** Adapters that only some targets use; those targets' modules supply the factories. */
export interface TargetAdapterFactories {
  webhookSender?: (config: Config) => WebhookSender;
  schedulerVerifier?: (config: Config) => RequestVerifier;
}

/** The config and adapters one function target runs on. */
export interface Graph {
  config: Config;
  adapters: Adapters;
}

function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/**
 * The real adapters, each created on first access and then kept: the Google clients
 * hold connection pools and credentials that later invocations of the instance reuse.
 * `factories` is read at first access, so targets loaded later can still add theirs.
 */
export function lazyRealAdapters(config: Config, factories: TargetAdapterFactories): Adapters {
  const firestore = once(
    () =>
      new Firestore({
        ...(config.GOOGLE_CLOUD_PROJECT ? { projectId: config.GOOGLE_CLOUD_PROJECT } : {}),
        databaseId: config.FIRESTORE_DATABASE,
        ignoreUndefinedProperties: true,
        ...(config.FIRESTORE_EMULATOR_HOST ? { host: config.FIRESTORE_EMULATOR_HOST, ssl: false } : {}),
      }),
  );
  let pubsub: Promise<PubSub> | undefined;
  const loadPubSub = () =>
    (pubsub ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSub({
          ...(config.GOOGLE_CLOUD_PROJECT ? { projectId: config.GOOGLE_CLOUD_PROJECT } : {}),
          ...(config.PUBSUB_EMULATOR_HOST ? { apiEndpoint: config.PUBSUB_EMULATOR_HOST, emulatorMode: true } : {}),
        }),
      (err: unknown) => {
        pubsub = undefined;
        throw err;
      },
    ));
  const store = once(() => createFirestoreJobStore(firestore()));
  const publisher = once(() => createPubSubEventPublisher(loadPubSub, config.EVENTS_TOPIC));
  const ee = once(() =>
    createEarthEngineRest({
      apiRoot: config.EE_API_ROOT,
      version: config.EE_API_VERSION,
      timeoutMs: config.EE_HTTP_TIMEOUT_MS,
      retry: { maxAttempts: config.EE_RETRY_MAX_ATTEMPTS, baseMs: config.EE_RETRY_BASE_MS, maxDelayMs: config.EE_RETRY_MAX_DELAY_MS, deadlineMs: config.EE_RETRY_DEADLINE_MS },
      ...(config.EE_ACCESS_TOKEN ? { accessToken: config.EE_ACCESS_TOKEN } : {}),
    }),
  );
  const logSink = once(() => createCloudLoggingSink({ level: config.LOG_LEVEL, ...(config.GOOGLE_CLOUD_PROJECT ? { gcpProject: config.GOOGLE_CLOUD_PROJECT } : {}) }));
  // Built on first use of one of their methods, not on access: code that copies the
  // adapters ({ ...adapters }) must not fail, or build them, in a target that lacks them.
  const fromFactory = <K extends keyof TargetAdapterFactories>(name: K) =>
    deferred(
      once(() => {
        const make = factories[name];
        if (!make) throw new Error(`the ${name} adapter is not part of this function target's graph`);
        return make(config) as ReturnType<NonNullable<TargetAdapterFactories[K]>>;
      }),
    );
  const webhookSender = fromFactory('webhookSender');
  const schedulerVerifier = fromFactory('schedulerVerifier');
  return {
    get store() {
      return store();
    },
    get ee() {
      return ee();
    },
    get publisher() {
      return publisher();
    },
    clock: systemClock,
    get logSink() {
      return logSink();
    },
    webhookSender,
    schedulerVerifier,
  };
}

/** An object whose members are those of `resolve()`, called on the first member access. */
function deferred<T extends object>(resolve: () => T): T {
  return new Proxy({} as T, {
    get(_target, prop) {
      const real = resolve();
      const value = Reflect.get(real, prop, real) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
    has: (_target, prop) => Reflect.has(resolve(), prop),
  });
}

let installed: Graph | undefined;
let own: Graph | undefined;
const factories: TargetAdapterFactories = {};

/** Tests and the local stack install their graph; undefined goes back to the instance's own. */
export function installGraph(graph: Graph | undefined): void {
  installed = graph;
}

/** The graph this instance runs on: the installed one, or its own, built once on first use. */
export function instanceGraph(needs: TargetAdapterFactories = {}): Graph {
  Object.assign(factories, needs);
  if (installed) return installed;
  if (!own) {
    const config = loadConfig();
    own = { config, adapters: lazyRealAdapters(config, factories) };
  }
  return own;
}

/** Per-graph memo, for what a target builds once and reuses (routers, authenticators). */
export function perGraph<T>(make: (graph: Graph) => T): (graph: Graph) => T {
  const memo = new WeakMap<Graph, T>();
  return (graph) => {
    if (!memo.has(graph)) memo.set(graph, make(graph));
    return memo.get(graph) as T;
  };
}

/**
 * A tenant's intake policy: its projects (the first is its default), buckets and asset
 * folders instead of the deployment's; null for a tenant TENANTS does not name.
 */
export function tenantIntakePolicy(config: Config, tenantId: string): IntakePolicy | null {
  const t = config.tenants.find((x) => x.id === tenantId);
  if (!t) return null;
  return {
    ...intakePolicy(config),
    defaultEeProject: t.eeProjects[0]!,
    allowedEeProjects: t.eeProjects,
    destinations: tenantDestinations(t),
    tenantId: t.id,
    ...(t.webhookSecrets.length ? {} : { noCallbacks: `tenant ${t.id} has no webhookSecrets to sign callbacks with` }),
  };
}

/** The tenants, for routing topic messages (who the API's callers are is the api target's business). */
export const tenantDirectory = perGraph(({ config }) => createTenantDirectory(config.tenants, { adminCallers: [], callerIds: () => [] }));

/** One intake policy for every way in (topic, uploads, API), so they accept the same requests. */
export function intakePolicy(config: Config): IntakePolicy {
  return {
    defaultEeProject: config.EE_PROJECT,
    allowedEeProjects: config.allowedEeProjects,
    destinations: config.destinations,
    maxRequestBytes: config.MAX_REQUEST_BYTES,
    callbackPolicy: { allowHttp: config.WEBHOOK_ALLOW_HTTP, allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK, allowedPorts: config.WEBHOOK_ALLOWED_PORTS },
  };
}

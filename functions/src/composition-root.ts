/**
 * The one place where the real object graph is built: config → Google clients →
 * adapters → use cases, lazily, once per instance, on first use.
 *
 * It is split by function target so that each deployed bundle loads only what its
 * target needs: composition/instance.ts holds the config and the lazily built adapters,
 * and composition/{submit,poll,webhook,uploads,api}.ts wire one target each; an entry
 * file imports only its own (the submit bundle carries no webhook or API code). This
 * module puts the parts together for tests, the local stack and the benchmarks: they
 * build a whole graph with buildServices() (emulators, the simulator, fakes) and
 * install it with setServices(), which every target then runs on.
 */
import { loadConfig, type Config } from './config.ts';
import { installGraph, lazyRealAdapters, type Adapters, type Graph } from './composition/instance.ts';
import { wireCancelJob, wireRequestMessages, wireSubmitExport } from './composition/submit.ts';
import { webhookSenderFor, wireDeliverWebhook } from './composition/webhook.ts';
import { schedulerVerifierFor, wirePollExports } from './composition/poll.ts';
import { wireUploads } from './composition/uploads.ts';
import { wireApi } from './composition/api.ts';
import { wireBatches } from './composition/batches.ts';

export type { Adapters } from './composition/instance.ts';

/** Every real adapter (built on first use), including those only some targets need. */
export function realAdapters(config: Config): Adapters {
  return lazyRealAdapters(config, { webhookSender: webhookSenderFor, schedulerVerifier: schedulerVerifierFor });
}

export function buildServices(config: Config, adapters: Adapters = realAdapters(config)) {
  const graph: Graph = { config, adapters };
  return {
    config,
    adapters,
    submitExport: (trace?: string) => wireSubmitExport(graph, trace),
    cancelJob: (trace?: string) => wireCancelJob(graph, trace),
    pollExports: (trace?: string) => wirePollExports(graph, trace),
    deliverWebhook: (trace?: string) => wireDeliverWebhook(graph, trace),
    /** Batches: submit, refresh (by the poller), cancel, retry. */
    batches: (trace?: string) => wireBatches(graph, trace),
    /** Everything that arrives on the requests topic: submits, and cancels (attribute action=cancel). */
    requestMessages: (trace?: string) => wireRequestMessages(graph, trace),
    /** Finalized Cloud Storage objects: those an upload rule claims become jobs. */
    uploads: (trace?: string) => wireUploads(graph, trace),
    /** The HTTP API (target `api`). */
    api: (trace?: string) => wireApi(graph, trace),
    get schedulerVerifier() {
      return adapters.schedulerVerifier;
    },
  };
}

export type Services = ReturnType<typeof buildServices>;

let current: Services | undefined;

/** The whole graph on this instance's real adapters (local runs; deployed targets use their own part). */
export function services(): Services {
  return (current ??= buildServices(loadConfig()));
}

/** Tests (and the local stack) install their own graph; undefined goes back to the lazy real one. */
export function setServices(s: Services | undefined): void {
  current = s;
  installGraph(s ? { config: s.config, adapters: s.adapters } : undefined);
}

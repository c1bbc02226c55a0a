/**
 * The api target's graph: the HTTP API over submit, cancel, batches and the job store,
 * and the dashboard's files. Its auth settings are checked on first use, so only this
 * target refuses to run without them.
 */
import { randomUUID } from 'node:crypto';
import { apiAuthSettings, apiKeyFingerprint, createApiAuthenticator } from '../adapters/api-auth.ts';
import { createHttpApi } from '../adapters/http-api.ts';
import { createApiHandler, createApiLogEvents, apiOpenApiDocument, createStatsCache } from '../core/api/index.ts';
import { instanceGraph, intakePolicy, perGraph, tenantIntakePolicy, type Graph } from './instance.ts';
import { createTenantDirectory } from '../core/tenants/index.ts';
import { wireCancelJob, wireSubmitExport } from './submit.ts';
import { wireBatches } from './batches.ts';
import { wireEstimates } from './estimates.ts';
import { createEstimateApi } from '../core/estimates/index.ts';
import { wirePipelineRoutes } from './pipelines.ts';
import { dashboardAsset } from '../dashboard/dashboard-assets.ts';

// One per instance: the handler is built per request, the counts are shared by every request the instance serves.
const statsCache = perGraph(({ config, adapters }) => createStatsCache((t) => adapters.store.countJobsByState(t), adapters.clock, config.API_STATS_CACHE_SECONDS * 1000));
const authenticator = perGraph(({ config, adapters }) => createApiAuthenticator(apiAuthSettings(config), adapters.oidcCerts ? { certs: adapters.oidcCerts } : {}));
/** Callers as the authenticator names them (a key's fingerprint, an email) → their tenant, or admin for the operators' own. */
const apiTenants = perGraph(({ config }) =>
  createTenantDirectory(config.tenants, {
    adminCallers: [...config.API_KEYS.map(apiKeyFingerprint), ...config.API_ALLOWED_CALLERS],
    callerIds: (t) => [...t.apiKeys.map(apiKeyFingerprint), ...t.callers],
  }),
);
const openApiDocument = perGraph(() => {
  let doc: unknown;
  return () => (doc ??= apiOpenApiDocument());
});

export function wireApi(graph: Graph, trace?: string) {
  const { config, adapters } = graph;
  const logs = createApiLogEvents(adapters.logSink, trace);
  const handler = createApiHandler({
    submit: wireSubmitExport(graph, trace),
    cancel: wireCancelJob(graph, trace),
    batches: wireBatches(graph, trace),
    store: adapters.store,
    clock: adapters.clock,
    logs,
    newId: randomUUID,
    openApi: openApiDocument(graph),
    routes: wirePipelineRoutes(graph, trace, randomUUID),
    settings: {
      intake: intakePolicy(config),
      intakeFor: (tenantId) => tenantIntakePolicy(config, tenantId),
      maxBodyBytes: config.API_MAX_BODY_BYTES,
      staleSubmitSeconds: config.POLL_STALE_SUBMIT_SECONDS,
      budgets: config.EECU_BUDGETS,
    },
    countStats: statsCache(graph),
    tenants: apiTenants(graph),
    estimates: createEstimateApi({ estimates: wireEstimates(graph), submit: wireSubmitExport(graph, trace), newId: randomUUID }),
  });
  return createHttpApi({ handler, auth: authenticator(graph), logs, maxBodyBytes: config.API_MAX_BODY_BYTES, assets: dashboardAsset });
}

/** api's handler, on this instance's graph. */
export const api = (trace?: string) => wireApi(instanceGraph(), trace);

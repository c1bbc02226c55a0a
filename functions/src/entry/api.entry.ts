/**
 * api — HTTP function: the JSON API (jobs, batches, budgets, stats; GET /v1/openapi.json
 * lists them) and the dashboard at /. Routing, validation and authentication live in
 * adapters/http-api.ts and core/api-handler.ts. Each request is checked (encoding, size,
 * caller, content type) before the framework reads its body, and the framework's own
 * failures are answered as the same JSON errors.
 */
import * as ff from '@google-cloud/functions-framework';
import { api } from '../composition/api.ts';
import { httpApiFunction, httpApiGate } from '../adapters/http-api.ts';
import { installJsonFrameworkErrors } from '../adapters/http-framework-errors.ts';
import { gateBeforeFramework } from '../adapters/http-request-gate.ts';

const serve = httpApiFunction((trace) => api(trace));
installJsonFrameworkErrors((failure) => api().reportFrameworkFailure(failure));
gateBeforeFramework(serve, httpApiGate((trace) => api(trace)));
ff.http('api', serve);

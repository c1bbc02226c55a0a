/**
 * api — HTTP function: the JSON API (jobs, batches, budgets, stats; GET /v1/openapi.json
 * lists them) and the dashboard at /. Routing, validation and authentication live in
 * adapters/http-api.ts and core/api-handler.ts. The framework's
 * own body-parsing failures (malformed JSON, bad charset) are turned into the same JSON
 * errors before it builds its server.
 */
import * as ff from '@google-cloud/functions-framework';
import { api } from '../composition/api.ts';
import { httpApiFunction } from '../adapters/http-api.ts';
import { installJsonFrameworkErrors } from '../adapters/http-framework-errors.ts';

installJsonFrameworkErrors((failure) => api().reportFrameworkFailure(failure));
ff.http('api', httpApiFunction((trace) => api(trace)));

/**
 * The chains' HTTP route, plugged into the API handler (core/api) as an extra route:
 *   GET /v1/chains/{chainId} — the chain (its id is its root's job or batch id), each
 *   step with its state, reason, outputs and its job's live state.
 * A chain is submitted with its root (`then` on POST /v1/jobs or /v1/batches), never here.
 */
import { JOB_ID_PATTERN, type Job } from '../jobs/index.ts';
import type { JobStore } from '../ports.ts';
import { ADMIN_SCOPE, canSee, type Scope } from '../tenants/index.ts';
import { chainView } from './chains.ts';

/** The slice of the API's request and response this route uses (core/api's ApiRequest, ApiResponse). */
interface RouteRequest {
  method: string;
  path: string;
}
interface RouteResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface ChainRouteDeps {
  store: Pick<JobStore, 'getChain' | 'getJob'>;
}

const error = (status: number, code: string, message: string, details?: { path: string; message: string }[]): RouteResponse => ({ status, body: { error: { code, message, ...(details?.length ? { details } : {}) } } });

export function createChainRoutes(deps: ChainRouteDeps) {
  const getJob = (id: string): Promise<Job | null> => deps.store.getJob(id);

  /**
   * Answers a /v1/chains/{id} request, or null when the path is not this route. A chain is
   * its root's tenant's (TENANTS): another tenant's answers 404, as one that never was.
   */
  async function handle(req: RouteRequest, _readBody?: unknown, scope: Scope = ADMIN_SCOPE): Promise<RouteResponse | null> {
    let path: string;
    try {
      path = decodeURIComponent(req.path).replace(/\/+$/, '');
    } catch {
      return null;
    }
    const m = /^\/v1\/chains\/([^/]+)$/.exec(path);
    if (!m) return null;
    if (req.method === 'OPTIONS') return { status: 204, headers: { allow: 'GET, HEAD, OPTIONS' }, body: null };
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'API.METHOD_NOT_ALLOWED', `${req.method} is not allowed on /v1/chains/{chainId}; allowed: GET, HEAD`);
    const id = m[1]!;
    if (!JOB_ID_PATTERN.test(id)) return error(400, 'API.INVALID_PARAMETER', 'not a chain id (the 32 hex characters of its root job or batch id)', [{ path: 'chainId', message: `expected ${JOB_ID_PATTERN}` }]);
    const chain = await deps.store.getChain(id);
    if (!chain || !canSee(scope, chain.tenantId)) return error(404, 'API.NOT_FOUND', 'no such chain');
    return { status: 200, body: await chainView(chain, getJob) };
  }

  return { handle };
}

export type ChainRoutes = ReturnType<typeof createChainRoutes>;

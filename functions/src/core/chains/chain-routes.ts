/**
 * The chains' HTTP routes, plugged into the API handler (core/api) as an extra route:
 *   GET /v1/chains — one page of chains, newest first (pageSize 1–200, pageToken), each
 *   with its state and its steps' states as stored (no job reads: a list stays one query).
 *   GET /v1/chains/{chainId} — the chain (its id is its root's job or batch id), each
 *   step with its state, reason, outputs and its job's live state.
 * A chain is submitted with its root (`then` on POST /v1/jobs or /v1/batches), never here.
 */
import { JOB_ID_PATTERN, type Job } from '../jobs/index.ts';
import type { JobStore } from '../ports.ts';
import { ADMIN_SCOPE, canSee, listFilter, type Scope } from '../tenants/index.ts';
import { InvalidPageTokenError } from '../kernel/index.ts';
import type { Chain } from './chain.ts';
import { chainView } from './chains.ts';

/** The slice of the API's request and response this route uses (core/api's ApiRequest, ApiResponse). */
interface RouteRequest {
  method: string;
  path: string;
  query?: URLSearchParams;
}
interface RouteResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface ChainRouteDeps {
  store: Pick<JobStore, 'getChain' | 'getJob' | 'listChains'>;
}

const error = (status: number, code: string, message: string, details?: { path: string; message: string }[]): RouteResponse => ({ status, body: { error: { code, message, ...(details?.length ? { details } : {}) } } });

/** A chain as the list shows it: its steps' states as stored, without reading their jobs. */
export function chainListItem(c: Chain) {
  return {
    chainId: c.chainId,
    tenantId: c.tenantId,
    state: c.state,
    steps: c.steps.map((s) => ({ step: s.step, after: s.after, kind: s.kind, id: s.id, state: s.state, reason: s.reason })),
    createTime: c.createTime,
    updateTime: c.updateTime,
    endTime: c.endTime,
    url: `/v1/chains/${c.chainId}`,
  };
}

export function createChainRoutes(deps: ChainRouteDeps) {
  const getJob = (id: string): Promise<Job | null> => deps.store.getJob(id);

  /** GET /v1/chains: one page, newest first; a tenant's caller sees its tenant's chains only. */
  async function list(req: RouteRequest, scope: Scope): Promise<RouteResponse> {
    if (req.method === 'OPTIONS') return { status: 204, headers: { allow: 'GET, HEAD, OPTIONS' }, body: null };
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'API.METHOD_NOT_ALLOWED', `${req.method} is not allowed on /v1/chains; allowed: GET, HEAD`);
    const query = req.query ?? new URLSearchParams();
    const unknown = [...new Set(query.keys())].filter((k) => k !== 'pageSize' && k !== 'pageToken');
    if (unknown.length) return error(400, 'API.INVALID_PARAMETER', `unknown query parameter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, unknown.map((k) => ({ path: k, message: 'not a parameter of GET /v1/chains (pageSize, pageToken)' })));
    const pageSize = Number(query.get('pageSize') ?? 50);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) return error(400, 'API.INVALID_PARAMETER', 'pageSize must be an integer from 1 to 200', [{ path: 'pageSize', message: 'expected 1–200' }]);
    const token = query.get('pageToken') || undefined;
    const owner = listFilter(scope);
    try {
      const page = await deps.store.listChains({ pageSize, ...(token ? { pageToken: token } : {}), ...(owner !== undefined ? { tenantId: owner } : {}) });
      return { status: 200, body: { chains: page.chains.map(chainListItem), nextPageToken: page.nextPageToken } };
    } catch (err) {
      if (err instanceof InvalidPageTokenError) return error(400, 'API.INVALID_PARAMETER', `invalid pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
      throw err;
    }
  }

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
    if (path === '/v1/chains') return list(req, scope);
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

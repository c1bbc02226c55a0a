/**
 * HTTP plumbing (node:http): routing, the request pipeline in the order the service
 * applies its checks (auth → project → quota → handler), fault injection, and Google's
 * JSON error bodies.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AdminContext, handleAdmin } from './admin-handlers.ts';
import { type ApiContext, handleApi } from './api-handlers.ts';
import { checkAuth } from './auth.ts';
import { ApiError, errorInfo } from './errors.ts';
import type { FaultRegistry } from './faults.ts';
import type { ResolvedOptions } from './options.ts';
import type { RateLimiter } from './rate-limit.ts';
import { matchRoute } from './routes.ts';
import type { StatsCounter } from './stats.ts';
import { RETIRED_PROJECTS, retiredProject } from './validate-export.ts';

export interface ServerDeps {
  api: ApiContext;
  admin: AdminContext;
  faults: FaultRegistry;
  stats: StatsCounter;
  limiter: RateLimiter;
  options: ResolvedOptions;
}

// The service rejects bodies over 10 MiB with a 400.
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export function createSimulatorServer(deps: ServerDeps): Server {
  const inFlight = new Map<string, number>();
  const server = createServer((req, res) => {
    handle(req, res, deps, inFlight).catch((err: unknown) => {
      // Anything unexpected is a simulator bug; answer like a backend crash rather than hang.
      console.error('[ee-simulator] unexpected error', err);
      if (!res.headersSent && !res.destroyed) sendError(res, new ApiError('INTERNAL', 'Internal error encountered.'), deps.stats);
    });
  });
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: ServerDeps, inFlight: Map<string, number>): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator.invalid');
  const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
  const method = req.method ?? 'GET';

  let raw: string;
  try {
    raw = await readBody(req);
  } catch (e) {
    if (e instanceof ApiError) return sendError(res, e, deps.stats);
    throw e;
  }

  if (url.pathname.startsWith('/_sim/')) {
    try {
      return sendJson(res, 200, handleAdmin(method, url.pathname, url.searchParams, parseJson(raw), deps.admin));
    } catch (e) {
      if (e instanceof ApiError) return sendError(res, e, deps.stats);
      throw e;
    }
  }

  const route = matchRoute(method, url.pathname);
  if (route === undefined || route === 'method-not-allowed') {
    return sendError(res, new ApiError('NOT_FOUND', `The requested URL ${url.pathname} was not found on this server (${method}).`), deps.stats);
  }
  deps.stats.request(route.method);
  const { options } = deps;
  let acquired = false;
  try {
    const authError = checkAuth(req.headers.authorization, { mode: options.auth, insufficientScopeTokens: options.insufficientScopeTokens, validTokens: options.validTokens }, route.rpc);
    if (authError) throw authError;
    if (options.allowedProjects && !options.allowedProjects.includes(route.project)) throw projectDenied(route.project);
    if (RETIRED_PROJECTS.includes(route.project)) throw retiredProject(route.project);
    if (!deps.limiter.tryTake(route.project)) throw rateLimited(route.project);
    const current = inFlight.get(route.project) ?? 0;
    if (options.maxConcurrentRequests > 0 && current >= options.maxConcurrentRequests) throw tooManyConcurrent(route.project);
    inFlight.set(route.project, current + 1);
    acquired = true;

    const faults = deps.faults.forRequest(route.method, route.project);
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if (faults.drop === 'before') return drop(req, deps.stats);
    if (faults.error) throw faults.error;

    const result = await handleApi(route, url.searchParams, parseJson(raw), deps.api, closed, callerOf(req.headers.authorization));
    if (faults.drop === 'after') return drop(req, deps.stats);
    sendJson(res, 200, result);
  } catch (e) {
    if (e instanceof ApiError) return sendError(res, e, deps.stats);
    throw e;
  } finally {
    if (acquired) inFlight.set(route.project, (inFlight.get(route.project) ?? 1) - 1);
  }
}

/**
 * Who is calling, for the requestId dedupe: the service scopes a requestId to the user
 * that sent it, and the simulator's stand-in for a user is the bearer token.
 */
function callerOf(authorization: string | undefined): string {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? 'anonymous';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(new ApiError('INVALID_ARGUMENT', `Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new ApiError('INVALID_ARGUMENT', `Invalid JSON payload received. ${(e as Error).message}`);
  }
}

function drop(req: IncomingMessage, stats: StatsCounter): void {
  stats.drop();
  req.socket.destroy();
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: ApiError, stats: StatsCounter): void {
  stats.error(err.httpCode);
  sendJson(res, err.httpCode, err.toBody(), { ...err.headers });
}

function projectDenied(project: string): ApiError {
  return new ApiError(
    'PERMISSION_DENIED',
    `Caller does not have required permission to use project ${project}. Grant the caller the roles/serviceusage.serviceUsageConsumer role, or a custom role with the serviceusage.services.use permission, by visiting https://console.developers.google.com/iam-admin/iam/admin?project=${project} and then retry. Propagation of the new permission may take a few minutes.`,
    { details: [errorInfo('USER_PROJECT_DENIED', { consumer: `projects/${project}` })] },
  );
}

function rateLimited(project: string): ApiError {
  return new ApiError(
    'RESOURCE_EXHAUSTED',
    `Quota exceeded for quota metric 'Requests' and limit 'Requests per second' of service 'earthengine.googleapis.com' for consumer 'projects/${project}'.`,
    { details: [errorInfo('RATE_LIMIT_EXCEEDED', { consumer: `projects/${project}`, quota_metric: 'earthengine.googleapis.com/requests', quota_limit: 'RequestsPerSecond' })] },
  );
}

function tooManyConcurrent(project: string): ApiError {
  return new ApiError('RESOURCE_EXHAUSTED', 'Too many concurrent requests. Request was rejected because the concurrency limit was exceeded.', {
    details: [errorInfo('RATE_LIMIT_EXCEEDED', { consumer: `projects/${project}`, quota_limit: 'ConcurrentRequests' })],
  });
}

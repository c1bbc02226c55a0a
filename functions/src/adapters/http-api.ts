/**
 * The HTTP API on the functions framework: authenticates the caller, hands the request
 * to the framework-free handler (core/api-handler.ts) and writes its answer as JSON.
 * Bodies come from the framework's `rawBody` (the exact bytes; its parsed `body` is
 * not trusted), so the handler does its own size, content-type and JSON checks.
 *
 * The dashboard's static files are answered first, without authentication: they hold
 * no data (every call the page makes for data goes through the API's checks), and with
 * API_AUTH=api-key the page must load before anyone can type a key into it. Cloud
 * Functions IAM still stands in front of both.
 *
 * Nothing expensive happens before the caller is known: `admit` runs on the raw request
 * before the framework reads the body (http-request-gate.ts) and refuses, cheapest check
 * first, a Content-Encoding (415), a declared body over API_MAX_BODY_BYTES (413), an
 * unknown caller (401/403), a body or POST that is not JSON (415); only then does it read
 * the body, raw and bounded (413 past the limit).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from '@google-cloud/functions-framework';
import { apiErrorBody, jsonContentTypeProblem, type ApiErrorCode, type ApiHandler, type ApiResponse, type ApiLogEvents } from '../core/api/index.ts';
import type { ApiAuthenticator, ApiAuthResult } from './api-auth.ts';
import type { FrameworkFailure } from './http-framework-errors.ts';
import type { StaticAsset } from '../dashboard/dashboard-assets.ts';
import { continueIfAsked, hasBody, readBodyBounded, type GateVerdict, type RequestGate } from './http-request-gate.ts';
import { traceOf } from './pubsub-message.ts';

export interface HttpApi {
  serve(req: Request, res: Response): Promise<void>;
  /** The checks made on the raw request before the framework reads its body; reads the body itself. */
  admit(req: IncomingMessage, res: ServerResponse): Promise<GateVerdict>;
  /** Logs what the framework refused before the API saw it (see http-framework-errors.ts). */
  reportFrameworkFailure(failure: FrameworkFailure & { method: string; path: string; cause: unknown }): void;
}

function send(res: Response, out: ApiResponse): void {
  res.status(out.status);
  res.set('cache-control', 'no-store');
  // Error messages quote what the caller sent; never let a browser sniff them into HTML.
  res.set('x-content-type-options', 'nosniff');
  for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
  if (out.body === null) res.end();
  else res.json(out.body);
}

function sendAsset(req: Request, res: Response, asset: StaticAsset): void {
  res.set('content-type', asset.contentType);
  // Revalidated on every load (304 when unchanged), so a deploy shows at once.
  res.set('cache-control', 'no-cache');
  res.set('etag', asset.etag);
  res.set('x-content-type-options', 'nosniff');
  for (const [k, v] of Object.entries(asset.headers)) res.set(k, v);
  if (req.get('if-none-match') === asset.etag) {
    res.status(304).end();
    return;
  }
  res.status(200);
  if (req.method === 'HEAD') res.end();
  else res.send(asset.body);
}

/** Callers `admit` authenticated, so that `serve` does not ask the authenticator twice. */
const admitted = new WeakMap<IncomingMessage, Extract<ApiAuthResult, { ok: true }>>();

const headerOf = (req: IncomingMessage) => (name: string) => {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
};

export function createHttpApi(deps: { handler: ApiHandler; auth: ApiAuthenticator; logs: ApiLogEvents; maxBodyBytes: number; assets?: (path: string) => StaticAsset | null }): HttpApi {
  const { handler, auth, logs, maxBodyBytes } = deps;
  const isAsset = (method: string | undefined, path: string) => (method === 'GET' || method === 'HEAD') && !!deps.assets?.(path);
  return {
    async admit(req, res) {
      const path = (req.url ?? '/').split('?')[0]!;
      const call = { method: req.method ?? '', path: path.slice(0, 200) };
      const header = headerOf(req);
      const refuse = (status: number, code: ApiErrorCode, message: string): GateVerdict => {
        logs.apiRejected(call, status, code, message);
        return { pass: false, status, body: apiErrorBody(code, message) };
      };
      const encoding = header('content-encoding')?.trim().toLowerCase();
      if (encoding && encoding !== 'identity') return refuse(415, 'API.UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${JSON.stringify(encoding.slice(0, 50))} is not accepted; send the body uncompressed`);
      const declared = Number(header('content-length') ?? 0);
      if (declared > maxBodyBytes) return refuse(413, 'API.BODY_TOO_LARGE', `request body is ${declared} bytes; at most ${maxBodyBytes} are accepted`);
      if (!isAsset(req.method, path)) {
        let who: ApiAuthResult;
        try {
          who = await auth.authenticate(header);
        } catch (err) {
          // E.g. Google's signing keys out of reach: nothing the caller did.
          logs.apiFailed(call, err);
          return { pass: false, status: 500, body: apiErrorBody('API.INTERNAL', 'internal error; it has been logged (event api.failed)') };
        }
        if (!who.ok) {
          logs.apiUnauthorized(call, who.status, who.reason);
          return { pass: false, status: who.status, ...(who.challenge ? { headers: { 'www-authenticate': who.challenge } } : {}), body: apiErrorBody(who.code, who.reason) };
        }
        admitted.set(req, who);
      }
      const withBody = hasBody(req);
      const contentType = header('content-type');
      // A form post from a browser (which needs no CORS preflight) must not reach a handler, with a body or without.
      if (withBody || (req.method === 'POST' && contentType !== undefined)) {
        const problem = jsonContentTypeProblem(contentType);
        if (problem) return refuse(415, 'API.UNSUPPORTED_MEDIA_TYPE', problem);
      }
      if (!withBody) return { pass: true };
      continueIfAsked(req, res);
      const read = await readBodyBounded(req, maxBodyBytes);
      if (!read.ok) {
        return read.reason === 'too-large'
          ? refuse(413, 'API.BODY_TOO_LARGE', `request body is over ${maxBodyBytes} bytes; at most ${maxBodyBytes} are accepted`)
          : refuse(400, 'API.BAD_REQUEST', 'the request body was cut off');
      }
      if (read.body) (req as IncomingMessage & { rawBody?: Buffer }).rawBody = read.body;
      return { pass: true };
    },
    async serve(req, res) {
      const call = { method: req.method, path: req.path.slice(0, 200) };
      try {
        const asset = req.method === 'GET' || req.method === 'HEAD' ? deps.assets?.(req.path) : null;
        if (asset) {
          sendAsset(req, res, asset);
          return;
        }
        const header = (name: string) => req.get(name) ?? undefined;
        const who = admitted.get(req) ?? (await auth.authenticate(header));
        if (!who.ok) {
          logs.apiUnauthorized(call, who.status, who.reason);
          send(res, { status: who.status, headers: who.challenge ? { 'www-authenticate': who.challenge } : {}, body: apiErrorBody(who.code, who.reason) });
          return;
        }
        const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
        const out = await handler.handle({
          method: req.method,
          path: req.path,
          query: new URLSearchParams(query),
          header,
          body: Buffer.isBuffer(req.rawBody) ? req.rawBody : null,
          ...(who.caller ? { caller: who.caller } : {}),
        });
        send(res, out);
      } catch (err) {
        // The handler answers its own failures; this is for the authenticator and the write.
        logs.apiFailed(call, err);
        if (!res.headersSent) send(res, { status: 500, body: apiErrorBody('API.INTERNAL', 'internal error; it has been logged (event api.failed)') });
      }
    },
    reportFrameworkFailure(f) {
      const call = { method: f.method, path: f.path };
      if (f.status >= 500) logs.apiFailed(call, f.cause);
      else logs.apiRejected(call, f.status, f.code, f.message);
    },
  };
}

/**
 * The `api` function target's handler. The API is looked up per request (the graph
 * behind it is built once per instance) so that each request logs under its own trace;
 * a configuration the API cannot run with is answered with a JSON 500 and written to
 * the log, since there is no log sink without a configuration.
 */
export function httpApiFunction(build: (trace?: string) => HttpApi) {
  return async (req: Request, res: Response): Promise<void> => {
    let api: HttpApi;
    try {
      api = build(traceOf({ traceparent: req.get('traceparent') }));
    } catch (err) {
      send(res, misconfigured(err));
      return;
    }
    await api.serve(req, res);
  };
}

/** The `api` target's gate (`admit`), on the API built the same way as its handler's. */
export function httpApiGate(build: (trace?: string) => HttpApi): RequestGate {
  return async (req, res) => {
    let api: HttpApi;
    try {
      api = build(traceOf({ traceparent: headerOf(req)('traceparent') }));
    } catch (err) {
      const out = misconfigured(err);
      return { pass: false, status: out.status, body: out.body };
    }
    return api.admit(req, res);
  };
}

function misconfigured(err: unknown): ApiResponse {
  process.stderr.write(`${JSON.stringify({ severity: 'ERROR', event: 'api.misconfigured', message: err instanceof Error ? err.message : String(err) })}\n`);
  return { status: 500, body: apiErrorBody('API.MISCONFIGURED', 'the API is not configured correctly; the function log (event api.misconfigured) says what to fix') };
}

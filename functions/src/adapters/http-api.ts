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
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { apiErrorBody, type ApiHandler, type ApiResponse, type ApiLogEvents } from '../core/api/index.ts';
import type { ApiAuthenticator } from './api-auth.ts';
import type { FrameworkFailure } from './http-framework-errors.ts';
import type { StaticAsset } from '../dashboard/dashboard-assets.ts';
import { traceOf } from './pubsub-message.ts';

export interface HttpApi {
  serve(req: Request, res: Response): Promise<void>;
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

export function createHttpApi(deps: { handler: ApiHandler; auth: ApiAuthenticator; logs: ApiLogEvents; assets?: (path: string) => StaticAsset | null }): HttpApi {
  const { handler, auth, logs } = deps;
  return {
    async serve(req, res) {
      const call = { method: req.method, path: req.path.slice(0, 200) };
      try {
        const asset = req.method === 'GET' || req.method === 'HEAD' ? deps.assets?.(req.path) : null;
        if (asset) {
          sendAsset(req, res, asset);
          return;
        }
        const header = (name: string) => req.get(name) ?? undefined;
        const who = await auth.authenticate(header);
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
      process.stderr.write(`${JSON.stringify({ severity: 'ERROR', event: 'api.misconfigured', message: err instanceof Error ? err.message : String(err) })}\n`);
      send(res, { status: 500, body: apiErrorBody('API.MISCONFIGURED', 'the API is not configured correctly; the function log (event api.misconfigured) says what to fix') });
      return;
    }
    await api.serve(req, res);
  };
}

/**
 * JSON errors for what fails inside the functions framework, before a function runs.
 *
 * The framework reads every body itself (body-parser: JSON, text, urlencoded, raw, up
 * to 1 GiB) ahead of the function, and passes what it cannot read — malformed JSON, a
 * JSON body that is neither object nor array, a charset other than UTF-8, an unknown
 * Content-Encoding — to Express's final handler, which answers with an HTML page
 * (carrying a stack trace unless NODE_ENV=production). The function never sees these
 * requests and the framework offers no hook (functions-framework-nodejs issue #686).
 *
 * So this wraps `handle` on the application prototype of the framework's own copy of
 * Express: when the app's router gives up (an error, or no route), the answer is the
 * API's JSON error body with a stable code instead; the status stays Express's. Every
 * Express app created afterwards in this process gets it, which in a deployed function
 * means that function's one server. Installed by entry/api.entry.ts before the
 * framework builds its server.
 *
 * The api function's own requests meet http-request-gate.ts first, which refuses a
 * compressed, oversized or non-JSON body and reads the body itself, so its parsers are
 * left nothing to do; what is left for this module there is a route the app does not
 * have, and every failure of the other targets served by the same process.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiErrorBody, type ApiErrorCode } from '../core/api/index.ts';

type Done = (err?: unknown) => void;
interface ExpressApplication {
  handle(this: unknown, req: IncomingMessage, res: ServerResponse, callback?: Done): void;
  [PATCHED]?: true;
}

const PATCHED = Symbol.for('eeport.json-framework-errors');

export interface FrameworkFailure {
  status: number;
  code: ApiErrorCode;
  message: string;
}

/** What an error from the framework's middleware (or no route at all) means for the caller. */
export function describeFrameworkFailure(err: unknown): FrameworkFailure {
  if (err === undefined || err === null) return { status: 404, code: 'API.NOT_FOUND', message: 'no such resource' };
  const e = (typeof err === 'object' ? err : {}) as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown; body?: unknown; charset?: unknown; encoding?: unknown };
  const raw = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  const status = raw >= 400 && raw < 600 ? raw : 500;
  const detail = typeof e.message === 'string' ? e.message.slice(0, 300) : '';
  switch (e.type) {
    case 'entity.parse.failed': {
      // body-parser is strict: a body that is valid JSON but not an object or array also lands here.
      const first = typeof e.body === 'string' ? e.body.trimStart()[0] : undefined;
      if (first !== undefined && first !== '{' && first !== '[') {
        return { status: 400, code: 'API.MALFORMED_JSON', message: `request body must be a JSON object; it starts with ${JSON.stringify(first)}` };
      }
      return { status: 400, code: 'API.MALFORMED_JSON', message: `request body is not valid JSON: ${detail}` };
    }
    case 'entity.too.large':
      return { status: 413, code: 'API.BODY_TOO_LARGE', message: 'request body too large' };
    case 'charset.unsupported':
      return { status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE', message: `unsupported charset ${JSON.stringify(String(e.charset ?? ''))}; send JSON as UTF-8` };
    case 'encoding.unsupported':
      return { status: 415, code: 'API.UNSUPPORTED_MEDIA_TYPE', message: `unsupported Content-Encoding ${JSON.stringify(String(e.encoding ?? ''))}; use gzip, deflate, br or none` };
  }
  if (status === 413) return { status, code: 'API.BODY_TOO_LARGE', message: detail || 'request too large' };
  if (status === 415) return { status, code: 'API.UNSUPPORTED_MEDIA_TYPE', message: detail || 'unsupported media type' };
  if (status < 500) return { status, code: 'API.BAD_REQUEST', message: detail ? `the request could not be read: ${detail}` : 'the request could not be read' };
  return { status, code: 'API.INTERNAL', message: 'internal error before the request reached the function' };
}

let report: ((failure: FrameworkFailure & { method: string; path: string; cause: unknown }) => void) | undefined;

function respond(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  // As Express's own final handler does: nothing sensible can follow a started answer.
  if (res.headersSent) {
    req.socket?.destroy();
    return;
  }
  const failure = describeFrameworkFailure(err);
  try {
    report?.({ ...failure, method: req.method ?? '', path: (req.url ?? '').split('?')[0]!.slice(0, 200), cause: err });
  } catch {
    // Reporting must not stand in the way of the answer.
  }
  const body = JSON.stringify(apiErrorBody(failure.code, failure.message));
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    res.statusCode = failure.status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    res.end(body);
  };
  // A body left unread (the parser stopped early) is drained first, or the client may see a reset instead of the answer.
  if (req.complete) return write();
  req.once('end', write);
  req.once('close', write);
  req.once('error', write);
  req.resume();
}

/**
 * Installs the JSON answers (once per process; later calls only replace `onFailure`,
 * which is told about every failure, e.g. to log it).
 */
export function installJsonFrameworkErrors(onFailure?: typeof report): void {
  report = onFailure;
  // The framework's own Express, wherever the package manager put it.
  const framework = createRequire(import.meta.url).resolve('@google-cloud/functions-framework');
  const express = createRequire(framework)('express') as { application: ExpressApplication };
  const app = express.application;
  if (app[PATCHED]) return;
  const original = app.handle;
  app.handle = function handle(req, res, callback) {
    // A callback means a mounted sub-app: its parent decides what happens next.
    if (callback) return original.call(this, req, res, callback);
    return original.call(this, req, res, (err?: unknown) => respond(req, res, err));
  };
  app[PATCHED] = true;
}

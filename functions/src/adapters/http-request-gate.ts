/**
 * What an HTTP function checks on the raw request, before the functions framework
 * reads its body.
 *
 * The framework parses every body itself, ahead of the function: JSON, text, urlencoded
 * or raw, gzip/deflate/br inflated, up to 1 GiB (server.js, body-parser). So a caller
 * with no credentials could make an instance inflate 300 KB of gzip into 300 MB and
 * parse it before the function had a say. The framework offers no earlier hook
 * (functions-framework-nodejs issue #686), so `gateBeforeFramework` wraps the
 * framework's own `getServer`: the server it builds for a gated function hands each
 * request to the gate first, and to the framework's Express app only if the gate lets
 * it through. The gate reads the body itself, raw and bounded, and leaves the bytes on
 * `req.rawBody` (where the framework puts them too); the framework's parsers then find
 * the request finished and leave it alone.
 *
 * A gate belongs to one function (by identity), so the other targets served by the same
 * process (the local stack serves them all) are untouched.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { apiErrorBody } from '../core/api/index.ts';

/** What a gate says: go on (the body, if any, read into `req.rawBody`), or this answer. */
export type GateVerdict = { pass: true } | { pass: false; status: number; headers?: Record<string, string>; body: unknown };

export type RequestGate = (req: IncomingMessage, res: ServerResponse) => Promise<GateVerdict>;

/** A refused request's unread body is read and dropped for at most this long, or this much, so the answer reaches the client (then the connection is cut). */
const LINGER_MS = 2_000;
const LINGER_BYTES = 4 * 1024 * 1024;

type BodyRead = { ok: true; body: Buffer | null } | { ok: false; reason: 'too-large' | 'aborted' };

/** Whether the request carries a body at all (as body-parser decides it). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/**
 * Reads the raw body, up to `maxBytes`: more than that, declared or streamed, stops the
 * read at once. Nothing is decoded or inflated.
 */
export function readBodyBounded(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  if (!hasBody(req)) return Promise.resolve({ ok: true, body: null });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (r: BodyRead) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        done({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => done({ ok: true, body: Buffer.concat(chunks, size) }));
    req.once('aborted', () => done({ ok: false, reason: 'aborted' }));
    req.once('error', () => done({ ok: false, reason: 'aborted' }));
    req.once('close', () => done(req.complete ? { ok: true, body: Buffer.concat(chunks, size) } : { ok: false, reason: 'aborted' }));
  });
}

/**
 * Writes a refusal as JSON at once, without waiting for the body. What the client is
 * still sending is read and dropped for a bounded time and size so that it sees the
 * answer instead of a reset; past that, the connection is cut.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, verdict: Extract<GateVerdict, { pass: false }>): void {
  if (res.headersSent) {
    req.socket?.destroy();
    return;
  }
  const text = JSON.stringify(verdict.body);
  res.statusCode = verdict.status;
  for (const [k, v] of Object.entries(verdict.headers ?? {})) res.setHeader(k, v);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (!req.complete) {
    let dropped = 0;
    const cut = () => req.socket?.destroy();
    const timer = setTimeout(cut, LINGER_MS);
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) cut();
    });
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
    req.resume();
  }
  res.end(text);
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
type GetServer = ((userFunction: unknown, options: unknown) => Server) & { [GATED]?: true };

const GATED = Symbol.for('eeport.request-gate');
const gates = new WeakMap<object, RequestGate>();

/**
 * The framework's own server module, wherever the package manager put it: its CLI
 * (main.js) and its test server (testing.js) both call getServer through this object.
 */
function serverModule(): { getServer: GetServer } {
  const require = createRequire(import.meta.url);
  return require(join(dirname(require.resolve('@google-cloud/functions-framework')), 'server.js')) as { getServer: GetServer };
}

/**
 * Tells a client waiting on `Expect: 100-continue` to send its body. Gates call it once
 * the headers have passed, so a refused client never sends the body at all.
 */
export function continueIfAsked(req: IncomingMessage, res: ServerResponse): void {
  if (/^100-continue$/i.test(String(req.headers.expect ?? '')) && !res.headersSent) res.writeContinue();
}

/**
 * Puts `gate` in front of every server the framework builds for `userFunction` (the
 * function given to ff.http). Call it before the framework builds the server, at module
 * load as the entry points do; calling it again replaces the gate.
 */
export function gateBeforeFramework(userFunction: object, gate: RequestGate): void {
  gates.set(userFunction, gate);
  const mod = serverModule();
  if (mod.getServer[GATED]) return;
  const original = mod.getServer;
  const getServer: GetServer = (fn, options) => {
    const server = original(fn, options);
    const [app] = server.listeners('request') as Listener[];
    if (typeof fn !== 'function' || !gates.has(fn) || !app) return server;
    const serve: Listener = (req, res) => {
      gates.get(fn)!(req, res).then(
        (verdict) => (verdict.pass ? app(req, res) : refuse(req, res, verdict)),
        () => refuse(req, res, { pass: false, status: 500, body: apiErrorBody('API.INTERNAL', 'internal error before the request reached the function') }),
      );
    };
    server.removeAllListeners('request');
    server.on('request', serve);
    // With no listener here, Node answers 100 Continue before anyone has looked at the request.
    server.on('checkContinue', serve);
    return server;
  };
  getServer[GATED] = true;
  mod.getServer = getServer;
}

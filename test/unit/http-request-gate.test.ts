/**
 * The api function's checks before the functions framework reads a body, through the
 * framework's own test server (built as a deployed instance builds it): a compressed
 * body, a body declared or streamed over the limit, an unknown caller and a body that
 * is not JSON are refused without the body being inflated, parsed or (where the
 * headers already decide) read; what passes reaches the handler with its exact bytes.
 */
import type { AddressInfo } from 'node:net';
import { type Server, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpApi, httpApiFunction, httpApiGate, type HttpApi } from '../../functions/src/adapters/http-api.ts';
import { createApiAuthenticator } from '../../functions/src/adapters/api-auth.ts';
import { gateBeforeFramework } from '../../functions/src/adapters/http-request-gate.ts';
import { createApiLogEvents } from '../../functions/src/core/api/api-log-events.ts';
import { ApiErrorBodySchema } from '../../functions/src/core/api/api-contract.ts';
import type { ApiRequest } from '../../functions/src/core/api/api-handler.ts';
import { CapturingLogSink } from '../fakes/memory-store.ts';

const KEY = 'gate-test-key-0123456789';
const MAX = 64 * 1024;

const sink = new CapturingLogSink();
const reached: ApiRequest[] = [];
const httpApi: HttpApi = createHttpApi({
  handler: {
    handle: async (req) => {
      reached.push(req);
      return { status: 200, body: { bytes: req.body?.length ?? null, caller: req.caller ?? null } };
    },
  },
  auth: createApiAuthenticator({ mode: 'api-key', apiKeys: [KEY], oidcAudience: '', allowedCallers: [] }),
  logs: createApiLogEvents(sink),
  maxBodyBytes: MAX,
  assets: (path) => (path === '/' ? { contentType: 'text/html; charset=utf-8', body: '<!doctype html>', etag: '"x"', headers: {} } : null),
});

let gated: Server;
let ungated: Server;
let port: number;
let ungatedPort: number;
const ungatedBodies: unknown[] = [];

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  const serve = httpApiFunction(() => httpApi);
  gateBeforeFramework(serve, httpApiGate(() => httpApi));
  ff.http('gateProbe', serve);
  // Another function in the same process (the local stack serves them all): not gated.
  ff.http('gateProbeNeighbour', (req, res) => {
    ungatedBodies.push(req.body);
    res.json({ reached: true });
  });
  gated = getTestServer('gateProbe');
  ungated = getTestServer('gateProbeNeighbour');
  port = await listen(gated);
  ungatedPort = await listen(ungated);
});
afterAll(async () => {
  for (const s of [gated, ungated]) await new Promise<void>((r) => s.close(() => r()));
});
beforeEach(() => {
  reached.length = 0;
  sink.entries.length = 0;
});

const url = (path = '/v1/jobs') => `http://127.0.0.1:${port}${path}`;
const json = { 'content-type': 'application/json' };

async function expectRefused(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(ApiErrorBodySchema.parse(JSON.parse(text)).error.code).toBe(code);
  expect(reached).toEqual([]);
}

/** A raw request that declares `declared` bytes and sends `send` of them, slowly; resolves with the status line and the time it took. */
function rawPost(headers: Record<string, string>, send: Buffer, opts: { chunked?: boolean } = {}): Promise<{ status: number; ms: number; body: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/jobs', headers });
    let sending = true;
    req.on('response', (res) => {
      const ms = performance.now() - t0;
      sending = false;
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, ms, body }));
      res.on('error', reject);
    });
    req.on('error', () => undefined);
    // Send in pieces, as a slow client would, and never finish a declared 1 GB body.
    let offset = 0;
    const pump = () => {
      if (!sending || offset >= send.length) {
        if (opts.chunked && sending) req.end();
        return;
      }
      req.write(send.subarray(offset, offset + 16 * 1024));
      offset += 16 * 1024;
      setTimeout(pump, 1);
    };
    pump();
  });
}

describe('refused before the framework reads the body', () => {
  it('a gzip body (4 KB inflating to 4 MB) is a 415 with or without a key; nothing is inflated or parsed', async () => {
    const bomb = gzipSync(Buffer.from(`{"request":"${'0'.repeat(4 * 1024 * 1024)}"}`));
    expect(bomb.length).toBeLessThan(10_000);
    for (const auth of [{}, { 'x-api-key': KEY }] as Record<string, string>[]) {
      const res = await fetch(url(), { method: 'POST', headers: { ...json, ...auth, 'content-encoding': 'gzip' }, body: new Uint8Array(bomb) });
      await expectRefused(res, 415, 'API.UNSUPPORTED_MEDIA_TYPE');
    }
    expect(sink.entries.map((e) => e.event)).toEqual(['api.rejected', 'api.rejected']);
  });

  it.each(['deflate', 'br', 'x-bogus', 'gzip, identity'])('Content-Encoding %s is a 415', async (encoding) => {
    await expectRefused(await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': KEY, 'content-encoding': encoding }, body: 'x' }), 415, 'API.UNSUPPORTED_MEDIA_TYPE');
  });

  it('a declared Content-Length over the limit is a 413 at once, while the client is still sending', async () => {
    const r = await rawPost({ ...json, 'x-api-key': KEY, 'content-length': String(1024 ** 3) }, Buffer.alloc(2 * 1024 * 1024, 'x'));
    expect(r.status).toBe(413);
    expect(r.ms).toBeLessThan(1_000);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'API.BODY_TOO_LARGE' } });
    expect(reached).toEqual([]);
  });

  it('a streamed (chunked) body is cut at the limit: 413', async () => {
    const r = await rawPost({ ...json, 'x-api-key': KEY, 'transfer-encoding': 'chunked' }, Buffer.alloc(MAX * 4, 'x'), { chunked: true });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'API.BODY_TOO_LARGE' } });
    expect(reached).toEqual([]);
  });

  it('no key or a wrong key: 401 before the body is read (a client that waits for 100 Continue never sends it); the key is not logged', async () => {
    const wrong = 'not-the-key-but-long-enough';
    await expectRefused(await fetch(url(), { method: 'POST', headers: json, body: '{}' }), 401, 'API.UNAUTHENTICATED');
    await expectRefused(await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': wrong }, body: '{}' }), 401, 'API.UNAUTHENTICATED');
    expect(JSON.stringify(sink.entries)).not.toContain(wrong);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/jobs', headers: { ...json, expect: '100-continue', 'content-length': '100' } });
      req.on('continue', () => reject(new Error('100 Continue sent to an unknown caller')));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', () => undefined);
      req.flushHeaders();
    });
    expect(status).toBe(401);
  });

  it.each([
    ['a form post with fields', 'application/x-www-form-urlencoded', 'reason=x'],
    ['an empty form post (what a browser form can send to :cancel)', 'application/x-www-form-urlencoded', ''],
    ['multipart', 'multipart/form-data; boundary=x', '--x--'],
    ['text/plain', 'text/plain', '{}'],
    ['JSON in another charset', 'application/json; charset=latin1', '{}'],
  ])('%s is a 415', async (_name, contentType, body) => {
    const res = await fetch(url('/v1/jobs/0123456789abcdef0123456789abcdef:cancel'), { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': contentType }, body });
    await expectRefused(res, 415, 'API.UNSUPPORTED_MEDIA_TYPE');
  });

  it('a body without a Content-Type is a 415', async () => {
    const res = await fetch(url(), { method: 'POST', headers: { 'x-api-key': KEY }, body: new Blob(['{}']) });
    await expectRefused(res, 415, 'API.UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('what passes', () => {
  it('a JSON body within the limit reaches the handler with its exact bytes and the caller the gate found', async () => {
    const body = JSON.stringify({ a: 'é'.repeat(1000) });
    const res = await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': KEY }, body });
    expect(await res.json()).toEqual({ bytes: Buffer.byteLength(body), caller: expect.stringMatching(/^api-key:/) });
    expect(Buffer.from(reached[0]!.body!).toString()).toBe(body);
  });

  it('exactly the limit passes; one byte more does not', async () => {
    const at = `"${'x'.repeat(MAX - 2)}"`;
    expect((await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': KEY }, body: at })).status).toBe(200);
    expect((await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': KEY }, body: `${at} ` })).status).toBe(413);
  });

  it('Content-Encoding identity, a POST without a body or Content-Type, a GET: through', async () => {
    expect((await fetch(url(), { method: 'POST', headers: { ...json, 'x-api-key': KEY, 'content-encoding': 'identity' }, body: '{}' })).status).toBe(200);
    expect((await fetch(url('/v1/jobs/0123456789abcdef0123456789abcdef:cancel'), { method: 'POST', headers: { 'x-api-key': KEY } })).status).toBe(200);
    expect((await fetch(url('/v1/jobs?pageSize=1'), { headers: { 'x-api-key': KEY } })).status).toBe(200);
    expect(reached.map((r) => r.body === null)).toEqual([false, true, true]);
  });

  it("the dashboard's page needs no key", async () => {
    const res = await fetch(url('/'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<!doctype html>');
  });

  it('other functions in the same process are not gated', async () => {
    const res = await fetch(`http://127.0.0.1:${ungatedPort}/`, { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: new Uint8Array(gzipSync('{"a":1}')) });
    expect(await res.json()).toEqual({ reached: true });
    expect(ungatedBodies).toEqual([{ a: 1 }]);
  });

  it('the connection survives a refusal: the next request on it is served', async () => {
    const agentPort = port;
    const statuses: number[] = [];
    for (const headers of [{ ...json, 'content-encoding': 'gzip' }, { ...json, 'x-api-key': KEY }]) {
      const res = await fetch(`http://127.0.0.1:${agentPort}/v1/jobs`, { method: 'POST', headers, body: '{}' });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([415, 200]);
  });
});

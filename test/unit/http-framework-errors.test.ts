/**
 * What the functions framework refuses before a function runs, answered as JSON: the
 * mapping, and the real thing through the framework's test server (which builds its
 * server exactly as a deployed instance does).
 */
import type { AddressInfo } from 'node:net';
import { type Server, request as httpRequest } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFrameworkFailure, installJsonFrameworkErrors, type FrameworkFailure } from '../../functions/src/adapters/http-framework-errors.ts';
import { ApiErrorBodySchema } from '../../functions/src/core/api/api-contract.ts';

describe('describeFrameworkFailure', () => {
  it.each([
    ['no route', undefined, 404, 'API.NOT_FOUND', /no such resource/],
    ['malformed JSON', { type: 'entity.parse.failed', status: 400, message: 'Unexpected end of JSON input', body: '{"a":' }, 400, 'API.MALFORMED_JSON', /not valid JSON: Unexpected end/],
    ['strict-mode primitive', { type: 'entity.parse.failed', status: 400, message: 'Unexpected token', body: '  "str"' }, 400, 'API.MALFORMED_JSON', /must be a JSON object; it starts with "\\""/],
    ['too large', { type: 'entity.too.large', status: 413, message: 'request entity too large' }, 413, 'API.BODY_TOO_LARGE', /too large/],
    ['charset', { type: 'charset.unsupported', status: 415, charset: 'latin1' }, 415, 'API.UNSUPPORTED_MEDIA_TYPE', /latin1/],
    ['encoding', { type: 'encoding.unsupported', status: 415, encoding: 'compress' }, 415, 'API.UNSUPPORTED_MEDIA_TYPE', /compress/],
    ['other client error', { status: 400, type: 'request.aborted', message: 'request aborted' }, 400, 'API.BAD_REQUEST', /aborted/],
    ['a plain Error', new Error('boom at /srv/secret.js:1'), 500, 'API.INTERNAL', /^internal error before the request reached the function$/],
    ['a nonsense status', { status: 42 }, 500, 'API.INTERNAL', /internal/],
  ])('%s', (_name, err, status, code, message) => {
    const f: FrameworkFailure = describeFrameworkFailure(err);
    expect(f).toMatchObject({ status, code });
    expect(f.message).toMatch(message);
  });
});

describe('installed on the framework (test server)', () => {
  const reported: { status: number; code: string; method: string; path: string }[] = [];
  let server: Server;
  let port: number;

  beforeAll(async () => {
    installJsonFrameworkErrors((f) => reported.push({ status: f.status, code: f.code, method: f.method, path: f.path }));
    ff.http('probeFrameworkErrors', (req, res) => {
      res.json({ reached: true, bytes: req.rawBody?.length ?? null });
    });
    server = getTestServer('probeFrameworkErrors');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const post = (body: string, headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/v1/jobs?x=1`, { method: 'POST', headers, body });

  it('malformed JSON: a JSON 400 with a stable code, no HTML, no stack; reported', async () => {
    reported.length = 0;
    const res = await post('{"a":', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(text).not.toMatch(/<html|at JSON\.parse|node_modules/);
    expect(ApiErrorBodySchema.parse(JSON.parse(text)).error.code).toBe('API.MALFORMED_JSON');
    expect(reported).toEqual([{ status: 400, code: 'API.MALFORMED_JSON', method: 'POST', path: '/v1/jobs' }]);
  });

  it('an unsupported charset is refused before the body is read; the answer still arrives intact', async () => {
    // A body large enough not to fit in the socket buffers: the answer must wait for it to drain.
    const res = await post(`{"a":"${'x'.repeat(4 * 1024 * 1024)}"}`, { 'content-type': 'application/json; charset=latin1' });
    expect(res.status).toBe(415);
    expect(ApiErrorBodySchema.parse(await res.json()).error.code).toBe('API.UNSUPPORTED_MEDIA_TYPE');
  });

  it('what the framework reads fine still reaches the function', async () => {
    const res = await post('{"a":1}', { 'content-type': 'application/json' });
    expect(await res.json()).toEqual({ reached: true, bytes: 7 });
  });

  it('installing twice keeps one wrapper (the later reporter wins)', async () => {
    const second: string[] = [];
    installJsonFrameworkErrors((f) => second.push(f.code));
    const res = await post('[', { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(second).toEqual(['API.MALFORMED_JSON']);
  });

  it('a client that gives up mid-body does not take the server down', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
      req.on('error', () => resolve());
      req.write('{"a":');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    const res = await post('{"a":1}', { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
  });
});

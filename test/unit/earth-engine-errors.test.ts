/**
 * What eeport makes of Earth Engine's error answers where the service's behaviour is
 * undocumented: 409 ALREADY_EXISTS vs ABORTED told apart by `error.status`; queue full
 * recognised by its message whatever the HTTP code; an operation name eeport cannot
 * follow is a permanent, explained failure.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createEarthEngineRest, toEarthEngineError } from '../../functions/src/adapters/earth-engine.rest.ts';
import { EarthEngineError } from '../../functions/src/core/kernel/errors.ts';

const answer = (status: number, error: { status?: string; message: string }) => ({ response: { status, data: { error: { code: status, ...error } } } });
const QUEUE_FULL = 'Too many tasks already in the queue (3000). Please wait for some of them to complete.';

describe('toEarthEngineError', () => {
  it.each([
    [409, { status: 'ALREADY_EXISTS', message: "Request ID 'r1' has already been used." }, 'already-exists', 'EE.ALREADY_EXISTS'],
    [409, { status: 'ABORTED', message: 'The operation was aborted due to a concurrency conflict.' }, 'transient', 'EE.ABORTED'],
    [409, { message: 'Request already exists.' }, 'already-exists', 'EE.ALREADY_EXISTS'],
    [409, { message: 'Conflict, try again.' }, 'transient', 'EE.ABORTED'],
    [429, { status: 'RESOURCE_EXHAUSTED', message: QUEUE_FULL }, 'queue-full', 'EE.QUEUE_FULL'],
    [400, { status: 'RESOURCE_EXHAUSTED', message: QUEUE_FULL }, 'queue-full', 'EE.QUEUE_FULL'],
    [403, { status: 'RESOURCE_EXHAUSTED', message: QUEUE_FULL }, 'queue-full', 'EE.QUEUE_FULL'],
    [503, { status: 'RESOURCE_EXHAUSTED', message: QUEUE_FULL }, 'queue-full', 'EE.QUEUE_FULL'],
    [400, { status: 'FAILED_PRECONDITION', message: QUEUE_FULL }, 'queue-full', 'EE.QUEUE_FULL'],
    [429, { status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded for quota metric requests per minute.' }, 'transient', 'EE.RATE_LIMITED'],
    [400, { status: 'INVALID_ARGUMENT', message: 'Unknown function Image.bogus' }, 'permanent', 'EE.INVALID_ARGUMENT'],
    [503, { status: 'UNAVAILABLE', message: 'The service is currently unavailable.' }, 'transient', 'EE.UNAVAILABLE'],
  ] as const)('HTTP %i %j → %s (%s)', (status, error, kind, code) => {
    const e = toEarthEngineError(answer(status, error), 'image:export');
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    expect(e.httpStatus).toBe(status);
  });
});

describe('the REST adapter on odd answers', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  async function serve(body: unknown, status = 200): Promise<string> {
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  }
  const ee = (apiRoot: string) => createEarthEngineRest({ apiRoot, version: 'v1', timeoutMs: 2_000, accessToken: 't', retry: { maxAttempts: 2, baseMs: 1, maxDelayMs: 2, deadlineMs: 1_000 } });

  it.each(['operations/ABC', 'projects/p/tasks/ABC', 'projects/p/operations/', ''])('an operation named %j is a permanent failure that says why', async (name) => {
    const err = await ee(await serve({ name, done: false })).exportImage('p', { expression: { result: '0', values: {} } } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EarthEngineError);
    expect((err as EarthEngineError).kind).toBe('permanent');
    expect((err as EarthEngineError).code).toBe('EE.BAD_OPERATION_NAME');
    expect((err as EarthEngineError).message).toMatch(/cannot follow it/);
  });

  it('queue full answered as 503 is not retried (the queue does not drain in seconds)', async () => {
    let calls = 0;
    server = createServer((_req, res) => {
      calls++;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 503, status: 'RESOURCE_EXHAUSTED', message: QUEUE_FULL } }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const err = await ee(root).exportImage('p', { expression: { result: '0', values: {} } } as never).catch((e: unknown) => e);
    expect((err as EarthEngineError).kind).toBe('queue-full');
    expect(calls).toBe(1);
  });
});

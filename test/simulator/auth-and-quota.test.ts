/** Auth (401/403), project access, request-rate and concurrent-request limits. */
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type GoogleErrorBody, PROJECT, call, exportBody } from './helpers.ts';

let sim: Simulator | undefined;
async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator(options);
  return sim;
}
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const listPath = `/v1/projects/${PROJECT}/operations`;

describe('authentication', () => {
  it('answers 401 UNAUTHENTICATED without a bearer token, on every method', async () => {
    const s = await start();
    for (const [method, path, body] of [
      ['GET', `/v1/projects/${PROJECT}/algorithms`],
      ['POST', `/v1/projects/${PROJECT}/image:export`, exportBody()],
      ['GET', listPath],
    ] as const) {
      const r = await call<GoogleErrorBody>(s, method, path, body, { token: null });
      expect(r.status).toBe(401);
      expect(r.body.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED', message: expect.stringMatching(/^Request is missing required authentication credential/) });
      expect(r.body.error.details[0]).toMatchObject({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'CREDENTIALS_MISSING' });
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect(s.tasks()).toHaveLength(0);
    expect(s.stats().errorsByStatus).toEqual({ 401: 3 });
  });

  it('answers 401 for a non-Bearer Authorization header', async () => {
    const s = await start();
    const res = await fetch(`${s.url}${listPath}`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(res.status).toBe(401);
  });

  it('answers 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT for tokens lacking the scope', async () => {
    const s = await start({ insufficientScopeTokens: ['drive-only-token'] });
    const r = await call<GoogleErrorBody>(s, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody(), { token: 'drive-only-token' });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ status: 'PERMISSION_DENIED', message: 'Request had insufficient authentication scopes.' });
    expect(r.body.error.details).toEqual([
      expect.objectContaining({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' }),
    ]);
    expect((await call(s, 'GET', listPath)).status).toBe(200);
  });

  it('answers 401 for tokens outside validTokens when an allow-list is set', async () => {
    const s = await start({ validTokens: ['good'] });
    expect((await call(s, 'GET', listPath, undefined, { token: 'good' })).status).toBe(200);
    const r = await call<GoogleErrorBody>(s, 'GET', listPath, undefined, { token: 'expired' });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toMatch(/^Request had invalid authentication credentials/);
  });

  it("accepts anonymous calls with auth: 'off'", async () => {
    const s = await start({ auth: 'off' });
    expect((await call(s, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody(), { token: null })).status).toBe(200);
  });

  it('needs no auth on the admin endpoints', async () => {
    const s = await start();
    expect((await call(s, 'GET', '/_sim/stats', undefined, { token: null })).status).toBe(200);
  });
});

describe('project access', () => {
  it('answers 403 PERMISSION_DENIED (USER_PROJECT_DENIED) for projects outside allowedProjects', async () => {
    const s = await start({ allowedProjects: [PROJECT] });
    expect((await call(s, 'GET', listPath)).status).toBe(200);
    const r = await call<GoogleErrorBody>(s, 'POST', '/v1/projects/someone-else/image:export', exportBody());
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/^Caller does not have required permission to use project someone-else/);
    expect(r.body.error.details[0]).toMatchObject({ reason: 'USER_PROJECT_DENIED' });
    expect(s.tasks()).toHaveLength(0);
  });
});

describe('quota', () => {
  it('answers 429 RESOURCE_EXHAUSTED beyond rateLimitPerSecond, per project', async () => {
    const s = await start({ rateLimitPerSecond: 2 });
    const statuses = await Promise.all(Array.from({ length: 6 }, () => call(s, 'GET', listPath).then((r) => r.status)));
    expect(statuses.filter((st) => st === 200)).toHaveLength(2);
    expect(statuses.filter((st) => st === 429)).toHaveLength(4);
    const r = await call<GoogleErrorBody>(s, 'GET', listPath);
    expect(r.body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED', message: expect.stringContaining('Quota exceeded') });
    expect(r.body.error.details[0]).toMatchObject({ reason: 'RATE_LIMIT_EXCEEDED' });
    expect((await call(s, 'GET', '/v1/projects/another/operations')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await call(s, 'GET', listPath)).status).toBe(200);
  });

  it('does not limit with rateLimitPerSecond: 0', async () => {
    const s = await start({ rateLimitPerSecond: 0 });
    const statuses = await Promise.all(Array.from({ length: 30 }, () => call(s, 'GET', listPath).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([200]));
  });

  it('answers 429 beyond maxConcurrentRequests in flight', async () => {
    const s = await start({ rateLimitPerSecond: 0, maxConcurrentRequests: 2 });
    s.faults.inject({ kind: 'latency', ms: 150, times: 2 });
    const slow = [call(s, 'GET', listPath), call(s, 'GET', listPath)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = await call<GoogleErrorBody>(s, 'GET', listPath);
    expect(third.status).toBe(429);
    expect(third.body.error.message).toMatch(/concurren/);
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200]);
    expect((await call(s, 'GET', listPath)).status).toBe(200);
  });
});

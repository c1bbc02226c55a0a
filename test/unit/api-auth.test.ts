import { describe, it, expect } from 'vitest';
import { generateKeyPairSync, createSign } from 'node:crypto';
import { apiAuthSettings, apiKeyFingerprint, createApiAuthenticator, matchApiKey } from '../../functions/src/adapters/api-auth.ts';
import { createOidcVerifier } from '../../functions/src/adapters/scheduler-auth.oidc.ts';
import { ConfigError, loadConfig } from '../../functions/src/config.ts';

const base = { EE_PROJECT: 'ee-test-project' };
const deployed = { K_SERVICE: 'api', POLL_OIDC_AUDIENCE: 'https://x/poll', POLL_INVOKER_EMAIL: 's@x.iam.gserviceaccount.com' };
const settings = (env: Record<string, string>) => apiAuthSettings(loadConfig({ ...base, ...env }));

describe('API auth settings', () => {
  it('default: none, accepted in a run that says it is local (EEPORT_LOCAL=true), or with API_ALLOW_UNAUTHENTICATED=true', () => {
    expect(settings({ EEPORT_LOCAL: 'true' })).toMatchObject({ mode: 'none' });
    expect(settings({ API_ALLOW_UNAUTHENTICATED: 'true' })).toMatchObject({ mode: 'none' });
  });

  it('none without the local marker is refused even where K_SERVICE is not set (a VM, a container)', () => {
    expect(() => settings({})).toThrow(/API_AUTH=none outside a local run \(EEPORT_LOCAL=true is not set\)/);
  });

  it.each([
    [{ ...deployed }, /API_AUTH=none on a deployed instance/],
    [{ API_AUTH: 'api-key' }, /API_KEYS: API_AUTH=api-key needs at least one key/],
    [{ API_AUTH: 'api-key', API_KEYS: 'short' }, /API_KEYS: every key must have at least 16 characters/],
    [{ API_AUTH: 'oidc', API_ALLOWED_CALLERS: 'a@b' }, /API_OIDC_AUDIENCE/],
    [{ API_AUTH: 'oidc', API_OIDC_AUDIENCE: 'https://x/api' }, /API_ALLOWED_CALLERS/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => settings(env)).toThrow(ConfigError);
    expect(() => settings(env)).toThrow(message);
  });

  it('none on a deployed instance only with API_ALLOW_UNAUTHENTICATED=true; the other modes need no such flag', () => {
    expect(settings({ ...deployed, API_ALLOW_UNAUTHENTICATED: 'true' }).mode).toBe('none');
    expect(settings({ ...deployed, API_AUTH: 'api-key', API_KEYS: '0123456789abcdef' }).mode).toBe('api-key');
  });

  it('a bad API_AUTH value fails in loadConfig, naming it', () => {
    expect(() => loadConfig({ ...base, API_AUTH: 'basic' })).toThrow(/API_AUTH/);
  });

  it('API_MAX_BODY_BYTES defaults to 1 MiB and is bounded', () => {
    expect(loadConfig(base).API_MAX_BODY_BYTES).toBe(1_048_576);
    expect(() => loadConfig({ ...base, API_MAX_BODY_BYTES: '10' })).toThrow(/API_MAX_BODY_BYTES/);
  });
});

describe('API keys', () => {
  const KEYS = ['0123456789abcdef', 'fedcba9876543210-second'];

  it('match exactly one configured key, whichever it is', () => {
    expect(matchApiKey(KEYS[1]!, KEYS)).toBe(KEYS[1]);
    expect(matchApiKey(KEYS[0]!, KEYS)).toBe(KEYS[0]);
    for (const wrong of ['', '0123456789abcde', '0123456789abcdeF', `${KEYS[0]} `, 'x'.repeat(10_000)]) expect(matchApiKey(wrong, KEYS)).toBeNull();
  });

  it('are known by a fingerprint that does not contain them', () => {
    expect(apiKeyFingerprint(KEYS[0]!)).toMatch(/^api-key:[0-9a-f]{12}$/);
    expect(apiKeyFingerprint(KEYS[0]!)).not.toContain(KEYS[0]);
    expect(apiKeyFingerprint(KEYS[0]!)).not.toBe(apiKeyFingerprint(KEYS[1]!));
  });

  it('the api-key authenticator: 401 without or with a wrong key, the fingerprint with a right one', async () => {
    const auth = createApiAuthenticator({ mode: 'api-key', apiKeys: KEYS, oidcAudience: '', allowedCallers: [] });
    const h = (headers: Record<string, string>) => (n: string) => headers[n];
    expect(await auth.authenticate(h({}))).toMatchObject({ ok: false, status: 401, code: 'API.UNAUTHENTICATED' });
    expect(await auth.authenticate(h({ 'x-api-key': 'nope' }))).toMatchObject({ ok: false, status: 401 });
    expect(await auth.authenticate(h({ 'x-api-key': KEYS[0]! }))).toEqual({ ok: true, caller: apiKeyFingerprint(KEYS[0]!) });
  });
});

describe('OIDC for the API (the poller’s verifier, generalised to a list of callers)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const AUD = 'https://region-project.cloudfunctions.net/api';
  const certs = async () => ({ k: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'RS256', typ: 'JWT', kid: 'k' });
    const body = b64({ iss: 'https://accounts.google.com', aud: AUD, email_verified: true, sub: '1', iat: now, exp: now + 600, ...claims });
    return `Bearer ${head}.${body}.${createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKey).toString('base64url')}`;
  };

  it('lets in any listed caller (emails compared without case), 403 for others, 401 with a Bearer challenge without a token', async () => {
    const auth = createApiAuthenticator({ mode: 'oidc', apiKeys: [], oidcAudience: AUD, allowedCallers: ['a@p.iam.gserviceaccount.com', 'B@p.iam.gserviceaccount.com'] }, { certs });
    const h = (authorization?: string) => (n: string) => (n === 'authorization' ? authorization : undefined);
    expect(await auth.authenticate(h(jwt({ email: 'a@p.iam.gserviceaccount.com' })))).toEqual({ ok: true, caller: 'a@p.iam.gserviceaccount.com' });
    expect(await auth.authenticate(h(jwt({ email: 'b@p.iam.gserviceaccount.com' })))).toMatchObject({ ok: true });
    expect(await auth.authenticate(h(jwt({ email: 'c@p.iam.gserviceaccount.com' })))).toMatchObject({ ok: false, status: 403, code: 'API.PERMISSION_DENIED', reason: expect.stringMatching(/may not invoke the eeport API/) });
    expect(await auth.authenticate(h())).toMatchObject({ ok: false, status: 401, code: 'API.UNAUTHENTICATED', challenge: 'Bearer' });
  });

  it('email_verified must be true itself: missing, false or the string "true" is a 403', async () => {
    const v = createOidcVerifier({ audience: AUD, allowedEmails: ['a@p'], certs });
    for (const verified of [undefined, false, 'true', 1]) {
      expect(await v.verify(jwt({ email: 'a@p', email_verified: verified })), String(verified)).toMatchObject({ ok: false, status: 403, reason: 'token carries no verified email' });
    }
    expect(await v.verify(jwt({ email: 'a@p', email_verified: true }))).toEqual({ ok: true, email: 'a@p' });
  });

  it('a refused token is described in our words: neither the token nor its payload is echoed (they end up in the 401 and the log)', async () => {
    const v = createOidcVerifier({ audience: AUD, allowedEmails: ['a@p'], certs });
    const now = Math.floor(Date.now() / 1000);
    const good = jwt({ email: 'a@p', marker: 'SECRET-CLAIM' });
    const [head, body] = good.slice('Bearer '.length).split('.');
    const cases: [string, string, RegExp][] = [
      ['expired', jwt({ email: 'a@p', marker: 'SECRET-CLAIM', iat: now - 7200, exp: now - 3600 }), /expired/],
      ['another audience', jwt({ email: 'a@p', marker: 'SECRET-CLAIM', aud: 'https://elsewhere' }), /another audience/],
      ['another issuer', jwt({ email: 'a@p', marker: 'SECRET-CLAIM', iss: 'https://evil.example' }), /not issued by Google/],
      ['a forged signature', `Bearer ${head}.${body}.${Buffer.from('SECRET-SIGNATURE').toString('base64url')}`, /bad signature/],
      ['not a JWT', 'Bearer SECRET-CLAIM.x', /not a JWT/],
      ['no iat', jwt({ email: 'a@p', marker: 'SECRET-CLAIM', iat: undefined }), /iat or exp/],
    ];
    for (const [name, token, reason] of cases) {
      const r = await v.verify(token);
      expect(r, name).toMatchObject({ ok: false, status: 401, reason: expect.stringMatching(reason) });
      const text = JSON.stringify(r);
      for (const leak of ['SECRET', body!, token.slice(7, 40)]) expect(text, name).not.toContain(leak);
    }
  });

  it('Google’s keys out of reach is thrown (our failure), not a 401 for the caller', async () => {
    const v = createOidcVerifier({ audience: AUD, allowedEmails: ['a@p'], certs: async () => Promise.reject(new Error('certs unreachable')) });
    await expect(v.verify(jwt({ email: 'a@p' }))).rejects.toThrow(/certs unreachable/);
  });

  it('an empty caller list lets nobody in; the poller’s single invokerEmail still works', async () => {
    expect(await createOidcVerifier({ audience: AUD, allowedEmails: [], certs }).verify(jwt({ email: 'a@p' }))).toMatchObject({ ok: false, status: 403 });
    expect(await createOidcVerifier({ audience: AUD, invokerEmail: 'sched@p', certs }).verify(jwt({ email: 'sched@p' }))).toEqual({ ok: true, email: 'sched@p' });
    expect(await createOidcVerifier({ audience: AUD, invokerEmail: 'sched@p', certs }).verify(jwt({ email: 'other@p' }))).toMatchObject({ ok: false, reason: expect.stringMatching(/may not invoke the poller/) });
  });
});

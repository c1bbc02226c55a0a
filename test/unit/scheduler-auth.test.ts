import { describe, it, expect } from 'vitest';
import { generateKeyPairSync, createSign } from 'node:crypto';
import { createOidcVerifier } from '../../functions/src/adapters/scheduler-auth.oidc.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'test-key';
const AUD = 'https://region-project.cloudfunctions.net/pollExports';
const INVOKER = 'scheduler@project.iam.gserviceaccount.com';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function jwt(claims: Record<string, unknown>, key = privateKey, kid = KID): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'RS256', typ: 'JWT', kid });
  const body = b64({ iss: 'https://accounts.google.com', aud: AUD, email: INVOKER, email_verified: true, sub: '1', iat: now, exp: now + 600, ...claims });
  const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key).toString('base64url');
  return `${head}.${body}.${sig}`;
}

const verifier = createOidcVerifier({ audience: AUD, invokerEmail: INVOKER, certs: async () => ({ [KID]: publicKey.export({ type: 'spki', format: 'pem' }).toString() }) });

describe('Cloud Scheduler OIDC check', () => {
  it('accepts a Google-signed token for our audience from the invoker', async () => {
    expect(await verifier.verify(`Bearer ${jwt({})}`)).toEqual({ ok: true, email: INVOKER });
  });

  it.each([
    ['no header', undefined, 401],
    ['not bearer', `Basic ${jwt({})}`, 401],
    ['garbage', 'Bearer abc.def.ghi', 401],
    ['wrong audience', `Bearer ${jwt({ aud: 'https://evil.example' })}`, 401],
    ['expired', `Bearer ${jwt({ iat: 1000, exp: 2000 })}`, 401],
    ['wrong issuer', `Bearer ${jwt({ iss: 'https://evil.example' })}`, 401],
    ['signed by another key', `Bearer ${jwt({}, otherKey)}`, 401],
    ['unknown key id', `Bearer ${jwt({}, privateKey, 'other')}`, 401],
    ['another service account', `Bearer ${jwt({ email: 'intruder@x.iam.gserviceaccount.com' })}`, 403],
    ['unverified email', `Bearer ${jwt({ email_verified: false })}`, 403],
  ])('refuses %s', async (_name, header, status) => {
    const r = await verifier.verify(header);
    expect(r.ok).toBe(false);
    expect(r.ok ? 0 : r.status).toBe(status);
  });
});

/**
 * Verifies Google-signed OIDC ID tokens: the one Cloud Scheduler attaches when it calls
 * pollExports, and (API_AUTH=oidc) the HTTP API's callers. Signed by Google, issued for
 * our audience, and for one of the accounts allowed to call. Cloud Functions IAM
 * already keeps the functions private; this check is defence in depth and keeps a
 * misconfigured public function from being driven by anyone.
 */
import { OAuth2Client, type TokenPayload } from 'google-auth-library';

export type AuthResult = { ok: true; email: string } | { ok: false; status: 401 | 403; reason: string };

export interface RequestVerifier {
  verify(authorization: string | undefined): Promise<AuthResult>;
}

const ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

/**
 * Why a token was refused, in words of our own: the library's messages quote the token
 * or its whole payload, which must reach neither the caller's 401 nor the log.
 */
const TOKEN_PROBLEMS: [RegExp, string][] = [
  [/^Wrong number of segments|^Can't parse token/, 'not a JWT'],
  [/^No pem found/, 'signed with a key Google does not publish'],
  [/^Invalid token signature/, 'bad signature'],
  [/^No issue time|^No expiration time|field using invalid format/, 'iat or exp missing or malformed'],
  [/^Expiration time too far/, 'expiry too far in the future'],
  [/^Token used too early/, 'not valid yet'],
  [/^Token used too late/, 'expired'],
  [/^Invalid issuer/, 'not issued by Google'],
  [/^Wrong recipient/, 'issued for another audience'],
];
export const tokenProblem = (err: unknown): string => TOKEN_PROBLEMS.find(([re]) => re.test(err instanceof Error ? err.message : ''))?.[1] ?? 'it could not be verified';

export function createOidcVerifier(opts: {
  audience: string;
  /** The one account allowed (Cloud Scheduler's); joins allowedEmails. */
  invokerEmail?: string;
  /** Accounts allowed to call. Any Google account can mint a token for any audience, so an empty list lets nobody in. */
  allowedEmails?: readonly string[];
  /** What a refused caller may not invoke, for the 403 reason. */
  target?: string;
  /** Public keys by key id; defaults to Google's published signon certificates. */
  certs?: () => Promise<Record<string, string>>;
}): RequestVerifier {
  const allowed = new Set([...(opts.allowedEmails ?? []), ...(opts.invokerEmail ? [opts.invokerEmail] : [])].map((e) => e.toLowerCase()));
  const client = new OAuth2Client();
  const certs = opts.certs ?? (async () => (await client.getFederatedSignonCertsAsync()).certs as Record<string, string>);
  return {
    async verify(authorization) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!m) return { ok: false, status: 401, reason: 'missing bearer token' };
      // Not reaching Google's keys is our fault, not the caller's: thrown, not a 401.
      const keys = await certs();
      let payload: TokenPayload | undefined;
      try {
        payload = (await client.verifySignedJwtWithCertsAsync(m[1]!, keys, opts.audience, ISSUERS)).getPayload();
      } catch (err) {
        return { ok: false, status: 401, reason: `invalid token: ${tokenProblem(err)}` };
      }
      // Only true will do: a claim that is missing, false or "true" (a string) does not vouch for the address.
      if (!payload?.email || payload.email_verified !== true) return { ok: false, status: 403, reason: 'token carries no verified email' };
      if (!allowed.has(payload.email.toLowerCase())) return { ok: false, status: 403, reason: `caller ${payload.email} may not invoke ${opts.target ?? 'the poller'}` };
      return { ok: true, email: payload.email };
    },
  };
}

/** Local runs only (config refuses it on a deployed instance). */
export const allowAllVerifier: RequestVerifier = { verify: async () => ({ ok: true, email: 'local' }) };

/**
 * Verifies Google-signed OIDC ID tokens: the one Cloud Scheduler attaches when it calls
 * pollExports, and (API_AUTH=oidc) the HTTP API's callers. Signed by Google, issued for
 * our audience, and for one of the accounts allowed to call. Cloud Functions IAM
 * already keeps the functions private; this check is defence in depth and keeps a
 * misconfigured public function from being driven by anyone.
 */
import { OAuth2Client } from 'google-auth-library';

export type AuthResult = { ok: true; email: string } | { ok: false; status: 401 | 403; reason: string };

export interface RequestVerifier {
  verify(authorization: string | undefined): Promise<AuthResult>;
}

const ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

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
      try {
        const ticket = await client.verifySignedJwtWithCertsAsync(m[1]!, await certs(), opts.audience, ISSUERS);
        const payload = ticket.getPayload();
        if (!payload?.email || payload.email_verified === false) return { ok: false, status: 403, reason: 'token carries no verified email' };
        if (!allowed.has(payload.email.toLowerCase())) return { ok: false, status: 403, reason: `caller ${payload.email} may not invoke ${opts.target ?? 'the poller'}` };
        return { ok: true, email: payload.email };
      } catch (err) {
        return { ok: false, status: 401, reason: `invalid token: ${(err as Error).message}` };
      }
    },
  };
}

/** Local runs only (config refuses it on a deployed instance). */
export const allowAllVerifier: RequestVerifier = { verify: async () => ({ ok: true, email: 'local' }) };

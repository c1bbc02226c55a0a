/**
 * Who may call the HTTP API. Deployed, the function is private: Cloud Functions IAM
 * (roles/run.invoker) admits only authenticated callers before any code runs. API_AUTH
 * adds a check in code on top:
 *   none     trust IAM alone (the default). Refused unless API_ALLOW_UNAUTHENTICATED=true
 *            says so on purpose, so that a function accidentally made public
 *            (allUsers) is not also open in code — or the run says it is local
 *            (EEPORT_LOCAL=true; the absence of K_SERVICE alone is not enough).
 *   api-key  header x-api-key must equal one of API_KEYS (compared in constant time).
 *   oidc     Authorization: Bearer <Google ID token> for API_OIDC_AUDIENCE, from one of
 *            API_ALLOWED_CALLERS (the same verifier as the poller's).
 * With TENANTS, each tenant's apiKeys and callers are accepted too (which scope a caller
 * gets is the API handler's business), and `none` is refused: it cannot tell callers apart.
 * The settings are checked when the API is first built, not in loadConfig(), so the
 * other function targets, which share the configuration, never trip on them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError, type Config } from '../config.ts';
import { createOidcVerifier, type RequestVerifier } from './scheduler-auth.oidc.ts';

export type ApiAuthMode = 'none' | 'api-key' | 'oidc';

export interface ApiAuthSettings {
  mode: ApiAuthMode;
  apiKeys: readonly string[];
  oidcAudience: string;
  allowedCallers: readonly string[];
}

export type ApiAuthResult =
  | { ok: true; caller?: string }
  | { ok: false; status: 401 | 403; code: 'API.UNAUTHENTICATED' | 'API.PERMISSION_DENIED'; reason: string; challenge?: string };

export interface ApiAuthenticator {
  authenticate(header: (name: string) => string | undefined): Promise<ApiAuthResult>;
}

/** Short enough to guess nothing from, long enough to tell keys apart in job sources and logs. */
const MIN_KEY_LENGTH = 16;

/** The API's auth settings from the configuration, or a ConfigError naming the variables. */
export function apiAuthSettings(
  config: Pick<Config, 'API_AUTH' | 'API_ALLOW_UNAUTHENTICATED' | 'API_KEYS' | 'API_OIDC_AUDIENCE' | 'API_ALLOWED_CALLERS' | 'K_SERVICE' | 'EEPORT_LOCAL'> & Partial<Pick<Config, 'tenants'>>,
): ApiAuthSettings {
  const problems: string[] = [];
  const tenants = config.tenants ?? [];
  const apiKeys = [...config.API_KEYS, ...tenants.flatMap((t) => t.apiKeys)];
  const allowedCallers = [...config.API_ALLOWED_CALLERS, ...tenants.flatMap((t) => t.callers)];
  if (tenants.length && config.API_AUTH === 'none') {
    problems.push('TENANTS needs API_AUTH=api-key or oidc: with API_AUTH=none the API cannot tell one tenant’s callers from another’s');
  }
  if (tenants.length && config.API_AUTH === 'api-key' && !apiKeys.length) problems.push('API_KEYS: API_AUTH=api-key needs at least one key, in API_KEYS or a tenant’s apiKeys');
  if (tenants.length && config.API_AUTH === 'oidc' && !allowedCallers.length) problems.push('API_ALLOWED_CALLERS: API_AUTH=oidc needs the emails allowed to call, in API_ALLOWED_CALLERS or a tenant’s callers');
  if (config.API_AUTH === 'none' && !config.API_ALLOW_UNAUTHENTICATED && (config.K_SERVICE || !config.EEPORT_LOCAL)) {
    problems.push(
      config.K_SERVICE
        ? 'API_AUTH=none on a deployed instance (K_SERVICE is set): set API_AUTH=api-key or oidc, or API_ALLOW_UNAUTHENTICATED=true if Cloud Functions IAM keeps the function private'
        : 'API_AUTH=none outside a local run (EEPORT_LOCAL=true is not set): set API_AUTH=api-key or oidc, or API_ALLOW_UNAUTHENTICATED=true if Cloud Functions IAM keeps the function private',
    );
  }
  if (config.API_AUTH === 'api-key') {
    if (!tenants.length && !config.API_KEYS.length) problems.push('API_KEYS: API_AUTH=api-key needs at least one key');
    if (config.API_KEYS.some((k) => k.length < MIN_KEY_LENGTH)) problems.push(`API_KEYS: every key must have at least ${MIN_KEY_LENGTH} characters`);
  }
  if (config.API_AUTH === 'oidc') {
    if (!config.API_OIDC_AUDIENCE) problems.push('API_OIDC_AUDIENCE: API_AUTH=oidc needs the audience callers put in their ID tokens (the function URL)');
    // Anyone with a Google account can get an ID token for any audience: the caller list is what restricts.
    if (!tenants.length && !config.API_ALLOWED_CALLERS.length) problems.push('API_ALLOWED_CALLERS: API_AUTH=oidc needs the emails allowed to call');
  }
  if (problems.length) throw new ConfigError(problems);
  return { mode: config.API_AUTH, apiKeys, oidcAudience: config.API_OIDC_AUDIENCE ?? '', allowedCallers };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** How a key shows up in job sources and logs: never the key, a fingerprint of it. */
export const apiKeyFingerprint = (key: string) => `api-key:${sha256(key).toString('hex').slice(0, 12)}`;

/**
 * Compares against every key, always all of them: hashing first gives equal-length
 * inputs to timingSafeEqual, and not stopping at a match keeps the time independent of
 * which key (if any) matched.
 */
export function matchApiKey(presented: string, keys: readonly string[]): string | null {
  const p = sha256(presented);
  let match: string | null = null;
  for (const k of keys) if (timingSafeEqual(p, sha256(k)) && match === null) match = k;
  return match;
}

export function createApiAuthenticator(settings: ApiAuthSettings, opts: { certs?: () => Promise<Record<string, string>> } = {}): ApiAuthenticator {
  switch (settings.mode) {
    case 'none':
      return { authenticate: async () => ({ ok: true }) };
    case 'api-key':
      return {
        async authenticate(header) {
          const presented = header('x-api-key');
          if (!presented) return { ok: false, status: 401, code: 'API.UNAUTHENTICATED', reason: 'missing x-api-key header' };
          const key = matchApiKey(presented, settings.apiKeys);
          return key === null ? { ok: false, status: 401, code: 'API.UNAUTHENTICATED', reason: 'unknown API key' } : { ok: true, caller: apiKeyFingerprint(key) };
        },
      };
    case 'oidc': {
      const verifier: RequestVerifier = createOidcVerifier({
        audience: settings.oidcAudience,
        allowedEmails: settings.allowedCallers,
        target: 'the eeport API',
        ...(opts.certs ? { certs: opts.certs } : {}),
      });
      return {
        async authenticate(header) {
          const r = await verifier.verify(header('authorization'));
          if (r.ok) return { ok: true, caller: r.email };
          return r.status === 401
            ? { ok: false, status: 401, code: 'API.UNAUTHENTICATED', reason: r.reason.slice(0, 300), challenge: 'Bearer' }
            : { ok: false, status: 403, code: 'API.PERMISSION_DENIED', reason: r.reason.slice(0, 300) };
        },
      };
    }
  }
}

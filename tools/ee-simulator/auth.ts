/**
 * Bearer-token checks with the service's answers: 401 without credentials, 403 with
 * ACCESS_TOKEN_SCOPE_INSUFFICIENT for tokens configured as lacking the Earth Engine
 * scope. Tokens are never verified cryptographically; any other bearer token passes
 * unless an allow-list is configured.
 */
import { ApiError, errorInfo } from './errors.ts';

export interface AuthConfig {
  mode: 'required' | 'off';
  /** Tokens answered with 403 PERMISSION_DENIED / ACCESS_TOKEN_SCOPE_INSUFFICIENT. */
  insufficientScopeTokens: readonly string[];
  /** When set, any other token is answered with 401 (expired or invalid credentials). */
  validTokens?: readonly string[];
}

const MISSING =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const INVALID =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const SCOPES = 'Request had insufficient authentication scopes.';
const CHALLENGE = { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' };

/** Returns the error to answer, or undefined when the call may proceed. */
export function checkAuth(header: string | undefined, config: AuthConfig, rpcMethod: string): ApiError | undefined {
  if (config.mode === 'off') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) {
    return new ApiError('UNAUTHENTICATED', MISSING, {
      details: [errorInfo('CREDENTIALS_MISSING', { method: rpcMethod })],
      headers: CHALLENGE,
    });
  }
  const token = match[1] as string;
  if (config.insufficientScopeTokens.includes(token)) {
    return new ApiError('PERMISSION_DENIED', SCOPES, {
      details: [errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', { method: rpcMethod })],
      headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"' },
    });
  }
  if (config.validTokens && !config.validTokens.includes(token)) {
    return new ApiError('UNAUTHENTICATED', INVALID, {
      details: [errorInfo('ACCESS_TOKEN_TYPE_UNSUPPORTED', { method: rpcMethod })],
      headers: CHALLENGE,
    });
  }
  return undefined;
}

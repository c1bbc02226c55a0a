/**
 * The HTTP API as the CLI talks to it: where (flag › env › the local stack's file ›
 * 127.0.0.1:8182, the local stack's api port), with which credentials, and every failure turned into a CliError
 * with its exit code. Successful answers are checked against the API's own zod
 * schemas (functions/src/core/api-contract.ts) by the callers.
 */
import { z } from 'zod';
import { IssueSchema } from '../../functions/src/core/api/index.ts';
import { CliError, EXIT, joinDetails, rootCause, type ErrorDetail } from './errors.ts';
import type { StackFile } from './stack-file.ts';

/**
 * The API's error body (ApiErrorBodySchema) with any code: a code added to the API after
 * this CLI was written must not hide the message.
 */
export const LooseErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.array(IssueSchema).optional() }) });

export const DEFAULT_API_URL = 'http://127.0.0.1:8182';

export interface ApiTarget {
  /** The function's URL; API paths (/v1/…) are relative to it. */
  url: string;
  /** Where the URL came from, for the hint when nothing answers there. */
  source: 'flag' | 'env' | 'stack-file' | 'default';
  stackFile: StackFile | null;
}

export function resolveApiTarget(flag: string | undefined, env: string | undefined, stackFile: StackFile | null): ApiTarget {
  const pick = (url: string, source: ApiTarget['source']): ApiTarget => {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new CliError(EXIT.USAGE, `${source === 'flag' ? '--api' : source === 'env' ? 'EEPORT_API_URL' : `apiUrl in ${stackFile?.path}`} is not an http(s) URL: "${url}"`);
    }
    return { url, source, stackFile };
  };
  if (flag) return pick(flag, 'flag');
  if (env) return pick(env, 'env');
  if (stackFile?.apiUrl) return pick(stackFile.apiUrl, 'stack-file');
  return { url: DEFAULT_API_URL, source: 'default', stackFile };
}

export interface Credentials {
  apiKey?: string;
  idToken?: string;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface CallOptions {
  query?: URLSearchParams;
  body?: unknown;
  headers?: Record<string, string>;
  /** Non-2xx statuses the caller handles itself instead of an error (e.g. 409 on cancel). */
  accept?: readonly number[];
  /** What a 404 means, for the message ("job 3f2c…"); default: the path. */
  what?: string;
}

export class ApiClient {
  constructor(
    readonly target: ApiTarget,
    private readonly credentials: Credentials,
    private readonly timeoutMs: number,
  ) {}

  /** An absolute URL for an API path, keeping any path the function URL has (…/api). */
  url(path: string, query?: URLSearchParams): URL {
    const base = this.target.url.endsWith('/') ? this.target.url : `${this.target.url}/`;
    const u = new URL(path.replace(/^\/+/, ''), base);
    if (query) u.search = query.toString();
    return u;
  }

  async call(method: string, path: string, opts: CallOptions = {}): Promise<ApiAnswer> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'eeport-cli', ...opts.headers };
    if (this.credentials.apiKey) headers['x-api-key'] = this.credentials.apiKey;
    if (this.credentials.idToken) headers.authorization = `Bearer ${this.credentials.idToken}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'manual' });
    } catch (err) {
      throw this.unreachable(err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.unreachable(err);
    }
    let parsed: unknown = undefined;
    try {
      parsed = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      parsed = undefined;
    }
    if ((res.status >= 200 && res.status < 300) || opts.accept?.includes(res.status)) {
      if (parsed === undefined) throw new CliError(EXIT.API, `${method} ${url.pathname} answered ${res.status} with a body that is not JSON: ${text.slice(0, 120).replace(/\s+/g, ' ')}`);
      return { status: res.status, body: parsed };
    }
    throw this.failure(method, url, res, text, parsed, opts.what);
  }

  /** Calls and checks the answer against a schema; the raw body is returned too, for --json. */
  async parsed<S extends z.ZodType>(schema: S, method: string, path: string, opts: CallOptions = {}): Promise<{ status: number; value: z.output<S>; raw: unknown }> {
    const answer = await this.call(method, path, opts);
    return { status: answer.status, value: checkAnswer(schema, answer.body, `${method} ${path}`), raw: answer.body };
  }

  private unreachable(err: unknown): CliError {
    const name = err instanceof Error ? err.name : '';
    const where = this.target.url;
    const reason = name === 'TimeoutError' ? `no answer within ${Math.round(this.timeoutMs / 1000)}s` : rootCause(err);
    const hint = {
      flag: 'check --api',
      env: 'check EEPORT_API_URL',
      'stack-file': `that is the local stack recorded in ${this.target.stackFile?.path}: is \`npm start\` still running? (or pass --api URL)`,
      default: 'nothing answers at the default address: start the local stack with `npm start`, or pass --api URL / set EEPORT_API_URL',
    }[this.target.source];
    return new CliError(EXIT.API, `cannot reach the eeport API at ${where} (${reason}); ${hint}`);
  }

  private failure(method: string, url: URL, res: Response, text: string, parsed: unknown, what?: string): CliError {
    const apiError = LooseErrorBodySchema.safeParse(parsed);
    const code = apiError.success ? apiError.data.error.code : undefined;
    const details: readonly ErrorDetail[] | undefined = apiError.success ? apiError.data.error.details : undefined;
    let message = apiError.success ? apiError.data.error.message : `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 160).replace(/\s+/g, ' ')}` : ''}`;
    if (details?.length && details.length > 1) message = `${message.replace(/ \(and \d+ more; see details\)$/, '')}; ${joinDetails(details.slice(1))}`;
    const extra = { status: res.status, ...(code ? { code } : {}), ...(details ? { details } : {}) };
    const s = res.status;
    if (s === 401 || s === 403) {
      return new CliError(EXIT.AUTH, `the API refused the credentials (${s}${code ? ` ${code}` : ''}): ${message}; pass --api-key / EEPORT_API_KEY or --id-token / EEPORT_ID_TOKEN (e.g. "$(gcloud auth print-identity-token)")`, extra);
    }
    if (s === 404) {
      // A route the API does not have is not a missing job: the deployment is older than the CLI.
      if (!apiError.success || /^no such resource/.test(message)) {
        return new CliError(EXIT.API, `the API at ${this.target.url} has no ${method} ${url.pathname} (is it an older deployment, or the wrong URL?)`, extra);
      }
      return new CliError(EXIT.NOT_FOUND, what ? `no ${what}` : message, extra);
    }
    if (s === 400 || s === 413) return new CliError(EXIT.USAGE, message, extra);
    if (s >= 300 && s < 400) return new CliError(EXIT.API, `${method} ${url.pathname} answered a redirect (${s}) to ${res.headers.get('location') ?? '?'}; check the API URL`, extra);
    return new CliError(EXIT.API, `${method} ${url.pathname} failed: ${s}${code ? ` ${code}` : ''}: ${message}`, extra);
  }
}

/** Parses an answer with the API contract's schema; a mismatch is an API error (4), not a crash. */
export function checkAnswer<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw new CliError(EXIT.API, `unexpected answer to ${what}: ${joinDetails(r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })), 3)}`);
}

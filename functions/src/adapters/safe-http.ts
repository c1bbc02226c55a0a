/**
 * The only way eeport sends a request to a user-supplied URL. Defends against
 * server-side request forgery and DNS rebinding: the URL is checked, the host is
 * resolved exactly once, every answer is checked, and the socket is pinned to the
 * address that was checked (a custom `lookup` hands it to node:http/https, while the
 * Host header and the TLS server name stay the hostname so certificates verify as
 * usual). Redirects are never followed, the whole exchange has one deadline, and at
 * most `maxResponseBytes` of the response body are read, then thrown away.
 */
import { promises as dns, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkAddress, checkCallbackUrl, portRefusal, type CallbackUrlPolicy } from '../core/requests/index.ts';

/** Why a call was refused by policy. Never retry: the same URL will be refused again. */
export class CallbackRefusedError extends Error {
  readonly kind = 'refused' as const;
  readonly code = 'WEBHOOK.REFUSED' as const;
  readonly retryable = false;

  constructor(
    message: string,
    readonly reasons: readonly string[],
    readonly host?: string,
    readonly address?: string,
  ) {
    super(message);
    this.name = 'CallbackRefusedError';
  }

  toJSON() {
    return { code: this.code, message: this.message, metadata: { reasons: this.reasons, host: this.host, address: this.address } };
  }
}

/** DNS failure, connection failure, reset or timeout: worth retrying on the schedule. */
export class CallbackNetworkError extends Error {
  readonly kind = 'network' as const;
  readonly retryable = true;

  constructor(
    readonly code: 'WEBHOOK.DNS' | 'WEBHOOK.NETWORK' | 'WEBHOOK.TIMEOUT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CallbackNetworkError';
  }

  toJSON() {
    return { code: this.code, message: this.message, metadata: {} };
  }
}

export type CallbackError = CallbackRefusedError | CallbackNetworkError;

export function isCallbackRefused(err: unknown): err is CallbackRefusedError {
  return err instanceof CallbackRefusedError;
}

/** Resolves a hostname to all of its addresses (the shape of `dns.promises.lookup(host, { all: true })`). */
export type ResolveHost = (hostname: string) => Promise<readonly Pick<LookupAddress, 'address'>[]>;

export interface SafeHttpOptions extends CallbackUrlPolicy {
  /** One deadline for the whole exchange: resolution, connection, sending, response. */
  timeoutMs?: number;
  /** Injectable for tests; defaults to the system resolver with all addresses. */
  lookup?: ResolveHost;
  maxResponseBytes?: number;
}

export interface SafeHttpResponse {
  /** 3xx comes back as it is; the caller counts it as a failure (redirects are not followed). */
  status: number;
  /** From the start of `post` (resolution included) until the response was read or cut off. */
  latencyMs: number;
  /** The address the request was sent to: the one that was checked. */
  address: string;
}

export interface SafeHttpClient {
  post(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<SafeHttpResponse>;
}

const systemResolve: ResolveHost = (hostname) => dns.lookup(hostname, { all: true, order: 'verbatim' });

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** Hands node:net the checked address whatever it asks for, so no second resolution can happen. */
function pinnedLookup(address: string): LookupFunction {
  const family = familyOf(address);
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/** Turns an abort into a rejection, for the parts (resolution) that do not take a signal. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createSafeHttpClient(options: SafeHttpOptions): SafeHttpClient {
  const { timeoutMs = 15_000, lookup = systemResolve, maxResponseBytes = 64 * 1024 } = options;
  const policy: CallbackUrlPolicy = {
    allowHttp: options.allowHttp,
    allowLoopback: options.allowLoopback,
    ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
    ...(options.allowedPorts ? { allowedPorts: options.allowedPorts } : {}),
  };

  async function resolveChecked(hostname: string, signal: AbortSignal): Promise<string> {
    let answers: readonly Pick<LookupAddress, 'address'>[];
    try {
      answers = await raceAbort(lookup(hostname), signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new CallbackNetworkError('WEBHOOK.DNS', `could not resolve ${hostname}: ${(err as Error).message}`, { cause: err });
    }
    const first = answers[0];
    if (!first) throw new CallbackNetworkError('WEBHOOK.DNS', `${hostname} resolved to no address`);
    // Every answer, not just the one used: a name with any internal address is not a public endpoint.
    for (const { address } of answers) {
      const verdict = checkAddress(address, policy);
      if (verdict.blocked) {
        throw new CallbackRefusedError(
          `host ${hostname} resolves to ${address}, which is blocked: ${verdict.reason} [${verdict.rule}]`,
          [`${verdict.reason} [${verdict.rule}]`],
          hostname,
          address,
        );
      }
    }
    return first.address;
  }

  function send(
    check: Extract<ReturnType<typeof checkCallbackUrl>, { ok: true }>,
    address: string,
    body: string,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal,
  ): Promise<number> {
    const { url, hostname, ipLiteral } = check;
    const isHttps = url.protocol === 'https:';
    const outgoing: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!['host', 'content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase())) outgoing[name] = value;
    }
    outgoing['host'] = url.host;
    outgoing['content-length'] = Buffer.byteLength(body);
    outgoing['connection'] = 'close';

    const requestOptions: https.RequestOptions = {
      method: 'POST',
      protocol: url.protocol,
      hostname,
      port: url.port === '' ? (isHttps ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: outgoing,
      lookup: pinnedLookup(address),
      family: familyOf(address),
      // A fresh connection each time: nothing pooled from an earlier resolution is reused.
      agent: false,
      signal,
      // TLS verifies the certificate against the name, not the address (SNI needs a name).
      ...(isHttps && ipLiteral === undefined ? { servername: hostname } : {}),
    };

    return new Promise<number>((resolve, reject) => {
      const req = (isHttps ? https : http).request(requestOptions, (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        // Once the status line is in, that is the outcome; the body only has to be drained.
        const done = () => resolve(status);
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read >= maxResponseBytes) {
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', done);
        res.on('close', done);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  return {
    async post(rawUrl, body, headers) {
      const started = performance.now();
      const check = checkCallbackUrl(rawUrl, policy);
      if (!check.ok) {
        throw new CallbackRefusedError(`callback URL refused: ${check.reasons.join('; ')}`, check.reasons);
      }
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new CallbackNetworkError('WEBHOOK.TIMEOUT', `no response from ${check.hostname} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      try {
        const address = check.ipLiteral ?? (await resolveChecked(check.hostname, controller.signal));
        // A name the URL check let through on an odd port (loopback allowed): the address it resolved to decides.
        const port = portRefusal(check.url, policy, address);
        if (port) throw new CallbackRefusedError(`callback URL refused: ${port}`, [port], check.hostname, address);
        const status = await send(check, address, body, headers, controller.signal);
        return { status, latencyMs: Math.round(performance.now() - started), address };
      } catch (err) {
        if (err instanceof CallbackRefusedError || err instanceof CallbackNetworkError) throw err;
        if (controller.signal.aborted && controller.signal.reason instanceof CallbackNetworkError) throw controller.signal.reason;
        const message = err instanceof Error ? err.message : String(err);
        // The host only: paths and queries of callback URLs often carry tokens.
        throw new CallbackNetworkError('WEBHOOK.NETWORK', `request to ${check.hostname} failed: ${message}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

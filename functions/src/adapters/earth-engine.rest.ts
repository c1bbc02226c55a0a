/**
 * Earth Engine over REST: google-auth-library for credentials (Application Default
 * Credentials with the earthengine scope, or a static token for the simulator), gaxios
 * retry support for 429/5xx/network faults, zod for every response. Errors leave as
 * EarthEngineError with a kind the core acts on; the service's message is kept.
 */
import { GoogleAuth, gaxios } from 'google-auth-library';
import { EarthEngineError, type EarthEngineFailureKind, type ErrorCode } from '../core/kernel/index.ts';
import { OperationSchema, type Operation } from '../core/jobs/index.ts';
import type { EarthEngine, ListImagesPage, ListOperationsPage } from '../core/ports.ts';
import type { ExportImageRequest } from '../core/requests/index.ts';
import { z } from 'zod';

export const EE_SCOPES = ['https://www.googleapis.com/auth/earthengine', 'https://www.googleapis.com/auth/cloud-platform'];

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxDelayMs: number;
  deadlineMs: number;
}

export interface EarthEngineRestOptions {
  apiRoot: string;
  version: 'v1' | 'v1beta' | 'v1alpha';
  timeoutMs: number;
  retry: RetryPolicy;
  /** A static bearer token (simulator, local runs). Without it, Application Default Credentials. */
  accessToken?: string;
  /** Called on each retry (for logs and counters). */
  onRetry?: (info: { attempt: number; status: number | null; url: string }) => void;
}

interface Requester {
  request<T>(opts: gaxios.GaxiosOptions): Promise<gaxios.GaxiosResponse<T>>;
}

/** Retried: rate limits, server faults, timeouts. Never 400/401/403/404 (retrying cannot help). */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

const ErrorBodySchema = z.object({ error: z.object({ code: z.number().optional(), message: z.string().optional(), status: z.string().optional(), details: z.array(z.unknown()).optional() }) });
const ListSchema = z.object({ operations: z.array(OperationSchema).optional(), nextPageToken: z.string().optional() });
const ImagesSchema = z.object({
  images: z.array(z.object({ name: z.string(), id: z.string().optional(), startTime: z.string().optional(), endTime: z.string().optional() }).loose()).optional(),
  nextPageToken: z.string().optional(),
});

/** A collection's asset name: projects/{p}/assets/{path} as given; a legacy id (LANDSAT/…) is the public catalog's. */
export const collectionName = (collection: string) => {
  const c = collection.replace(/^\/+|\/+$/g, '');
  return c.startsWith('projects/') ? c : `projects/earthengine-public/assets/${c}`;
};

function errorBody(data: unknown) {
  const parsed = ErrorBodySchema.safeParse(typeof data === 'string' ? safeJson(data) : data);
  return parsed.success ? parsed.data.error : undefined;
}
function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * "Too many tasks already in the queue (3000)": recognised by its message (and status
 * name), whatever the HTTP code, which is undocumented (429 in public scripts).
 */
export function isQueueFull(data: unknown): boolean {
  const body = errorBody(data);
  const message = body?.message ?? '';
  return /too many tasks/i.test(message) || (body?.status === 'RESOURCE_EXHAUSTED' && /queue/i.test(message));
}

/**
 * 409 is both ALREADY_EXISTS (a repeated requestId, the task exists) and ABORTED (a
 * concurrency conflict, worth retrying): told apart by `error.status`; without one, by
 * the message.
 */
function conflictKind(body: ReturnType<typeof errorBody>): 'already-exists' | 'aborted' {
  if (body?.status === 'ALREADY_EXISTS') return 'already-exists';
  if (body?.status === 'ABORTED') return 'aborted';
  return /already/i.test(body?.message ?? '') ? 'already-exists' : 'aborted';
}

/** Maps a failed call to what the core needs to decide: fail, queue, or retry later. */
export function toEarthEngineError(err: unknown, what: string): EarthEngineError {
  const gx = err as gaxios.GaxiosError | undefined;
  const status = gx?.response?.status;
  const body = errorBody(gx?.response?.data);
  const message = body?.message ?? (err instanceof Error ? err.message : String(err));
  const meta = { what, ...(body?.status ? { status: body.status } : {}) };
  const make = (kind: EarthEngineFailureKind, code: ErrorCode, msg = message) => new EarthEngineError(kind, code, msg, status ?? null, meta, { cause: err });
  if (status === undefined) return make('transient', 'EE.UNAVAILABLE', `Earth Engine unreachable (${what}): ${message}`);
  if (isQueueFull(gx?.response?.data)) return make('queue-full', 'EE.QUEUE_FULL');
  if (status === 429) return make('transient', 'EE.RATE_LIMITED');
  if (status === 409) return conflictKind(body) === 'already-exists' ? make('already-exists', 'EE.ALREADY_EXISTS') : make('transient', 'EE.ABORTED');
  if (RETRYABLE_STATUS.has(status)) return make('transient', 'EE.UNAVAILABLE');
  if (status === 400) return make('permanent', 'EE.INVALID_ARGUMENT');
  if (status === 401 || status === 403) {
    const hint = /scope/i.test(JSON.stringify(body ?? '')) ? ' (the credentials lack the earthengine or cloud-platform OAuth scope)' : '';
    return make('permanent', 'EE.PERMISSION_DENIED', `${message}${hint}`);
  }
  if (status === 404) return make('not-found', 'EE.NOT_FOUND');
  return make('permanent', 'EE.INVALID_ARGUMENT');
}

export function createEarthEngineRest(options: EarthEngineRestOptions): EarthEngine {
  const root = options.apiRoot.replace(/\/+$/, '');
  let requester: Promise<Requester> | undefined;
  // Created on first use, once per instance: a cold start that never calls Earth Engine pays nothing.
  const client = (): Promise<Requester> =>
    (requester ??= options.accessToken
      ? Promise.resolve(new gaxios.Gaxios({ headers: { Authorization: `Bearer ${options.accessToken}` } }))
      : new GoogleAuth({ scopes: EE_SCOPES }).getClient());

  const { retry } = options;
  async function call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, what: string, body?: unknown, params?: Record<string, string | number | undefined>): Promise<T> {
    const c = await client();
    const url = `${root}/${options.version}/${path}`;
    try {
      const res = await c.request<T>({
        url,
        method,
        ...(body !== undefined ? { data: body } : {}),
        ...(params ? { params: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) } : {}),
        timeout: options.timeoutMs,
        responseType: 'json',
        retry: retry.maxAttempts > 0,
        retryConfig: {
          retry: retry.maxAttempts,
          noResponseRetries: retry.maxAttempts,
          // POST is safe to retry here: image:export carries a fixed requestId, cancel is idempotent.
          httpMethodsToRetry: ['GET', 'POST', 'DELETE'],
          totalTimeout: retry.deadlineMs,
          shouldRetry: (err) => {
            const cfg = err.config?.retryConfig;
            const attempt = cfg?.currentRetryAttempt ?? 0;
            if (attempt >= retry.maxAttempts) return false;
            if (cfg?.timeOfFirstRequest && Date.now() - cfg.timeOfFirstRequest > retry.deadlineMs) return false;
            const status = err.response?.status;
            if (status === undefined) return true; // reset, refused, timed out: the same requestId makes a retry safe
            if (isQueueFull(err.response?.data)) return false; // the queue does not drain in seconds
            if (status === 409) return conflictKind(errorBody(err.response?.data)) === 'aborted';
            return RETRYABLE_STATUS.has(status);
          },
          // Truncated exponential backoff with full jitter (gaxios' own delay has none).
          retryBackoff: async (err) => {
            const attempt = err.config?.retryConfig?.currentRetryAttempt ?? 1;
            const ceiling = Math.min(retry.maxDelayMs, retry.baseMs * 2 ** Math.max(0, attempt - 1));
            options.onRetry?.({ attempt, status: err.response?.status ?? null, url });
            await new Promise((r) => setTimeout(r, Math.random() * ceiling));
          },
        },
      });
      return res.data;
    } catch (err) {
      throw toEarthEngineError(err, what);
    }
  }

  function parseOperation(data: unknown, what: string): Operation {
    const r = OperationSchema.safeParse(data);
    if (r.success) return r.data;
    const name = (data as { name?: unknown } | null)?.name;
    if (r.error.issues.some((i) => i.path[0] === 'name')) {
      // Retrying cannot change the name Earth Engine gave: explain and stop, don't loop.
      throw new EarthEngineError(
        'permanent',
        'EE.BAD_OPERATION_NAME',
        `Earth Engine answered ${what} with the operation name ${JSON.stringify(name)}, which is not projects/{project}/operations/{id}: eeport cannot follow it. The task may exist; look for it in the Earth Engine task list.`,
        200,
        { what, operationName: typeof name === 'string' ? name.slice(0, 300) : null },
      );
    }
    throw new EarthEngineError('transient', 'EE.BAD_RESPONSE', `unexpected ${what} response from Earth Engine: ${r.error.issues[0]?.message}`, 200);
  }

  return {
    async exportImage(eeProject: string, request: ExportImageRequest) {
      return parseOperation(await call('POST', `projects/${encodeURIComponent(eeProject)}/image:export`, 'image:export', request), 'image:export');
    },
    async getOperation(name: string) {
      return parseOperation(await call('GET', name, 'operations.get'), 'operations.get');
    },
    async listOperations(eeProject, page): Promise<ListOperationsPage> {
      const data = await call('GET', `projects/${encodeURIComponent(eeProject)}/operations`, 'operations.list', undefined, {
        pageSize: page.pageSize,
        pageToken: page.pageToken,
        filter: page.filter,
      });
      const r = ListSchema.safeParse(data);
      if (!r.success) throw new EarthEngineError('transient', 'EE.BAD_RESPONSE', `unexpected operations.list response: ${r.error.issues[0]?.message}`, 200);
      return { operations: r.data.operations ?? [], nextPageToken: r.data.nextPageToken || null };
    },
    async cancelOperation(name: string) {
      await call('POST', `${name}:cancel`, 'operations.cancel', {});
    },
    async listImages(collection, page): Promise<ListImagesPage> {
      const data = await call('GET', `${collectionName(collection).split('/').map(encodeURIComponent).join('/')}:listImages`, 'assets.listImages', undefined, {
        startTime: page.startTime,
        pageSize: page.pageSize,
        pageToken: page.pageToken,
      });
      const r = ImagesSchema.safeParse(data ?? {});
      if (!r.success) throw new EarthEngineError('transient', 'EE.BAD_RESPONSE', `unexpected assets.listImages response: ${r.error.issues[0]?.message}`, 200);
      // Oldest first, whatever order the service lists them in: the caller's cursor moves forward.
      const images = (r.data.images ?? []).filter((i) => i.startTime).map((i) => ({ name: i.name, id: i.id ?? i.name, startTime: i.startTime!, endTime: i.endTime ?? null }));
      images.sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime) || a.name.localeCompare(b.name));
      return { images, nextPageToken: r.data.nextPageToken || null };
    },
  };
}

/**
 * The Earth Engine REST methods: image:export, algorithms.list and the long-running
 * operation methods (get, list, cancel, wait, delete). Each returns a JSON body or throws
 * an ApiError; HTTP concerns live in server.ts.
 */
import type { AlgorithmSignature } from './algorithms.ts';
import type { AssetCatalog } from './assets.ts';
import type { SimClock } from './clock.ts';
import { ApiError, badRequest, invalidField } from './errors.ts';
import { type FilterView, parseFilter } from './list-filter.ts';
import { type Operation, renderOperation } from './operation-view.ts';
import type { ResolvedOptions } from './options.ts';
import type { ApiRoute } from './routes.ts';
import { type Task, isDone } from './task.ts';
import type { TaskEngine } from './task-engine.ts';
import { type ApiVersion, validateExportRequest } from './validate-export.ts';

export interface ApiContext {
  engine: TaskEngine;
  clock: SimClock;
  options: ResolvedOptions;
  algorithms: readonly AlgorithmSignature[];
  signatures: ReadonlyMap<string, AlgorithmSignature>;
  assets: AssetCatalog;
}

export async function handleApi(route: ApiRoute, query: URLSearchParams, body: unknown, ctx: ApiContext, closed: Promise<void>, caller = 'anonymous'): Promise<unknown> {
  switch (route.method) {
    case 'algorithms':
      return { algorithms: ctx.algorithms };
    case 'export':
      return exportImage(route, body, ctx, caller);
    case 'list':
      return listOperations(route, query, ctx);
    case 'get':
      return render(findTask(route, ctx), route.version, ctx);
    case 'cancel':
      emptyBody(body, 'CancelOperationRequest');
      ctx.engine.cancel(findTask(route, ctx));
      return {};
    case 'delete':
      ctx.engine.delete(findTask(route, ctx));
      return {};
    case 'wait':
      return waitOperation(route, body, ctx, closed);
    case 'listImages':
      return ctx.assets.listImages(`projects/${route.project}/assets/${route.assetPath ?? ''}`, query, ctx.options.maxPageSize);
  }
}

function render(task: Task, version: ApiVersion, ctx: ApiContext): Operation {
  return renderOperation(task, ctx.clock.now(), version, ctx.engine.plan, ctx.options.eecuPerSecond);
}

function findTask(route: ApiRoute, ctx: ApiContext): Task {
  const task = ctx.engine.get(route.project, route.operationId ?? '');
  if (!task) throw new ApiError('NOT_FOUND', `Operation projects/${route.project}/operations/${route.operationId} not found.`);
  return task;
}

function emptyBody(body: unknown, type: string): void {
  if (body === undefined || body === null) return;
  if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError('INVALID_ARGUMENT', `Invalid JSON payload received. Expected a ${type} object.`);
  const [unknown] = Object.keys(body);
  if (unknown !== undefined) throw invalidField(unknown, `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`);
}

function exportImage(route: ApiRoute, body: unknown, ctx: ApiContext, caller: string): Operation {
  const checked = validateExportRequest(body, route.version, ctx.signatures);
  if (!checked.ok) throw checked.error;
  const { task } = ctx.engine.submit(route.project, checked.request, caller);
  return render(task, route.version, ctx);
}

interface PageToken {
  /** Sequence number of the last operation returned. */
  s: number;
  /** The filter the listing was started with; a token only continues the same listing. */
  f: string;
}

function listOperations(route: ApiRoute, query: URLSearchParams, ctx: ApiContext): { operations?: Operation[]; nextPageToken?: string } {
  const max = ctx.options.maxPageSize;
  const rawSize = query.get('pageSize');
  let pageSize = max;
  if (rawSize !== null && rawSize !== '') {
    const n = Number(rawSize);
    if (!Number.isInteger(n) || n < 0) throw invalidField('pageSize', `Invalid value at 'pageSize' (TYPE_INT32), "${rawSize}"`);
    pageSize = n === 0 ? max : Math.min(n, max);
  }
  const filterText = query.get('filter') ?? '';
  const predicate = parseFilter(filterText);
  let after = Number.POSITIVE_INFINITY;
  const rawToken = query.get('pageToken');
  if (rawToken) {
    const token = decodeToken(rawToken);
    if (!token || token.f !== filterText) {
      throw new ApiError('INVALID_ARGUMENT', 'Invalid page token.', { details: [badRequest('pageToken', 'The page token is invalid or belongs to a listing with another filter.')] });
    }
    after = token.s;
  }
  const now = ctx.clock.now();
  const page: Operation[] = [];
  let last: Task | undefined;
  let more = false;
  for (const task of ctx.engine.list(route.project)) {
    if (task.seq >= after) continue;
    const op = render(task, route.version, ctx);
    if (!predicate(filterView(task, op, now))) continue;
    if (page.length === pageSize) {
      more = true;
      break;
    }
    page.push(op);
    last = task;
  }
  // proto3 JSON omits empty fields: an empty listing is `{}`, as the service answers.
  const out: { operations?: Operation[]; nextPageToken?: string } = {};
  if (page.length > 0) out.operations = page;
  if (more && last) out.nextPageToken = encodeToken({ s: last.seq, f: filterText });
  return out;
}

function filterView(task: Task, op: Operation, now: number): FilterView {
  return {
    name: task.name,
    state: task.state,
    done: isDone(task),
    type: 'EXPORT_IMAGE',
    description: task.request.description,
    priority: task.request.priority,
    createTime: task.createTime,
    updateTime: Date.parse(op.metadata.updateTime) || now,
    startTime: task.startTime,
    endTime: task.endTime,
  };
}

function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(raw: string): PageToken | undefined {
  try {
    const t: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (typeof t === 'object' && t !== null && typeof (t as PageToken).s === 'number' && typeof (t as PageToken).f === 'string') return t as PageToken;
  } catch {
    // fall through: any undecodable token is invalid
  }
  return undefined;
}

/** Parses a google.protobuf.Duration in JSON form ("3.5s"). */
export function parseDuration(v: unknown, field: string): number {
  if (typeof v !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(v)) {
    throw invalidField(field, `Invalid value at '${field}' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(v)}`);
  }
  return Math.round(parseFloat(v) * 1000);
}

async function waitOperation(route: ApiRoute, body: unknown, ctx: ApiContext, closed: Promise<void>): Promise<Operation> {
  let timeoutMs = ctx.options.waitDefaultTimeoutMs;
  if (body !== undefined && body !== null) {
    if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError('INVALID_ARGUMENT', 'Invalid JSON payload received. Expected a WaitOperationRequest object.');
    const b = body as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (key !== 'timeout') throw invalidField(key, `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
    }
    if (b['timeout'] !== undefined) timeoutMs = parseDuration(b['timeout'], 'timeout');
  }
  const task = findTask(route, ctx);
  if (!isDone(task) && timeoutMs > 0) {
    // Returns on completion, on the simulated timeout, or after a real-time cap so a
    // manual clock that nobody advances cannot hang the caller forever.
    await new Promise<void>((resolve) => {
      const unsubscribe = ctx.engine.onDone(task, () => done());
      const simTimer = ctx.clock.schedule(ctx.clock.now() + timeoutMs, () => done());
      const realTimer = setTimeout(() => done(), ctx.options.waitMaxRealMs);
      realTimer.unref();
      void closed.then(() => done());
      function done(): void {
        unsubscribe();
        simTimer.cancel();
        clearTimeout(realTimer);
        resolve();
      }
    });
  }
  return render(task, route.version, ctx);
}

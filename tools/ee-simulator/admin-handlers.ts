/**
 * The simulator's own control endpoints under `/_sim/` (no auth): what tests and the
 * local stack use when they cannot reach the in-process handles.
 *
 *   GET    /_sim/health           {"ok":true}
 *   GET    /_sim/tasks[?project=] {"tasks":[TaskSnapshot…]}
 *   GET    /_sim/stats            SimulatorStats
 *   GET    /_sim/faults           {"faults":[…]}
 *   POST   /_sim/faults           FaultSpec → {"id":"fault-1"}
 *   DELETE /_sim/faults[/{id}]    {}
 *   GET    /_sim/clock            {"mode","scale","now"}
 *   POST   /_sim/clock/advance    {"ms":N} → {"now":"RFC3339"}
 *   POST   /_sim/reset            {}
 *   GET    /_sim/assets           {"collections":[{"collection","images"}…]}
 *   POST   /_sim/assets/images    {"collection","images":[{"id","startTime","endTime"?,"properties"?}…]} → {"images":N}
 */
import { z } from 'zod';
import { addImagesSchema, type AssetCatalog } from './assets.ts';
import type { SimClock } from './clock.ts';
import { ApiError } from './errors.ts';
import type { FaultRegistry } from './faults.ts';
import type { TaskSnapshot } from './operation-view.ts';
import type { SimulatorStats } from './stats.ts';

export interface AdminContext {
  faults: FaultRegistry;
  clock: SimClock;
  tasks(project?: string): TaskSnapshot[];
  stats(): SimulatorStats;
  reset(): void;
  assets: AssetCatalog;
}

const advanceBody = z.object({ ms: z.number().nonnegative().finite() }).strict();

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    throw new ApiError('INVALID_ARGUMENT', `Invalid request: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

/** Handles a `/_sim/…` call; throws ApiError NOT_FOUND for unknown paths. */
export function handleAdmin(httpMethod: string, pathname: string, query: URLSearchParams, body: unknown, ctx: AdminContext): unknown {
  const route = `${httpMethod} ${pathname.replace(/\/+$/, '')}`;
  switch (route) {
    case 'GET /_sim/health':
      return { ok: true };
    case 'GET /_sim/tasks':
      return { tasks: ctx.tasks(query.get('project') ?? undefined) };
    case 'GET /_sim/stats':
      return ctx.stats();
    case 'GET /_sim/faults':
      return { faults: ctx.faults.list() };
    case 'POST /_sim/faults':
      try {
        return { id: ctx.faults.inject(body as never) };
      } catch (e) {
        if (e instanceof z.ZodError) throw new ApiError('INVALID_ARGUMENT', `Invalid fault: ${e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
        throw e;
      }
    case 'DELETE /_sim/faults':
      ctx.faults.clear();
      return {};
    case 'GET /_sim/clock':
      return { mode: ctx.clock.mode, scale: ctx.clock.scale, now: ctx.clock.iso() };
    case 'POST /_sim/clock/advance':
      ctx.clock.advance(parseWith(advanceBody, body).ms);
      return { now: ctx.clock.iso() };
    case 'POST /_sim/reset':
      ctx.reset();
      return {};
    case 'GET /_sim/assets':
      return { collections: ctx.assets.summary() };
    case 'POST /_sim/assets/images': {
      const b = parseWith(addImagesSchema, body);
      return { images: ctx.assets.add(b.collection, b.images) };
    }
  }
  const fault = /^DELETE \/_sim\/faults\/([^/]+)$/.exec(route);
  if (fault) {
    ctx.faults.clear(decodeURIComponent(fault[1] as string));
    return {};
  }
  throw new ApiError('NOT_FOUND', `Unknown simulator admin endpoint: ${route}`);
}

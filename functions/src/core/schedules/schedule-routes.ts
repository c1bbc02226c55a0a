/**
 * The schedules' HTTP routes, plugged into the API handler (core/api) as extra routes:
 *   POST/GET /v1/schedules, GET/DELETE /v1/schedules/{id}, POST /v1/schedules/{id}:pause,
 *   :resume ({catchUp?}), :backfill ({from, to?}).
 * The handler reads the body (size, content type, JSON) before these run.
 */
import { z } from 'zod';
import type { Job } from '../jobs/index.ts';
import { InvalidPageTokenError } from '../kernel/index.ts';
import { ADMIN_SCOPE, actingTenant, canSee, listFilter, type Scope } from '../tenants/index.ts';
import type { Clock, JobStore } from '../ports.ts';
import { SCHEDULE_NAME_PATTERN, upcomingWindows, type Schedule } from './schedule.ts';
import type { Schedules } from './schedules.ts';

/** The slice of the API's request and response these routes use (core/api's ApiRequest, ApiResponse). */
export interface RouteRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}
export interface RouteResponse {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}
export type BodyRead = { ok: true; value: unknown } | { ok: false; status: number; code: string; message: string };

export interface ScheduleRouteDeps {
  schedules: Pick<Schedules, 'createSchedule' | 'pause' | 'resume' | 'remove' | 'backfill'>;
  store: Pick<JobStore, 'getSchedule' | 'listSchedules' | 'getJob'>;
  clock: Clock;
  newId: () => string;
}

const error = (status: number, code: string, message: string, details?: { path: string; message: string }[]): RouteResponse => ({ status, body: { error: { code, message, ...(details?.length ? { details: details.slice(0, 100) } : {}) } } });

const ResumeBodySchema = z.strictObject({ catchUp: z.boolean().optional() });
const BackfillBodySchema = z.strictObject({ from: z.iso.datetime({ offset: true }).or(z.iso.date()), to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional() });
const PREVIEW = 5;

/** The schedule as the API shows it: the stored fields, the next windows, and the last runs with their jobs' states. */
export async function scheduleView(s: Schedule, getJob: (id: string) => Promise<Job | null>) {
  const last = s.runs.slice(-20);
  const jobs = await Promise.all(last.map((r) => getJob(r.jobId)));
  return {
    ...s,
    url: `/v1/schedules/${s.scheduleId}`,
    nextRuns: s.state === 'DELETED' ? [] : upcomingWindows(s.cadence, s.nextRunAt, PREVIEW),
    runs: last.map((r, i) => ({ ...r, state: jobs[i]?.state ?? null, url: `/v1/jobs/${r.jobId}`, error: jobs[i]?.error ?? null, destinationUris: jobs[i]?.destinationUris ?? [] })),
  };
}

export function createScheduleRoutes(deps: ScheduleRouteDeps) {
  const { schedules, store } = deps;

  function parse<T>(schema: z.ZodType<T>, read: BodyRead): { ok: true; value: T } | { ok: false; response: RouteResponse } {
    if (!read.ok) return { ok: false, response: error(read.status, read.code, read.message) };
    const r = schema.safeParse(read.value ?? {});
    if (!r.success) return { ok: false, response: error(400, 'SCHEDULE.INVALID', 'invalid body', r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))) };
    return { ok: true, value: r.data };
  }

  const getJob = (id: string) => store.getJob(id);
  const found = async (s: Schedule | null): Promise<RouteResponse> => (s ? { status: 200, body: await scheduleView(s, getJob) } : error(404, 'API.NOT_FOUND', 'no such schedule'));

  /**
   * Answers a /v1/schedules request, or null when the path is not one of these routes.
   * With TENANTS, a schedule is its creator's tenant's: a tenant lists, reads, pauses,
   * resumes, backfills and deletes only its own (another's answers 404, as one that never
   * was); the operators (admin scope) reach all.
   */
  async function handle(req: RouteRequest, readBody: (required: boolean) => BodyRead, scope: Scope = ADMIN_SCOPE): Promise<RouteResponse | null> {
    // undefined: any tenant's (admin); otherwise the only tenant whose schedules the caller may change.
    const owner = listFilter(scope);
    let path: string;
    try {
      path = decodeURIComponent(req.path).replace(/\/+$/, '');
    } catch {
      return null;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const notAllowed = (allow: string[]) => (req.method === 'OPTIONS' ? { status: 204, headers: { allow: [...allow, 'OPTIONS'].join(', ') }, body: null } : error(405, 'API.METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; allowed: ${allow.join(', ')}`));
    if (path === '/v1/schedules') {
      if (method === 'POST') {
        const read = readBody(true);
        if (!read.ok) return error(read.status, read.code, read.message);
        const out = await schedules.createSchedule(read.value, deps.newId(), actingTenant(scope));
        if (out.kind === 'invalid') return error(400, 'SCHEDULE.INVALID', `the schedule is invalid: ${out.errors[0]?.path}: ${out.errors[0]?.message}`, out.errors);
        return { status: out.kind === 'created' ? 201 : 200, body: { duplicate: out.kind === 'duplicate', schedule: await scheduleView(out.schedule, getJob) } };
      }
      if (method === 'GET') {
        const pageSize = Number(req.query.get('pageSize') ?? 50);
        if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) return error(400, 'API.INVALID_PARAMETER', 'pageSize must be an integer from 1 to 200', [{ path: 'pageSize', message: 'expected 1–200' }]);
        const token = req.query.get('pageToken') ?? undefined;
        let page: Awaited<ReturnType<typeof store.listSchedules>>;
        try {
          page = await store.listSchedules({ pageSize, ...(token ? { pageToken: token } : {}), ...(owner !== undefined ? { tenantId: owner } : {}) });
        } catch (err) {
          if (err instanceof InvalidPageTokenError) return error(400, 'API.INVALID_PARAMETER', `invalid pageToken: ${err.message}`, [{ path: 'pageToken', message: err.message }]);
          throw err;
        }
        return { status: 200, body: { schedules: page.schedules.map((s) => ({ ...s, url: `/v1/schedules/${s.scheduleId}` })), nextPageToken: page.nextPageToken } };
      }
      return notAllowed(['GET', 'HEAD', 'POST']);
    }
    const m = /^\/v1\/schedules\/([^/:]+)(?::([a-z]+))?$/.exec(path);
    if (!m) return null;
    const id = m[1]!;
    if (!SCHEDULE_NAME_PATTERN.test(id)) return error(400, 'API.INVALID_PARAMETER', 'not a schedule id', [{ path: 'scheduleId', message: `expected ${SCHEDULE_NAME_PATTERN}` }]);
    const action = m[2];
    if (action === undefined) {
      if (method === 'GET') return found(await store.getSchedule(id).then((s) => (s && s.state !== 'DELETED' && canSee(scope, s.tenantId) ? s : null)));
      if (method === 'DELETE') return found(await schedules.remove(id, owner));
      return notAllowed(['GET', 'HEAD', 'DELETE']);
    }
    if (method !== 'POST') return notAllowed(['POST']);
    if (action === 'pause') {
      const b = parse(z.strictObject({}), readBody(false));
      return b.ok ? found(await schedules.pause(id, owner)) : b.response;
    }
    if (action === 'resume') {
      const b = parse(ResumeBodySchema, readBody(false));
      return b.ok ? found(await schedules.resume(id, b.value, owner)) : b.response;
    }
    if (action === 'backfill') {
      const b = parse(BackfillBodySchema, readBody(true));
      return b.ok ? found(await schedules.backfill(id, b.value, owner)) : b.response;
    }
    return error(404, 'API.NOT_FOUND', `no such action :${action} on a schedule (pause, resume, backfill)`);
  }

  return { handle };
}

export type ScheduleRoutes = ReturnType<typeof createScheduleRoutes>;

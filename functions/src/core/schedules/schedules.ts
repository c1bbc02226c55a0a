/**
 * Schedule use cases: create (validated whole, the template tried on a sample window),
 * pause/resume/delete, backfill, and the tick the poller runs every cycle, which
 * submits the windows that have closed — oldest first, a bounded number per tick.
 *
 * A run is an ordinary job, written QUEUED (the poller releases it through admission
 * control like a batch child) in the same transaction that moves the schedule's cursor;
 * its id is derived from schedule id + window start, so a repeated tick, a crash
 * between the two, or a backfill over windows already run never submits a window twice.
 *
 * A newImages schedule runs on new data instead: each due tick lists the collection's
 * images from its cursor (projects.assets.listImages, start time inclusive) and writes one
 * run per new image (or per new date), identified by schedule id + image name (or date),
 * in the transaction that moves the cursor to the newest start time run.
 */
import { derivedRequestId, eventsFor, identityString, jobIdFor, newJob, relayEvents, type CloudEvent, type Job, type LogEvents, type IdentityKey } from '../jobs/index.ts';
import { parseExportRequest, checkCallbackUrl, destinationIssues, type CallbackUrlPolicy, type DestinationRules, type Issue } from '../requests/index.ts';
import type { Clock, EarthEngine, EeImage, EventPublisher, JobStore } from '../ports.ts';
import {
  cadenceIssues,
  cursorOf,
  dateIn,
  imageValues,
  isImageCadence,
  placeholdersOf,
  stamped,
  isoInstant,
  nextFire,
  placeholderIssues,
  RUNS_KEPT,
  runValues,
  ScheduleSpecSchema,
  substitute,
  windowOf,
  type ImageCadence,
  type Schedule,
  type ScheduleRun,
} from './schedule.ts';

export interface ScheduleDeps {
  store: JobStore;
  publisher: EventPublisher;
  clock: Clock;
  logs: LogEvents;
  /** Lists collections for newImages schedules (only the poller's tick needs it). */
  ee?: Pick<EarthEngine, 'listImages'>;
  settings: {
    eventSource: string;
    defaultEeProject: string;
    allowedEeProjects: readonly string[];
    destinations?: DestinationRules;
    callbackPolicy?: CallbackUrlPolicy;
    /** Runs submitted per tick at most, over all schedules (a year of daily backfill drains over several ticks). */
    maxRunsPerTick?: number;
    /** A tenant's schedules follow its rules (projects, destinations, callbacks) instead (TENANTS); absent: these settings for every schedule. */
    policyFor?: (tenantId: string) => SchedulePolicy;
  };
}

/** The rules a schedule's template is held to: the deployment's, or its tenant's. */
export interface SchedulePolicy {
  defaultEeProject: string;
  allowedEeProjects: readonly string[];
  destinations?: DestinationRules;
  callbackPolicy?: CallbackUrlPolicy;
  /** Set when callbacks cannot be signed for the tenant: a callbackUrl is refused with this reason. */
  noCallbacks?: string;
}

export type ScheduleCreateOutcome = { kind: 'created' | 'duplicate'; schedule: Schedule } | { kind: 'invalid'; errors: Issue[] };

/** A tenant's schedule names are its own: the same name in two tenants is two schedules (and two sets of runs). */
const inTenant = (tenantId: string | null, key: string) => (tenantId === null ? key : `tenant:${tenantId}/${key}`);
/** A run's identity: the schedule and the window it covers. */
export const runIdentity = (tenantId: string | null, scheduleId: string, windowStart: string): IdentityKey => ({ kind: 'key', key: inTenant(tenantId, `schedule:${scheduleId}@${windowStart}`) });

export function createSchedules(deps: ScheduleDeps) {
  const { store, clock, settings } = deps;
  const iso = () => clock.now().toISOString();
  const maxRuns = settings.maxRunsPerTick ?? 20;

  const policyOf = (tenantId: string | null): SchedulePolicy => (tenantId !== null && settings.policyFor ? settings.policyFor(tenantId) : settings);

  /** Checks a spec as the API receives it, against the rules of the tenant that creates it; stores nothing. */
  function checkSchedule(body: unknown, tenantId: string | null = null): { ok: true; spec: ReturnType<typeof ScheduleSpecSchema.parse> } | { ok: false; errors: Issue[] } {
    const policy = policyOf(tenantId);
    const parsed = ScheduleSpecSchema.safeParse(body);
    if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) };
    const spec = parsed.data;
    const errors: Issue[] = [...cadenceIssues(spec.cadence), ...placeholderIssues(spec.request, placeholdersOf(spec.cadence))];
    if ('requestId' in spec.request) errors.push({ path: 'request.requestId', message: 'a schedule’s runs each get their own requestId; leave it out of the template' });
    const eeProject = spec.eeProject ?? policy.defaultEeProject;
    if (policy.allowedEeProjects.length && !policy.allowedEeProjects.includes(eeProject)) {
      errors.push({ path: 'eeProject', message: `Earth Engine project "${eeProject}" is not one ${tenantId === null ? 'this deployment serves' : `tenant ${tenantId} may use`} (allowed: ${policy.allowedEeProjects.join(', ')})` });
    }
    if (spec.callbackUrl && policy.noCallbacks) errors.push({ path: 'callbackUrl', message: `refused: ${policy.noCallbacks}` });
    else if (spec.callbackUrl) {
      const c = checkCallbackUrl(spec.callbackUrl, policy.callbackPolicy ?? { allowHttp: false, allowLoopback: false });
      if (!c.ok) errors.push({ path: 'callbackUrl', message: `refused: ${c.reasons.join('; ')}` });
    }
    if (!errors.length) {
      // The template must make a valid request for a window: try the next one.
      const probe = { scheduleId: spec.scheduleId ?? 'probe', cadence: spec.cadence };
      const fire = nextFire(spec.cadence, clock.now());
      const sample = { id: 'COLLECTION/IMAGE_20240501', name: 'projects/p/assets/COLLECTION/IMAGE_20240501', startTime: clock.now().toISOString() };
      const values = isImageCadence(spec.cadence) ? imageValues(probe, sample, '0'.repeat(32)) : runValues(probe, windowOf(spec.cadence, fire), '0'.repeat(32));
      const r = parseExportRequest(substitute(spec.request, values));
      if (!r.ok) errors.push(...r.errors.map((e) => ({ path: `request.${e.path}`, message: e.message })));
      else errors.push(...destinationIssues(r.value, policy.destinations ?? {}).map((e) => ({ path: `request.${e.path}`, message: e.message })));
    }
    return errors.length ? { ok: false, errors } : { ok: true, spec };
  }

  async function createSchedule(body: unknown, fallbackId: string, tenantId: string | null = null): Promise<ScheduleCreateOutcome> {
    const check = checkSchedule(body, tenantId);
    if (!check.ok) return { kind: 'invalid', errors: check.errors };
    const { spec } = check;
    const scheduleId = spec.scheduleId ?? jobIdFor({ kind: 'key', key: inTenant(tenantId, `schedule:random:${fallbackId}`) });
    const now = clock.now();
    const from = spec.backfillFrom ? new Date(isoInstant(spec.backfillFrom)) : now;
    const schedule: Schedule = {
      scheduleId,
      tenantId,
      state: 'ACTIVE',
      description: spec.description ?? null,
      cadence: spec.cadence,
      request: spec.request,
      eeProject: spec.eeProject ?? policyOf(tenantId).defaultEeProject,
      labels: spec.labels ?? {},
      callbackUrl: spec.callbackUrl ?? null,
      // Windows that end after backfillFrom (or, without it, after now); new data is looked for at once.
      nextRunAt: isImageCadence(spec.cadence) ? now.toISOString() : nextFire(spec.cadence, from).toISOString(),
      ...(isImageCadence(spec.cadence) ? { imageCursor: from.toISOString() } : {}),
      backfill: null,
      dueAt: null,
      runs: [],
      runCount: 0,
      createTime: now.toISOString(),
      updateTime: now.toISOString(),
      version: 1,
    };
    return store.transact(async (tx) => {
      const existing = await tx.getSchedule(scheduleId);
      if (existing && existing.state !== 'DELETED') return { kind: 'duplicate' as const, schedule: existing };
      const next = existing ? { ...schedule, runs: existing.runs, runCount: existing.runCount, version: existing.version + 1 } : schedule;
      const out = stamped(next);
      tx.setSchedule(out);
      return { kind: 'created' as const, schedule: out };
    });
  }

  type Change = (s: Schedule, now: Date) => Schedule | null;
  /** Applies a change to a schedule that exists (not deleted) and is visible to the tenant. */
  async function change(scheduleId: string, tenantId: string | null | undefined, fn: Change): Promise<Schedule | null> {
    return store.transact(async (tx) => {
      const cur = await tx.getSchedule(scheduleId);
      if (!cur || cur.state === 'DELETED' || (tenantId !== undefined && cur.tenantId !== tenantId)) return null;
      const next = fn(cur, clock.now());
      if (!next) return cur;
      const out = stamped({ ...next, updateTime: iso(), version: cur.version + 1 });
      tx.setSchedule(out);
      return out;
    });
  }

  const pause = (id: string, tenantId?: string | null) => change(id, tenantId, (s) => (s.state === 'PAUSED' ? null : { ...s, state: 'PAUSED' }));
  /** Resumes; windows that closed while paused are skipped unless catchUp asks for them. */
  const resume = (id: string, opts: { catchUp?: boolean } = {}, tenantId?: string | null) =>
    change(id, tenantId, (s, now) => {
      if (s.state === 'ACTIVE') return null;
      // New data: images that started while paused are run only with catchUp.
      if (isImageCadence(s.cadence)) return { ...s, state: 'ACTIVE', nextRunAt: now.toISOString(), imageCursor: opts.catchUp ? (s.imageCursor ?? now.toISOString()) : now.toISOString() };
      return { ...s, state: 'ACTIVE', nextRunAt: opts.catchUp ? s.nextRunAt : nextFire(s.cadence, new Date(Math.max(now.getTime(), Date.parse(s.nextRunAt) - 1))).toISOString() };
    });
  const remove = (id: string, tenantId?: string | null) => change(id, tenantId, (s) => ({ ...s, state: 'DELETED', backfill: null }));
  /** Submits the windows ending after `from` and up to `to` (default: the main cursor); windows already run are not run again. */
  const backfill = (id: string, range: { from: string; to?: string }, tenantId?: string | null) =>
    change(id, tenantId, (s, now) => {
      // New data: the cursor moves back; images already run are not run again (their runs' identities).
      if (isImageCadence(s.cadence)) {
        const from = new Date(isoInstant(range.from)).toISOString();
        return { ...s, nextRunAt: now.toISOString(), imageCursor: s.imageCursor && s.imageCursor < from ? s.imageCursor : from };
      }
      const until = range.to ? new Date(isoInstant(range.to)).toISOString() : s.nextRunAt;
      return { ...s, backfill: { nextRunAt: nextFire(s.cadence, new Date(isoInstant(range.from))).toISOString(), until } };
    });

  function runJob(s: Schedule, fire: Date, at: string): Job {
    const w = windowOf(s.cadence, fire);
    const identity = runIdentity(s.tenantId, s.scheduleId, w.start.toISOString());
    const jobId = jobIdFor(identity);
    const base = { jobId, eeProject: s.eeProject, requestId: derivedRequestId(jobId), identity: identityString(identity), tenantId: s.tenantId, labels: { ...s.labels }, callbackUrl: s.callbackUrl, source: { kind: 'schedule' as const, scheduleId: s.scheduleId, windowStart: w.start.toISOString(), windowEnd: w.end.toISOString() } };
    const parsed = parseExportRequest(substitute(s.request, runValues(s, w, jobId)));
    if (!parsed.ok) {
      const details = parsed.errors.slice(0, 50);
      return newJob({ ...base, state: 'REJECTED', request: null, endTime: at, error: { code: 'EXPORT.INVALID_REQUEST', message: `the schedule's template made an invalid request: ${details.map((e) => `${e.path}: ${e.message}`).join('; ').slice(0, 1000)}`, details } }, at);
    }
    return newJob({ ...base, state: 'QUEUED', request: parsed.value, queuedReason: `schedule ${s.scheduleId}: window ${w.start.toISOString()} – ${w.end.toISOString()}` }, at);
  }

  /** Submits one due window of a schedule; false when it has none due (or another tick got there first). */
  async function runOne(scheduleId: string): Promise<{ ran: boolean; events: CloudEvent[] }> {
    return store.transact(async (tx) => {
      const s = await tx.getSchedule(scheduleId);
      const now = clock.now();
      if (!s || s.state !== 'ACTIVE') return { ran: false, events: [] };
      const cursor = cursorOf(s);
      if (Date.parse(cursor.fire) > now.getTime()) return { ran: false, events: [] };
      const fire = new Date(cursor.fire);
      const at = now.toISOString();
      const job = runJob(s, fire, at);
      const existing = await tx.getJob(job.jobId);
      const events: CloudEvent[] = [];
      if (!existing) {
        tx.createJob(job);
        events.push(...eventsFor(null, job, settings.eventSource));
      }
      const following = nextFire(s.cadence, fire).toISOString();
      const run = { windowStart: job.source.kind === 'schedule' ? job.source.windowStart : at, windowEnd: fire.toISOString(), jobId: job.jobId, submitTime: at };
      const next: Schedule = {
        ...s,
        ...(cursor.backfill ? { backfill: following < s.backfill!.until ? { ...s.backfill!, nextRunAt: following } : null } : { nextRunAt: following }),
        runs: existing ? s.runs : [...s.runs, run].slice(-RUNS_KEPT),
        runCount: s.runCount + (existing ? 0 : 1),
        updateTime: at,
        version: s.version + 1,
      };
      tx.setSchedule(stamped(next));
      if (events.length) tx.addEvents(events);
      return { ran: !existing, events };
    });
  }

  /** A newImages run: one job per image (or date), identified by the schedule and the image's name (or the date). */
  function imageRunJob(s: Schedule, c: ImageCadence, image: EeImage, at: string): Job {
    const unit = c.per === 'date' ? `date:${dateIn(new Date(image.startTime), c.timeZone)}` : `image:${image.name}`;
    const identity: IdentityKey = { kind: 'key', key: inTenant(s.tenantId, `schedule:${s.scheduleId}@${unit}`) };
    const jobId = jobIdFor(identity);
    const base = { jobId, eeProject: s.eeProject, requestId: derivedRequestId(jobId), identity: identityString(identity), tenantId: s.tenantId, labels: { ...s.labels }, callbackUrl: s.callbackUrl, source: { kind: 'schedule' as const, scheduleId: s.scheduleId, windowStart: image.startTime, windowEnd: image.endTime ?? image.startTime } };
    const parsed = parseExportRequest(substitute(s.request, imageValues(s, image, jobId)));
    if (!parsed.ok) {
      const details = parsed.errors.slice(0, 50);
      return newJob({ ...base, state: 'REJECTED', request: null, endTime: at, error: { code: 'EXPORT.INVALID_REQUEST', message: `the schedule's template made an invalid request: ${details.map((e) => `${e.path}: ${e.message}`).join('; ').slice(0, 1000)}`, details } }, at);
    }
    return newJob({ ...base, state: 'QUEUED', request: parsed.value, queuedReason: `schedule ${s.scheduleId}: new image ${image.id}` }, at);
  }

  /** Lists a due newImages schedule's collection from its cursor and writes a run per new image (or date), at most `budget`; returns how many it wrote. */
  async function checkImages(s0: Schedule, budget: number): Promise<number> {
    const c = s0.cadence as ImageCadence;
    const found: EeImage[] = [];
    let truncated = false;
    try {
      if (!deps.ee) throw new Error('no Earth Engine client to list images with');
      let pageToken: string | undefined;
      do {
        const page = await deps.ee.listImages(c.newImages, { ...(s0.imageCursor ? { startTime: s0.imageCursor } : {}), pageSize: 200, ...(pageToken ? { pageToken } : {}) });
        found.push(...page.images);
        pageToken = page.nextPageToken ?? undefined;
      } while (pageToken && found.length < budget * 4 + 200);
      truncated = !!pageToken;
    } catch (err) {
      // A collection that cannot be listed now is looked at again at the next check, not in a hot loop.
      deps.logs.unexpected(`schedule ${s0.scheduleId}: listing ${c.newImages}`, err);
      await change(s0.scheduleId, undefined, (s, now) => (s.state === 'ACTIVE' ? { ...s, nextRunAt: nextFire(s.cadence, now).toISOString() } : null));
      return 0;
    }
    // Per date, the date's first image stands for it.
    const units: EeImage[] = [];
    const seen = new Set<string>();
    for (const img of found) {
      const key = c.per === 'date' ? dateIn(new Date(img.startTime), c.timeZone) : img.name;
      if (seen.has(key)) continue;
      seen.add(key);
      units.push(img);
    }
    const r = await store.transact(async (tx) => {
      const s = await tx.getSchedule(s0.scheduleId);
      // Another tick moved the cursor (or the schedule was paused): it starts over from the new one next time.
      if (!s || s.state !== 'ACTIVE' || s.imageCursor !== s0.imageCursor) return { created: 0, events: [] as CloudEvent[] };
      const now = clock.now();
      const at = now.toISOString();
      const candidates = units.slice(0, budget * 4).map((img) => ({ img, job: imageRunJob(s, c, img, at) }));
      const existing = await Promise.all(candidates.map((x) => tx.getJob(x.job.jobId)));
      const events: CloudEvent[] = [];
      const runs: ScheduleRun[] = [];
      let cursor = s.imageCursor ?? null;
      let created = 0;
      let done = 0;
      for (const [i, x] of candidates.entries()) {
        if (!existing[i]) {
          if (created >= budget) break;
          tx.createJob(x.job);
          events.push(...eventsFor(null, x.job, settings.eventSource));
          runs.push({ windowStart: x.img.startTime, windowEnd: x.img.endTime ?? x.img.startTime, jobId: x.job.jobId, submitTime: at, imageId: x.img.id });
          created++;
        }
        done++;
        if (!cursor || x.img.startTime > cursor) cursor = x.img.startTime;
      }
      const more = done < units.length || truncated;
      tx.setSchedule(
        stamped({
          ...s,
          imageCursor: cursor,
          // More new images than one tick runs: due again at once; otherwise at the next check.
          nextRunAt: more ? at : nextFire(s.cadence, now).toISOString(),
          runs: [...s.runs, ...runs].slice(-RUNS_KEPT),
          runCount: s.runCount + created,
          updateTime: at,
          version: s.version + 1,
        }),
      );
      if (events.length) tx.addEvents(events);
      return { created, events };
    });
    await relayEvents(deps, r.events);
    return r.created;
  }

  /** The poller's tick: submits closed windows of active schedules, oldest first, at most maxRunsPerTick. */
  async function tickSchedules(): Promise<number> {
    let runs = 0;
    const due = await store.listDueSchedules(iso(), maxRuns);
    for (const s of due) {
      if (isImageCadence(s.cadence)) {
        runs += await checkImages(s, maxRuns - runs);
        if (runs >= maxRuns) break;
        continue;
      }
      for (let guard = 0; runs < maxRuns && guard < maxRuns * 4; guard++) {
        const r = await runOne(s.scheduleId);
        await relayEvents(deps, r.events);
        if (r.ran) runs++;
        else {
          const cur = await store.getSchedule(s.scheduleId);
          if (!cur || cur.state !== 'ACTIVE' || Date.parse(cursorOf(cur).fire) > clock.now().getTime()) break;
        }
      }
      if (runs >= maxRuns) break;
    }
    return runs;
  }

  return { checkSchedule, createSchedule, pause, resume, remove, backfill, tickSchedules };
}

export type Schedules = ReturnType<typeof createSchedules>;

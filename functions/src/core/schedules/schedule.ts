/**
 * A schedule: a template request plus a cadence. Each fire time T closes a window
 * [previous fire, T); the run for that window is an ordinary job whose identity is the
 * schedule id + window start, so no window is ever submitted twice.
 *
 * Cadences: cron with a time zone (cron-parser), or every N days from an anchor instant
 * (N × 24 h, which cron cannot say: Landsat's 16-day revisit), or new data: every new
 * image of an Earth Engine collection (by its system:time_start), one run per image or
 * per date, found by polling projects.assets.listImages from a cursor.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { LabelsSchema, CallbackUrlSchema, EeProjectSchema, type Issue } from '../requests/index.ts';

export const SCHEDULE_STATES = ['ACTIVE', 'PAUSED', 'DELETED'] as const;
export type ScheduleState = (typeof SCHEDULE_STATES)[number];

const DAY_MS = 86_400_000;

export const CadenceSchema = z.union([
  z.strictObject({
    cron: z.string().min(1).max(120).describe('Five-field cron (minute hour day month weekday), or six with seconds first'),
    timeZone: z.string().max(64).default('UTC').describe('IANA time zone the cron fields are read in'),
  }),
  z.strictObject({
    everyDays: z.number().int().min(1).max(366).describe('Fire every N days (N × 24 hours)'),
    anchor: z.iso.datetime({ offset: true }).or(z.iso.date()).describe('An instant the cadence passes through (a date alone is midnight UTC)'),
    timeZone: z.string().max(64).default('UTC').describe('Time zone of {{window.startDate}} and {{window.endDate}}'),
  }),
  z.strictObject({
    newImages: z.string().min(1).max(500).regex(/^[A-Za-z0-9][A-Za-z0-9_./-]*$/, 'an asset name: projects/{project}/assets/{path}, or a public catalog id').describe('An image collection: projects/{project}/assets/{path}, or a public catalog id such as LANDSAT/LC09/C02/T1_L2'),
    per: z.enum(['image', 'date']).default('image').describe('One run per new image, or per date (the first image of each new date)'),
    checkEveryMinutes: z.number().int().min(1).max(10_080).default(60).describe('How often the collection is listed for new images'),
    timeZone: z.string().max(64).default('UTC').describe('Time zone of {{image.date}}'),
  }),
]);
export type Cadence = z.infer<typeof CadenceSchema>;
export type ImageCadence = Extract<Cadence, { newImages: string }>;
export const isImageCadence = (c: Cadence): c is ImageCadence => 'newImages' in c;

export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** The body of POST /v1/schedules (and the stored spec). */
export const ScheduleSpecSchema = z.strictObject({
  scheduleId: z.string().regex(SCHEDULE_NAME_PATTERN).optional().describe('A name for the schedule; the same name is the same schedule (a second create is a duplicate)'),
  description: z.string().max(500).optional(),
  cadence: CadenceSchema,
  request: z.record(z.string(), z.unknown()).describe('An ExportImageRequest whose strings may hold {{window.start}}, {{window.end}}, {{window.startDate}}, {{window.endDate}}, {{run.id}}, {{schedule.id}} — or, for a newImages cadence, {{image.id}}, {{image.name}}, {{image.startTime}}, {{image.date}}, {{run.id}}, {{schedule.id}}'),
  eeProject: EeProjectSchema.optional(),
  labels: LabelsSchema.optional(),
  callbackUrl: CallbackUrlSchema.optional(),
  backfillFrom: z.iso.datetime({ offset: true }).or(z.iso.date()).optional().describe('Also submit every window that ends after this instant (oldest first, bounded per scheduler tick); for newImages, every image that starts at or after it'),
});
export type ScheduleSpec = z.infer<typeof ScheduleSpecSchema>;

/** One submitted window (for a newImages cadence: the image's start and end). */
export interface ScheduleRun {
  windowStart: string;
  windowEnd: string;
  jobId: string;
  submitTime: string;
  /** newImages: the image the run is for (per date: the date's first image). */
  imageId?: string;
}

export interface Schedule {
  scheduleId: string;
  tenantId: string | null;
  state: ScheduleState;
  description: string | null;
  cadence: Cadence;
  /** The template request (placeholders unexpanded). */
  request: Record<string, unknown>;
  eeProject: string;
  labels: Record<string, string>;
  callbackUrl: string | null;
  /** The end of the next window to submit; the cursor that moves as runs are made. */
  nextRunAt: string;
  /** A backfill in progress: windows ending from nextRunAt up to until, submitted before the main cursor's. */
  backfill: { nextRunAt: string; until: string } | null;
  /** newImages: images starting at or after this instant are looked for next (the newest start time run so far). */
  imageCursor?: string | null;
  /** When the next run is due (the earlier cursor); null unless ACTIVE. Kept for the store's due query. */
  dueAt: string | null;
  /** The last runs, newest last. */
  runs: ScheduleRun[];
  runCount: number;
  createTime: string;
  updateTime: string;
  version: number;
}

export const RUNS_KEPT = 50;

const isoInstant = (s: string) => (/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);

function cron(c: Extract<Cadence, { cron: string }>, at: Date) {
  return CronExpressionParser.parse(c.cron, { tz: c.timeZone, currentDate: at });
}

/** Problems with a cadence cron-parser or the time zone database would throw on later. */
export function cadenceIssues(c: Cadence): Issue[] {
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: c.timeZone });
  } catch {
    return [{ path: 'cadence.timeZone', message: `unknown time zone "${c.timeZone}"` }];
  }
  if ('cron' in c && c.cron) {
    try {
      cron(c, new Date(0)).next();
    } catch (err) {
      return [{ path: 'cadence.cron', message: `not a cron expression: ${(err as Error).message}` }];
    }
  }
  return [];
}

/** The first fire time strictly after `at`. */
export function nextFire(c: Cadence, at: Date): Date {
  if (isImageCadence(c)) return new Date(at.getTime() + c.checkEveryMinutes * 60_000);
  if ('cron' in c) return cron(c, at).next().toDate();
  const anchor = Date.parse(isoInstant(c.anchor));
  const period = c.everyDays * DAY_MS;
  const k = Math.floor((at.getTime() - anchor) / period) + 1;
  return new Date(anchor + k * period);
}

/** The fire time before `fire` (a window's start). */
export function previousFire(c: Cadence, fire: Date): Date {
  if (isImageCadence(c)) return new Date(fire.getTime() - c.checkEveryMinutes * 60_000);
  if ('cron' in c) return cron(c, fire).prev().toDate();
  return new Date(fire.getTime() - c.everyDays * DAY_MS);
}

/** The window a fire time closes. */
export function windowOf(c: Cadence, fire: Date): { start: Date; end: Date } {
  return { start: previousFire(c, fire), end: fire };
}

/** The next `n` windows from a cursor (the preview). */
export function upcomingWindows(c: Cadence, nextRunAt: string, n: number): { windowStart: string; windowEnd: string }[] {
  // New data has no windows ahead: the next check is nextRunAt.
  if (isImageCadence(c)) return [];
  const out: { windowStart: string; windowEnd: string }[] = [];
  let fire = new Date(nextRunAt);
  for (let i = 0; i < n; i++) {
    const w = windowOf(c, fire);
    out.push({ windowStart: instant(w.start), windowEnd: instant(w.end) });
    fire = nextFire(c, fire);
  }
  return out;
}

/** An instant as ISO 8601 in UTC, without milliseconds: 2024-05-01T00:00:00Z. */
export const instant = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A calendar date (YYYY-MM-DD) in a time zone. */
export const dateIn = (d: Date, timeZone: string) => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);

export const PLACEHOLDERS = ['window.start', 'window.end', 'window.startDate', 'window.endDate', 'run.id', 'schedule.id'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
/** The placeholders of a newImages schedule's runs. */
export const IMAGE_PLACEHOLDERS = ['image.id', 'image.name', 'image.startTime', 'image.date', 'run.id', 'schedule.id'] as const;
export type ImagePlaceholder = (typeof IMAGE_PLACEHOLDERS)[number];
export const placeholdersOf = (c: Cadence): readonly string[] => (isImageCadence(c) ? IMAGE_PLACEHOLDERS : PLACEHOLDERS);

/** The placeholder values of a newImages run. */
export function imageValues(s: Pick<Schedule, 'scheduleId' | 'cadence'>, image: { id: string; name: string; startTime: string }, runJobId: string): Record<ImagePlaceholder, string> {
  const start = new Date(image.startTime);
  return { 'image.id': image.id, 'image.name': image.name, 'image.startTime': instant(start), 'image.date': dateIn(start, s.cadence.timeZone), 'run.id': runJobId, 'schedule.id': s.scheduleId };
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Every string in a JSON value, with its path (keys are not templated). */
function* strings(v: unknown, path: string): Generator<{ path: string; value: string }> {
  if (typeof v === 'string') yield { path, value: v };
  else if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* strings(x, `${path}[${i}]`);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* strings(x, path ? `${path}.${k}` : k);
}

/** Placeholders the template names that a schedule does not know. */
export function placeholderIssues(template: unknown, known: readonly string[], root = 'request'): Issue[] {
  const issues: Issue[] = [];
  for (const s of strings(template, root)) {
    for (const m of s.value.matchAll(PLACEHOLDER)) {
      if (!known.includes(m[1]!)) issues.push({ path: s.path, message: `unknown placeholder {{${m[1]}}}; known: ${known.map((k) => `{{${k}}}`).join(', ')}` });
    }
  }
  return issues;
}

/** The template with every placeholder replaced (unknown ones are left as they are: placeholderIssues refuses them first). */
export function substitute<T>(template: T, values: Readonly<Record<string, string>>): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(template) as T;
}

/** The placeholder values of one run. */
export function runValues(s: Pick<Schedule, 'scheduleId' | 'cadence'>, w: { start: Date; end: Date }, runJobId: string): Record<Placeholder, string> {
  return {
    'window.start': instant(w.start),
    'window.end': instant(w.end),
    'window.startDate': dateIn(w.start, s.cadence.timeZone),
    'window.endDate': dateIn(w.end, s.cadence.timeZone),
    'run.id': runJobId,
    'schedule.id': s.scheduleId,
  };
}

export { isoInstant };

/** The cursor the next run comes from: a backfill in progress first, then the main one. */
export function cursorOf(s: Pick<Schedule, 'backfill' | 'nextRunAt'>): { fire: string; backfill: boolean } {
  if (s.backfill && s.backfill.nextRunAt < s.backfill.until && s.backfill.nextRunAt < s.nextRunAt) return { fire: s.backfill.nextRunAt, backfill: true };
  return { fire: s.nextRunAt, backfill: false };
}

/** The schedule with dueAt brought in line with its state and cursors (call before every write). */
export const stamped = (s: Schedule): Schedule => ({ ...s, dueAt: s.state === 'ACTIVE' ? cursorOf(s).fire : null });

/**
 * schedule create|list|show|pause|resume|delete|backfill: the /v1/schedules routes.
 */
import type { Context } from '../context.ts';
import { EXIT, type ExitCode } from '../errors.ts';
import { table } from '../format.ts';
import { readJsonInput } from '../input.ts';

interface ScheduleAnswer {
  scheduleId: string;
  state: string;
  cadence: { cron?: string; everyDays?: number; newImages?: string; per?: string; timeZone: string };
  nextRunAt: string;
  runCount: number;
  nextRuns?: { windowStart: string; windowEnd: string }[];
  runs?: { windowStart: string; windowEnd: string; jobId: string; state: string | null }[];
}

const cadence = (s: ScheduleAnswer) =>
  s.cadence.cron ? `cron "${s.cadence.cron}" ${s.cadence.timeZone}` : s.cadence.newImages ? `new ${s.cadence.per === 'date' ? 'dates' : 'images'} in ${s.cadence.newImages}` : `every ${s.cadence.everyDays} days`;
const path = (id: string) => `/v1/schedules/${encodeURIComponent(id)}`;

function show(ctx: Context, s: ScheduleAnswer): void {
  ctx.print(`${s.scheduleId}  ${ctx.out.state(s.state)}  ${cadence(s)}  runs: ${s.runCount}`);
  if (s.nextRuns?.length) ctx.print(`next windows:\n${s.nextRuns.map((w) => `  ${w.windowStart} – ${w.windowEnd}`).join('\n')}`);
  if (s.runs?.length) ctx.print(table(['WINDOW START', 'WINDOW END', 'JOB', 'STATE'], s.runs.map((r) => [r.windowStart, r.windowEnd, r.jobId, r.state ? ctx.out.state(r.state) : '-']), ctx.out));
}

async function answer(ctx: Context, method: string, p: string, body?: unknown): Promise<ExitCode> {
  const res = await ctx.client.call(method, p, { ...(body !== undefined ? { body } : {}), what: 'schedule' });
  const value = res.body as ScheduleAnswer | { schedule: ScheduleAnswer; duplicate: boolean };
  if (ctx.json) ctx.printJson(value);
  else if ('schedule' in value) {
    if (value.duplicate) ctx.note('a schedule of that name already exists: unchanged');
    show(ctx, value.schedule);
  } else show(ctx, value);
  return EXIT.OK;
}

export async function scheduleCreateCommand(ctx: Context, file: string): Promise<ExitCode> {
  return answer(ctx, 'POST', '/v1/schedules', await readJsonInput(file));
}

export async function scheduleListCommand(ctx: Context): Promise<ExitCode> {
  const res = await ctx.client.call('GET', '/v1/schedules', { query: new URLSearchParams({ pageSize: '200' }) });
  const value = res.body as { schedules: ScheduleAnswer[] };
  if (ctx.json) ctx.printJson(value);
  else ctx.print(table(['SCHEDULE', 'STATE', 'CADENCE', 'NEXT RUN', 'RUNS'], value.schedules.map((s) => [s.scheduleId, ctx.out.state(s.state), cadence(s), s.nextRunAt, String(s.runCount)]), ctx.out));
  return EXIT.OK;
}

export const scheduleShowCommand = (ctx: Context, id: string) => answer(ctx, 'GET', path(id));
export const scheduleDeleteCommand = (ctx: Context, id: string) => answer(ctx, 'DELETE', path(id));
export const schedulePauseCommand = (ctx: Context, id: string) => answer(ctx, 'POST', `${path(id)}:pause`, {});
export const scheduleResumeCommand = (ctx: Context, id: string, o: { catchUp?: boolean }) => answer(ctx, 'POST', `${path(id)}:resume`, o.catchUp ? { catchUp: true } : {});
export const scheduleBackfillCommand = (ctx: Context, id: string, o: { from: string; to?: string }) => answer(ctx, 'POST', `${path(id)}:backfill`, { from: o.from, ...(o.to ? { to: o.to } : {}) });

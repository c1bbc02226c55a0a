/**
 * estimate FILE (POST /v1/estimates) and estimate-accuracy (GET /v1/estimates/accuracy):
 * what a job or a batch would cost before it runs, and how good past estimates were.
 */
import { EstimateAccuracyResponseSchema, EstimateResponseSchema } from '../../../functions/src/core/api/index.ts';
import type { Context } from '../context.ts';
import { EXIT, type ExitCode } from '../errors.ts';
import { eecu, fields, table } from '../format.ts';
import { buildSubmission, readJsonInput } from '../input.ts';
import { flagsOf, type SubmitFlagOptions } from './shared.ts';

export interface EstimateCommandOptions extends SubmitFlagOptions {
  probe?: boolean;
}

const hours = (s: number) => (s / 3600 >= 10 ? (s / 3600).toFixed(0) : (s / 3600).toFixed(2));

export async function estimateCommand(ctx: Context, file: string, o: EstimateCommandOptions): Promise<ExitCode> {
  const submission = buildSubmission(await readJsonInput(file), flagsOf(o));
  const body = submission.kind === 'batch' ? { batch: submission.spec } : submission.body;
  const query = new URLSearchParams(o.probe ? { probe: 'true' } : {});
  const { value: e, raw } = await ctx.client.parsed(EstimateResponseSchema, 'POST', '/v1/estimates', { body, query, what: 'the estimate' });
  if (ctx.json) {
    ctx.printJson(raw);
    return EXIT.OK;
  }
  const x = e.eecuSeconds;
  ctx.print(
    fields(
      [
        ['EECU-s', `${eecu(x.expected)} (${eecu(x.low)} – ${eecu(x.high)})`],
        ['EECU-h', `${hours(x.expected)} (${hours(x.low)} – ${hours(x.high)})`],
        ['tasks', String(e.tasks)],
        ['pixels', e.pixels === null ? 'unknown (a region in the expression)' : e.pixels.toLocaleString('en-US')],
        ['method', e.method],
        ['basis', e.basis.map((b) => `${b.tasks} task${b.tasks === 1 ? '' : 's'}: ${b.basis}`).join('\n' + ' '.repeat(13))],
        ['probe', e.probe ? ('jobId' in e.probe ? `${e.probe.jobId} (${e.probe.state}, ${e.probe.pixels} pixels)` : e.probe.notStarted) : null],
      ],
      ctx.out,
    ),
  );
  if (e.budget.length) {
    const rows = e.budget.map((b) => [b.budget, eecu(b.usedEecuSeconds), eecu(b.remainingEecuSeconds), b.shareOfRemaining === null ? '-' : `${Math.round(b.shareOfRemaining * 100)}%`, b.wouldExceed ? 'would exceed' : b.mayExceed ? 'may exceed' : 'fits']);
    ctx.print(table(['BUDGET', 'USED EECU-s', 'REMAINING', 'SHARE', 'VERDICT'], rows, ctx.out));
  }
  if (e.method === 'prior') ctx.note(ctx.err.dim('no history for this computation: a wide prior (÷/× 10); --probe starts a small labelled sample export to learn from'));
  return EXIT.OK;
}

export async function estimateAccuracyCommand(ctx: Context, o: { project?: string; jobs?: number }): Promise<ExitCode> {
  const query = new URLSearchParams({ ...(o.project ? { eeProject: o.project } : {}), ...(o.jobs ? { jobs: String(o.jobs) } : {}) });
  const { value, raw } = await ctx.client.parsed(EstimateAccuracyResponseSchema, 'GET', '/v1/estimates/accuracy', { query });
  if (ctx.json) {
    ctx.printJson(raw);
    return EXIT.OK;
  }
  if (!value.methods.length) {
    ctx.print('no finished jobs with a recorded estimate yet');
    return EXIT.OK;
  }
  const rows = value.methods.map((m) => [m.method, String(m.jobs), eecu(m.medianAbsoluteError), `${m.medianAbsolutePercentError.toFixed(0)}%`, `${Math.round(m.bandCoverage * 100)}%`]);
  ctx.print(table(['METHOD', 'JOBS', 'MEDIAN |ERR| EECU-s', 'MEDIAN |ERR|', 'IN BAND'], rows, ctx.out));
  return EXIT.OK;
}

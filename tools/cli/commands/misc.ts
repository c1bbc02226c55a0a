/**
 * budgets, stats, sim, schema.
 */
import { BudgetsResponseSchema, StatsResponseSchema } from '../../../functions/src/core/api/index.ts';
import type { Context } from '../context.ts';
import { EXIT, type ExitCode } from '../errors.ts';
import { eecu, table } from '../format.ts';
import { SCHEMAS, type SchemaName } from '../schemas.ts';
import { listeningLines, simulatorOptionsFrom, type SimulatorCliOptions } from '../../ee-simulator/cli.ts';

export async function budgetsCommand(ctx: Context): Promise<ExitCode> {
  const { value, raw } = await ctx.client.parsed(BudgetsResponseSchema, 'GET', '/v1/budgets');
  if (ctx.json) {
    ctx.printJson(raw);
    return EXIT.OK;
  }
  if (!value.budgets.length) {
    ctx.print(`no budgets (EECU_BUDGETS is empty); month ${value.month}`);
    return EXIT.OK;
  }
  const rows = value.budgets.map((b) => [
    b.eeProject,
    b.scope,
    b.tier === null ? '-' : String(b.tier),
    eecu(b.usedEecuSeconds),
    b.runningEecuSeconds ? eecu(b.runningEecuSeconds) : '-',
    eecu(b.limitEecuSeconds),
    b.exceeded ? ctx.out.state('FAILED').replace('FAILED', `${Math.round(b.usedFraction * 100)}% used up`) : `${Math.round(b.usedFraction * 100)}%`,
    `${eecu(b.projectedEecuSeconds)} (${Math.round((b.projectedEecuSeconds / b.limitEecuSeconds) * 100)}%)`,
    b.thresholdsCrossed.length ? b.thresholdsCrossed.map((t) => `${t}%`).join(' ') : '-',
    b.onExceeded,
  ]);
  ctx.print(table(['PROJECT', 'SCOPE', 'TIER', 'USED EECU-s', 'OF WHICH RUNNING', 'LIMIT EECU-s', 'USED', 'PROJECTED MONTH-END', 'THRESHOLDS CROSSED', 'WHEN EXCEEDED'], rows, ctx.out));
  ctx.note(ctx.err.dim(`month ${value.month}; projected: the last 7 days' use per day carried to the month's end`));
  return EXIT.OK;
}

export async function statsCommand(ctx: Context): Promise<ExitCode> {
  const { value, raw } = await ctx.client.parsed(StatsResponseSchema, 'GET', '/v1/stats');
  if (ctx.json) ctx.printJson(raw);
  else {
    const rows = Object.entries(value.counts).map(([state, n]) => [ctx.out.state(state), String(n)]);
    ctx.print(table(['STATE', 'JOBS'], [...rows, [ctx.out.bold('total'), String(value.total)]], ctx.out));
    ctx.note(ctx.err.dim(`counted at ${value.time}`));
  }
  return EXIT.OK;
}

export function schemaCommand(ctx: Context, name: SchemaName): ExitCode {
  // Always JSON: with or without --json, the schema is the output.
  ctx.printJson(SCHEMAS[name]());
  return EXIT.OK;
}

/** Runs the Earth Engine simulator (tools/ee-simulator) until Ctrl-C, with the options of its own CLI. */
export async function simCommand(ctx: Context, o: SimulatorCliOptions): Promise<ExitCode> {
  const { startSimulator } = await import('../../ee-simulator/index.ts');
  const sim = await startSimulator(simulatorOptionsFrom(o));
  const clock = o.manual ? 'manual' : `x${o.scale}`;
  if (ctx.json) process.stdout.write(`${JSON.stringify({ url: sim.url, port: sim.port, clock, auth: o.auth ? 'required' : 'off' })}\n`);
  else for (const line of listeningLines(sim.url, o)) ctx.print(line);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.close();
  return EXIT.OK;
}

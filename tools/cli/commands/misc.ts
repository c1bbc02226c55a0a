/**
 * budgets, stats, sim, schema.
 */
import { BudgetsResponseSchema, StatsResponseSchema } from '../../../functions/src/core/api/index.ts';
import type { Context } from '../context.ts';
import { EXIT, type ExitCode } from '../errors.ts';
import { eecu, table } from '../format.ts';
import { SCHEMAS, type SchemaName } from '../schemas.ts';

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
    b.month,
    eecu(b.usedEecuSeconds),
    eecu(b.limitEecuSeconds),
    b.exceeded ? ctx.out.state('FAILED').replace('FAILED', `${Math.round(b.usedFraction * 100)}% used up`) : `${Math.round(b.usedFraction * 100)}%`,
    b.onExceeded,
  ]);
  ctx.print(table(['PROJECT', 'SCOPE', 'MONTH', 'USED EECU-s', 'LIMIT EECU-s', 'USED', 'WHEN EXCEEDED'], rows, ctx.out));
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

export interface SimOptions {
  port: number;
  host: string;
  scale: number;
  manual?: boolean;
  maxConcurrent: number;
  queueCap: number;
  rateLimit: number;
  taskDuration: number;
  auth: boolean;
  allowedProjects?: string;
}

/** Runs the Earth Engine simulator (tools/ee-simulator) until Ctrl-C. */
export async function simCommand(ctx: Context, o: SimOptions): Promise<ExitCode> {
  const { startSimulator } = await import('../../ee-simulator/index.ts');
  const sim = await startSimulator({
    port: o.port,
    host: o.host,
    clock: o.manual ? { mode: 'manual' } : { mode: 'scaled', scale: o.scale },
    maxConcurrentPerProject: o.maxConcurrent,
    queueCap: o.queueCap,
    rateLimitPerSecond: o.rateLimit,
    taskDurationMs: o.taskDuration,
    auth: o.auth ? 'required' : 'off',
    ...(o.allowedProjects ? { allowedProjects: o.allowedProjects.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
  });
  const clock = o.manual ? 'manual' : `x${o.scale}`;
  if (ctx.json) process.stdout.write(`${JSON.stringify({ url: sim.url, port: sim.port, clock, auth: o.auth ? 'required' : 'off' })}\n`);
  else {
    ctx.print(`Earth Engine simulator listening on ${sim.url} (clock ${clock}${o.manual ? ': POST /_sim/clock/advance' : ''}, auth ${o.auth ? 'required' : 'off'})`);
    ctx.print(`  EE_API_ROOT=${sim.url}   admin: ${sim.url}/_sim/tasks, /_sim/stats, /_sim/faults   Ctrl-C stops it`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.close();
  return EXIT.OK;
}

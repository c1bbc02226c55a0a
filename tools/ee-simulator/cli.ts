/**
 * Runs the simulator as a standalone server:
 *   npm run sim -- --port 8085 [--scale 60 | --manual] [--max-concurrent 2] [--queue-cap 3000] [--no-auth] …
 * Prints the URL; Ctrl-C stops it.
 *
 * Also a module: `addSimulatorOptions` puts these options on any commander command
 * (`eeport sim` uses it), `simulatorOptionsFrom` turns what was parsed into
 * startSimulator() options. Imported, it starts nothing.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type ResolvedOptions, type SimulatorOptions, resolveOptions } from './options.ts';

/** What the options below parse to (commander's camel-cased names). */
export interface SimulatorCliOptions {
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
  duplicateRequestId: ResolvedOptions['duplicateRequestId'];
  queueFullStatus: ResolvedOptions['queueFullStatus'];
  cancelTerminal: ResolvedOptions['cancelTerminal'];
  eecuModel: ResolvedOptions['eecuModel'];
  eecuWhileRunning: boolean;
}

function int(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}.`);
    return n;
  };
}

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('must be a number > 0.');
  return n;
}

const QUEUE_FULL_STATUSES: ReadonlyArray<ResolvedOptions['queueFullStatus']> = [429, 400, 403, 503];

function queueFullStatus(value: string): ResolvedOptions['queueFullStatus'] {
  const n = QUEUE_FULL_STATUSES.find((s) => String(s) === value);
  if (n === undefined) throw new InvalidArgumentError(`must be one of ${QUEUE_FULL_STATUSES.join(', ')}.`);
  return n;
}

/** The simulator's own defaults (options.ts): the options below default to them, so the two cannot drift apart. */
const DEFAULTS = resolveOptions();

/** Adds the simulator's options (port, clock, quotas, auth, answers to repeats) to `command`. */
export function addSimulatorOptions(command: Command): Command {
  return command
    .option('--port <n>', 'port to listen on (0 = any free port)', int('port'), 8085)
    .option('--host <host>', 'interface to listen on', DEFAULTS.host)
    .option('--scale <n>', 'simulated seconds per real second', positive, 1)
    .option('--manual', 'manual clock: time moves only via POST /_sim/clock/advance')
    .option('--max-concurrent <n>', 'tasks running at once per project', int('max-concurrent', 1), DEFAULTS.maxConcurrentPerProject)
    .option('--queue-cap <n>', 'pending tasks per project before the queue-full answer', int('queue-cap'), DEFAULTS.queueCap)
    .option('--rate-limit <n>', 'requests per second per project (0 = off)', int('rate-limit'), DEFAULTS.rateLimitPerSecond)
    .option('--task-duration <ms>', 'simulated duration of one task, ms', int('task-duration', 1), DEFAULTS.taskDurationMs as number)
    .option('--no-auth', 'accept requests without a bearer token')
    .option('--allowed-projects <list>', 'comma-separated projects; others get 403')
    .addOption(new Option('--duplicate-request-id <mode>', 'answer to a repeated requestId from the same caller').choices(['return-existing', 'error']).default(DEFAULTS.duplicateRequestId))
    .addOption(new Option('--queue-full-status <status>', 'HTTP status of the queue-full answer (429, 400, 403 or 503)').argParser(queueFullStatus).default(DEFAULTS.queueFullStatus))
    .addOption(new Option('--cancel-terminal <mode>', 'answer to cancelling a finished operation').choices(['error', 'ignore']).default(DEFAULTS.cancelTerminal))
    .addOption(new Option('--eecu-model <model>', 'batchEecuUsageSeconds from running time or from the work a task does (docs/simulator.md)').choices(['time', 'work']).default(DEFAULTS.eecuModel))
    .option('--no-eecu-while-running', 'report EECU only once a task has ended');
}

/** The startSimulator() options that parsed command-line options stand for. */
export function simulatorOptionsFrom(o: SimulatorCliOptions): SimulatorOptions {
  const allowedProjects = o.allowedProjects?.split(',').map((p) => p.trim()).filter(Boolean);
  return {
    port: o.port,
    host: o.host,
    clock: o.manual ? { mode: 'manual' } : { mode: 'scaled', scale: o.scale },
    maxConcurrentPerProject: o.maxConcurrent,
    queueCap: o.queueCap,
    rateLimitPerSecond: o.rateLimit,
    taskDurationMs: o.taskDuration,
    auth: o.auth ? 'required' : 'off',
    ...(allowedProjects ? { allowedProjects } : {}),
    duplicateRequestId: o.duplicateRequestId,
    queueFullStatus: o.queueFullStatus,
    cancelTerminal: o.cancelTerminal,
    eecuModel: o.eecuModel,
    eecuWhileRunning: o.eecuWhileRunning,
  };
}

/** The lines a running simulator prints: where it listens, its clock and auth, where its admin endpoints are. */
export function listeningLines(url: string, o: SimulatorCliOptions): string[] {
  const clockText = o.manual ? 'manual clock (POST /_sim/clock/advance)' : `clock x${o.scale}`;
  return [
    `Earth Engine simulator listening on ${url} (${clockText}, auth ${o.auth ? 'required' : 'off'})`,
    `  EE_API_ROOT=${url}   admin: ${url}/_sim/tasks, /_sim/stats, /_sim/faults   Ctrl-C stops it`,
  ];
}

async function main(): Promise<void> {
  const program = addSimulatorOptions(new Command('ee-simulator').description('Local Earth Engine REST simulator (image:export and operations).'));
  program.parse();
  const o = program.opts<SimulatorCliOptions>();
  const { startSimulator } = await import('./index.ts');
  const sim = await startSimulator(simulatorOptionsFrom(o));
  for (const line of listeningLines(sim.url, o)) console.log(line);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();

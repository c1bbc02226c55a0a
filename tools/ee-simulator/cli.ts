/**
 * Runs the simulator as a standalone server:
 *   npm run sim -- --port 8085 [--scale 60 | --manual] [--max-concurrent 2] [--queue-cap 3000] [--no-auth] …
 * Prints the URL; Ctrl-C stops it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type SimulatorOptions, startSimulator } from './index.ts';

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

const program = new Command('ee-simulator')
  .description('Local Earth Engine REST simulator (image:export and operations).')
  .option('--port <n>', 'port to listen on (0 = any free port)', int('port'), 8085)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--scale <n>', 'simulated seconds per real second', positive, 1)
  .option('--manual', 'manual clock: time moves only via POST /_sim/clock/advance')
  .option('--max-concurrent <n>', 'tasks running at once per project', int('max-concurrent', 1), 2)
  .option('--queue-cap <n>', 'pending tasks per project before 429', int('queue-cap'), 3000)
  .option('--rate-limit <n>', 'requests per second per project (0 = off)', int('rate-limit'), 100)
  .option('--task-duration <ms>', 'simulated duration of one task, ms', int('task-duration', 1), 60_000)
  .option('--no-auth', 'accept requests without a bearer token')
  .option('--allowed-projects <list>', 'comma-separated projects; others get 403')
  .addOption(new Option('--duplicate-request-id <mode>', 'answer to a repeated requestId').choices(['return-existing', 'error']).default('return-existing'))
  .addOption(new Option('--cancel-terminal <mode>', 'answer to cancelling a finished operation').choices(['error', 'ignore']).default('error'));

program.parse();
const o = program.opts<{
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
  duplicateRequestId: 'return-existing' | 'error';
  cancelTerminal: 'error' | 'ignore';
}>();

const options: SimulatorOptions = {
  port: o.port,
  host: o.host,
  clock: o.manual ? { mode: 'manual' } : { mode: 'scaled', scale: o.scale },
  maxConcurrentPerProject: o.maxConcurrent,
  queueCap: o.queueCap,
  rateLimitPerSecond: o.rateLimit,
  taskDurationMs: o.taskDuration,
  auth: o.auth ? 'required' : 'off',
  allowedProjects: o.allowedProjects?.split(',').map((p) => p.trim()).filter(Boolean),
  duplicateRequestId: o.duplicateRequestId,
  cancelTerminal: o.cancelTerminal,
};

const sim = await startSimulator(options);
const clockText = o.manual ? 'manual clock (POST /_sim/clock/advance)' : `clock x${o.scale}`;
console.log(`Earth Engine simulator listening on ${sim.url} (${clockText}, auth ${o.auth ? 'required' : 'off'})`);
console.log(`  EE_API_ROOT=${sim.url}   admin: ${sim.url}/_sim/tasks, /_sim/stats, /_sim/faults`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void sim.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

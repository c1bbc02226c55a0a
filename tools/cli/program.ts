/**
 * The `eeport` command line: commander wiring, help texts, and the one place that turns
 * what happened into an exit code and (for failures) a one-line message on stderr.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Context, type GlobalOptions } from './context.ts';
import { CliError, EXIT, type ExitCode } from './errors.ts';
import { REPO_ROOT } from './stack-file.ts';
import { DEFAULT_API_URL } from './client.ts';
import { cancelCommand, listCommand, statusCommand, submitCommand, watchCommand } from './commands/jobs.ts';
import { batchActionCommand, batchListCommand, batchResumeCommand, batchStatusCommand, batchSubmitCommand } from './commands/batches.ts';
import { budgetsCommand, schemaCommand, simCommand, statsCommand } from './commands/misc.ts';
import { chainListCommand, chainShowCommand } from './commands/chains.ts';
import { scheduleBackfillCommand, scheduleCreateCommand, scheduleDeleteCommand, scheduleListCommand, schedulePauseCommand, scheduleResumeCommand, scheduleShowCommand } from './commands/schedules.ts';
import { estimateAccuracyCommand, estimateCommand } from './commands/estimates.ts';
import { SCHEMAS, type SchemaName } from './schemas.ts';
import { addSimulatorOptions } from '../ee-simulator/cli.ts';

export const EXIT_CODES_HELP = `Exit codes:
  0    success; with --wait and for watch: every job (or the batch) SUCCEEDED
  1    the job or batch ended FAILED, REJECTED or CANCELLED (a batch: also PARTIALLY_FAILED);
       submit without --wait: the job was refused at once; cancel: the job had already ended
  2    usage error: bad arguments, an unreadable or invalid file, a submission the API refused as invalid
  3    not found: no such job, batch or topic
  4    API or network error: nothing answers, a timeout, an unexpected answer
  5    authentication error: credentials missing or refused (401/403)
  130  stopped with Ctrl-C while waiting or watching`;

const MAIN_HELP = `
Where it talks (first that applies):
  --api URL › EEPORT_API_URL › "apiUrl" in .eeport/stack.json (written by \`npm start\`) › ${DEFAULT_API_URL}
Credentials: --api-key / EEPORT_API_KEY (sent as x-api-key), --id-token / EEPORT_ID_TOKEN (Authorization: Bearer);
  for a deployed API: EEPORT_ID_TOKEN=$(gcloud auth print-identity-token)

Output: results on stdout (submit prints just the job id), progress and remarks on stderr.
  --json prints machine-readable JSON only (watch: one JSON line per change); errors are one line on stderr
  (a JSON object with --json). EEPORT_DEBUG=1 adds stack traces.

${EXIT_CODES_HELP}

Environment:
  EEPORT_API_URL, EEPORT_API_KEY, EEPORT_ID_TOKEN, EEPORT_STACK_FILE (instead of .eeport/stack.json),
  EEPORT_DEBUG, NO_COLOR; for --via pubsub: PUBSUB_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, REQUESTS_TOPIC, EE_PROJECT

Examples:
  eeport submit request.json --label team=forest --wait
  cat envelope.json | eeport submit - --json
  eeport list --state RUNNING,PENDING --label team=forest
  eeport watch
  eeport batch submit tiles.json --wait
  eeport schema envelope > envelope.schema.json`;

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds > 0.');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number >= 1.');
  return n;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function version(): string {
  try {
    return (JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The exit code of the command that ran (set by its action). */
let result: ExitCode = EXIT.OK;

/** Wraps an action: builds the context from the global options, records the exit code. */
function act<A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<ExitCode> | ExitCode) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = new Context(cmd.optsWithGlobals<GlobalOptions>(), process.env);
    // commander passes the arguments, then the command's options, then the command.
    result = await fn(ctx, ...(args.slice(0, -1) as A));
  };
}

function viaOption(): Option {
  return new Option('--via <channel>', 'api: the HTTP API; pubsub: publish to the requests topic').choices(['api', 'pubsub']).default('api');
}

function topicOptions(cmd: Command): Command {
  return cmd
    .option('--topic <name>', 'requests topic for --via pubsub [env: REQUESTS_TOPIC; default: the local stack’s, else eeport-requests]')
    .option('--cloud-project <id>', 'Google Cloud project of the topic [env: GOOGLE_CLOUD_PROJECT; default: the local stack’s]');
}

function submitLike(cmd: Command, idFlag: 'idempotency-key' | 'batch-id'): Command {
  cmd
    .addOption(viaOption())
    .option('--project <eeProject>', 'Earth Engine project to run in (the envelope’s eeProject)')
    .option('--label <key=value>', 'label the job (repeatable)', collect);
  cmd.option('--callback <url>', 'webhook called when it ends (callbackUrl)');
  if (idFlag === 'idempotency-key') cmd.option('--idempotency-key <key>', 'the same key always means the same job (safe retries)');
  else cmd.option('--batch-id <name>', 'the batch’s own id (its idempotency key), 1–100 of A-Z a-z 0-9 _ -');
  cmd
    .option('--wait', 'follow it to the end with a progress bar; exit with its outcome')
    .option('--interval <seconds>', 'how often --wait asks the API', seconds, 2)
    .option('--no-validate', 'with --via pubsub: publish without checking the request first');
  return topicOptions(cmd);
}

export function buildProgram(): Command {
  const program = new Command('eeport');
  program
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(jsonWanted(process.argv) ? `${JSON.stringify({ error: { message: text.trim().replace(/^error: /, ''), exitCode: EXIT.USAGE } })}\n` : text.replace(/^error: /, 'eeport: ')),
    })
    .description('Submit, follow and manage eeport Earth Engine exports (HTTP API or Pub/Sub).')
    .version(version(), '-V, --version')
    .option('--api <url>', 'the eeport API (the api function’s URL) [env: EEPORT_API_URL]')
    .option('--api-key <key>', 'API key, sent as x-api-key [env: EEPORT_API_KEY]')
    .option('--id-token <token>', 'Google ID token, sent as Authorization: Bearer [env: EEPORT_ID_TOKEN]')
    .option('--json', 'print machine-readable JSON only (no bars, no colour)')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('--timeout <seconds>', 'timeout of one API call', seconds, 30)
    .showSuggestionAfterError(true)
    .addHelpText('after', MAIN_HELP);

  submitLike(
    program
      .command('submit')
      .summary('submit an export (or a batch) from FILE or stdin ("-"); prints the job id')
      .description(
        'Submit an ExportImageRequest, an envelope {"request": …, "eeProject": …, "labels": …} or a batch {"batch": …} ' +
          'from FILE, or from stdin with "-". Prints the job id (a batch: the batch id) on stdout.',
      )
      .argument('<file>', 'JSON file, or - for stdin')
      .addHelpText('after', '\nExits 0 when submitted (with --wait: when it SUCCEEDED), 1 when it was refused at once or (--wait) ended otherwise,\n2 for an invalid file; `eeport --help` lists every exit code.'),
    'idempotency-key',
  ).action(act(submitCommand));

  program
    .command('status')
    .description('show a job: state, progress, stage, EECU, destinations, error')
    .argument('<job>', 'job id (32 hex characters)')
    .action(act(statusCommand));

  program
    .command('list')
    .description('list jobs, most recently updated first')
    .option('--state <state>', 'only these states (repeatable or comma-separated): QUEUED, SUBMITTING, PENDING, RUNNING, CANCELLING, SUCCEEDED, FAILED, CANCELLED, REJECTED, SKIPPED', collect)
    .option('--label <key=value>', 'only jobs with this label')
    .option('--project <eeProject>', 'only jobs of this Earth Engine project')
    .option('--updated-after <time>', 'RFC 3339 time, inclusive')
    .option('--updated-before <time>', 'RFC 3339 time, exclusive')
    .option('--limit <n>', 'at most n jobs (default 50; pages as needed)', count)
    .option('--all', 'every matching job, all pages')
    .action(act(listCommand));

  topicOptions(
    program
      .command('cancel')
      .description('cancel a job (a QUEUED one at once; a running one through Earth Engine)')
      .argument('<job>', 'job id')
      .option('--reason <text>', 'recorded on the job')
      .addOption(viaOption()),
  ).action(act(cancelCommand));

  program
    .command('watch')
    .description('live progress bars for the given jobs, or for every live job, until they end (Ctrl-C stops)')
    .argument('[jobs...]', 'job ids; none: every QUEUED/SUBMITTING/PENDING/RUNNING/CANCELLING job, and any that start meanwhile')
    .option('--label <key=value>', 'without job ids: only live jobs with this label')
    .option('--project <eeProject>', 'without job ids: only live jobs of this Earth Engine project')
    .option('--interval <seconds>', 'how often to ask the API', seconds, 2)
    .addHelpText('after', '\nExits 0 when every job SUCCEEDED, 1 when any did not, 130 on Ctrl-C. With --json: one JSON line per change.')
    .action(act(watchCommand));

  const batch = program.command('batch').description('batches: many exports in one submission');
  submitLike(
    batch
      .command('submit')
      .description('submit a batch from FILE or stdin ("-"): {"batch": {…}} or the batch object; prints the batch id')
      .argument('<file>', 'JSON file, or - for stdin'),
    'batch-id',
  ).action(act(batchSubmitCommand));
  batch
    .command('status')
    .description('show a batch: state, counts by child state, progress, EECU')
    .argument('<batch>', 'batch id (32 hex), or the batchId its spec named')
    .option('--jobs', 'also list its jobs')
    .option('--state <state>', 'with --jobs: only these states (repeatable or comma-separated)', collect)
    .option('--limit <n>', 'with --jobs: at most n jobs (default 50, at most 200)', count)
    .action(act(batchStatusCommand));
  batch
    .command('list')
    .description('list batches')
    .option('--state <state>', 'only these states (repeatable or comma-separated)', collect)
    .option('--limit <n>', 'at most n batches (default 50)', count)
    .option('--all', 'every batch, all pages')
    .action(act(batchListCommand));
  for (const action of ['cancel', 'retry'] as const) {
    topicOptions(
      batch
        .command(action)
        .description(action === 'cancel' ? 'cancel every queued or live job of a batch' : 'resubmit the jobs of a batch that failed for a transient reason')
        .argument('<batch>', 'batch id, or the batchId its spec named')
        .addOption(viaOption()),
    ).action(act((ctx, id: string, o: Parameters<typeof batchActionCommand>[3]) => batchActionCommand(ctx, action, id, o)));
  }
  batch
    .command('resume')
    .description('resume a STOPPED batch (an EECU budget used up, or its own EECU cap passed): its queued jobs are released again')
    .argument('<batch>', 'batch id, or the batchId its spec named')
    .option('--max-eecu-seconds <n>', 'a new EECU cap for a batch its own cap stopped (must be above what it used)', seconds)
    .action(act(batchResumeCommand));

  const schedule = program.command('schedule').description('schedules: a template request run on a cadence, one job per window (docs/schedules.md)');
  schedule.command('create').description('create a schedule from FILE or stdin ("-")').argument('<file>', 'JSON file, or - for stdin').action(act(scheduleCreateCommand));
  schedule.command('list').description('list schedules').action(act(scheduleListCommand));
  schedule.command('show').description('a schedule: next windows and last runs with their states').argument('<schedule>', 'schedule id').action(act(scheduleShowCommand));
  schedule.command('pause').description('stop submitting runs').argument('<schedule>', 'schedule id').action(act(schedulePauseCommand));
  schedule
    .command('resume')
    .description('submit runs again (windows that closed while paused are skipped unless --catch-up)')
    .argument('<schedule>', 'schedule id')
    .option('--catch-up', 'also submit the windows missed while paused')
    .action(act(scheduleResumeCommand));
  schedule.command('delete').description('delete a schedule (its runs stay)').argument('<schedule>', 'schedule id').action(act(scheduleDeleteCommand));
  schedule
    .command('backfill')
    .description('submit the windows ending after --from (up to --to); windows already run are not run again')
    .argument('<schedule>', 'schedule id')
    .requiredOption('--from <instant>', 'ISO date or date-time')
    .option('--to <instant>', 'ISO date or date-time (default: the schedule’s next run)')
    .action(act(scheduleBackfillCommand));

  const chain = program.command('chain').description('chains: steps submitted when the job or batch before them succeeds (docs/chains.md)');
  chain.command('show').description('a chain: its steps, their states, outputs and why a step was skipped').argument('<chain>', 'chain id (its root job’s or batch’s id)').action(act(chainShowCommand));
  chain
    .command('list')
    .description('chains, newest first, with their steps’ states (GET /v1/chains)')
    .option('--limit <n>', 'at most n chains (default 50)', count)
    .option('--all', 'every chain, all pages')
    .action(act(chainListCommand));

  program
    .command('estimate')
    .summary('what a job or a batch in FILE would cost, before it runs (POST /v1/estimates)')
    .description(
      'Estimate the EECU-seconds of an ExportImageRequest, an envelope or a batch {"batch": …} from FILE (or stdin with "-"): ' +
        'expected with a band (low – high), the tasks it would start, its pixels, the method and its basis, and the share of each covering budget. Nothing is submitted.',
    )
    .argument('<file>', 'JSON file, or - for stdin')
    .option('--project <eeProject>', 'Earth Engine project it would run in (the envelope’s eeProject)')
    .option('--label <key=value>', 'a label it would carry (repeatable; budgets match on labels)', collect)
    .option('--probe', 'without history of this computation, start one probe: a labelled 256×256 sample export whose cost is counted')
    .action(act(estimateCommand));
  program
    .command('estimate-accuracy')
    .description('how good past estimates were: median absolute error and share within the band, per method (GET /v1/estimates/accuracy)')
    .option('--project <eeProject>', 'only jobs of this Earth Engine project')
    .option('--jobs <n>', 'the most recent n finished jobs (default 1000)', count)
    .action(act(estimateAccuracyCommand));

  program.command('budgets').description('EECU budgets and what this month used of them').action(act(budgetsCommand));
  program.command('stats').description('the API’s counters (GET /v1/stats)').action(act(statsCommand));

  addSimulatorOptions(program.command('sim').description('run the Earth Engine simulator (tools/ee-simulator) until Ctrl-C'))
    .action(act(simCommand));

  program
    .command('schema')
    .description('print the JSON Schema of what eeport accepts')
    .addArgument(new Argument('[kind]', 'request (ExportImageRequest), envelope, batch or upload-rules').choices(Object.keys(SCHEMAS)).default('request'))
    .action(act((ctx, kind: SchemaName) => schemaCommand(ctx, kind)));

  return program;
}

const jsonWanted = (argv: readonly string[]) => argv.includes('--json');

/** Prints a failure (one line; JSON with --json) and returns its exit code. */
export function report(err: unknown, json: boolean, debug: boolean): ExitCode {
  if (err instanceof CommanderError) {
    // commander printed its own message (or the help) already.
    return err.exitCode === 0 || err.code === 'commander.version' || err.code === 'commander.helpDisplayed' ? EXIT.OK : EXIT.USAGE;
  }
  const known = err instanceof CliError;
  const exitCode: ExitCode = known ? err.exitCode : EXIT.API;
  const message = known ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}${debug ? '' : ' (EEPORT_DEBUG=1 shows where)'}`;
  if (json) {
    const extra = known ? err.extra : {};
    process.stderr.write(`${JSON.stringify({ error: { message, exitCode, ...extra } })}\n`);
  } else {
    process.stderr.write(`eeport: ${message}\n`);
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}

/** Runs the CLI and exits the process with the command's exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<never> {
  let code: ExitCode;
  try {
    await buildProgram().parseAsync([...argv]);
    code = result;
  } catch (err) {
    code = report(err, jsonWanted(argv), process.env.EEPORT_DEBUG === '1');
  }
  // Let buffered output reach a pipe before exiting.
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(code);
}

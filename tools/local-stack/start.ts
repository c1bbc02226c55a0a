/**
 * `npm start`: the local stack (see stack.ts), its table, and the demo.
 *
 *   npm start                      stack + demo, then keeps running until Ctrl-C
 *   npm start -- --no-demo         stack only
 *   npm start -- --demo-only       stack + demo, then stops; exit 0 when every job ended as scripted
 *   npm start -- --in-memory       skip the emulators even when installed
 *   npm start -- --free-ports      any free ports instead of firebase.json's
 *   npm start -- --env KEY=VALUE   override eeport configuration (repeatable)
 *   npm start -- --sim-duplicate-request-id return-existing|error   --sim-queue-full-status 429|400|403|503
 *   npm start -- --help            every option
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runDemo } from './demo.ts';
import { startLocalStack, type LocalStack } from './stack.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
};
const keyValue = (v: string, acc: Record<string, string>) => {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('expected KEY=VALUE');
  return { ...acc, [v.slice(0, i)]: v.slice(i + 1) };
};

const program = new Command()
  .name('npm start --')
  .description('Runs eeport locally: Earth Engine simulator, Firestore and Pub/Sub emulators, every function, and the wiring between them.')
  .option('--no-demo', 'do not run the demo')
  .option('--demo-only', 'run the demo, then stop; exit 0 when every scripted job ended as expected')
  .option('--in-memory', 'use the in-process JobStore and broker even when the emulators are installed')
  .option('--free-ports', "use free ports instead of firebase.json's and the stack's defaults")
  .option('--scale <n>', 'simulated seconds per real second (20: a 60 s task takes 3 s)', positive, 20)
  .option('--poll-every <seconds>', 'Cloud Scheduler stand-in period for pollExports', positive, 5)
  .option('--demo-timeout <seconds>', 'how long the demo may take', positive, 60)
  .option('--env <KEY=VALUE>', 'eeport configuration override (repeatable)', keyValue, {} as Record<string, string>)
  .option('--state-dir <dir>', 'where logs, dead letters and the sample request go (default .eeport/local-stack)')
  // Earth Engine's answers here are undocumented: try eeport against each reading.
  .addOption(new Option('--sim-duplicate-request-id <mode>', "the simulator's answer to a repeated requestId").choices(['error', 'return-existing']).default('error'))
  .addOption(new Option('--sim-queue-full-status <code>', "the HTTP status of the simulator's queue-full answer").choices(['429', '400', '403', '503']).default('429'))
  .addOption(new Option('--sim-eecu-model <model>', "how the simulator costs a task: from the work it does, or from its running time").choices(['work', 'time']).default('work'))
  .option('--no-sim-eecu-while-running', 'the simulator reports EECU only once a task has ended (exercises the time guard)')
  .parse();

const o = program.opts<{
  demo: boolean;
  demoOnly?: boolean;
  inMemory?: boolean;
  freePorts?: boolean;
  scale: number;
  pollEvery: number;
  demoTimeout: number;
  env: Record<string, string>;
  stateDir?: string;
  simDuplicateRequestId: 'error' | 'return-existing';
  simQueueFullStatus: string;
  simEecuModel: 'work' | 'time';
  simEecuWhileRunning: boolean;
}>();
const print = (line: string) => console.log(line);

let stack: LocalStack | null = null;
let starting: Promise<LocalStack> | null = null;
let stopping = false;
/** Set once stop() finished: the emulator pids are gone then, and could belong to someone else later. */
let stopped = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) {
    // A second Ctrl-C: do not wait any longer.
    killEmulators();
    process.exit(1);
  }
  stopping = true;
  print('\nstopping the local stack …');
  const s = stack ?? (await starting?.catch(() => null)) ?? null;
  removeStackFile();
  await s?.stop();
  stopped = true;
  print('stopped.');
  process.exit(code);
}

/** Last resort on an unplanned exit: the emulators run in process groups of their own and would outlive us. */
function killEmulators(): void {
  if (stopped) return;
  for (const e of stack?.emulators ?? []) {
    try {
      process.kill(-e.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('exit', killEmulators);

/**
 * `kill <npm pid>` (what `timeout` does) ends npm and its `sh -c`, but the signal never
 * reaches this process, which would keep the emulators running. So watch the launcher:
 * when our parent or its parent goes away, stop as if interrupted. (Linux /proc only;
 * elsewhere a no-op. Ctrl-C reaches the whole process group and needs none of this.)
 */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}
const launcher = { parent: process.ppid, grandparent: parentOf(process.ppid) };
if (launcher.grandparent !== null) {
  setInterval(() => {
    if (stopping) return;
    if (process.ppid !== launcher.parent || parentOf(launcher.parent) !== launcher.grandparent) {
      print('the command that started the stack has gone away;');
      void shutdown(0);
    }
  }, 1_000).unref();
}

print(`eeport local stack: starting …`);
try {
  starting = startLocalStack({
    mode: o.inMemory ? 'in-memory' : 'auto',
    ports: o.freePorts ? 'free' : 'configured',
    scale: o.scale,
    pollEverySeconds: o.pollEvery,
    env: o.env,
    sim: { duplicateRequestId: o.simDuplicateRequestId, queueFullStatus: Number(o.simQueueFullStatus) as 429 | 400 | 403 | 503, eecuModel: o.simEecuModel, eecuWhileRunning: o.simEecuWhileRunning },
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    print,
  });
  stack = await starting;
} catch (err) {
  console.error(`eeport local stack failed to start: ${(err as Error).message}`);
  process.exit(1);
}
if (stopping) await new Promise(() => undefined); // shutdown() is finishing the job

const s = stack;
writeStackFile(s);
print('');
for (const n of s.notes) print(`note: ${n}`);
print(
  `eeport local stack is up — project ${s.config.GOOGLE_CLOUD_PROJECT}, ${s.mode === 'emulators' ? "Google's Firestore and Pub/Sub emulators" : 'IN-MEMORY store and broker (no emulators)'}:\n`,
);
print(s.table());
print('');

if (o.demo || o.demoOnly) {
  const result = await runDemo(s, { timeoutMs: o.demoTimeout * 1000, print });
  if (o.demoOnly) {
    if (!stopping) {
      stopping = true;
      removeStackFile();
      await s.stop();
      stopped = true;
      process.exit(result.ok ? 0 : 1);
    }
  }
}
if (!stopping) print('\nThe stack keeps running: publish your own requests with the commands above. Ctrl-C stops everything.');

/**
 * The address book the CLI reads (tools/cli/stack-file.ts): where this stack's API and
 * topics are, so `npx eeport …` needs no flags while `npm start` runs.
 */
function writeStackFile(st: LocalStack): void {
  const api = st.functions.get('api');
  const file = join(REPO_ROOT, '.eeport', 'stack.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        apiUrl: api?.url.replace(/\/$/, ''),
        pubsubEmulatorHost: st.config.PUBSUB_EMULATOR_HOST ?? null,
        projectId: st.config.GOOGLE_CLOUD_PROJECT,
        requestsTopic: st.config.REQUESTS_TOPIC,
        eeProject: st.config.EE_PROJECT,
        simulatorUrl: st.simulator.url,
        pid: process.pid,
      },
      null,
      2,
    )}\n`,
  );
}

function removeStackFile(): void {
  rmSync(join(REPO_ROOT, '.eeport', 'stack.json'), { force: true });
}

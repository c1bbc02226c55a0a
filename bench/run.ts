/**
 * `npm run bench`: starts Google's Firestore and Pub/Sub emulators (figures that need
 * them are skipped, with the reason, when they are missing) and the Earth Engine
 * simulator, runs each figure, prints a table and writes bench/results.json.
 *
 *   BENCH_QUICK=1  smaller sizes, shorter windows (a smoke run)
 *   BENCH_ONLY=submit,poll-calls,detection-latency   run only these figures
 *   BENCH_BATCH_CHILDREN=100000   the size of the batch-100k figure (default 1,000; quick 300)
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { locateEmulator, startEmulator, type RunningEmulator } from '../tools/emulators/emulators.ts';
import { QUICK, log, printTable, writeResults, type Result } from './lib.ts';
import { submitFigure, type EmulatorHosts } from './submit.ts';
import { pollCallsFigure } from './poll-calls.ts';
import { pollMemoryFigure } from './poll-memory.ts';
import { statsQueriesFigure } from './stats-queries.ts';
import { detectionLatencyFigure } from './detection-latency.ts';
import { coldStartFigures } from './cold-start.ts';
import { batchSubmitFigure } from './batch-submit.ts';
import { estimateAccuracyFigure } from './estimate-accuracy.ts';
import { batch100kFigure } from './batch-100k.ts';

const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const wanted = (name: string) => only.length === 0 || only.includes(name);
// BENCH_RESULTS: write elsewhere (a partial BENCH_ONLY run would otherwise replace every other figure's rows).
const resultsPath = process.env.BENCH_RESULTS ?? fileURLToPath(new URL('./results.json', import.meta.url));

async function startEmulators(): Promise<{ hosts: EmulatorHosts | null; running: RunningEmulator[]; missing: string[] }> {
  const running: RunningEmulator[] = [];
  const missing: string[] = [];
  const hosts: Partial<Record<'firestore' | 'pubsub', string>> = {};
  await Promise.all(
    (['firestore', 'pubsub'] as const).map(async (kind) => {
      const loc = locateEmulator(kind);
      if ('missing' in loc) return void missing.push(loc.missing);
      try {
        const emu = await startEmulator(loc);
        running.push(emu);
        hosts[kind] = emu.host;
      } catch (err) {
        missing.push(`${kind} emulator failed to start: ${(err as Error).message}`);
      }
    }),
  );
  return { hosts: hosts.firestore && hosts.pubsub ? { firestoreHost: hosts.firestore, pubsubHost: hosts.pubsub } : null, running, missing };
}

async function main(): Promise<number> {
  const t0 = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const needEmulators = wanted('submit') || wanted('poll-calls') || wanted('poll-memory') || wanted('detection-latency') || wanted('cold-start') || wanted('batch-submit') || wanted('batch-100k');
  log(`${QUICK ? 'QUICK run' : 'full run'}${only.length ? `, only ${only.join(', ')}` : ''}`);
  const emu = needEmulators ? await startEmulators() : { hosts: null, running: [], missing: [] };
  if (needEmulators) log(emu.hosts ? `emulators up in ${((performance.now() - t0) / 1000).toFixed(1)} s` : 'emulators unavailable');
  const stop = () => Promise.all(emu.running.map((e) => e.stop()));
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));

  const results: Result[] = [];
  const notes: string[] = [];
  const skipped: string[] = [];
  let failed = false;
  const figure = async (name: string, needs: 'emulators' | 'none', run: () => Promise<Result[]>) => {
    if (!wanted(name)) return;
    if (needs === 'emulators' && !emu.hosts) {
      skipped.push(`SKIPPED ${name}: needs the Firestore and Pub/Sub emulators — ${emu.missing.join('; ')}`);
      return;
    }
    const started = performance.now();
    log(`${name} …`);
    try {
      results.push(...(await run()));
      log(`${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed = true;
      console.error(`[bench] ${name} FAILED:`, err);
    }
  };

  try {
    await figure('submit', 'emulators', () => submitFigure(emu.hosts!, notes));
    await figure('poll-calls', 'none', () => pollCallsFigure(notes, emu.hosts));
    await figure('poll-memory', 'emulators', () => pollMemoryFigure(emu.hosts!, notes));
    await figure('stats-queries', 'none', () => statsQueriesFigure(notes));
    await figure('detection-latency', 'emulators', () => detectionLatencyFigure(emu.hosts!, notes));
    await figure('batch-submit', 'emulators', () => batchSubmitFigure(emu.hosts!, notes));
    await figure('batch-100k', 'emulators', () => batch100kFigure(emu.hosts!, notes));
    await figure('estimate-accuracy', 'none', () => estimateAccuracyFigure(notes));
    await figure('cold-start', 'none', () => coldStartFigures({ hosts: emu.hosts, notes }));
  } finally {
    await stop();
  }

  const secs = (performance.now() - t0) / 1000;
  console.log(`\neeport benchmark — ${QUICK ? 'QUICK (reduced sizes)' : 'full'} run, ${new Date().toISOString()}, ${results[0]?.machine.cpus ?? '?'} CPUs, node ${process.version}`);
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end, on ${os.cpus().length} CPUs: other work on the machine slows both sides of each ratio, not always equally.`);
  for (const s of skipped) console.log(`!! ${s}`);
  for (const n of notes) console.log(`- ${n}`);
  console.log('');
  printTable(results);
  console.log(`\nwall time ${secs.toFixed(1)} s; results written to ${resultsPath}`);
  writeResults(resultsPath, results);
  return failed ? 1 : 0;
}

// The Google clients the functions build keep gRPC channels open: exit explicitly.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

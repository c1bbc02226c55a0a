/**
 * The poller of the 100,000-child batch figure, in its own process (as pollExports is
 * its own function when deployed), so the API latencies measured in the parent are not
 * the poller's event loop. Built from the config in argv[2] (JSON env) on the real
 * adapters, with the store counted (bench/op-count.ts). Calls pollExports().run()
 * back to back — a scheduler whose next tick comes as soon as the last ends — until the
 * parent says "stop", then sends its counts and cycle totals and exits. The counts also
 * go to the parent every few seconds: a drain cut short may be stopped mid-cycle. It also
 * sends where the poller's time went (bench/drain-profile.ts: its port calls by kind) and
 * each poll cycle's wall time and figures.
 */
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { loadConfig } from '../functions/src/config.ts';
import { buildServices, realAdapters } from '../functions/src/composition-root.ts';
import { devNullLogSink } from './lib.ts';
import { countOps, zeroOps } from './op-count.ts';
import { profiledPort, profiledStore, type DrainProfile } from './drain-profile.ts';

const env = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const config = loadConfig(env);
const ops = zeroOps();
const profile: DrainProfile = {};
/** Each poll cycle as it ended: its wall time (since the one before, or the run's start) and what it did. */
const cycleLog: { ms: number; live: number; released: number; updated: number; events: number }[] = [];
let lastCycleEnd = performance.now();
const real = realAdapters(config);
const logSink = devNullLogSink((e) => {
  if (e.event !== 'poll.cycle') return;
  const now = performance.now();
  const n = (k: string) => Number((e as Record<string, unknown>)[k] ?? 0);
  cycleLog.push({ ms: Math.round(now - lastCycleEnd), live: n('live'), released: n('released'), updated: n('updated'), events: n('events') });
  lastCycleEnd = now;
});
const services = buildServices(config, { ...real, store: countOps(profiledStore(real.store, profile), ops), ee: profiledPort(real.ee, 'ee', profile), publisher: profiledPort(real.publisher, 'publisher', profile), logSink });

let stopping = false;
process.on('message', (m) => {
  if (m === 'stop') stopping = true;
});
process.on('disconnect', () => process.exit(0));

process.send?.('ready');
const report = () => process.send?.({ ops, runs, cycles, totals, profile, cycleLog });
setInterval(report, 2_000).unref();

const totals: Record<string, number> = {};
let runs = 0;
let cycles = 0;
while (!stopping) {
  lastCycleEnd = performance.now();
  const r = await services.pollExports().run();
  runs++;
  if (r.kind === 'done') {
    cycles += r.cycles;
    for (const [k, v] of Object.entries(r.totals)) totals[k] = (totals[k] ?? 0) + v;
    // Nothing live and nothing released: the next tick need not come at once.
    if (r.totals.live === 0 && r.totals.released === 0) await new Promise((res) => setTimeout(res, 200));
  } else await new Promise((res) => setTimeout(res, 500));
}
process.send?.({ ops, runs, cycles, totals, profile, cycleLog, final: true }, () => process.exit(0));

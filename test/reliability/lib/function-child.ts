/**
 * A function instance in a process of its own, for crash tests that need a real death:
 * serves the submitExport, pollExports and deliverWebhook targets (functions-framework
 * test servers on 127.0.0.1) over the same emulators and simulator as the test, and
 * calls process.exit(137) at the armed step (lib/crash.ts, mode `exit`).
 *
 *   node --import tsx test/reliability/lib/function-child.ts
 *   EEPORT_CHILD = {"env": {...loadConfig env...}, "crash": {"at": …, "step": …, "tx"?: "<TX key>", "method"?: …, "skip"?: n}, "skewMs": n}
 *
 * Prints one JSON line on stdout when listening: {"ready": true, "ports": {"submitExport": n, …}}.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import '../../../functions/src/entry/submit-export.entry.ts';
import '../../../functions/src/entry/poll-exports.entry.ts';
import '../../../functions/src/entry/deliver-webhook.entry.ts';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { loadConfig } from '../../../functions/src/config.ts';
import { buildServices, realAdapters, setServices } from '../../../functions/src/composition-root.ts';
import { CrashController, crashableAdapters, TX, type CrashSpec } from './crash.ts';

export interface ChildCrash {
  at: CrashSpec['at'];
  step: string;
  /** For tx-* steps: which transaction shape (a key of TX). */
  tx?: keyof typeof TX;
  method?: 'exportImage' | 'getOperation' | 'listOperations' | 'cancelOperation';
  skip?: number;
}

export interface ChildSpec {
  env: Record<string, string>;
  crash: ChildCrash | null;
  skewMs: number;
}

export const CHILD_TARGETS = ['submitExport', 'pollExports', 'deliverWebhook'] as const;

function toSpec(c: ChildCrash): CrashSpec {
  if (c.at === 'tx-after-commit' || c.at === 'tx-before-commit') {
    if (!c.tx) throw new Error(`crash ${c.step}: a tx step needs "tx"`);
    return { at: c.at, step: c.step, match: TX[c.tx], ...(c.skip ? { skip: c.skip } : {}) };
  }
  if (c.at === 'ee-after') return { at: c.at, step: c.step, method: c.method ?? 'exportImage', ...(c.skip ? { skip: c.skip } : {}) };
  return { at: c.at, step: c.step, ...(c.skip ? { skip: c.skip } : {}) };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.EEPORT_CHILD ?? 'null') as ChildSpec | null;
  if (!spec) throw new Error('EEPORT_CHILD is not set');
  const config = loadConfig(spec.env);
  const controller = new CrashController('exit');
  if (spec.crash) controller.arm(toSpec(spec.crash));
  const verbose = process.env.RELIABILITY_LOGS === '1';
  const services = buildServices(config, {
    ...crashableAdapters(realAdapters(config), controller),
    clock: { now: () => new Date(Date.now() + spec.skewMs) },
    logSink: { write: (e) => void (verbose && process.stderr.write(`${JSON.stringify(e)}\n`)) },
    sleep: async () => undefined,
  });
  setServices(services);
  const ports: Record<string, number> = {};
  for (const target of CHILD_TARGETS) {
    const server: Server = getTestServer(target);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    ports[target] = (server.address() as AddressInfo).port;
  }
  process.stdout.write(`${JSON.stringify({ ready: true, ports })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[crash-child] failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

/**
 * Starts lib/function-child.ts (a function instance in its own process) and talks to it
 * the way Pub/Sub push and Cloud Scheduler would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../../functions/src/config.ts';
import type { PushMessage } from '../../harness/stack.ts';
import type { ChildCrash, ChildSpec } from './function-child.ts';

const CHILD_SCRIPT = fileURLToPath(new URL('./function-child.ts', import.meta.url));

export interface FunctionChild {
  ports: Record<string, number>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** POSTs a push delivery; resolves to the status, or 0 when the connection died with the process. */
  deliver(target: string, message: PushMessage): Promise<number>;
  /** POSTs to pollExports; 0 when the process died. */
  poll(): Promise<number>;
  stop(): Promise<void>;
}

export async function startFunctionChild(env: Record<string, string>, crash: ChildCrash | null, skewMs: number, config: Config): Promise<FunctionChild> {
  const spec: ChildSpec = { env, crash, skewMs };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT], {
    cwd: process.cwd(),
    env: { ...process.env, EEPORT_CHILD: JSON.stringify(spec), METADATA_SERVER_DETECTION: 'none' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-20_000);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Never started (e.g. the node binary missing while node_modules is being reinstalled): no 'exit' follows.
    child.once('error', (err) => {
      spawnError = err;
      resolve({ code: null, signal: null });
    });
  });
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`function child not ready after 60 s:\n${err}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { ports: Record<string, number> }).ports);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(spawnError ? `function child could not be started: ${spawnError.message}` : `function child exited (${code}) before it was ready:\n${err}`));
    });
  });

  const post = async (target: string, init: RequestInit): Promise<number> => {
    try {
      const res = await fetch(`http://127.0.0.1:${ports[target]}/`, init);
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0; // the process died mid-request
    }
  };

  return {
    ports,
    exited,
    stderr: () => err,
    deliver: (target, message) => post(target, pushInit(config, message)),
    poll: () => post('pollExports', { method: 'POST' }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The request Pub/Sub push makes for one message (as test/harness/stack.ts deliverOnce does). */
export function pushInit(config: Config, message: PushMessage): RequestInit {
  const messageId = message.messageId ?? 'no-id';
  const raw = message.data === undefined ? undefined : typeof message.data === 'object' && !Buffer.isBuffer(message.data) ? JSON.stringify(message.data) : message.data;
  const body = {
    message: { ...(raw !== undefined ? { data: Buffer.from(raw).toString('base64') } : {}), attributes: message.attributes ?? {}, messageId, publishTime: new Date().toISOString() },
    subscription: `projects/${config.GOOGLE_CLOUD_PROJECT}/subscriptions/requests-push`,
  };
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-id': messageId,
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': `//pubsub.googleapis.com/projects/${config.GOOGLE_CLOUD_PROJECT}/topics/${config.REQUESTS_TOPIC}`,
      'ce-time': new Date().toISOString(),
    },
    body: JSON.stringify(body),
  };
}

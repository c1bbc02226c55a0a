/**
 * The `api` function's integration tests share one set-up: the Earth Engine simulator
 * (manual clock unless told otherwise), a test stack over the emulators (stack.ts) whose
 * log lines are captured, and a client that calls the function with or without
 * credentials. `useApiStack` registers the hooks for the calling describe() block.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../tools/ee-simulator/index.ts';
import { ApiErrorBodySchema, type ApiErrorCode } from '../../functions/src/core/api/api-contract.ts';
import type { Adapters } from '../../functions/src/composition-root.ts';
import type { LogEntry } from '../../functions/src/core/ports.ts';
import type { Emulators } from './emulators.ts';
import { startTestStack, testConfig, type TestStack } from './stack.ts';

export interface ApiClient {
  call(path: string, init?: RequestInit): Promise<Response>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

/** Calls the `api` function of `stack()`, sending `auth` headers with every request. */
export function apiClient(stack: () => TestStack, auth: Record<string, string> = {}): ApiClient {
  const call = (path: string, init: RequestInit = {}) => stack().http('api', path, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
  return {
    call,
    post: (path, body, headers = {}) =>
      call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : body instanceof Uint8Array ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body) }),
  };
}

/** Asserts a JSON error with this status and code; returns the error. */
export async function expectError(res: Response, status: number, code: ApiErrorCode) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = ApiErrorBodySchema.parse(JSON.parse(text));
  expect(body.error.code, text).toBe(code);
  return body.error;
}

export interface ApiStackOptions {
  /** Configuration on top of testConfig()'s. */
  env?: Record<string, string>;
  /** Simulator options; the clock is manual unless these name one. */
  simulator?: SimulatorOptions;
  /** Adapter overrides (e.g. the OIDC certificates). */
  adapters?: (a: Adapters) => Adapters;
  /**
   * 'each': every test starts from an empty project, a reset simulator, no captured logs
   * and a new stack; 'once' (default): one stack for the whole block, on an empty project.
   */
  fresh?: 'each' | 'once';
}

/** The running set-up, and a client without credentials (`call`, `post`). */
export interface ApiStack extends ApiClient {
  readonly sim: Simulator;
  readonly stack: TestStack;
  /** Log lines written since the stack started. */
  readonly logs: LogEntry[];
  /** A client sending these headers (e.g. x-api-key) with every request. */
  client(auth?: Record<string, string>): ApiClient;
  /** Replaces the stack with one configured with `env` on top of the block's, on an empty project. */
  restart(env?: Record<string, string>): Promise<void>;
}

/** Registers the hooks that start and stop the set-up for the calling describe() block (skipped when `emu` is null). */
export function useApiStack(emu: Emulators | null, options: ApiStackOptions = {}): ApiStack {
  let sim: Simulator | undefined;
  let stack: TestStack | undefined;
  const logs: LogEntry[] = [];
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is not running: use it inside a test of the block that called useApiStack`);
    return v;
  };
  const capture = (a: Adapters): Adapters => {
    const adapters = options.adapters ? options.adapters(a) : a;
    return { ...adapters, logSink: { write: (e) => (logs.push(e), adapters.logSink.write(e)) } };
  };
  const restart = async (env: Record<string, string> = {}) => {
    await stack?.close();
    stack = undefined;
    await emu!.clear();
    sim!.reset();
    logs.length = 0;
    stack = await startTestStack(testConfig(emu!, sim!.url, { ...options.env, ...env }), capture);
  };

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' }, ...options.simulator });
    if (options.fresh !== 'each') await restart();
  });
  if (options.fresh === 'each') beforeEach(() => restart());
  afterAll(async () => {
    await stack?.close();
    await sim?.close();
  });

  const current = () => need(stack, 'the test stack');
  const anonymous = apiClient(current);
  return {
    get sim() {
      return need(sim, 'the simulator');
    },
    get stack() {
      return current();
    },
    logs,
    call: anonymous.call,
    post: anonymous.post,
    client: (auth = {}) => apiClient(current, auth),
    restart,
  };
}

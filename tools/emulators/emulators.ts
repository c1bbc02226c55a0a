/**
 * Finds, starts and stops Google's Firestore and Pub/Sub emulators from the Cloud SDK
 * installed on this machine. Used by the test harness and by the local stack; never
 * by deployed code. The emulators cannot be installed by the project (their package
 * source is off), so a missing one is reported with the paths that were searched.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { homedir } from 'node:os';

export type EmulatorKind = 'firestore' | 'pubsub';

export interface RunningEmulator {
  kind: EmulatorKind;
  /** host:port, as FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST expect it. */
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface EmulatorLocation {
  kind: EmulatorKind;
  command: string;
  args: (port: number) => string[];
}

/** Where the Cloud SDK may live: an explicit override first, then what gcloud says, then the usual places. */
export function candidateSdkRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const roots: string[] = [];
  if (env.EEPORT_GCLOUD_SDK_ROOT) roots.push(env.EEPORT_GCLOUD_SDK_ROOT);
  try {
    const root = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 20_000,
    }).trim();
    if (root) roots.push(root);
  } catch {
    // gcloud missing or broken: fall through to the usual install locations.
  }
  roots.push('/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk', '/opt/google-cloud-sdk', join(homedir(), 'google-cloud-sdk'));
  return [...new Set(roots)];
}

/** Locates an emulator, or returns the reason it cannot be found. */
export function locateEmulator(kind: EmulatorKind, roots = candidateSdkRoots()): EmulatorLocation | { missing: string } {
  const rel = kind === 'firestore' ? 'platform/cloud-firestore-emulator/cloud_firestore_emulator' : 'platform/pubsub-emulator/bin/cloud-pubsub-emulator';
  for (const root of roots) {
    const command = join(root, rel);
    if (existsSync(command)) {
      return {
        kind,
        command,
        args: (port) => (kind === 'firestore' ? ['start', '--host=127.0.0.1', `--port=${port}`] : ['--host=127.0.0.1', `--port=${port}`]),
      };
    }
  }
  return { missing: `${kind} emulator not found; looked for ${rel} under: ${roots.join(', ')} (set EEPORT_GCLOUD_SDK_ROOT to point elsewhere)` };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * What each emulator prints once it serves on its port. An answer on the port alone is not
 * enough: "free" ports are picked before the emulator binds, so under parallel test runs
 * another process (another run's emulator) can take the same port first. Ours then fails
 * to bind and exits, while the port answers for someone else, and this run would later
 * lose its emulator when the other run stops it (ECONNREFUSED mid-test).
 */
const READY_LINE: Record<EmulatorKind, (port: number) => RegExp> = {
  firestore: () => /Dev App Server is now running/,
  pubsub: (port) => new RegExp(`listening on ${port}\\b`),
};
/** Where a Cloud SDK prints something else, an answering port and a live process after this long count as ready. */
const READY_LINE_GRACE_MS = 15_000;

async function waitForReady(url: string, child: ChildProcess, ready: () => boolean, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let answeredAt: number | null = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new EmulatorExited(`emulator exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${log()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      answeredAt ??= Date.now();
      if (ready() || Date.now() - answeredAt > READY_LINE_GRACE_MS) return;
    } catch {
      /* not serving yet */
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`emulator at ${url} not ready after ${timeoutMs} ms:\n${log()}`);
}

class EmulatorExited extends Error {}

/** Starts one emulator in its own process group so that stop() ends the JVM it forks too. */
export async function startEmulator(location: EmulatorLocation, port?: number): Promise<RunningEmulator> {
  // A free port taken by someone else before ours bound it: try another (a port asked for is used as given).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEmulatorOn(location, port ?? (await freePort()));
    } catch (err) {
      if (port !== undefined || !(err instanceof EmulatorExited) || attempt >= 3) throw err;
    }
  }
}

async function startEmulatorOn(location: EmulatorLocation, p: number): Promise<RunningEmulator> {
  const child = spawn(location.command, location.args(p), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JAVA_TOOL_OPTIONS: process.env.JAVA_TOOL_OPTIONS ?? '-Xss4m' },
  });
  let output = '';
  // Seen as it arrives: the kept tail of the output may have scrolled past it by the time it is checked.
  const readyLine = READY_LINE[location.kind](p);
  let sawReady = false;
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4_000);
    sawReady ||= readyLine.test(output);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (child.pid === undefined) throw new Error(`could not start ${location.command}`);
  const pid = child.pid;
  /** True while any process of the emulator's group (the launcher script and the JVM it forks) lives. */
  const groupAlive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  // Waits until the whole group is gone: the launcher exits before its JVM does.
  const stop = async () => {
    if (!groupAlive()) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 5_000;
    while (groupAlive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      while (groupAlive()) await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await waitForReady(`http://127.0.0.1:${p}/`, child, () => sawReady, 60_000, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { kind: location.kind, host: `127.0.0.1:${p}`, port: p, pid, stop };
}

/** Deletes every document of one Firestore project in the emulator. */
export async function clearFirestore(host: string, projectId: string): Promise<void> {
  const res = await fetch(`http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`clearing Firestore emulator failed: ${res.status} ${await res.text()}`);
}

/** Deletes the topics and subscriptions of one project (the emulator's /reset would wipe every project). */
export async function clearPubsub(host: string, projectId: string): Promise<void> {
  const base = `http://${host}/v1/projects/${projectId}`;
  const subs = (await (await fetch(`${base}/subscriptions?pageSize=1000`)).json()) as { subscriptions?: { name: string }[] };
  for (const s of subs.subscriptions ?? []) await fetch(`http://${host}/v1/${s.name}`, { method: 'DELETE' });
  const topics = (await (await fetch(`${base}/topics?pageSize=1000`)).json()) as { topics?: { name: string }[] };
  for (const t of topics.topics ?? []) await fetch(`http://${host}/v1/${t.name}`, { method: 'DELETE' });
}

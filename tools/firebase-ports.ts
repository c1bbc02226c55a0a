/**
 * The emulator ports of the local stack, read from firebase.json: the one record of
 * them, so `npm start`, the Firebase tooling and the tests agree. Validated on read:
 * a missing emulator, a port out of range or two emulators on one port fail with a
 * message that names the key, instead of a stack that half starts.
 *
 *   import { readFirebasePorts } from './firebase-ports.ts';
 *   const { firestore, pubsub, functions } = readFirebasePorts();
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The emulators the local stack runs, by their firebase.json key. */
export const EMULATORS = ['firestore', 'pubsub', 'functions'] as const;
export type EmulatorName = (typeof EMULATORS)[number];

export type EmulatorPorts = Record<EmulatorName, number>;
export interface EmulatorEndpoint {
  host: string;
  port: number;
}

export const FIREBASE_JSON = fileURLToPath(new URL('../firebase.json', import.meta.url));

const Endpoint = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  // Below 1024 needs root on most machines; the emulators never run there.
  port: z.number().int().min(1024).max(65_535),
});
const FirebaseJson = z.object({
  emulators: z.object(Object.fromEntries(EMULATORS.map((name) => [name, Endpoint])) as Record<EmulatorName, typeof Endpoint>).loose(),
});

export class FirebasePortsError extends Error {
  constructor(source: string, problems: string[]) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'FirebasePortsError';
  }
}

/** Host and port of each emulator; throws FirebasePortsError naming every problem. */
export function parseFirebaseEmulators(json: unknown, source = 'firebase.json'): Record<EmulatorName, EmulatorEndpoint> {
  const parsed = FirebaseJson.safeParse(json);
  if (!parsed.success) throw new FirebasePortsError(source, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const emulators = parsed.data.emulators;
  const byPort = new Map<number, EmulatorName[]>();
  for (const name of EMULATORS) byPort.set(emulators[name].port, [...(byPort.get(emulators[name].port) ?? []), name]);
  const clashes = [...byPort].filter(([, names]) => names.length > 1).map(([port, names]) => `emulators ${names.join(' and ')} share port ${port}`);
  if (clashes.length) throw new FirebasePortsError(source, clashes);
  return Object.fromEntries(EMULATORS.map((name) => [name, { host: emulators[name].host, port: emulators[name].port }])) as Record<EmulatorName, EmulatorEndpoint>;
}

export function readFirebaseEmulators(path = FIREBASE_JSON): Record<EmulatorName, EmulatorEndpoint> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FirebasePortsError(path, [`cannot read it as JSON: ${(err as Error).message}`]);
  }
  return parseFirebaseEmulators(json, path);
}

/** The port of each emulator the local stack runs. */
export function readFirebasePorts(path = FIREBASE_JSON): EmulatorPorts {
  const e = readFirebaseEmulators(path);
  return { firestore: e.firestore.port, pubsub: e.pubsub.port, functions: e.functions.port };
}

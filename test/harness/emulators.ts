/**
 * What an integration test file needs from the harness: the emulator addresses, a
 * project id of its own (so files can run in parallel without clearing each other's
 * data), and a clear() for between tests.
 */
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { clearFirestore, clearPubsub } from '../../tools/emulators/emulators.ts';

export interface Emulators {
  firestoreHost: string;
  pubsubHost: string;
  /** A project id unique to this test file. */
  projectId: string;
  clear(): Promise<void>;
}

/** Returns the emulators, or null after printing why the calling suite is skipped. */
export function emulatorsOrSkip(suite: string): Emulators | null {
  const firestoreHost = inject('firestoreHost');
  const pubsubHost = inject('pubsubHost');
  if (!firestoreHost || !pubsubHost) {
    console.warn(`SKIPPING "${suite}": ${inject('emulatorsMissing') ?? 'emulators unavailable'}`);
    return null;
  }
  const projectId = `test-${randomUUID().slice(0, 8)}`;
  return {
    firestoreHost,
    pubsubHost,
    projectId,
    clear: async () => {
      await Promise.all([clearFirestore(firestoreHost, projectId), clearPubsub(pubsubHost, projectId)]);
    },
  };
}

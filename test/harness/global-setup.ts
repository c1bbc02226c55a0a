/**
 * Starts Google's Firestore and Pub/Sub emulators once for the integration project,
 * hands their addresses to the test files through vitest's provide/inject, and stops
 * them (by process group) afterwards. Where an emulator is missing the reason is
 * printed loudly and only the suites that need it skip (see emulatorsOrSkip()).
 */
import type { TestProject } from 'vitest/node';
import { locateEmulator, startEmulator, type RunningEmulator } from '../../tools/emulators/emulators.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    firestoreHost: string | null;
    pubsubHost: string | null;
    emulatorsMissing: string | null;
  }
}

export default async function setup(project: TestProject) {
  const running: RunningEmulator[] = [];
  const missing: string[] = [];
  const hosts: Record<'firestore' | 'pubsub', string | null> = { firestore: null, pubsub: null };
  await Promise.all(
    (['firestore', 'pubsub'] as const).map(async (kind) => {
      const loc = locateEmulator(kind);
      if ('missing' in loc) {
        missing.push(loc.missing);
        return;
      }
      try {
        const emu = await startEmulator(loc);
        running.push(emu);
        hosts[kind] = emu.host;
      } catch (err) {
        missing.push(`${kind} emulator failed to start: ${(err as Error).message}`);
      }
    }),
  );
  if (missing.length) {
    const bar = '!'.repeat(78);
    console.warn(`\n${bar}\n EMULATORS MISSING — the suites that need them will be SKIPPED:\n  - ${missing.join('\n  - ')}\n${bar}\n`);
  }
  project.provide('firestoreHost', hosts.firestore);
  project.provide('pubsubHost', hosts.pubsub);
  project.provide('emulatorsMissing', missing.length ? missing.join('; ') : null);
  return async () => {
    await Promise.all(running.map((e) => e.stop()));
  };
}

/**
 * startEmulator must not take another process's answer on its port for its own emulator:
 * "free" ports are picked before the emulator binds, and under parallel runs another
 * run's emulator can take the same port first (ours then exits; the other run later stops
 * its emulator, and this run loses the one it thought it had). Fake emulators here: small
 * Node processes that print what the real ones print, or fail to bind and exit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type EmulatorLocation, type RunningEmulator } from '../../tools/emulators/emulators.ts';

/** A fake Pub/Sub emulator: binds the port and prints the real one's ready line, or (occupied) exits 1 after a moment. */
const fakePubsub: EmulatorLocation = {
  kind: 'pubsub',
  command: process.execPath,
  args: (port) => [
    '-e',
    `const s = require('node:http').createServer((q, r) => r.end('ok'));
     s.on('error', () => setTimeout(() => process.exit(1), 600));
     s.listen(${port}, '127.0.0.1', () => console.log('INFO: Server started, listening on ${port}'));`,
  ],
};

let other: Server | undefined;
let started: RunningEmulator | undefined;
afterEach(async () => {
  await started?.stop();
  started = undefined;
  await new Promise((r) => (other ? other.close(r) : r(undefined)));
  other = undefined;
});

describe('startEmulator', () => {
  it('is ready when its own process says it serves the port', async () => {
    started = await startEmulator(fakePubsub);
    expect((await fetch(`http://${started.host}/`)).status).toBe(200);
  });

  it('does not take another process answering on the port for its emulator: it reports that its own exited', async () => {
    other = createServer((_q, r) => r.end('someone else'));
    await new Promise<void>((r) => other!.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as AddressInfo).port;
    await expect(startEmulator(fakePubsub, port)).rejects.toThrow(/exited with 1 before it was ready/);
  });
});

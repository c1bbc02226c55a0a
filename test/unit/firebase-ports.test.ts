import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FirebasePortsError, parseFirebaseEmulators, readFirebaseEmulators, readFirebasePorts } from '../../tools/firebase-ports.ts';

const good = {
  emulators: {
    firestore: { host: '127.0.0.1', port: 8181 },
    pubsub: { host: '127.0.0.1', port: 8185 },
    functions: { port: 8182 },
    ui: { enabled: false },
  },
};

describe('firebase.json emulator ports', () => {
  it('the committed firebase.json declares valid, distinct ports for every emulator the local stack runs', () => {
    const ports = readFirebasePorts();
    expect(Object.keys(ports).sort()).toEqual(['firestore', 'functions', 'pubsub']);
    expect(new Set(Object.values(ports)).size).toBe(3);
    const endpoints = readFirebaseEmulators();
    for (const e of Object.values(endpoints)) expect(e.host).toBe('127.0.0.1');
  });

  it('reads host and port; host defaults to 127.0.0.1; other emulators (ui) are ignored', () => {
    expect(parseFirebaseEmulators(good)).toEqual({
      firestore: { host: '127.0.0.1', port: 8181 },
      pubsub: { host: '127.0.0.1', port: 8185 },
      functions: { host: '127.0.0.1', port: 8182 },
    });
  });

  it.each([
    ['a missing emulator', { emulators: { firestore: { port: 8181 }, functions: { port: 8182 } } }, /emulators\.pubsub/],
    ['no emulators block', {}, /emulators/],
    ['a port as a string', { emulators: { ...good.emulators, pubsub: { port: '8185' } } }, /emulators\.pubsub\.port/],
    ['a privileged port', { emulators: { ...good.emulators, firestore: { port: 80 } } }, /emulators\.firestore\.port/],
    ['a port above 65535', { emulators: { ...good.emulators, functions: { port: 70000 } } }, /emulators\.functions\.port/],
    ['a fractional port', { emulators: { ...good.emulators, functions: { port: 8182.5 } } }, /emulators\.functions\.port/],
    ['two emulators on one port', { emulators: { ...good.emulators, pubsub: { port: 8181 } } }, /firestore and pubsub share port 8181/],
  ])('refuses %s, naming the key', (_what, json, message) => {
    expect(() => parseFirebaseEmulators(json)).toThrow(FirebasePortsError);
    expect(() => parseFirebaseEmulators(json)).toThrow(message);
  });

  it('names the file when it is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eeport-fb-'));
    const path = join(dir, 'firebase.json');
    writeFileSync(path, '{ not json');
    expect(() => readFirebasePorts(path)).toThrow(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read it as JSON`));
  });
});

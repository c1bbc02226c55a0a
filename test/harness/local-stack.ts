/**
 * What the local-stack tests share: which emulators are missing (said loudly, so the
 * suites that need them skip with the reason), a state directory removed afterwards,
 * an API caller with a key, a tap on the events topic, and a bounded wait.
 */
import { afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { candidateSdkRoots, locateEmulator } from '../../tools/emulators/emulators.ts';
import type { LocalStack } from '../../tools/local-stack/stack.ts';
import type { CloudEvent } from '../../functions/src/core/jobs/index.ts';

/** The Firestore/Pub/Sub emulators that cannot be found; when any, warns that `what` is skipped. */
export function missingEmulators(what: string): string[] {
  const roots = candidateSdkRoots();
  const missing = (['firestore', 'pubsub'] as const).map((k) => locateEmulator(k, roots)).flatMap((l) => ('missing' in l ? [l.missing] : []));
  if (missing.length) console.warn(`SKIPPING ${what}: ${missing.join('; ')}`);
  return missing;
}

/** A fresh directory for the stack's logs and dead letters, removed after the file's tests. */
export function stateDirFor(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `eeport-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Calls the stack's api function with an API key; JSON in and out. */
export function apiCaller(key: string) {
  return async (stack: LocalStack, method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, stack.functions.get('api')!.url), {
      method,
      headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
}

/** A subscription `sub` on the stack's events topic: `drain()` pulls and acks what has arrived into `events`. */
export async function tapEvents(stack: LocalStack, sub: string) {
  await stack.broker.ensureSubscription(sub, stack.config.EVENTS_TOPIC, 60);
  const events: CloudEvent[] = [];
  const drain = async () => {
    const got = await stack.broker.subscription(sub).pull(100);
    if (got.length) await stack.broker.subscription(sub).ack(got.map((m) => m.ackId));
    for (const m of got) events.push(JSON.parse(Buffer.from(m.message.data ?? '', 'base64').toString('utf8')) as CloudEvent);
  };
  return { events, drain };
}

/** Polls `fn` every 250 ms until it gives a value, or fails naming `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

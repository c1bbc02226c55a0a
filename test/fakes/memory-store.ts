/**
 * Test doubles for the store side. MemoryStore is the local stack's in-memory JobStore
 * (one implementation, so the fallback mode and the unit tests cannot drift apart):
 * transactions are serialized and commit atomically, and `beforeCommit` lets a test
 * fail a commit to simulate a crash at that point.
 */
import type { CloudEvent } from '../../functions/src/core/jobs/events.ts';

export { MemoryStore } from '../../tools/local-stack/memory-store.ts';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryPublisher {
  published: CloudEvent[] = [];
  failNext = 0;
  async publish(events: CloudEvent[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('publish failed (injected)');
    }
    this.published.push(...clone(events));
  }
}

export class CapturingLogSink {
  entries: Record<string, unknown>[] = [];
  write(entry: Record<string, unknown>) {
    this.entries.push(entry);
  }
}

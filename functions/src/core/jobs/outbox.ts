/**
 * The relay half of the transactional outbox. Events are written in the same
 * transaction as the state change; here they are published and marked sent. A crash
 * in between leaves them unsent, and the poller's sweep publishes them again under the
 * same id, which consumers use to drop the duplicate.
 */
import type { CloudEvent } from './events.ts';
import type { EventPublisher, JobStore } from '../ports.ts';
import type { LogEvents } from './log-events.ts';

export interface RelayDeps {
  store: JobStore;
  publisher: EventPublisher;
  logs: LogEvents;
}

/** Publishes just-committed events. Failure is logged, not thrown: the state change stands and the sweep retries. */
export async function relayEvents(deps: RelayDeps, events: CloudEvent[]): Promise<boolean> {
  if (events.length === 0) return true;
  try {
    await deps.publisher.publish(events);
    await deps.store.markEventsSent(events.map((e) => e.id));
    deps.logs.eventsRelayed(events.length);
    return true;
  } catch (err) {
    deps.logs.eventsRelayFailed(events.length, err);
    return false;
  }
}

/** Publishes what earlier relays left behind. Returns how many were sent. */
export async function sweepOutbox(deps: RelayDeps, limit = 500): Promise<number> {
  const entries = await deps.store.listUnsentEvents(limit);
  if (entries.length === 0) return 0;
  const ok = await relayEvents(deps, entries.map((e) => e.event));
  return ok ? entries.length : 0;
}

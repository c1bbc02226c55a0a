/**
 * In-flight slots of an Earth Engine project, split over shard documents.
 *
 * One counter document per project serialised every submit and every finish of that
 * project (the benchmark measured ~2 submits/s on the emulator; Firestore sustains about
 * one write a second on a hot document). The cap is therefore split over S shards whose
 * capacities add up to it exactly: a submit reads a couple of random shards and takes a
 * slot in the first with room, a finishing job gives its slot back to the shard it took
 * it from (`job.slotShard`). The cap is never exceeded; a submit that finds its probed
 * shards full queues the job, and the poller — which scans every shard — releases it as
 * soon as any shard has room.
 */
import type { JobTransaction, ProjectSlots } from '../ports.ts';
import type { Job, JobState } from './job.ts';
import { slotDelta } from './transitions.ts';

export interface SlotPolicy {
  /** The project's cap on jobs in flight. */
  cap: number;
  /** How many shard documents the cap is split over (at most the cap). */
  shards: number;
}

export const shardCount = (p: SlotPolicy) => Math.max(1, Math.min(p.shards, p.cap));

/** Shard k's share of the cap; the shares add up to the cap exactly. */
export function shardCapacity(p: SlotPolicy, k: number): number {
  const s = shardCount(p);
  return Math.floor(p.cap / s) + (k < p.cap % s ? 1 : 0);
}

/** `n` distinct shard indexes in random order (all of them when n ≥ the shard count). */
export function probeOrder(p: SlotPolicy, n: number, random: () => number = Math.random): number[] {
  const all = Array.from({ length: shardCount(p) }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, Math.max(1, n));
}

/** Reads the shards in order and returns the first with room (reads only: write after deciding). */
export async function findFreeShard(tx: JobTransaction, eeProject: string, p: SlotPolicy, order: number[]): Promise<ProjectSlots | null> {
  for (const k of order) {
    const slot = await tx.getSlots(eeProject, k);
    if (slot.inFlight < shardCapacity(p, k)) return slot;
  }
  return null;
}

/**
 * Gives back the slot `job` holds when it moves to `to` (a read, then a write: call it
 * after the transaction's other reads). Returns whether a slot was released; the caller
 * then clears `job.slotShard`. Every way a job leaves flight (submit's record, the
 * poller's apply and lost-job check, cancel) goes through here, so a slot is returned
 * to the shard it was taken from exactly once.
 */
export async function releaseSlot(tx: JobTransaction, job: Job, to: JobState): Promise<boolean> {
  if (slotDelta(job.state, to) >= 0) return false;
  const slots = await tx.getSlots(job.eeProject, job.slotShard ?? 0);
  tx.setSlots({ ...slots, inFlight: Math.max(0, slots.inFlight - 1) });
  return true;
}

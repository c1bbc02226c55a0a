/**
 * Simulated time. Every timestamp the simulator reports and every task transition is
 * driven by this clock, never by `Date.now()`, so tests can run a day of tasks in
 * milliseconds (manual mode) or watch them in accelerated real time (scaled mode).
 */
import { MinHeap } from './min-heap.ts';

/** How simulated time moves. */
export type ClockConfig =
  | {
      /** Time stands still until `advance(ms)` is called. Deterministic; the default for tests. */
      mode: 'manual';
      /** Simulated start time (epoch ms, Date or RFC3339 string). Default: the real time at start. */
      start?: number | Date | string;
    }
  | {
      /** Simulated time flows `scale` times faster than wall-clock time (60 = a minute per second). */
      mode: 'scaled';
      scale: number;
      start?: number | Date | string;
    };

/** The clock as the public API exposes it. */
export interface SimulatorClock {
  readonly mode: 'manual' | 'scaled';
  /** Simulated seconds per real second; 0 in manual mode. */
  readonly scale: number;
  /** Current simulated time, epoch milliseconds. */
  now(): number;
  /**
   * Moves simulated time forward by `ms`, running every task event due on the way in
   * order (discrete-event stepping), so jumping a whole day is cheap. Works in both modes.
   */
  advance(ms: number): void;
}

interface Timer {
  at: number;
  seq: number;
  fn: (at: number) => void;
  cancelled: boolean;
}

/** Opaque handle for a scheduled event. */
export interface TimerHandle {
  cancel(): void;
}

function toEpochMs(start: number | Date | string | undefined): number {
  if (start === undefined) return Date.now();
  if (typeof start === 'number') return start;
  const ms = start instanceof Date ? start.getTime() : Date.parse(start);
  if (Number.isNaN(ms)) throw new Error(`Invalid clock start time: ${String(start)}`);
  return ms;
}

export class SimClock implements SimulatorClock {
  readonly mode: 'manual' | 'scaled';
  readonly scale: number;
  private base: number;
  private readonly realStart = performance.now();
  // While events run, "now" is pinned to the event's own time so that everything an
  // event does (timestamps, follow-up events) is consistent, even in scaled mode where
  // the real timer fires a little late.
  private pinned: number | undefined;
  private seq = 0;
  private readonly timers = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private realTimer: NodeJS.Timeout | undefined;
  private running = false;
  private disposed = false;

  constructor(config: ClockConfig = { mode: 'manual' }) {
    this.mode = config.mode;
    if (config.mode === 'scaled' && !(config.scale > 0)) throw new Error('Scaled clock needs scale > 0');
    this.scale = config.mode === 'scaled' ? config.scale : 0;
    this.base = toEpochMs(config.start);
  }

  now(): number {
    if (this.pinned !== undefined) return this.pinned;
    if (this.mode === 'manual') return this.base;
    return Math.floor(this.base + (performance.now() - this.realStart) * this.scale);
  }

  /** RFC3339 rendering of a simulated instant (default: now). */
  iso(ms: number = this.now()): string {
    return new Date(ms).toISOString();
  }

  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new Error(`advance(ms) needs a finite ms >= 0, got ${ms}`);
    if (this.mode === 'manual') {
      const target = this.base + ms;
      this.runDue(target);
      this.base = target;
    } else {
      this.base += ms;
      this.runDue(this.now());
    }
    this.arm();
  }

  /** Runs `fn(at)` when simulated time reaches `at` (immediately on the next step if already past). */
  schedule(at: number, fn: (at: number) => void): TimerHandle {
    const timer: Timer = { at, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    if (!this.running) this.arm();
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Drops every pending event (used by reset). */
  clearTimers(): void {
    this.timers.clear();
    this.arm();
  }

  dispose(): void {
    this.disposed = true;
    this.timers.clear();
    if (this.realTimer) clearTimeout(this.realTimer);
    this.realTimer = undefined;
  }

  private runDue(upTo: number): void {
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.timers.peek(); next && next.at <= upTo; next = this.timers.peek()) {
        this.timers.pop();
        if (next.cancelled) continue;
        if (this.mode === 'manual') this.base = Math.max(this.base, next.at);
        this.pinned = Math.max(next.at, this.pinned ?? next.at);
        next.fn(next.at);
      }
    } finally {
      this.pinned = undefined;
      this.running = false;
    }
  }

  // In scaled mode a single real timer is kept for the earliest event.
  private arm(): void {
    if (this.mode !== 'scaled' || this.disposed) return;
    if (this.realTimer) clearTimeout(this.realTimer);
    this.realTimer = undefined;
    let next = this.timers.peek();
    while (next?.cancelled) {
      this.timers.pop();
      next = this.timers.peek();
    }
    if (!next) return;
    const delay = Math.max(0, (next.at - this.now()) / this.scale);
    this.realTimer = setTimeout(() => {
      this.realTimer = undefined;
      this.runDue(this.now());
      this.arm();
    }, Math.ceil(delay));
    this.realTimer.unref();
  }
}

/**
 * Reduced or full: the same files run in both. `npm test` runs them reduced (small
 * sizes, a few minutes in all); `npm run test:reliability` sets RELIABILITY_FULL=1 and
 * runs them at full size. Every suite prints its mode, sizes and seed when it starts,
 * so a failure can be replayed with RELIABILITY_SEED=<seed>.
 */

export const FULL = process.env.RELIABILITY_FULL === '1' || process.env.RELIABILITY_FULL === 'true';
export const MODE = FULL ? 'full' : 'reduced';

/** One seed per run (printed); RELIABILITY_SEED replays a run. */
export const SEED = (() => {
  const fromEnv = Number(process.env.RELIABILITY_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 2_147_483_647) + 1;
})();

/** Picks the reduced or the full value. */
export const size = <T>(reduced: T, full: T): T => (FULL ? full : reduced);

/** Prints the suite's mode, sizes and seed (visible in the vitest output). */
export function banner(suite: string, sizes: Record<string, unknown>, seed: number | null = SEED): void {
  const parts = Object.entries(sizes).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  console.log(`[reliability] ${suite} — mode ${MODE}${seed !== null ? `, seed ${seed} (replay: RELIABILITY_SEED=${seed})` : ''}${parts.length ? `; ${parts.join(', ')}` : ''}`);
}

/** A small, fast, seedable PRNG (mulberry32); deterministic for a given seed. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  /** A child generator, so that one part of a test does not shift another's sequence. */
  fork(salt: number): Rng {
    return new Rng((this.seed ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0 || 1);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` over 0..n-1 with at most `limit` at once. */
export async function forEachLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

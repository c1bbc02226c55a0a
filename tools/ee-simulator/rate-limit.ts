/**
 * Per-project request-rate limit (the service's default is 100 requests/s per project),
 * as a wall-clock token bucket: rate limits protect real servers in real time, so they
 * ignore the simulated clock.
 */

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * @param perSecond sustained requests per second per key; 0 disables the limit.
   * @param burst bucket capacity; defaults to one second's worth of requests.
   */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number = perSecond,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `key`; false when the caller must be refused. */
  tryTake(key: string): boolean {
    if (this.perSecond <= 0) return true;
    const now = this.nowMs();
    const b = this.buckets.get(key) ?? { tokens: this.burst, last: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.last) / 1000) * this.perSecond);
    b.last = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  reset(): void {
    this.buckets.clear();
  }
}

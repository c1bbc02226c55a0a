/**
 * Stand-in for Cloud Scheduler: POSTs to pollExports on a fixed period, never two calls
 * at once (the function keeps cycling inside its window, as deployed, where the period
 * is a minute). Locally it also ticks right after a request was delivered ("kick"), so
 * a new job's progress shows without waiting for the period; a tick is a tick, so this
 * changes timing, not behaviour.
 */
export interface SchedulerOptions {
  url: string;
  everyMs: number;
  /** Told about a failing tick once, and again when it recovers. */
  onProblem?: (message: string) => void;
}

export interface SchedulerStandIn {
  readonly url: string;
  readonly everyMs: number;
  readonly ticks: number;
  readonly lastStatus: number | null;
  kick(): void;
  /** No more ticks; waits up to graceMs for the one in flight, then abandons it. */
  stop(graceMs?: number): Promise<void>;
}

export function startScheduler(o: SchedulerOptions): SchedulerStandIn {
  let ticks = 0;
  let lastStatus: number | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  const inFlight = new AbortController();

  async function tick(): Promise<void> {
    ticks++;
    try {
      const res = await fetch(o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Google-Cloud-Scheduler', 'x-cloudscheduler': 'true', 'x-cloudscheduler-jobname': 'eeport-poll-local' },
        body: '{}',
        signal: inFlight.signal,
      });
      lastStatus = res.status;
      const text = await res.text();
      if (!res.ok && !stopped && !failing) o.onProblem?.(`pollExports answered ${res.status}: ${text.slice(0, 200)}`);
      if (res.ok && failing) o.onProblem?.('pollExports recovered');
      failing = !res.ok;
    } catch (err) {
      lastStatus = null;
      if (!stopped && !failing) o.onProblem?.(`pollExports unreachable: ${(err as Error).message}`);
      failing = true;
    }
  }

  function run(): void {
    if (stopped) return;
    clearTimeout(timer);
    const started = Date.now();
    running = tick().finally(() => {
      running = null;
      if (stopped) return;
      if (again) {
        again = false;
        run();
      } else {
        timer = setTimeout(run, Math.max(0, o.everyMs - (Date.now() - started)));
      }
    });
  }

  timer = setTimeout(run, 0);
  return {
    url: o.url,
    everyMs: o.everyMs,
    get ticks() {
      return ticks;
    },
    get lastStatus() {
      return lastStatus;
    },
    kick() {
      if (stopped) return;
      if (running) again = true;
      else run();
    },
    async stop(graceMs = 5_000) {
      stopped = true;
      clearTimeout(timer);
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([running?.catch(() => undefined), new Promise((r) => (grace = setTimeout(r, graceMs)))]);
      clearTimeout(grace);
      inFlight.abort();
      await running?.catch(() => undefined);
    },
  };
}

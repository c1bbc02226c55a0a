/**
 * Following jobs and batches to their end: poll the API every interval and show each
 * as a row — progress bars on a terminal (cli-progress multibar: percent, state,
 * elapsed, EECU, stage), a line per change otherwise, JSON lines with `watch --json`,
 * nothing with `submit --wait --json`. Ctrl-C aborts the signal; the caller exits 130.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MultiBar, type SingleBar } from 'cli-progress';
import { BatchViewSchema, JobListResponseSchema, JobViewSchema, type BatchView } from '../../functions/src/core/api/index.ts';
import { LIVE_STATES, isTerminal, type JobState } from '../../functions/src/core/jobs/index.ts';
import type { ApiClient } from './client.ts';
import { CliError, EXIT } from './errors.ts';
import { currentStage, duration, eecu, elapsedSeconds, truncate, type JobLike, type Style } from './format.ts';
import { isFinalBatchState } from './batch-view.ts';

/** One line of the display: a job, a batch, or a job not visible yet. */
export interface Row {
  key: string;
  label: string;
  state: string;
  /** 0..1, or null when unknown. */
  progress: number | null;
  stage: string;
  /** When the clock of "elapsed" starts, and stops. */
  since: string | null;
  until: string | null;
  eecu: number | null;
  done: boolean;
  /** What --json prints for this row. */
  raw: unknown;
}

export interface Display {
  update(rows: readonly Row[]): void;
  stop(): void;
}

export function jobRow(job: JobLike): Row {
  const done = isTerminal(job.state);
  return {
    key: job.jobId,
    label: `${job.jobId.slice(0, 8)} ${truncate(job.description ?? '', 22)}`,
    state: job.state,
    progress: job.state === 'SUCCEEDED' ? 1 : job.progress,
    stage: job.error && done ? `${job.error.code}: ${job.error.message}` : job.state === 'QUEUED' && job.queuedReason ? job.queuedReason : currentStage(job.stages),
    since: job.startTime ?? job.submitTime ?? job.createTime,
    until: job.endTime,
    eecu: job.eecuSeconds,
    done,
    raw: job,
  };
}

export function batchRow(b: Omit<BatchView, 'destinationUris'>): Row {
  const counts = Object.entries(b.counts ?? {})
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s.toLowerCase()}`)
    .join(', ');
  return {
    key: b.batchId,
    label: `${b.batchId.slice(0, 8)} ${truncate(b.description ?? `batch of ${b.total}`, 22)}`,
    state: b.state,
    progress: b.progress,
    stage: b.error ? `${b.error.code}: ${b.error.message}` : counts,
    since: b.createTime,
    until: b.endTime,
    eecu: b.eecuSeconds,
    done: isFinalBatchState(b.state),
    raw: b,
  };
}

const waitingRow = (id: string): Row => ({ key: id, label: `${id.slice(0, 8)} (published)`, state: 'PUBLISHED', progress: null, stage: 'waiting for the job to appear', since: null, until: null, eecu: null, done: false, raw: null });

// ---------------------------------------------------------------------------
// Displays
// ---------------------------------------------------------------------------

const BAR_WIDTH = 20;

/** Progress bars on stderr (a terminal). More rows than fit become one summary line. */
export class BarDisplay implements Display {
  private readonly multibar: MultiBar;
  private readonly slots: SingleBar[] = [];
  private summary: SingleBar | null = null;
  private readonly start = Date.now();

  constructor(private readonly style: Style) {
    this.multibar = new MultiBar({
      stream: process.stderr,
      hideCursor: true,
      gracefulExit: false,
      clearOnComplete: false,
      fps: 4,
      linewrap: true,
      format: (_opts, params, payload: { row?: Row; text?: string }) => (payload.text !== undefined ? payload.text : payload.row ? this.render(payload.row, params.progress) : ''),
    });
  }

  private render(row: Row, progress: number): string {
    const known = row.progress !== null;
    const filled = known ? Math.round(progress * BAR_WIDTH) : 0;
    const bar = known ? '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled) : '·'.repeat(BAR_WIDTH);
    const pct = known ? `${Math.round(progress * 100)}%`.padStart(4) : '   -';
    const elapsed = row.since ? duration(elapsedSeconds(row.since, row.until)) : duration((Date.now() - this.start) / 1000);
    return `${row.label.padEnd(31)} ${bar} ${pct}  ${this.style.state(row.state.padEnd(10))}  ${elapsed.padStart(6)}  ${`${eecu(row.eecu)} EECU-s`.padStart(12)}  ${truncate(row.stage, 50)}`;
  }

  update(rows: readonly Row[]): void {
    const cap = Math.max(3, (process.stderr.rows || 24) - 3);
    let shown = rows;
    let rest: Row[] = [];
    if (rows.length > cap) {
      const live = rows.filter((r) => !r.done);
      const ordered = [...live, ...rows.filter((r) => r.done)];
      shown = ordered.slice(0, cap - 1);
      rest = ordered.slice(cap - 1);
    }
    shown.forEach((row, i) => {
      const value = Math.round((row.progress ?? 0) * 1000);
      const slot = this.slots[i];
      if (slot) slot.update(value, { row, text: undefined });
      else this.slots.push(this.multibar.create(1000, value, { row }));
    });
    for (let i = shown.length; i < this.slots.length; i++) this.slots[i]!.update(0, { row: undefined, text: '' });
    if (rest.length) {
      const byState = new Map<string, number>();
      for (const r of rest) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
      const text = this.style.dim(`… and ${rest.length} more: ${[...byState].map(([s, n]) => `${n} ${s}`).join(', ')}`);
      if (this.summary) this.summary.update(0, { text });
      else this.summary = this.multibar.create(1, 0, { text });
    } else if (this.summary) this.summary.update(0, { text: '' });
  }

  stop(): void {
    this.multibar.update();
    this.multibar.stop();
  }
}

/** A line on stderr whenever a row's state, percent or stage changes (not a terminal). */
export class LineDisplay implements Display {
  private readonly last = new Map<string, string>();
  constructor(private readonly style: Style) {}
  update(rows: readonly Row[]): void {
    for (const row of rows) {
      const pct = row.progress === null ? '-' : `${Math.round(row.progress * 100)}%`;
      const line = `${row.label.trim()}  ${this.style.state(row.state)}  ${pct}${row.stage ? `  ${row.stage}` : ''}`;
      const tail = row.done ? `  (${row.since ? duration(elapsedSeconds(row.since, row.until)) : '-'}, ${eecu(row.eecu)} EECU-s)` : '';
      if (this.last.get(row.key) === line) continue;
      this.last.set(row.key, line);
      process.stderr.write(`${new Date().toISOString().slice(11, 19)}  ${line}${tail}\n`);
    }
  }
  stop(): void {}
}

/** `watch --json`: one JSON line on stdout per change of a job (its list view). */
export class JsonLinesDisplay implements Display {
  private readonly last = new Map<string, string>();
  update(rows: readonly Row[]): void {
    for (const row of rows) {
      if (row.raw === null) continue;
      const { request: _request, ...rest } = row.raw as Record<string, unknown>;
      const key = JSON.stringify({ s: row.state, p: row.progress, g: row.stage, e: row.eecu });
      if (this.last.get(row.key) === key) continue;
      this.last.set(row.key, key);
      process.stdout.write(`${JSON.stringify(rest)}\n`);
    }
  }
  stop(): void {}
}

export class NullDisplay implements Display {
  update(): void {}
  stop(): void {}
}

export function chooseDisplay(opts: { json: boolean; jsonLines?: boolean; style: Style }): Display {
  if (opts.json) return opts.jsonLines ? new JsonLinesDisplay() : new NullDisplay();
  return process.stderr.isTTY ? new BarDisplay(opts.style) : new LineDisplay(opts.style);
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

export interface FollowOptions {
  intervalMs: number;
  display: Display;
  signal: AbortSignal;
  /** How long a job may be missing (404) before that is an error: it was just published. */
  graceMissingMs?: number;
}

/** Waits out the interval; false when aborted (Ctrl-C). */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` over items, at most `limit` at a time. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export const interrupted = () => new CliError(EXIT.INTERRUPTED, 'stopped (Ctrl-C); the jobs keep running');

export async function getJob(client: ApiClient, jobId: string): Promise<JobLike> {
  return (await client.parsed(JobViewSchema, 'GET', `/v1/jobs/${jobId}`, { what: `job ${jobId}` })).value;
}

/** Follows the given jobs until all have ended; returns them in the order given. */
export async function followJobs(client: ApiClient, ids: readonly string[], opts: FollowOptions): Promise<JobLike[]> {
  const jobs = new Map<string, JobLike>();
  const started = Date.now();
  try {
    for (;;) {
      const open = ids.filter((id) => !jobs.has(id) || !isTerminal(jobs.get(id)!.state));
      await pool(open, 8, async (id) => {
        try {
          jobs.set(id, await getJob(client, id));
        } catch (err) {
          const missing = err instanceof CliError && err.exitCode === EXIT.NOT_FOUND;
          if (!missing || jobs.has(id) || Date.now() - started > (opts.graceMissingMs ?? 0)) throw err;
        }
      });
      opts.display.update(ids.map((id) => (jobs.has(id) ? jobRow(jobs.get(id)!) : waitingRow(id))));
      if (ids.every((id) => jobs.has(id) && isTerminal(jobs.get(id)!.state))) return ids.map((id) => jobs.get(id)!);
      if (!(await pause(opts.intervalMs, opts.signal))) throw interrupted();
    }
  } finally {
    opts.display.stop();
  }
}

export interface LiveFilter {
  label?: string;
  eeProject?: string;
}

const LIVE: readonly JobState[] = ['QUEUED', ...LIVE_STATES];

/** Every live job (QUEUED … CANCELLING) matching the filter, all pages (up to `max`). */
export async function listLive(client: ApiClient, filter: LiveFilter, max = 5000): Promise<JobLike[]> {
  const out: JobLike[] = [];
  let pageToken: string | null = null;
  do {
    const q = new URLSearchParams({ state: LIVE.join(','), pageSize: '200' });
    if (filter.label) q.set('label', filter.label);
    if (filter.eeProject) q.set('eeProject', filter.eeProject);
    if (pageToken) q.set('pageToken', pageToken);
    const page = (await client.parsed(JobListResponseSchema, 'GET', '/v1/jobs', { query: q })).value;
    out.push(...page.jobs);
    pageToken = page.nextPageToken;
  } while (pageToken && out.length < max);
  return out;
}

/**
 * Follows every live job, picking up jobs that become live on the way, until none is
 * live. Jobs that leave the live list are read once more for their final state.
 */
export async function followLive(client: ApiClient, filter: LiveFilter, opts: FollowOptions): Promise<JobLike[]> {
  const jobs = new Map<string, JobLike>();
  try {
    for (;;) {
      const live = await listLive(client, filter);
      const liveIds = new Set(live.map((j) => j.jobId));
      for (const j of live) jobs.set(j.jobId, j);
      const left = [...jobs.values()].filter((j) => !isTerminal(j.state) && !liveIds.has(j.jobId)).map((j) => j.jobId);
      await pool(left, 8, async (id) => {
        try {
          jobs.set(id, await getJob(client, id));
        } catch (err) {
          if (!(err instanceof CliError && err.exitCode === EXIT.NOT_FOUND)) throw err;
          jobs.delete(id);
        }
      });
      const all = [...jobs.values()];
      opts.display.update(all.map(jobRow));
      if (all.every((j) => isTerminal(j.state))) return all;
      if (!(await pause(opts.intervalMs, opts.signal))) throw interrupted();
    }
  } finally {
    opts.display.stop();
  }
}

export async function getBatch(client: ApiClient, batchId: string): Promise<{ batch: BatchView; raw: unknown }> {
  const r = await client.parsed(BatchViewSchema, 'GET', `/v1/batches/${batchId}`, { what: `batch ${batchId}` });
  return { batch: r.value, raw: r.raw };
}

/** Follows a batch until it reaches a final state. */
export async function followBatch(client: ApiClient, batchId: string, opts: FollowOptions): Promise<{ batch: BatchView; raw: unknown }> {
  const started = Date.now();
  try {
    for (;;) {
      let got: { batch: BatchView; raw: unknown } | null = null;
      try {
        got = await getBatch(client, batchId);
      } catch (err) {
        const missing = err instanceof CliError && err.exitCode === EXIT.NOT_FOUND;
        if (!missing || Date.now() - started > (opts.graceMissingMs ?? 0)) throw err;
      }
      opts.display.update([got ? batchRow(got.batch) : { ...waitingRow(batchId), stage: 'waiting for the batch to appear' }]);
      if (got && isFinalBatchState(got.batch.state)) return got;
      if (!(await pause(opts.intervalMs, opts.signal))) throw interrupted();
    }
  } finally {
    opts.display.stop();
  }
}

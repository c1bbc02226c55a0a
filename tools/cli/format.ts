/**
 * Human output: colours (only on a terminal, never with --json or NO_COLOR), durations,
 * tables, and the one-row summary of a job or batch that the progress display shows.
 */
import type { JobView } from '../../functions/src/core/api/index.ts';

export type JobLike = Omit<JobView, 'request'> & { request?: unknown };

export interface Style {
  enabled: boolean;
  state(state: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const ANSI = { reset: '\u001b[0m', bold: '\u001b[1m', dim: '\u001b[2m', red: '\u001b[31m', green: '\u001b[32m', yellow: '\u001b[33m', blue: '\u001b[34m', magenta: '\u001b[35m', cyan: '\u001b[36m' };

const STATE_COLOURS: Record<string, keyof typeof ANSI> = {
  SUCCEEDED: 'green',
  FAILED: 'red',
  REJECTED: 'red',
  SKIPPED: 'yellow',
  PARTIALLY_FAILED: 'yellow',
  CANCELLED: 'magenta',
  CANCELLING: 'magenta',
  RUNNING: 'cyan',
  PENDING: 'blue',
  SUBMITTING: 'blue',
  WRITING: 'blue',
  QUEUED: 'yellow',
};

export function makeStyle(enabled: boolean): Style {
  const wrap = (code: keyof typeof ANSI) => (text: string) => (enabled ? `${ANSI[code]}${text}${ANSI.reset}` : text);
  return {
    enabled,
    state: (s) => {
      const c = STATE_COLOURS[s.trim()];
      return c ? wrap(c)(s) : s;
    },
    dim: wrap('dim'),
    bold: wrap('bold'),
  };
}

/** Colour only for a terminal, and never when NO_COLOR is set, TERM=dumb, --no-color or --json. */
export function colourWanted(stream: NodeJS.WriteStream, flag: boolean, json: boolean, env: NodeJS.ProcessEnv): boolean {
  if (json || !flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

/** 75 → "1m15s"; 3725 → "1h02m"; 4 → "4s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export const ago = (iso: string | null | undefined, now = Date.now()) => (iso ? `${duration((now - Date.parse(iso)) / 1000)} ago` : '-');

export const eecu = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

export const percent = (p: number | null | undefined) => (p === null || p === undefined ? '  -' : `${Math.round(p * 100)}`.padStart(3));

export const truncate = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`);

/** The stage a job is in: the first not complete, else the last. */
export function currentStage(stages: JobLike['stages']): string {
  if (!stages.length) return '';
  const open = stages.find((s) => s.totalWorkUnits !== undefined && (s.completeWorkUnits ?? 0) < s.totalWorkUnits);
  return (open ?? stages[stages.length - 1]!).displayName;
}

/** Seconds a job has run (or waited, before it started), up to its end or now. */
export function elapsedSeconds(from: string | null | undefined, to: string | null | undefined, now = Date.now()): number {
  if (!from) return 0;
  return ((to ? Date.parse(to) : now) - Date.parse(from)) / 1000;
}

/** A plain-text table; columns padded to their widest cell (ANSI-aware). */
export function table(headers: string[], rows: string[][], style: Style): string {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [style.bold(line(headers)), ...rows.map(line)].join('\n');
}

/** `key  value` lines, keys padded. */
export function fields(pairs: [string, string | null | undefined][], style: Style): string {
  const shown = pairs.filter((p): p is [string, string] => p[1] !== null && p[1] !== undefined && p[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${style.dim(k.padEnd(width))}  ${v}`).join('\n');
}

export const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

type Estimate = NonNullable<JobLike['estimate']>;

/** Where an actual falls against an estimate: inside the band, or how far outside. */
export function bandVerdict(e: Estimate, actual: number): string {
  const ratio = e.eecuSeconds.expected > 0 ? `${(actual / e.eecuSeconds.expected).toFixed(2)}× expected` : '';
  const where = actual < e.eecuSeconds.low ? 'below the band' : actual > e.eecuSeconds.high ? 'above the band' : 'in the band';
  return [ratio, where].filter(Boolean).join(', ');
}

/** The `estimate` line of `eeport status`: band, expected, method and basis, and the actual against them once the job used any. */
export function jobEstimateLine(job: Pick<JobLike, 'estimate' | 'eecuSeconds' | 'state'>): string | null {
  const e = job.estimate;
  if (!e) return null;
  const band = `${eecu(e.eecuSeconds.low)}–${eecu(e.eecuSeconds.high)} EECU-s, expected ${eecu(e.eecuSeconds.expected)} (${e.method}: ${e.basis})`;
  const actual = job.eecuSeconds !== null && job.eecuSeconds !== undefined ? `; actual ${eecu(job.eecuSeconds)}${job.state === 'SUCCEEDED' ? `: ${bandVerdict(e, job.eecuSeconds)}` : ' so far'}` : '';
  return band + actual;
}

/** The human view of one job (eeport status). */
export function jobDetails(job: JobLike, style: Style, now = Date.now()): string {
  const progress = job.progress === null ? '' : ` ${Math.round(job.progress * 100)}%`;
  const stage = currentStage(job.stages);
  const end = job.endTime ? `${job.endTime} (${ago(job.endTime, now)})` : null;
  const ran = job.startTime ? duration(elapsedSeconds(job.startTime, job.endTime, now)) : null;
  return fields(
    [
      ['job', job.jobId],
      ['state', `${style.state(job.state)}${progress}${stage ? `  ${stage}` : ''}${job.queuedReason && job.state === 'QUEUED' ? `  (${job.queuedReason})` : ''}`],
      ['description', job.description],
      ['eeProject', job.eeProject],
      ['labels', labelText(job.labels)],
      ['batch', job.batchId ? `${job.batchId} #${job.batchIndex ?? '?'}${job.batchCurrent ? '' : ' (replaced by a retry)'}` : null],
      ['operation', job.operationName],
      ['requestId', job.requestId],
      ['created', `${job.createTime} (${ago(job.createTime, now)})`],
      ['started', job.startTime],
      ['ended', end],
      ['ran', ran],
      ['EECU-s', job.eecuSeconds === null ? null : eecu(job.eecuSeconds)],
      ['estimate', jobEstimateLine(job)],
      ['attempt', job.attempt !== null && job.attempt > 1 ? String(job.attempt) : null],
      ['resubmitted', job.resubmissions ? `${job.resubmissions}× (last: ${job.lastFailure?.code ?? '?'})` : null],
      ['destination', job.destinationUris.join('\n' + ' '.repeat(13))],
      ['error', job.error ? `${job.error.code}: ${job.error.message}` : null],
      ['recovery', job.recovery ? (job.recovery.batchId ? `${job.recovery.kind}: resubmitted as ${job.recovery.tiles} tiles in batch ${job.recovery.batchId} (depth ${job.recovery.depth})` : `${job.recovery.kind}: ${job.recovery.reason}`) : null],
      ['callback', job.callbackUrl ? `${job.callbackUrl}${job.webhook ? ` (${job.webhook.state})` : ''}` : null],
      ['cancel', job.cancelRequestedAt ? `requested ${job.cancelRequestedAt}` : null],
    ],
    style,
  );
}

/** One line of `eeport list`. */
export function jobRow(job: JobLike, style: Style, now = Date.now()): string[] {
  return [job.jobId, style.state(job.state), job.progress === null ? '-' : `${Math.round(job.progress * 100)}%`, job.eeProject, ago(job.updateTime, now), truncate(job.description ?? '', 40)];
}
export const JOB_HEADERS = ['JOB', 'STATE', 'PROGRESS', 'PROJECT', 'UPDATED', 'DESCRIPTION'];

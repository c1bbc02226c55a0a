/**
 * The batch commands: batch submit, status, list, cancel, retry (and `submit` of a
 * `{"batch": …}` file).
 */
import {
  BatchCancelResponseSchema,
  BatchJobsResponseSchema,
  BatchListResponseSchema,
  BatchResumeResponseSchema,
  BatchRetryResponseSchema,
  BatchSubmitResponseSchema,
  type BatchView,
} from '../../../functions/src/core/api/index.ts';
import { expandBatch, BATCH_STATES, MAX_BATCH_CHILDREN } from '../../../functions/src/core/batches/index.ts';
import { jobIdFor } from '../../../functions/src/core/jobs/index.ts';
import type { Context } from '../context.ts';
import { CliError, EXIT, joinDetails, usageError, type ExitCode } from '../errors.ts';
import { JOB_HEADERS, ago, duration, eecu, elapsedSeconds, fields, jobRow, labelText, table, truncate } from '../format.ts';
import { buildSubmission, readJsonInput } from '../input.ts';
import { chooseDisplay, followBatch, getBatch } from '../follow.ts';
import { eventSourceOf, publish } from '../pubsub.ts';
import { batchIdOf } from '../batch-view.ts';
import { batchEstimateLine, sumBatchEstimates } from '../estimate-view.ts';
import { LooseErrorBodySchema, checkAnswer } from '../client.ts';
import { flagsOf, parseStates } from './shared.ts';

export interface BatchSubmitOptions {
  via: 'api' | 'pubsub';
  wait?: boolean;
  interval: number;
  validate: boolean;
  topic?: string;
  cloudProject?: string;
}

const batchExit = (state: string): ExitCode => (state === 'SUCCEEDED' ? EXIT.OK : EXIT.OUTCOME);

function batchFinalLine(b: BatchView, ctx: Context): string {
  const ran = ` after ${duration(elapsedSeconds(b.createTime, b.endTime))}`;
  const counts = Object.entries(b.counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return `batch ${b.batchId}  ${ctx.err.state(b.state)}${ran}${counts ? `: ${counts}` : ''}${b.eecuSeconds ? `, ${eecu(b.eecuSeconds)} EECU-s` : ''}${b.error ? `: ${b.error.code}: ${b.error.message}` : ''}`;
}

export async function submitBatchSpec(ctx: Context, spec: Record<string, unknown>, o: BatchSubmitOptions): Promise<ExitCode> {
  let batchId: string;
  let answer: unknown;
  let state: string | null = null;
  if (o.via === 'pubsub') {
    if (o.validate) {
      // The deployment's BATCH_MAX_CHILDREN is not known here: check against the ceiling, and let the function refuse a batch over its setting.
      const x = expandBatch(spec, { maxChildren: MAX_BATCH_CHILDREN });
      if (!x.ok) throw new CliError(EXIT.USAGE, `the batch is invalid: ${joinDetails(x.errors)}`, { code: 'BATCH.INVALID', details: x.errors });
    }
    const topic = ctx.topic(o);
    const messageId = await publish(topic, { data: JSON.stringify({ batch: spec }) }, ctx.timeoutMs);
    const key = typeof spec.batchId === 'string' && spec.batchId ? spec.batchId : null;
    batchId = jobIdFor(key ? { kind: 'key', key: `batch:${key}` } : { kind: 'message', source: eventSourceOf(topic), messageId });
    answer = { via: 'pubsub', topic: `projects/${topic.projectId}/topics/${topic.topic}`, messageId, batchId };
    if (!ctx.json) ctx.print(batchId);
    ctx.note(`published to projects/${topic.projectId}/topics/${topic.topic} as message ${messageId}`);
  } else {
    const r = await ctx.client.parsed(BatchSubmitResponseSchema, 'POST', '/v1/batches', { body: spec });
    const b = r.value.batch;
    batchId = b.batchId;
    answer = r.raw;
    state = b.state;
    if (!ctx.json) ctx.print(batchId);
    ctx.note(`${r.value.duplicate ? 'an existing batch (same batchId)' : 'submitted'}: ${ctx.err.state(b.state)}, ${b.total} exports`);
    if (b.error) ctx.note(`${b.error.code}: ${b.error.message}`);
  }
  if (!o.wait) {
    if (ctx.json) ctx.printJson(answer);
    return state === 'REJECTED' || state === 'FAILED' || state === 'CANCELLED' ? EXIT.OUTCOME : EXIT.OK;
  }
  const { batch, raw } = await followBatch(ctx.client, batchId, {
    intervalMs: o.interval * 1000,
    display: chooseDisplay({ json: ctx.json, style: ctx.err }),
    signal: ctx.signal,
    graceMissingMs: o.via === 'pubsub' ? 120_000 : 0,
  });
  if (ctx.json) ctx.printJson({ ...(answer as object), batchId, state: batch.state, batch: raw });
  else ctx.note(batchFinalLine(batch, ctx));
  return batchExit(batch.state);
}

export interface BatchSubmitCommandOptions extends BatchSubmitOptions {
  project?: string;
  label?: string[];
  callback?: string;
  batchId?: string;
}

export async function batchSubmitCommand(ctx: Context, file: string, o: BatchSubmitCommandOptions): Promise<ExitCode> {
  const submission = buildSubmission(await readJsonInput(file), flagsOf({ ...o, idempotencyKey: o.batchId }), { batchOnly: true });
  if (submission.kind !== 'batch') throw usageError('expected a batch: {"batch": {…}} or the batch object itself');
  return submitBatchSpec(ctx, submission.spec, o);
}

function batchDetails(b: BatchView, ctx: Context, estimate: string | null = null): string {
  const uris = b.destinationUris;
  const counts = Object.entries(b.counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${ctx.out.state(s)}`)
    .join(', ');
  return fields(
    [
      ['batch', b.batchId],
      ['state', `${ctx.out.state(b.state)} ${Math.round(b.progress * 100)}%`],
      ['description', b.description],
      ['eeProject', b.eeProject],
      ['labels', labelText(b.labels)],
      ['exports', `${b.total}${b.written < b.total ? ` (${b.written} written so far)` : ''}`],
      ['children', counts],
      ['EECU-s', b.eecuSeconds ? eecu(b.eecuSeconds) : null],
      ['estimate', estimate],
      ['retries', b.retries ? String(b.retries) : null],
      ['EECU cap', b.maxEecuSeconds ? eecu(b.maxEecuSeconds) : null],
      ['stopped', b.stop ? `${b.stop.reason}: ${b.stop.message} (since ${b.stop.at}; \`eeport batch resume ${b.batchId}\`)` : null],
      ['callback', b.callbackUrl],
      ['created', `${b.createTime} (${ago(b.createTime)})`],
      ['ended', b.endTime],
      ['error', b.error ? `${b.error.code}: ${b.error.message}` : null],
      ['destination', uris.length ? uris.slice(0, 5).join('\n' + ' '.repeat(13)) + (uris.length > 5 || b.destinationUrisTruncated ? `\n${' '.repeat(13)}… ${uris.length - 5 > 0 ? `${uris.length - 5} more` : 'more'}` : '') : null],
    ],
    ctx.out,
  );
}

export interface BatchStatusOptions {
  jobs?: boolean;
  state?: string[];
  limit?: number;
}

export async function batchStatusCommand(ctx: Context, arg: string, o: BatchStatusOptions): Promise<ExitCode> {
  const batchId = batchIdOf(arg);
  const { batch, raw } = await getBatch(ctx.client, batchId);
  // The children's recorded estimates, summed beside what they used (docs/estimates.md).
  const estimate = await sumBatchEstimates(ctx.client, batchId);
  const details = () => batchDetails(batch, ctx, batchEstimateLine(estimate));
  if (!o.jobs) {
    if (ctx.json) ctx.printJson({ ...(raw as object), estimate });
    else ctx.print(details());
    return EXIT.OK;
  }
  const q = new URLSearchParams({ pageSize: String(Math.min(200, o.limit ?? 50)) });
  const states = parseStates(o.state);
  if (states.length) q.set('state', states.join(','));
  const page = (await ctx.client.parsed(BatchJobsResponseSchema, 'GET', `/v1/batches/${batchId}/jobs`, { query: q, what: `batch ${batchId}` })).value;
  if (ctx.json) ctx.printJson({ batch: raw, estimate, jobs: page.jobs, nextPageToken: page.nextPageToken });
  else {
    ctx.print(details());
    ctx.print('');
    ctx.print(page.jobs.length ? table(JOB_HEADERS, page.jobs.map((j) => jobRow(j, ctx.out)), ctx.out) : 'no jobs');
    if (page.nextPageToken) ctx.note(ctx.err.dim('(more jobs: raise --limit)'));
  }
  return EXIT.OK;
}

export interface BatchListOptions {
  state?: string[];
  limit?: number;
  all?: boolean;
}

export async function batchListCommand(ctx: Context, o: BatchListOptions): Promise<ExitCode> {
  if (o.all && o.limit !== undefined) throw usageError('give --limit N or --all, not both');
  const limit = o.all ? Infinity : (o.limit ?? 50);
  const base = new URLSearchParams();
  const states = parseStates(o.state, BATCH_STATES);
  if (states.length) base.set('state', states.join(','));
  const batches: Omit<BatchView, 'destinationUris'>[] = [];
  let nextPageToken: string | null = null;
  do {
    const q = new URLSearchParams(base);
    q.set('pageSize', String(Math.min(200, limit - batches.length)));
    if (nextPageToken) q.set('pageToken', nextPageToken);
    const page = (await ctx.client.parsed(BatchListResponseSchema, 'GET', '/v1/batches', { query: q })).value;
    batches.push(...page.batches);
    nextPageToken = page.nextPageToken;
  } while (nextPageToken && batches.length < limit);
  if (ctx.json) ctx.printJson({ batches, nextPageToken });
  else {
    const rows = batches.map((b) => [
      b.batchId,
      ctx.out.state(b.state),
      `${Math.round(b.progress * 100)}%`,
      String(b.total),
      ago(b.updateTime),
      truncate(b.description ?? '', 40),
    ]);
    ctx.print(rows.length ? table(['BATCH', 'STATE', 'PROGRESS', 'EXPORTS', 'UPDATED', 'DESCRIPTION'], rows, ctx.out) : 'no batches');
    if (nextPageToken) ctx.note(ctx.err.dim('(more batches: raise --limit, or --all)'));
  }
  return EXIT.OK;
}

/** batch resume: a STOPPED batch runs again (the API only: the topic takes cancel and retry). */
export async function batchResumeCommand(ctx: Context, arg: string, o: { maxEecuSeconds?: number }): Promise<ExitCode> {
  const batchId = batchIdOf(arg);
  const body = o.maxEecuSeconds !== undefined ? { maxEecuSeconds: o.maxEecuSeconds } : {};
  const answer = await ctx.client.call('POST', `/v1/batches/${batchId}:resume`, { body, accept: [409], what: `batch ${batchId}` });
  if (answer.status === 409) {
    const err = LooseErrorBodySchema.safeParse(answer.body);
    if (ctx.json) ctx.printJson({ batchId, outcome: 'conflict', ...(err.success ? { error: err.data.error } : {}) });
    else process.stderr.write(`eeport: ${err.success ? err.data.error.message : `batch ${batchId} was not resumed`}\n`);
    return EXIT.OUTCOME;
  }
  const r = checkAnswer(BatchResumeResponseSchema, answer.body, `POST /v1/batches/${batchId}:resume`);
  if (ctx.json) ctx.printJson(answer.body);
  else ctx.print(`batch ${batchId}  resumed (${ctx.out.state(r.batch.state)}): its queued jobs are released as slots free${r.batch.maxEecuSeconds ? `; EECU cap ${eecu(r.batch.maxEecuSeconds)}` : ''}`);
  return EXIT.OK;
}

export interface BatchActionOptions {
  via: 'api' | 'pubsub';
  topic?: string;
  cloudProject?: string;
}

/** batch cancel / batch retry. */
export async function batchActionCommand(ctx: Context, action: 'cancel' | 'retry', arg: string, o: BatchActionOptions): Promise<ExitCode> {
  const batchId = batchIdOf(arg);
  if (o.via === 'pubsub') {
    const topic = ctx.topic(o);
    const messageId = await publish(topic, { attributes: { action, batchId } }, ctx.timeoutMs);
    if (ctx.json) ctx.printJson({ via: 'pubsub', batchId, messageId, outcome: 'published' });
    else ctx.print(`${action} of batch ${batchId} published as message ${messageId}; \`eeport batch status ${batchId}\` shows when it took effect`);
    return EXIT.OK;
  }
  const answer = await ctx.client.call('POST', `/v1/batches/${batchId}:${action}`, { accept: [409], what: `batch ${batchId}` });
  if (answer.status === 409) {
    const err = LooseErrorBodySchema.safeParse(answer.body);
    const message = err.success ? err.data.error.message : `batch ${batchId}: nothing to ${action}`;
    if (ctx.json) ctx.printJson({ batchId, outcome: 'conflict', ...(err.success ? { error: err.data.error } : {}) });
    else process.stderr.write(`eeport: ${message}\n`);
    return EXIT.OUTCOME;
  }
  const r = checkAnswer(action === 'cancel' ? BatchCancelResponseSchema : BatchRetryResponseSchema, answer.body, `POST /v1/batches/${batchId}:${action}`);
  if (ctx.json) ctx.printJson(answer.body);
  else {
    const what = {
      cancelling: `cancelling: ${r.children} jobs cancelled or asked to cancel; the batch ends CANCELLED once they have all ended`,
      retrying: `retrying: ${r.children} jobs that failed for a transient reason resubmitted`,
      'nothing-to-retry': 'nothing to retry: no job failed for a transient reason',
    }[r.outcome];
    ctx.print(`batch ${batchId}  ${what} (${ctx.out.state(r.batch.state)})`);
  }
  return EXIT.OK;
}

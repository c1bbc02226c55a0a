/**
 * The job commands: submit, status, list, cancel, watch.
 */
import { CancelResponseSchema, JobListResponseSchema, JobViewSchema, SubmitResponseSchema } from '../../../functions/src/core/api/index.ts';
import { intakeBody } from '../../../functions/src/core/submit/index.ts';
import { isTerminal } from '../../../functions/src/core/jobs/index.ts';
import type { Context } from '../context.ts';
import { CliError, EXIT, joinDetails, type ExitCode, usageError } from '../errors.ts';
import { buildSubmission, isEnvelope, readJsonInput } from '../input.ts';
import { checkJobId, flagsOf, labelFilter, parseStates } from './shared.ts';
import { JOB_HEADERS, duration, eecu, elapsedSeconds, jobDetails, jobRow, table, type JobLike } from '../format.ts';
import { chooseDisplay, followJobs, followLive, getJob } from '../follow.ts';
import { publish, publishedJobId } from '../pubsub.ts';
import { submitBatchSpec, type BatchSubmitOptions } from './batches.ts';

export interface SubmitOptions {
  via: 'api' | 'pubsub';
  project?: string;
  label?: string[];
  callback?: string;
  idempotencyKey?: string;
  wait?: boolean;
  interval: number;
  validate: boolean;
  topic?: string;
  cloudProject?: string;
}

/** 0 when every state is SUCCEEDED, 1 otherwise. */
export const outcomeExit = (states: readonly string[]): ExitCode => (states.every((s) => s === 'SUCCEEDED') ? EXIT.OK : EXIT.OUTCOME);

/** The end of a job in one or two lines, for people. */
export function finalLine(job: JobLike, ctx: Context): string {
  const ran = job.startTime ? ` after ${duration(elapsedSeconds(job.startTime, job.endTime))}` : '';
  const uses = job.eecuSeconds !== null ? `, ${eecu(job.eecuSeconds)} EECU-s` : '';
  const where = job.destinationUris.length ? ` → ${job.destinationUris.join(' ')}` : '';
  const why = job.error ? `: ${job.error.code}: ${job.error.message}` : '';
  return `${job.jobId}  ${ctx.err.state(job.state)}${ran}${uses}${where}${why}`;
}

export async function submitCommand(ctx: Context, file: string, o: SubmitOptions): Promise<ExitCode> {
  const submission = buildSubmission(await readJsonInput(file), flagsOf(o));
  if (submission.kind === 'batch') return submitBatchSpec(ctx, submission.spec, o satisfies BatchSubmitOptions);
  const sent = o.via === 'pubsub' ? await publishJob(ctx, submission.body, o) : await postJob(ctx, submission.body);
  if (!o.wait) {
    if (ctx.json) ctx.printJson(sent.answer);
    return sent.state && ENDED_BADLY.has(sent.state) ? EXIT.OUTCOME : EXIT.OK;
  }
  if (!sent.jobId) throw usageError('--wait needs the job id: pass --project (the request carries a requestId, and its job id depends on the Earth Engine project)');
  const follow = { intervalMs: o.interval * 1000, display: chooseDisplay({ json: ctx.json, style: ctx.err }), signal: ctx.signal, graceMissingMs: o.via === 'pubsub' ? 120_000 : 0 };
  const [job] = await followJobs(ctx.client, [sent.jobId], follow);
  if (ctx.json) ctx.printJson({ ...(sent.answer as object), jobId: sent.jobId, state: job!.state, job });
  else ctx.note(finalLine(job!, ctx));
  return outcomeExit([job!.state]);
}

const ENDED_BADLY: ReadonlySet<string> = new Set(['FAILED', 'REJECTED', 'CANCELLED', 'SKIPPED']);

interface Sent {
  /** null when it cannot be known (published with a requestId, no --project). */
  jobId: string | null;
  /** Its state when the API answered (unknown for a publish). */
  state: string | null;
  /** What --json prints. */
  answer: unknown;
}

/** POST /v1/jobs; prints the job id (stdout) and what became of it (stderr). */
async function postJob(ctx: Context, body: Record<string, unknown>): Promise<Sent> {
  const { value: out, raw } = await ctx.client.parsed(SubmitResponseSchema, 'POST', '/v1/jobs', { body });
  if (!ctx.json) ctx.print(out.jobId);
  ctx.note(`${out.duplicate ? 'an existing job (same idempotency key or requestId)' : 'submitted'}: ${ctx.err.state(out.state)}${out.notice ? ` — ${out.notice}` : ''}`);
  if (out.job.error) ctx.note(`${out.job.error.code}: ${out.job.error.message}`);
  return { jobId: out.jobId, state: out.state, answer: raw };
}

/** Publishes the submission to the requests topic; the job id is the one intake will derive. */
async function publishJob(ctx: Context, body: Record<string, unknown>, o: SubmitOptions): Promise<Sent> {
  const defaultProject = ctx.defaultEeProject;
  // The intake the function will run: here to refuse a bad file before it becomes a REJECTED job, and to know the identity.
  const intake = intakeBody(
    body,
    {},
    [],
    { defaultEeProject: defaultProject ?? 'default-project', allowedEeProjects: [], maxRequestBytes: Number.MAX_SAFE_INTEGER, callbackPolicy: { allowHttp: true, allowLoopback: true } },
    { kind: 'api' },
    { kind: 'random', value: '' },
    null,
  );
  if (!intake.ok && o.validate) {
    throw new CliError(EXIT.USAGE, `the submission is invalid (${intake.code}): ${joinDetails(intake.errors)}`, { code: intake.code, details: intake.errors });
  }
  const identity = intake.ok ? intake.command.identity : intake.identity;
  const projectKnown = defaultProject !== undefined || (typeof body.eeProject === 'string' && isEnvelope(body));
  const topic = ctx.topic(o);
  const messageId = await publish(topic, { data: JSON.stringify(body) }, ctx.timeoutMs);
  const jobId = identity.kind === 'random' ? publishedJobId(null, topic, messageId) : identity.kind === 'key' || projectKnown ? publishedJobId(identity, topic, messageId) : null;
  const topicName = `projects/${topic.projectId}/topics/${topic.topic}`;
  if (!ctx.json && jobId) ctx.print(jobId);
  ctx.note(`published to ${topicName}${topic.emulatorHost ? ` (emulator ${topic.emulatorHost})` : ''} as message ${messageId}`);
  if (!jobId) ctx.note('the job id depends on the deployment’s default Earth Engine project (the request has a requestId): pass --project to know it');
  return { jobId, state: null, answer: { via: 'pubsub', topic: topicName, messageId, jobId } };
}

export async function statusCommand(ctx: Context, jobId: string): Promise<ExitCode> {
  const { value: job, raw } = await ctx.client.parsed(JobViewSchema, 'GET', `/v1/jobs/${checkJobId(jobId)}`, { what: `job ${jobId}` });
  if (ctx.json) ctx.printJson(raw);
  else ctx.print(jobDetails(job, ctx.out));
  return EXIT.OK;
}

export interface ListOptions {
  state?: string[];
  label?: string;
  project?: string;
  updatedAfter?: string;
  updatedBefore?: string;
  limit?: number;
  all?: boolean;
}

export async function listCommand(ctx: Context, o: ListOptions): Promise<ExitCode> {
  if (o.all && o.limit !== undefined) throw usageError('give --limit N or --all, not both');
  const limit = o.all ? Infinity : (o.limit ?? 50);
  const base = new URLSearchParams();
  const states = parseStates(o.state);
  if (states.length) base.set('state', states.join(','));
  const label = labelFilter(o.label);
  if (label) base.set('label', label);
  if (o.project) base.set('eeProject', o.project);
  if (o.updatedAfter) base.set('updatedAfter', o.updatedAfter);
  if (o.updatedBefore) base.set('updatedBefore', o.updatedBefore);
  const jobs: JobLike[] = [];
  let nextPageToken: string | null = null;
  do {
    const q = new URLSearchParams(base);
    // Never ask for more than is wanted, so the page token always continues right after the last job shown.
    q.set('pageSize', String(Math.min(200, limit - jobs.length)));
    if (nextPageToken) q.set('pageToken', nextPageToken);
    const page = (await ctx.client.parsed(JobListResponseSchema, 'GET', '/v1/jobs', { query: q })).value;
    jobs.push(...page.jobs);
    nextPageToken = page.nextPageToken;
  } while (nextPageToken && jobs.length < limit);
  if (ctx.json) ctx.printJson({ jobs, nextPageToken });
  else {
    ctx.print(jobs.length ? table(JOB_HEADERS, jobs.map((j) => jobRow(j, ctx.out)), ctx.out) : 'no jobs');
    if (nextPageToken) ctx.note(ctx.err.dim(`(more jobs: raise --limit, or --all)`));
  }
  return EXIT.OK;
}

export interface CancelOptions {
  reason?: string;
  via: 'api' | 'pubsub';
  topic?: string;
  cloudProject?: string;
}

export async function cancelCommand(ctx: Context, jobId: string, o: CancelOptions): Promise<ExitCode> {
  checkJobId(jobId);
  if (o.via === 'pubsub') {
    const topic = ctx.topic(o);
    const messageId = await publish(topic, { attributes: { action: 'cancel', jobId } }, ctx.timeoutMs);
    if (ctx.json) ctx.printJson({ via: 'pubsub', jobId, messageId, outcome: 'published' });
    else ctx.print(`cancel of ${jobId} published as message ${messageId}; \`eeport status ${jobId}\` shows when it took effect`);
    return EXIT.OK;
  }
  const answer = await ctx.client.call('POST', `/v1/jobs/${jobId}:cancel`, { ...(o.reason ? { body: { reason: o.reason } } : {}), accept: [409], what: `job ${jobId}` });
  if (answer.status === 409) {
    const job = await getJob(ctx.client, jobId);
    if (ctx.json) ctx.printJson({ jobId, outcome: 'already-ended', state: job.state, job });
    else process.stderr.write(`eeport: job ${jobId} already ended (${ctx.err.state(job.state)}); there is nothing to cancel\n`);
    return EXIT.OUTCOME;
  }
  const r = CancelResponseSchema.safeParse(answer.body);
  if (!r.success) throw new CliError(EXIT.API, `unexpected answer to POST /v1/jobs/${jobId}:cancel`);
  if (ctx.json) ctx.printJson(answer.body);
  else {
    const what = {
      cancelled: 'cancelled',
      cancelling: 'cancelling: Earth Engine was asked to cancel; the poller follows it to CANCELLED (or to its natural end)',
      requested: 'cancel requested: the poller sends it to Earth Engine once the operation is known',
    }[r.data.outcome];
    ctx.print(`${jobId}  ${what}${r.data.notice ? ` (${r.data.notice})` : ''}`);
  }
  return EXIT.OK;
}

export interface WatchOptions {
  label?: string;
  project?: string;
  interval: number;
}

export async function watchCommand(ctx: Context, ids: string[], o: WatchOptions): Promise<ExitCode> {
  ids.forEach(checkJobId);
  if (ids.length && (o.label || o.project)) throw usageError('--label and --project select live jobs; they cannot be combined with job ids');
  const label = labelFilter(o.label);
  const follow = { intervalMs: o.interval * 1000, display: chooseDisplay({ json: ctx.json, jsonLines: true, style: ctx.err }), signal: ctx.signal };
  const jobs = ids.length
    ? await followJobs(ctx.client, [...new Set(ids)], follow)
    : await followLive(ctx.client, { ...(label ? { label } : {}), ...(o.project ? { eeProject: o.project } : {}) }, follow);
  if (!jobs.length) {
    ctx.note('no live jobs');
    return EXIT.OK;
  }
  const failed = jobs.filter((j) => isTerminal(j.state) && j.state !== 'SUCCEEDED');
  if (!ctx.json && jobs.length > 1) ctx.note(`${jobs.length} jobs ended: ${jobs.length - failed.length} succeeded${failed.length ? `, ${failed.length} did not (${failed.map((j) => `${j.jobId.slice(0, 8)} ${j.state}`).join(', ')})` : ''}`);
  return outcomeExit(jobs.map((j) => j.state));
}

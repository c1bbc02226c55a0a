/**
 * The scripted tour `npm start` runs on a fresh stack: realistic requests published to
 * the requests topic (and, when onObjectFinalized exists, a GeoTIFF "uploaded" through
 * the storage trigger), one made to fail by a simulator fault, one cancelled while it
 * runs — each with a callback to the local receiver. It prints a line per job whenever
 * its state, progress or stage changes, and passes when every job ended as scripted
 * and its terminal webhook arrived with a valid signature.
 */
import { jobIdFor, type Job, type JobState } from '../../functions/src/core/jobs/index.ts';
import { sentinel2CogExport } from '../samples/export-requests.ts';
import { UPLOAD_BUCKET, UPLOAD_RULE_NAME } from './local-config.ts';
import type { LocalStack } from './stack.ts';
import type { ReceivedWebhook } from './webhook-receiver.ts';

type Terminal = 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface DemoJob {
  label: string;
  jobId: string;
  expected: Terminal;
  hookPath: string;
  /** What it is, for the first line. */
  what: string;
  idempotencyKey?: string;
  final: JobState | null;
  webhook: ReceivedWebhook | null;
}

export interface DemoResult {
  ok: boolean;
  jobs: DemoJob[];
  skipped: string[];
  elapsedMs: number;
  problems: string[];
}

const TERMINAL = new Set<JobState>(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED']);

const bar = (p: number) => '█'.repeat(Math.round(p * 10)).padEnd(10, '░');

function currentStage(job: Job): string {
  const s = job.stages.find((x) => (x.completeWorkUnits ?? 0) < (x.totalWorkUnits ?? 1)) ?? job.stages.at(-1);
  return s?.displayName ?? '';
}

function describe(job: Job | null): string {
  if (!job) return 'not yet recorded';
  const state = job.state.padEnd(10);
  if (job.state === 'RUNNING' || (job.state === 'CANCELLING' && job.progress)) {
    const p = job.progress ?? 0;
    return `${state} ${bar(p)} ${String(Math.round(p * 100)).padStart(3)}%  ${currentStage(job)}`;
  }
  if (job.state === 'SUCCEEDED') return `${state} ${bar(1)} 100%  ${job.eecuSeconds ?? 0} EECU-s → ${job.destinationUris[0] ?? '(no URI)'}`;
  if (job.state === 'FAILED' || job.state === 'REJECTED') return `${state} ${job.error?.code ?? ''}: ${job.error?.message ?? ''}`;
  return state.trimEnd();
}

export async function runDemo(stack: LocalStack, opts: { timeoutMs?: number; print?: (line: string) => void } = {}): Promise<DemoResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  const runId = Date.now().toString(36);
  const hook = (path: string) => `${stack.receiver.url}${path}`;
  const jobs: DemoJob[] = [];
  const skipped: string[] = [];
  const problems: string[] = [];

  const submit = async (label: string, what: string, expected: Terminal, description: string) => {
    const idempotencyKey = `demo-${runId}-${label}`;
    const hookPath = `/hooks/${label}`;
    const job: DemoJob = { label, what, jobId: jobIdFor({ kind: 'key', key: idempotencyKey }), expected, hookPath, idempotencyKey, final: null, webhook: null };
    jobs.push(job);
    await stack.publishRequest({ request: sentinel2CogExport(description, `demo/${runId}/${label}`), idempotencyKey, callbackUrl: hook(hookPath), labels: { demo: runId } });
    // One at a time: submits contend on the project's admission counter, and the Firestore
    // emulator is slow under contention (four at once take seconds).
    await recorded(job.jobId);
  };
  const recorded = async (jobId: string) => {
    const until = Date.now() + 5_000;
    while (Date.now() < until && !(await stack.services.adapters.store.getJob(jobId).catch(() => null))) await new Promise((r) => setTimeout(r, 50));
  };

  print(`[demo]  ${t()}  publishing to ${stack.config.REQUESTS_TOPIC}, callbacks to ${stack.receiver.url}/hooks/…`);
  const failing = `demo-failing-export-${runId}`;
  stack.simulator.faults.inject({ kind: 'task-failure', match: { description: `^${failing}$` }, atStage: 'Compute Tiles', code: 3, message: 'User memory limit exceeded.' });
  await submit('asset-export', 'Sentinel-2 scene → Cloud Storage COG', 'SUCCEEDED', `demo-asset-export-${runId}`);
  await submit('failing-export', `simulator fault on "${failing}"`, 'FAILED', failing);
  await submit('cancelled-export', 'a long export, cancelled while it runs', 'CANCELLED', `demo-long-export-${runId}`);

  const rule = stack.config.uploadRules.find((r) => r.name === UPLOAD_RULE_NAME);
  if (!stack.storage) {
    skipped.push('upload: onObjectFinalized is not registered in functions/src/index.ts, so there is no storage trigger to drive');
  } else if (!rule) {
    skipped.push(`upload: the upload rules were overridden and have no "${UPLOAD_RULE_NAME}" rule for the demo's object`);
  } else {
    const obj = await stack.storage.finalize({ bucket: UPLOAD_BUCKET, name: `incoming/demo-${runId}/scene.tif`, contentType: 'image/tiff', size: 48_213_004 });
    jobs.push({
      label: 'geotiff-upload',
      what: `gs://${obj.bucket}/${obj.name} → Earth Engine asset (rule ${rule.name})`,
      jobId: jobIdFor({ kind: 'upload', bucket: obj.bucket, name: obj.name, generation: obj.generation }),
      expected: 'SUCCEEDED',
      hookPath: rule.callbackUrl ? new URL(rule.callbackUrl).pathname : '/hooks/uploads',
      final: null,
      webhook: null,
    });
  }
  for (const s of skipped) print(`[demo]  ${t()}  SKIPPED ${s}`);
  const width = Math.max(...jobs.map((j) => j.label.length));
  for (const j of jobs) print(`[demo]  ${t()}  ${j.label.padEnd(width)}  job ${j.jobId.slice(0, 8)}  ${j.what}; expect ${j.expected}`);

  const last = new Map<string, string>();
  let cancelSent = false;
  const cancelJob = jobs.find((j) => j.expected === 'CANCELLED');
  const deadline = started + timeoutMs;
  const webhookFor = (j: DemoJob) =>
    stack.receiver.received.find((w) => w.path === j.hookPath && w.payload?.data?.jobId === j.jobId && w.payload.type === `dev.eeport.export.v1.${j.expected.toLowerCase()}`) ?? null;

  for (;;) {
    for (const j of jobs) {
      let job: Job | null = null;
      try {
        job = await stack.services.adapters.store.getJob(j.jobId);
      } catch (err) {
        problems.push(`reading job ${j.jobId}: ${(err as Error).message}`);
      }
      // A line whenever the state, the progress (to 10%) or the stage changes.
      const key = job ? `${job.state}|${Math.floor((job.progress ?? 0) * 10)}|${currentStage(job)}` : 'none';
      if (last.get(j.jobId) !== key) {
        last.set(j.jobId, key);
        if (job) print(`[demo]  ${t()}  ${j.label.padEnd(width)}  ${describe(job)}`);
      }
      if (job && TERMINAL.has(job.state)) j.final = job.state;
      j.webhook ??= webhookFor(j);
      if (j === cancelJob && !cancelSent && job && (job.state === 'PENDING' || job.state === 'RUNNING')) {
        cancelSent = true;
        print(`[demo]  ${t()}  ${j.label.padEnd(width)}  is ${job.state}: publishing action=cancel, idempotencyKey=${j.idempotencyKey}`);
        await stack.publishRequest(undefined, { action: 'cancel', idempotencyKey: j.idempotencyKey! });
      }
    }
    if (jobs.every((j) => j.final !== null && j.webhook !== null)) break;
    if (Date.now() > deadline) {
      problems.push(`not finished within ${timeoutMs / 1000} s`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  for (const j of jobs) {
    if (j.final !== j.expected) problems.push(`${j.label}: ended ${j.final ?? 'not at all'}, expected ${j.expected}`);
    if (!j.webhook) problems.push(`${j.label}: no signed ${j.expected.toLowerCase()} webhook at ${j.hookPath}`);
    else if (!j.webhook.verified) problems.push(`${j.label}: webhook signature did not verify (${j.webhook.reason})`);
  }
  const elapsedMs = Date.now() - started;
  const ok = problems.length === 0;
  print(`[demo]  ${t()}  ${ok ? 'done' : 'FAILED'}:`);
  for (const j of jobs) {
    const state = j.final === j.expected ? `${j.final} ✓` : `${j.final ?? 'unfinished'} ✗ (expected ${j.expected})`;
    const hookText = j.webhook ? `webhook ${j.webhook.webhookId} ${j.webhook.verified ? 'verified ✓' : 'NOT verified ✗'}` : 'no webhook ✗';
    print(`          ${j.label.padEnd(width)}  ${state.padEnd(12)}  ${hookText}`);
  }
  for (const p of problems) print(`[demo]  problem: ${p}`);
  if (ok) print(`[demo]  all ${jobs.length} scripted jobs ended as expected, each with a signed webhook, in ${(elapsedMs / 1000).toFixed(1)} s`);
  return { ok, jobs, skipped, elapsedMs, problems };
}

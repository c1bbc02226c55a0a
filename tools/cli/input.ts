/**
 * Reading what to submit (a file or stdin) and shaping it: an ExportImageRequest, an
 * envelope `{"request": …, …}`, or a batch `{"batch": …}`, with the command-line
 * options (--project, --label, --callback, --idempotency-key) folded in. An option that
 * contradicts the file is a usage error rather than one silently winning — the rule
 * the topic applies to attributes and envelopes.
 */
import { readFile } from 'node:fs/promises';
import { CliError, usageError } from './errors.ts';

export interface SubmitFlags {
  project?: string;
  labels?: Record<string, string>;
  callback?: string;
  idempotencyKey?: string;
}

export type Submission =
  /** `body` is what is POSTed to /v1/jobs or published: the request itself, or an envelope. */
  | { kind: 'job'; body: Record<string, unknown> }
  /** `spec` is the inner batch object (POST /v1/batches); the topic gets `{"batch": spec}`. */
  | { kind: 'batch'; spec: Record<string, unknown> };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw usageError('reading from stdin ("-"), but stdin is a terminal: pipe the JSON in, or give a FILE');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and parses FILE, or stdin for "-". Anything wrong with it is a usage error (2). */
export async function readJsonInput(file: string): Promise<unknown> {
  const name = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw usageError(`cannot read ${name}: ${why}`);
  }
  if (!text.trim()) throw usageError(`${name} is empty; expected a JSON object: an ExportImageRequest, {"request": …} or {"batch": …}`);
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw usageError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Parses repeated `--label key=value` options into an object (later duplicates must agree). */
export function parseLabelFlags(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw usageError(`--label must be key=value, e.g. --label team=forest (got "${v}")`);
    const key = v.slice(0, i);
    const value = v.slice(i + 1);
    if (key in out && out[key] !== value) throw usageError(`--label ${key} given twice with different values`);
    out[key] = value;
  }
  return out;
}

/** Folds the flags into `target` (an envelope or a batch spec); disagreements are usage errors. */
function fold(target: Record<string, unknown>, flags: SubmitFlags, names: { project: string; idempotencyKey: string }, what: string): Record<string, unknown> {
  const out = { ...target };
  const set = (field: string, flag: string, value: string | undefined) => {
    if (value === undefined) return;
    if (out[field] !== undefined && out[field] !== value) throw usageError(`${flag} "${value}" contradicts the ${what}'s ${field} "${String(out[field])}"; give one, or the same in both`);
    out[field] = value;
  };
  set(names.project, '--project', flags.project);
  set('callbackUrl', '--callback', flags.callback);
  set(names.idempotencyKey, names.idempotencyKey === 'batchId' ? '--batch-id' : '--idempotency-key', flags.idempotencyKey);
  if (flags.labels) {
    const existing = out.labels;
    if (existing !== undefined && !isObject(existing)) throw usageError(`the ${what}'s labels is not an object, so --label cannot be added to it`);
    const labels: Record<string, unknown> = { ...(existing ?? {}) };
    for (const [k, v] of Object.entries(flags.labels)) {
      if (k in labels && labels[k] !== v) throw usageError(`--label ${k}=${v} contradicts the ${what}'s label ${k}="${String(labels[k])}"`);
      labels[k] = v;
    }
    out.labels = labels;
  }
  return out;
}

const hasFlags = (f: SubmitFlags) => f.project !== undefined || f.callback !== undefined || f.idempotencyKey !== undefined || f.labels !== undefined;

/** Whether a body is an envelope: the rule intake applies (an object with `request` and no `expression`). */
export const isEnvelope = (body: Record<string, unknown>) => 'request' in body && !('expression' in body);

const BATCH_SPEC_KEYS = ['requests', 'template', 'fanOut', 'tiles'];

/**
 * Shapes the input. `{"batch": …}` is a batch; with `batchOnly`, the inner object is
 * accepted too (eeport batch submit). Otherwise an envelope or a bare request.
 */
export function buildSubmission(input: unknown, flags: SubmitFlags, opts: { batchOnly?: boolean } = {}): Submission {
  if (!isObject(input)) throw usageError('expected a JSON object: an ExportImageRequest, an envelope {"request": …, "eeProject": …} or a batch {"batch": …}');
  const batchSpec = 'batch' in input ? input.batch : opts.batchOnly && BATCH_SPEC_KEYS.some((k) => k in input) ? input : undefined;
  if (batchSpec !== undefined || opts.batchOnly) {
    if (!isObject(batchSpec)) throw usageError('a batch must be a JSON object: {"batch": {"requests": [...]}} or {"batch": {"template": {...}, "fanOut"|"tiles": {...}}}');
    if ('batch' in input && Object.keys(input).length > 1) throw usageError(`a batch message has only the "batch" member; move ${Object.keys(input).filter((k) => k !== 'batch').join(', ')} inside it`);
    return { kind: 'batch', spec: fold(batchSpec, flags, { project: 'eeProject', idempotencyKey: 'batchId' }, 'batch') };
  }
  if (isEnvelope(input)) return { kind: 'job', body: fold(input, flags, { project: 'eeProject', idempotencyKey: 'idempotencyKey' }, 'envelope') };
  if (!hasFlags(flags)) return { kind: 'job', body: input };
  return { kind: 'job', body: fold({ request: input }, flags, { project: 'eeProject', idempotencyKey: 'idempotencyKey' }, 'envelope') };
}

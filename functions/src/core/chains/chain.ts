/**
 * Chains: a job or batch that declares `then`, requests to submit once it SUCCEEDS,
 * with placeholders for the previous step's outputs. The whole chain is one document
 * (`chains/{chainId}`, the chain id being the root's job or batch id), written in the
 * same transaction as its root; the poller's tick moves it on (chains.ts).
 *
 * This file holds the spec (as submitted), its check at submit (names, `after`, cycles,
 * placeholders, every step's request tried with sample values), and the placeholder
 * values of a step once its predecessors have ended.
 */
import { z } from 'zod';
import { EeProjectSchema, LabelsSchema, parseExportRequest, exportPolicyIssues, type ExportImageRequest, type ExportPolicy, type Issue } from '../requests/index.ts';
import type { JobState } from '../jobs/index.ts';

/** The chain document holds every step's template: their bytes together, at most (Firestore documents hold 1 MiB). */
export const CHAIN_MAX_BYTES = 800_000;
/** Steps after the root, at most. */
export const MAX_CHAIN_STEPS = 20;
/** The name the root (the job or batch declaring `then`) has in `after`. */
export const ROOT_STEP = 'root';
export const STEP_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export const ChainStepSpecSchema = z
  .strictObject({
    step: z.string().regex(STEP_NAME_PATTERN, 'a step name is 1–63 letters, digits, _ or -, starting with a letter or digit').optional().describe('The step’s name (default step-1, step-2, … by position); other steps name it in `after`'),
    after: z
      .array(z.string())
      .min(1)
      .max(MAX_CHAIN_STEPS + 1)
      .optional()
      .describe('The steps this one waits for, all of which must succeed (default ["root"]: the job or batch declaring `then`); several names fan in'),
    request: z.record(z.string(), z.unknown()).describe('An ExportImageRequest whose strings may hold {{previous.assetId}}, {{previous.jobId}}, {{previous.batchId}}, {{previous.destinationUris[N]}}, {{chain.id}}'),
    eeProject: EeProjectSchema.optional().describe('Default: the root’s'),
    labels: LabelsSchema.optional().describe('Default: the root’s'),
  })
  .describe('One step of a chain: a request submitted when every step it comes after has SUCCEEDED');
export type ChainStepSpec = z.output<typeof ChainStepSpecSchema>;

export const ThenSchema = z.array(ChainStepSpecSchema).min(1).max(MAX_CHAIN_STEPS).describe('Requests to submit once this job (or batch) SUCCEEDS: a chain (docs/chains.md)');

export const CHAIN_STATES = ['ACTIVE', 'SUCCEEDED', 'FAILED'] as const;
export type ChainState = (typeof CHAIN_STATES)[number];

/** Where a step is: WAITING for its predecessors, ACTIVE (its job exists and has not ended), or how it ended. */
export const STEP_STATES = ['WAITING', 'ACTIVE', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED'] as const;
export type StepState = (typeof STEP_STATES)[number];

export interface StepOutputs {
  /** The job's id; null for a batch. */
  jobId: string | null;
  batchId: string | null;
  /** The asset an asset export wrote (its request's earthEngineDestination.name); null otherwise. */
  assetId: string | null;
  destinationUris: string[];
}

export interface ChainStep {
  step: string;
  /** Predecessors by name, in the order given ([] for the root). */
  after: string[];
  kind: 'job' | 'batch';
  /** The job (or, for a batch root, batch) id: derived from the chain and step, known before the job exists. */
  id: string;
  /** The template (with placeholders); null for the root, whose request is its job's. */
  request: Record<string, unknown> | null;
  eeProject: string;
  labels: Record<string, string>;
  state: StepState;
  /** Why it was skipped or refused, or how its predecessor ended. */
  reason: string | null;
  outputs: StepOutputs | null;
  endTime: string | null;
}

export interface Chain {
  chainId: string;
  tenantId: string | null;
  state: ChainState;
  /** The root first, then the steps as declared. */
  steps: ChainStep[];
  callbackUrl: string | null;
  /** When the tick next looks at it (ACTIVE only): the oldest first. */
  dueAt: string | null;
  createTime: string;
  updateTime: string;
  endTime: string | null;
  version: number;
}

export const TERMINAL_STEP_STATES: ReadonlySet<StepState> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED']);

/** A step's state from its job's. */
export function stepStateOfJob(s: JobState): StepState {
  switch (s) {
    case 'SUCCEEDED':
    case 'FAILED':
    case 'CANCELLED':
    case 'REJECTED':
    case 'SKIPPED':
      return s;
    default:
      return 'ACTIVE';
  }
}

// ---------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const KNOWN = /^(?:previous\.(jobId|batchId|assetId)|previous\.destinationUris\[(\d{1,4})\]|chain\.id)$/;
export const CHAIN_PLACEHOLDERS = ['previous.assetId', 'previous.jobId', 'previous.batchId', 'previous.destinationUris[N]', 'chain.id'] as const;

/** Every string in a JSON value, with its path (keys are not templated). */
function* strings(v: unknown, path: string): Generator<{ path: string; value: string }> {
  if (typeof v === 'string') yield { path, value: v };
  else if (Array.isArray(v)) for (const [i, x] of v.entries()) yield* strings(x, `${path}[${i}]`);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) yield* strings(x, path ? `${path}.${k}` : k);
}

/** The template with every placeholder that has a value replaced. */
export function fillChainPlaceholders<T>(template: T, values: ReadonlyMap<string, string>): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(template) as T;
}

/** The placeholders a template names, each once. */
export function placeholdersOf(template: unknown): { path: string; name: string }[] {
  const out: { path: string; name: string }[] = [];
  for (const s of strings(template, '')) for (const m of s.value.matchAll(PLACEHOLDER)) out.push({ path: s.path, name: m[1]! });
  return out;
}

/** The asset an asset export writes, if it is one. */
export const assetOf = (request: { assetExportOptions?: { earthEngineDestination?: { name?: unknown } } } | null | undefined): string | null => {
  const name = request?.assetExportOptions?.earthEngineDestination?.name;
  return typeof name === 'string' ? name : null;
};

/** The values of `previous.*` and `chain.id` for a step whose predecessors (in `after` order) ended with these outputs. */
export function placeholderValues(chainId: string, previous: readonly StepOutputs[]): Map<string, string> {
  const values = new Map<string, string>([['chain.id', chainId]]);
  const uris = previous.flatMap((p) => p.destinationUris);
  uris.forEach((u, i) => values.set(`previous.destinationUris[${i}]`, u));
  if (previous.length === 1) {
    const p = previous[0]!;
    if (p.jobId) values.set('previous.jobId', p.jobId);
    if (p.batchId) values.set('previous.batchId', p.batchId);
    if (p.assetId) values.set('previous.assetId', p.assetId);
  }
  return values;
}

// ---------------------------------------------------------------------------
// The check at submit
// ---------------------------------------------------------------------------

/** The root as the check sees it. */
export interface ChainRoot {
  kind: 'job' | 'batch';
  eeProject: string;
  labels: Record<string, string>;
  /** A job root's request (for {{previous.assetId}}); null for a batch. */
  request: ExportImageRequest | null;
}

/** A checked chain, ready to be written with its root: the steps after the root, names and `after` filled in. */
export interface ChainPlan {
  steps: { step: string; after: string[]; request: Record<string, unknown>; eeProject: string; labels: Record<string, string> }[];
}

export type ChainCheck = { ok: true; plan: ChainPlan } | { ok: false; errors: Issue[] };

const SAMPLE_ID = '0'.repeat(32);
const SAMPLE_URI = 'https://storage.googleapis.com/eeport-sample/sample.tif';

/**
 * Checks `then` as submitted: its shape, step names (unique, not "root"), `after`
 * (known names, no cycles), placeholders (known, and meaningful for the predecessors:
 * `previous.assetId` needs exactly one predecessor that exports to an asset), and every
 * step's request with sample values in place of its placeholders, against the same
 * policy as the root's (projects, destinations, size). Paths start at `root` ("then").
 */
export function checkThen(input: unknown, root: ChainRoot, policy: ExportPolicy & { maxRequestBytes: number }, path = 'then'): ChainCheck {
  const parsed = ThenSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join('.'), message: i.message })) };
  const errors: Issue[] = [];
  const steps = parsed.data.map((s, i) => ({ ...s, step: s.step ?? `step-${i + 1}`, after: s.after ?? [ROOT_STEP], at: `${path}.${i}` }));
  const index = new Map<string, number>();
  for (const [i, s] of steps.entries()) {
    if (s.step === ROOT_STEP) errors.push({ path: `${s.at}.step`, message: `"${ROOT_STEP}" names the job or batch declaring \`then\`; pick another name` });
    else if (index.has(s.step)) errors.push({ path: `${s.at}.step`, message: `step "${s.step}" is named twice (also ${path}.${index.get(s.step)})` });
    else index.set(s.step, i);
  }
  for (const s of steps) {
    const seen = new Set<string>();
    for (const [j, a] of s.after.entries()) {
      if (seen.has(a)) errors.push({ path: `${s.at}.after.${j}`, message: `"${a}" is listed twice` });
      seen.add(a);
      if (a === s.step) errors.push({ path: `${s.at}.after.${j}`, message: 'a step cannot come after itself' });
      else if (a !== ROOT_STEP && !index.has(a)) errors.push({ path: `${s.at}.after.${j}`, message: `no step is named "${a}" (known: ${[ROOT_STEP, ...index.keys()].join(', ')})` });
    }
  }
  if (errors.length) return { ok: false, errors };
  // Cycles: Kahn's algorithm over the steps; what is left over waits on itself.
  const order: number[] = [];
  const pending = new Map(steps.map((s, i) => [i, new Set(s.after.filter((a) => a !== ROOT_STEP))]));
  for (let progressed = true; progressed; ) {
    progressed = false;
    for (const [i, deps] of pending) {
      if ([...deps].every((d) => order.some((o) => steps[o]!.step === d))) {
        order.push(i);
        pending.delete(i);
        progressed = true;
      }
    }
  }
  if (pending.size) {
    const names = [...pending.keys()].map((i) => steps[i]!.step);
    return { ok: false, errors: [...pending.keys()].map((i) => ({ path: `${steps[i]!.at}.after`, message: `the steps ${names.map((n) => `"${n}"`).join(', ')} wait on each other (a cycle): none could ever start` })) };
  }
  // Placeholders and requests, in an order where every predecessor comes first (for sample asset names).
  const sample = new Map<string, { kind: 'job' | 'batch'; assetId: string | null }>([[ROOT_STEP, { kind: root.kind, assetId: assetOf(root.request) }]]);
  let bytes = 0;
  for (const i of order) {
    const s = steps[i]!;
    const preds = s.after.map((a) => ({ name: a, ...sample.get(a)! }));
    const values = new Map<string, string>([['chain.id', SAMPLE_ID]]);
    for (const p of placeholdersOf(s.request)) {
      const at = `${s.at}.request.${p.path}`;
      const m = KNOWN.exec(p.name);
      if (!m) {
        errors.push({ path: at, message: `unknown placeholder {{${p.name}}}; known: ${CHAIN_PLACEHOLDERS.map((k) => `{{${k}}}`).join(', ')}` });
        continue;
      }
      const field = m[1];
      if (m[2] !== undefined) values.set(p.name, SAMPLE_URI);
      else if (field) {
        if (preds.length !== 1) {
          errors.push({ path: at, message: `{{${p.name}}} needs exactly one step in \`after\` (this step comes after ${preds.map((x) => `"${x.name}"`).join(', ')}); use {{previous.destinationUris[N]}}` });
          continue;
        }
        const prev = preds[0]!;
        if (field === 'jobId' && prev.kind !== 'job') errors.push({ path: at, message: `"${prev.name}" is a batch: it has no job id; use {{previous.batchId}}` });
        else if (field === 'batchId' && prev.kind !== 'batch') errors.push({ path: at, message: `"${prev.name}" is a job, not a batch; use {{previous.jobId}}` });
        else if (field === 'assetId' && !prev.assetId) errors.push({ path: at, message: `"${prev.name}" does not export to an asset (no assetExportOptions.earthEngineDestination.name), so it has no asset id` });
        else values.set(p.name, field === 'assetId' ? prev.assetId! : SAMPLE_ID);
      }
    }
    if ('requestId' in s.request) errors.push({ path: `${s.at}.request.requestId`, message: 'a step’s job gets its own requestId; leave it out' });
    const eeProject = s.eeProject ?? root.eeProject;
    const r = parseExportRequest(fillChainPlaceholders(s.request, values));
    if (!r.ok) errors.push(...r.errors.map((e) => ({ path: `${s.at}.request${e.path ? `.${e.path}` : ''}`, message: e.message })));
    else errors.push(...exportPolicyIssues(eeProject, r.value, policy).map((e) => ({ path: e.path === 'eeProject' ? `${s.at}.eeProject` : `${s.at}.request.${e.path}`, message: e.message })));
    const size = new TextEncoder().encode(JSON.stringify(s.request)).length;
    bytes += size;
    if (size > policy.maxRequestBytes) errors.push({ path: `${s.at}.request`, message: `request is ${size} bytes; at most ${policy.maxRequestBytes} can be recorded` });
    sample.set(s.step, { kind: 'job', assetId: r.ok ? assetOf(r.value) : null });
  }
  const most = Math.min(policy.maxRequestBytes, CHAIN_MAX_BYTES);
  if (!errors.length && bytes > most) errors.push({ path, message: `the steps' requests are ${bytes} bytes together; at most ${most} can be recorded with the chain` });
  if (errors.length) return { ok: false, errors };
  return { ok: true, plan: { steps: steps.map((s) => ({ step: s.step, after: s.after, request: s.request, eeProject: s.eeProject ?? root.eeProject, labels: s.labels ?? root.labels })) } };
}

/** The chain document for a root just written (job or batch `rootId`), ACTIVE and due at once. */
export function newChain(init: { rootId: string; kind: 'job' | 'batch'; tenantId: string | null; eeProject: string; labels: Record<string, string>; callbackUrl: string | null; plan: ChainPlan; stepId: (step: string) => string }, at: string): Chain {
  const root: ChainStep = { step: ROOT_STEP, after: [], kind: init.kind, id: init.rootId, request: null, eeProject: init.eeProject, labels: init.labels, state: 'ACTIVE', reason: null, outputs: null, endTime: null };
  return {
    chainId: init.rootId,
    tenantId: init.tenantId,
    state: 'ACTIVE',
    steps: [root, ...init.plan.steps.map((s): ChainStep => ({ ...s, kind: 'job', id: init.stepId(s.step), state: 'WAITING', reason: null, outputs: null, endTime: null }))],
    callbackUrl: init.callbackUrl,
    dueAt: at,
    createTime: at,
    updateTime: at,
    endTime: null,
    version: 1,
  };
}

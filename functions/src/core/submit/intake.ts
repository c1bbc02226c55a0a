/**
 * Turns whatever arrived (a Pub/Sub message, an API body) into a validated submit
 * command, or into the reasons it cannot become one. Never throws on bad input: a
 * message that cannot be understood still becomes a REJECTED job, so nothing is lost.
 */
import { parseExportRequest, type ExportImageRequest, ATTRIBUTE_NAMES, SubmitOptionsSchema, type Issue, type SubmitOptions, checkCallbackUrl, type CallbackUrlPolicy, destinationIssues, type DestinationRules } from '../requests/index.ts';
import { tenantIdentity, type IdentityKey, type JobSource } from '../jobs/index.ts';
import { checkThen, type ChainPlan } from '../chains/index.ts';

export interface IncomingMessage {
  /** The message payload bytes (already base64-decoded), or null when the message had none. */
  data: Uint8Array | null;
  attributes: Record<string, string>;
  messageId: string;
  /** The CloudEvent source: with messageId, what makes a delivery unique. */
  eventSource: string;
}

export interface IntakePolicy {
  defaultEeProject: string;
  /** When non-empty, only these Earth Engine projects are accepted (the configuration turns an empty EE_ALLOWED_PROJECTS into EE_PROJECT alone). */
  allowedEeProjects: readonly string[];
  /** Where exports may write (buckets, asset folders); absent: anywhere. */
  destinations?: DestinationRules;
  /** Larger requests cannot be recorded in one Firestore document. */
  maxRequestBytes: number;
  /** What callback URLs may be registered (default: https only, no loopback). Checked again, with DNS, at delivery. */
  callbackPolicy?: CallbackUrlPolicy;
  /** The tenant these submissions belong to (TENANTS): its jobs carry it, and their identities are namespaced by it. */
  tenantId?: string | null;
  /** Set: a callbackUrl is refused, for this reason (a tenant without webhook secrets). */
  noCallbacks?: string;
}

export interface SubmitCommand {
  request: ExportImageRequest;
  eeProject: string;
  labels: Record<string, string>;
  callbackUrl: string | null;
  identity: IdentityKey;
  source: JobSource;
  tenantId: string | null;
  /** The envelope's `then`, checked: the job is the root of a chain (core/chains). */
  then?: ChainPlan;
  /** The envelope's `maxEecuSeconds`: the job's own runaway-guard cap. */
  maxEecuSeconds?: number;
}

export type IntakeResult =
  | { ok: true; command: SubmitCommand }
  | {
      ok: false;
      code: 'EXPORT.INVALID_JSON' | 'EXPORT.INVALID_REQUEST' | 'EXPORT.INVALID_ENVELOPE' | 'EXPORT.UNKNOWN_PROJECT' | 'EXPORT.DESTINATION_NOT_ALLOWED' | 'EXPORT.UNKNOWN_TENANT' | 'EXPORT.TOO_LARGE' | 'CHAIN.INVALID';
      errors: Issue[];
      identity: IdentityKey;
      tenantId: string | null;
      source: JobSource;
      eeProject: string;
      labels: Record<string, string>;
      callbackUrl: string | null;
      rawPreview: string | null;
    };

const PREVIEW_BYTES = 2048;

function preview(data: Uint8Array | null): string | null {
  if (!data) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(0, PREVIEW_BYTES));
  return data.length > PREVIEW_BYTES ? `${text}… (${data.length} bytes)` : text;
}

/**
 * The first string (key or value) that is not well-formed UTF-16 — a lone surrogate,
 * which JSON can carry as `\ud800` but Firestore cannot store — by its path, or null.
 */
export function firstIllFormedString(value: unknown): string | null {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return path || '(root)';
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const p = path ? `${path}.${k.isWellFormed() ? k : k.toWellFormed()}` : k.isWellFormed() ? k : k.toWellFormed();
        if (!k.isWellFormed()) return p;
        stack.push({ v: child, path: p });
      }
    }
  }
  return null;
}

const LONE_SURROGATE = 'holds a lone UTF-16 surrogate (e.g. \\ud800 without its pair): not valid Unicode text';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Options from message attributes; labels arrive as a JSON object string. */
function optionsFromAttributes(attrs: Record<string, string>): { options: Record<string, unknown>; errors: Issue[] } {
  const options: Record<string, unknown> = {};
  const errors: Issue[] = [];
  for (const key of ['eeProject', 'callbackUrl', 'idempotencyKey'] as const) {
    const v = attrs[ATTRIBUTE_NAMES[key]];
    if (v !== undefined) options[key] = v;
  }
  const labels = attrs[ATTRIBUTE_NAMES.labels];
  if (labels !== undefined) {
    try {
      options.labels = JSON.parse(labels);
    } catch {
      errors.push({ path: 'attributes.labels', message: 'must be a JSON object string, e.g. {"team":"forest"}' });
    }
  }
  return { options, errors };
}

function issuesOf(error: { issues: { path: PropertyKey[]; message: string }[] }, prefix: string): Issue[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message }));
}

/**
 * The shared half of intake: validate options + request, pick the project and identity.
 * `fallbackIdentity` is used when neither an idempotency key nor a requestId is given.
 */
export function intakeBody(
  body: unknown,
  extraOptions: Record<string, unknown>,
  extraIssues: Issue[],
  policy: IntakePolicy,
  source: JobSource,
  fallbackIdentity: IdentityKey,
  rawPreview: string | null,
): IntakeResult {
  const tenantId = policy.tenantId ?? null;
  fallbackIdentity = tenantIdentity(tenantId, fallbackIdentity);
  const issues: Issue[] = [...extraIssues];
  // Firestore stores only valid Unicode: such a request could never be recorded, so it is refused here.
  const illFormed = firstIllFormedString(body) ?? firstIllFormedString(extraOptions);
  if (illFormed !== null) {
    return {
      ok: false,
      code: 'EXPORT.INVALID_REQUEST',
      errors: [{ path: illFormed, message: LONE_SURROGATE }],
      identity: fallbackIdentity,
      tenantId,
      source,
      eeProject: policy.defaultEeProject,
      labels: {},
      callbackUrl: null,
      rawPreview: rawPreview?.toWellFormed() ?? null,
    };
  }
  let requestInput: unknown = body;
  let envelopeOptions: Record<string, unknown> = {};
  let then: unknown;
  // An envelope is an object with `request` and none of the request's own required keys.
  if (isPlainObject(body) && 'request' in body && !('expression' in body)) {
    const { request, then: chainSteps, ...rest } = body;
    requestInput = request;
    envelopeOptions = rest;
    then = chainSteps;
  }
  // Envelope and attributes may both say something; if they disagree, say so rather than pick one.
  for (const [k, v] of Object.entries(extraOptions)) {
    if (k in envelopeOptions && JSON.stringify(envelopeOptions[k]) !== JSON.stringify(v)) {
      issues.push({ path: k, message: `given both in the envelope and as a message attribute, with different values` });
    }
  }
  const merged = { ...extraOptions, ...envelopeOptions };
  const parsedOptions = SubmitOptionsSchema.safeParse(merged);
  let options: SubmitOptions = {};
  if (parsedOptions.success) options = parsedOptions.data;
  else issues.push(...issuesOf(parsedOptions.error, ''));

  if (options.callbackUrl && policy.noCallbacks) issues.push({ path: 'callbackUrl', message: `refused: ${policy.noCallbacks}` });
  else if (options.callbackUrl) {
    const check = checkCallbackUrl(options.callbackUrl, policy.callbackPolicy ?? { allowHttp: false, allowLoopback: false });
    if (!check.ok) issues.push({ path: 'callbackUrl', message: `refused: ${check.reasons.join('; ')}` });
  }
  const eeProject = options.eeProject ?? policy.defaultEeProject;
  const labels = options.labels ?? {};
  const callbackUrl = options.callbackUrl ?? null;
  const parsedRequest = parseExportRequest(requestInput);
  const requestId = parsedRequest.ok ? parsedRequest.value.requestId : undefined;
  const identity: IdentityKey = options.idempotencyKey
    ? tenantIdentity(tenantId, { kind: 'key', key: options.idempotencyKey })
    : requestId
      ? tenantIdentity(tenantId, { kind: 'requestId', eeProject, requestId })
      : fallbackIdentity;
  const reject = (code: Extract<IntakeResult, { ok: false }>['code'], errors: Issue[]): IntakeResult => ({
    ok: false,
    code,
    errors,
    identity,
    tenantId,
    source,
    eeProject,
    labels,
    callbackUrl,
    rawPreview,
  });

  if (issues.length) return reject('EXPORT.INVALID_ENVELOPE', issues);
  if (!parsedRequest.ok) {
    const prefix = requestInput === body ? '' : 'request';
    return reject('EXPORT.INVALID_REQUEST', parsedRequest.errors.map((e) => ({ path: [prefix, e.path].filter(Boolean).join('.'), message: e.message })));
  }
  if (policy.allowedEeProjects.length && !policy.allowedEeProjects.includes(eeProject)) {
    return reject('EXPORT.UNKNOWN_PROJECT', [
      { path: 'eeProject', message: `Earth Engine project "${eeProject}" is not one this deployment serves (allowed: ${policy.allowedEeProjects.join(', ')})` },
    ]);
  }
  const refused = destinationIssues(parsedRequest.value, policy.destinations ?? {});
  if (refused.length) {
    const prefix = requestInput === body ? '' : 'request';
    return reject('EXPORT.DESTINATION_NOT_ALLOWED', refused.map((e) => ({ path: [prefix, e.path].filter(Boolean).join('.'), message: e.message })));
  }
  const size = new TextEncoder().encode(JSON.stringify(parsedRequest.value)).length;
  if (size > policy.maxRequestBytes) {
    return reject('EXPORT.TOO_LARGE', [{ path: 'request', message: `request is ${size} bytes; at most ${policy.maxRequestBytes} can be recorded` }]);
  }
  let plan: ChainPlan | undefined;
  if (then !== undefined) {
    const chain = checkThen(then, { kind: 'job', eeProject, labels, request: parsedRequest.value }, policy);
    if (!chain.ok) return reject('CHAIN.INVALID', chain.errors);
    plan = chain.plan;
  }
  return { ok: true, command: { request: parsedRequest.value, eeProject, labels, callbackUrl, identity, source, tenantId, ...(plan ? { then: plan } : {}), ...(options.maxEecuSeconds ? { maxEecuSeconds: options.maxEecuSeconds } : {}) } };
}

export function intakeMessage(msg: IncomingMessage, policy: IntakePolicy): IntakeResult {
  const source: JobSource = { kind: 'pubsub', messageId: msg.messageId, eventSource: msg.eventSource };
  const fallback: IdentityKey = { kind: 'message', source: msg.eventSource, messageId: msg.messageId };
  const { options, errors } = optionsFromAttributes(msg.attributes);
  const raw = preview(msg.data);
  if (!msg.data || msg.data.length === 0) {
    return rejectRaw('EXPORT.INVALID_JSON', [{ path: '', message: 'message has no data; expected an ExportImageRequest as JSON' }]);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data));
  } catch (err) {
    return rejectRaw('EXPORT.INVALID_JSON', [{ path: '', message: `message data is not valid UTF-8 JSON: ${(err as Error).message}` }]);
  }
  return intakeBody(body, options, errors, policy, source, fallback, raw);

  function rejectRaw(code: 'EXPORT.INVALID_JSON', errs: Issue[]): IntakeResult {
    const parsed = SubmitOptionsSchema.safeParse(options);
    const opts = parsed.success ? parsed.data : {};
    const eeProject = opts.eeProject ?? policy.defaultEeProject;
    return {
      ok: false,
      code,
      errors: [...errs, ...errors],
      identity: tenantIdentity(policy.tenantId ?? null, opts.idempotencyKey ? { kind: 'key', key: opts.idempotencyKey } : fallback),
      tenantId: policy.tenantId ?? null,
      source,
      eeProject,
      labels: opts.labels ?? {},
      callbackUrl: opts.callbackUrl ?? null,
      rawPreview: raw,
    };
  }
}

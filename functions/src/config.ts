/**
 * The one place that reads the environment. loadConfig() parses it with zod once per
 * instance and fails at start with a message naming the variable; everything else
 * receives the typed Config. Every variable here is in the README's table, and
 * test/unit/config.test.ts holds the two in step.
 */
import { z } from 'zod';
import { EeProjectSchema } from './core/requests/index.ts';
import { BudgetsSchema } from './core/budgets/index.ts';
import { DEFAULT_MAX_BATCH_CHILDREN, DEFAULT_MAX_EXPANDED_BYTES, MAX_BATCH_CHILDREN } from './core/batches/index.ts';
import { loadUploadRules, type UploadRule } from './core/uploads/index.ts';
import { assetPrefixProblem, underAssetPrefix, type DestinationRules } from './core/requests/index.ts';
import { TenantsSchema, type Tenant } from './core/tenants/index.ts';
import { readFileSync } from 'node:fs';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .default('')
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/** Variable name → schema, with the documentation the README table is checked against. */
export const CONFIG_VARIABLES = {
  GOOGLE_CLOUD_PROJECT: { schema: z.string().min(1).optional(), doc: 'Google Cloud project holding Firestore and Pub/Sub (set by Cloud Functions; required locally)' },
  EE_PROJECT: { schema: EeProjectSchema, doc: 'Default Earth Engine project for requests that name none' },
  EE_ALLOWED_PROJECTS: { schema: list, doc: 'Comma-separated Earth Engine projects requests may name; empty accepts EE_PROJECT alone; `*` accepts any' },
  EXPORT_ALLOWED_BUCKETS: { schema: list, doc: 'Comma-separated Cloud Storage buckets file exports may write to (Drive destinations are then refused); empty: any bucket eeport can write to' },
  EXPORT_ALLOWED_ASSET_PREFIXES: { schema: list, doc: 'Comma-separated asset folders (projects/P/assets/folder) asset exports may write under, by whole segments; empty: anywhere eeport can write to' },
  EE_API_ROOT: { schema: z.url().default('https://earthengine.googleapis.com'), doc: 'Earth Engine REST root; point it at the simulator locally' },
  EE_API_VERSION: { schema: z.enum(['v1', 'v1beta', 'v1alpha']).default('v1'), doc: 'Earth Engine REST API version' },
  EE_ACCESS_TOKEN: { schema: z.string().min(1).optional(), doc: 'Static bearer token instead of Application Default Credentials (local/simulator only; never log it)' },
  EE_HTTP_TIMEOUT_MS: { schema: int(30_000, 100), doc: 'Timeout of one Earth Engine HTTP call' },
  EE_RETRY_MAX_ATTEMPTS: { schema: int(6, 0, 20), doc: 'Retries of 429/5xx/network errors per Earth Engine call' },
  EE_RETRY_BASE_MS: { schema: int(1_000, 1), doc: 'First retry delay; doubles each retry, full jitter' },
  EE_RETRY_MAX_DELAY_MS: { schema: int(32_000, 1), doc: 'Cap on one retry delay' },
  EE_RETRY_DEADLINE_MS: { schema: int(90_000, 1), doc: 'Overall deadline of one Earth Engine call with its retries' },
  EVENTS_TOPIC: { schema: z.string().min(1).default('eeport-events'), doc: 'Pub/Sub topic for job events (CloudEvents JSON)' },
  REQUESTS_TOPIC: { schema: z.string().min(1).default('eeport-requests'), doc: 'Pub/Sub topic submitExport is triggered by (used by tools that publish)' },
  EVENT_SOURCE: { schema: z.string().min(1).optional(), doc: 'CloudEvents `source` of events; default //eeport/projects/{GOOGLE_CLOUD_PROJECT}' },
  MAX_IN_FLIGHT_PER_PROJECT: { schema: int(1_000, 1), doc: 'Jobs submitting/pending/running per Earth Engine project; more wait in QUEUED (keeps clear of the 3,000-task queue cap). A soft cap: submits deciding at the same moment may pass it by their number less one (ADR 0012)' },
  ADMISSION_COUNT_MAX_AGE_MS: { schema: int(1_000, 0, 60_000), doc: 'How long submit (and the poller releasing the queue, ADR 0017) may reuse its last count of a project\'s jobs in flight, plus its own admissions since, while the project is more than a tenth of the cap (at least 50 jobs) below it (0 = count every submit; ADR 0012)' },
  SUBMIT_LEASE_SECONDS: { schema: int(150, 1), doc: 'How long one delivery owns a SUBMITTING job; must exceed EE_RETRY_DEADLINE_MS + EE_HTTP_TIMEOUT_MS' },
  MAX_REQUEST_BYTES: { schema: int(800_000, 1_000, 1_000_000), doc: 'Largest request recorded in a job document (Firestore documents hold 1 MiB)' },
  POLL_WINDOW_SECONDS: { schema: int(50, 0, 540), doc: 'How long one pollExports invocation keeps cycling; just under the scheduler period (0 = one cycle)' },
  POLL_INTERVAL_SECONDS: { schema: int(10, 1, 60), doc: 'Longest wait between cycles within one invocation (used when nothing changes)' },
  POLL_MIN_INTERVAL_SECONDS: { schema: int(2, 1, 60), doc: 'Shortest wait between cycles (used while jobs are changing)' },
  POLL_GET_THRESHOLD: { schema: int(20, 0), doc: 'A project with more live jobs than this is read with operations.list pages instead of one get per job' },
  POLL_LIST_PAGE_SIZE: { schema: int(500, 1, 1000), doc: 'operations.list page size' },
  POLL_MAX_JOBS: { schema: int(10_000, 1), doc: 'Live jobs read per cycle' },
  POLL_GET_CONCURRENCY: { schema: int(8, 1, 40), doc: 'Parallel operations.get calls (Earth Engine allows 40 concurrent requests per project)' },
  POLL_RELEASE_CONCURRENCY: { schema: int(8, 1, 40), doc: 'Parallel image:export calls for jobs the poller releases from the queue (ADR 0017)' },
  POLL_STALE_SUBMIT_SECONDS: { schema: int(300, 1), doc: 'A SUBMITTING job untouched this long is submitted again by the poller (same requestId)' },
  ADOPT_CONFIRM_SECONDS: {
    schema: int(60, 0, 3600),
    doc: 'A job whose requestId Earth Engine answered "already exists" adopts the one matching operation once a search this much later still finds it alone and unclaimed (0 = at once)',
  },
  ADOPT_MAX_PAGES: { schema: int(20, 1, 200), doc: 'operations.list pages (500 each) read per search for such a job’s operation' },
  EE_OPERATION_MAX_AGE_DAYS: { schema: int(10, 1), doc: 'A job unfinished this long after submit is failed as lost (Earth Engine tasks live at most 10 days)' },
  POLL_AUTH_DISABLED: { schema: bool(false), doc: 'Skip the OIDC check on pollExports (local runs only: needs EEPORT_LOCAL=true; refused when K_SERVICE is set)' },
  POLL_OIDC_AUDIENCE: { schema: z.string().min(1).optional(), doc: 'Audience Cloud Scheduler puts in its OIDC token (the function URL)' },
  POLL_INVOKER_EMAIL: { schema: z.string().min(1).optional(), doc: 'Service account Cloud Scheduler signs as; other callers get 403' },
  // The api target checks these combinations itself when it starts (adapters/api-auth.ts), so other targets never trip on them.
  API_AUTH: { schema: z.enum(['none', 'api-key', 'oidc']).default('none'), doc: 'HTTP API check in code, on top of Cloud Functions IAM: none, api-key (x-api-key header) or oidc (Google ID token)' },
  API_ALLOW_UNAUTHENTICATED: { schema: bool(false), doc: 'Accept API_AUTH=none outside a local run (EEPORT_LOCAL); set it only when Cloud Functions IAM keeps the api function private' },
  API_KEYS: { schema: list, doc: 'Comma-separated API keys (API_AUTH=api-key; at least 16 characters each; from Secret Manager when deployed; never logged)' },
  API_OIDC_AUDIENCE: { schema: z.string().min(1).optional(), doc: 'Audience API callers put in their ID tokens, usually the function URL (API_AUTH=oidc)' },
  API_ALLOWED_CALLERS: { schema: list, doc: 'Comma-separated emails (service accounts) allowed to call the API (API_AUTH=oidc); others get 403' },
  API_MAX_BODY_BYTES: { schema: int(1_048_576, 1_024, 33_554_432), doc: 'Largest HTTP API request body accepted; larger ones get 413' },
  API_STATS_CACHE_SECONDS: { schema: int(10, 0, 300), doc: 'GET /v1/stats answers from counts up to this old, kept per instance (0: count at every call, ten count queries)' },
  BATCH_MAX_CHILDREN: {
    schema: int(DEFAULT_MAX_BATCH_CHILDREN, 1, MAX_BATCH_CHILDREN),
    doc: 'Most children one batch may have (list, fan-out values or tiles); a larger batch is refused before any child is made. Above 10,000, raise BATCH_MAX_EXPANDED_BYTES with it and give the functions memory for the whole expanded batch (docs/batches.md)',
  },
  BATCH_MAX_EXPANDED_BYTES: {
    schema: int(DEFAULT_MAX_EXPANDED_BYTES, 65_536, 1_073_741_824),
    doc: 'Largest size (bytes of JSON) a batch’s children may take together, estimated from the spec (template size × children) before any is made; a larger batch is refused unexpanded',
  },
  K_SERVICE: { schema: z.string().optional(), doc: 'Set by Cloud Functions/Run; its presence marks a deployed instance' },
  EEPORT_LOCAL: {
    schema: bool(false),
    doc: 'Marks a local run (the local stack and the test harnesses set it): the local-only switches POLL_AUTH_DISABLED, WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_LOOPBACK and API_AUTH=none without API_ALLOW_UNAUTHENTICATED need it; refused when K_SERVICE is set',
  },
  MAX_RESUBMISSIONS: { schema: int(2, 0, 10), doc: 'Automatic resubmissions of a task that failed for a transient reason (Earth Engine internal error, deadline, exhausted resources); permanent failures never are' },
  RESUBMIT_BACKOFF_SECONDS: { schema: int(60, 0), doc: 'Wait before the first resubmission; doubles for each further one' },
  EECU_BUDGETS: {
    schema: z
      .string()
      .default('[]')
      .transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON' });
          return z.NEVER;
        }
      })
      .pipe(BudgetsSchema),
    doc: 'JSON list of monthly EECU budgets: [{"eeProject","monthlyEecuSeconds"|"tier","label"?:{"key","value"},"workloadTag"?,"onExceeded":"queue"|"reject"|"stop-batches","thresholds"?:[50,80,100],"reserve"?:[{"label"|"workloadTag","share"}],"maxEecuSecondsPerJob"?}]; tier is community, contributor, partner or a number of EECU-hours',
  },
  ESTIMATE_MIN_SAMPLES: { schema: int(3, 1), doc: 'Finished jobs of a computation, workload tag or project an estimate needs before it uses them (fewer: the prior)' },
  ESTIMATE_PRIOR_EECU_PER_MEGAPIXEL: { schema: z.coerce.number().positive().default(5), doc: 'EECU-seconds per output megapixel estimated where there is no history; its band is ÷/× 10' },
  RUNAWAY_TIME_GUARD_FACTOR: { schema: z.coerce.number().min(1).default(1.5), doc: 'Without reported EECU, a capped task is cancelled after running this many times the time its estimate gives the cap' },
  TENANTS: {
    schema: z
      .string()
      .optional()
      .transform((s, ctx) => {
        if (s === undefined) return [];
        let json: unknown;
        try {
          json = JSON.parse(s);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON: [{"id", "apiKeys", "callers", "eeProjects", "exportBuckets", "assetPrefixes", "webhookSecrets"}]' });
          return z.NEVER;
        }
        const r = TenantsSchema.safeParse(json);
        if (r.success) return r.data;
        // Paths and messages only: the value holds API keys and webhook secrets.
        for (const i of r.error.issues.slice(0, 20)) ctx.addIssue({ code: 'custom', message: `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('') || '(root)'}: ${i.message}` });
        return z.NEVER;
      }),
    doc: 'JSON list of tenants, each with its own requests topic ({REQUESTS_TOPIC}-{id}) and scope in the API: [{"id","apiKeys","callers","eeProjects","exportBuckets","assetPrefixes"?,"webhookSecrets"}] (from Secret Manager when deployed; never logged); unset: one trust domain',
  },
  WEBHOOK_SECRETS: { schema: list, doc: 'Comma-separated whsec_… signing secrets (from Secret Manager when deployed); all sign, so rotation is add-new, then drop-old' },
  WEBHOOK_EVENTS: { schema: z.enum(['terminal', 'all']).default('terminal'), doc: 'Which job events call back: terminal ones only, or every state change' },
  WEBHOOK_RETRY_SCHEDULE_SECONDS: {
    schema: z
      .string()
      .default('0,5,300,1800,7200,18000,36000,36000')
      .transform((s) => s.split(',').map((x) => Number(x.trim())))
      .refine((a) => a.length > 0 && a.every((n) => Number.isFinite(n) && n >= 0), 'a comma-separated list of non-negative seconds'),
    doc: 'Delay before each delivery attempt (the Standard Webhooks schedule, ±10% jitter); its length is the number of attempts',
  },
  WEBHOOK_TIMEOUT_MS: { schema: int(15_000, 100, 60_000), doc: 'Timeout of one webhook request (a 2xx within it counts as delivered)' },
  WEBHOOK_ALLOW_HTTP: { schema: bool(false), doc: 'Allow http:// callback URLs (local runs only: needs EEPORT_LOCAL=true; refused when K_SERVICE is set)' },
  WEBHOOK_ALLOW_LOOPBACK: { schema: bool(false), doc: 'Allow loopback callback URLs (local runs only: needs EEPORT_LOCAL=true; refused when K_SERVICE is set)' },
  WEBHOOK_ALLOWED_PORTS: {
    schema: z
      .string()
      .default('80,443')
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean).map(Number))
      .refine((a) => a.length > 0 && a.every((n) => Number.isInteger(n) && n >= 1 && n <= 65_535), 'a comma-separated list of ports (1–65535)'),
    doc: 'Ports a callback URL may use on a public host; loopback (where allowed) may use any',
  },
  UPLOAD_RULES_FILE: { schema: z.string().min(1).optional(), doc: 'Path of the JSON file of upload rules (see Uploads), read once per instance; relative paths start at the working directory (the deployed source root)' },
  UPLOAD_RULES: { schema: z.string().min(1).optional(), doc: 'The upload rules as inline JSON, instead of UPLOAD_RULES_FILE; neither set: every upload is ignored' },
  WATCH_PENDING_SECONDS: { schema: int(7200, 0), doc: 'A task PENDING at Earth Engine longer than this is stalled: one stalled event and a badge (0: never)' },
  WATCH_RUNNING_P95_FACTOR: { schema: z.coerce.number().min(0).default(3), doc: 'A task RUNNING longer than this many times the p95 of similar finished jobs (same project, workload tag or description pattern) is stalled (0: never)' },
  WATCH_MIN_SAMPLES: { schema: int(5, 1), doc: 'Similar finished jobs needed before their p95 is used' },
  WATCH_MIN_RUNNING_SECONDS: { schema: int(600, 0), doc: 'No running task is stalled before it has run this long, whatever its history' },
  WATCH_HISTORY_JOBS: { schema: int(500, 1, 5000), doc: 'Recent SUCCEEDED jobs read per Earth Engine project to learn run times' },
  WATCH_INTERVAL_SECONDS: { schema: int(60, 0), doc: 'How often the poller looks for stalled tasks (0: every cycle)' },
  WATCH_STALL_RESUBMISSIONS: { schema: int(0, 0, 5), doc: 'Stalled tasks cancelled and resubmitted (through the queue, new requestId) per job, at most; 0: the watch only tells' },
  RECOVERY_TILES: { schema: int(0, 0, 256), doc: 'A job that FAILED for memory, compute time or output size is resubmitted as a batch of about this many tiles on its pixel grid (0 or 1: off)' },
  RECOVERY_MAX_DEPTH: { schema: int(1, 1, 3), doc: 'How many tilings deep recovery goes: 1 tiles a failed job once and never its tiles; 2 also tiles a tile that fails again for the same reasons' },
  FIRESTORE_DATABASE: { schema: z.string().min(1).default('(default)'), doc: 'Firestore database id' },
  FIRESTORE_EMULATOR_HOST: { schema: z.string().optional(), doc: 'host:port of the Firestore emulator (local only)' },
  PUBSUB_EMULATOR_HOST: { schema: z.string().optional(), doc: 'host:port of the Pub/Sub emulator (local only)' },
  LOG_LEVEL: { schema: z.enum(['debug', 'info', 'warn', 'error']).default('info'), doc: 'Lowest severity written' },
} as const;

type Vars = typeof CONFIG_VARIABLES;
type Parsed = { [K in keyof Vars]: z.output<Vars[K]['schema']> };

export interface Config extends Parsed {
  eventSource: string;
  /** Parsed from UPLOAD_RULES_FILE or UPLOAD_RULES; empty when neither is set. */
  uploadRules: UploadRule[];
  /** EE_ALLOWED_PROJECTS as the core reads it: empty means any (`*`); unset means EE_PROJECT alone. */
  allowedEeProjects: string[];
  /** EXPORT_ALLOWED_BUCKETS and EXPORT_ALLOWED_ASSET_PREFIXES; a list that is not set is absent (anywhere). */
  destinations: DestinationRules;
  /** TENANTS; empty: one trust domain. */
  tenants: Tenant[];
}

/**
 * The deployment's lists, where set, bound every tenant's: a tenant cannot be given a
 * project, bucket or folder the deployment itself refuses. Problems name the tenant, never a key.
 */
function tenantProblems(parsed: Parsed, allowedEeProjects: readonly string[], destinations: DestinationRules): string[] {
  const problems: string[] = [];
  const adminKeys = new Set(parsed.API_KEYS);
  const adminCallers = new Set(parsed.API_ALLOWED_CALLERS.map((c) => c.toLowerCase()));
  const explicitProjects = parsed.EE_ALLOWED_PROJECTS.length > 0 && allowedEeProjects.length > 0;
  for (const t of parsed.TENANTS) {
    const at = `TENANTS: tenant ${t.id}`;
    if (t.apiKeys.some((k) => adminKeys.has(k))) problems.push(`${at}: an API key is also in API_KEYS (the operators' keys); a key names one scope`);
    for (const c of t.callers) if (adminCallers.has(c.toLowerCase())) problems.push(`${at}: caller ${c} is also in API_ALLOWED_CALLERS; a caller names one scope`);
    if (explicitProjects) for (const p of t.eeProjects) if (!allowedEeProjects.includes(p)) problems.push(`${at}: eeProject "${p}" is not in EE_ALLOWED_PROJECTS`);
    const buckets = destinations.exportBuckets;
    if (buckets) for (const b of t.exportBuckets) if (!buckets.includes(b)) problems.push(`${at}: export bucket "${b}" is not in EXPORT_ALLOWED_BUCKETS`);
    const prefixes = destinations.assetPrefixes;
    if (prefixes) for (const p of t.assetPrefixes) if (!prefixes.some((q) => underAssetPrefix(p, q))) problems.push(`${at}: asset prefix "${p}" is not under EXPORT_ALLOWED_ASSET_PREFIXES`);
  }
  const ids = new Set(parsed.TENANTS.map((t) => t.id));
  parsed.EECU_BUDGETS.forEach((b, i) => {
    if (b.tenant !== undefined && !ids.has(b.tenant)) problems.push(`EECU_BUDGETS: [${i}].tenant "${b.tenant}" is not a tenant in TENANTS`);
  });
  return problems;
}

/** Closed by default: no list is EE_PROJECT alone; `*` (alone) is any project, which the core reads as no list. */
function resolveAllowedProjects(listed: string[], defaultProject: string, problems: string[]): string[] {
  if (!listed.includes('*')) return listed.length ? listed : [defaultProject];
  if (listed.length > 1) problems.push('EE_ALLOWED_PROJECTS: `*` (any project) goes alone, not with a list');
  return [];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, { schema }] of Object.entries(CONFIG_VARIABLES)) {
    const raw = env[name] === '' ? undefined : env[name];
    const r = (schema as z.ZodType).safeParse(raw);
    if (r.success) out[name] = r.data;
    else problems.push(`${name}: ${r.error.issues.map((i) => i.message).join('; ')}${raw === undefined ? ' (not set)' : ''}`);
  }
  if (problems.length) throw new ConfigError(problems);
  const parsed = out as Parsed;
  // The last retry may start just before the deadline and then take a whole timeout.
  if (parsed.SUBMIT_LEASE_SECONDS * 1000 <= parsed.EE_RETRY_DEADLINE_MS + parsed.EE_HTTP_TIMEOUT_MS) {
    problems.push(
      `SUBMIT_LEASE_SECONDS (${parsed.SUBMIT_LEASE_SECONDS}s) must exceed EE_RETRY_DEADLINE_MS + EE_HTTP_TIMEOUT_MS (${parsed.EE_RETRY_DEADLINE_MS + parsed.EE_HTTP_TIMEOUT_MS}ms), or two deliveries could submit at once`,
    );
  }
  if (!parsed.POLL_AUTH_DISABLED && parsed.K_SERVICE && (!parsed.POLL_OIDC_AUDIENCE || !parsed.POLL_INVOKER_EMAIL)) {
    problems.push('POLL_OIDC_AUDIENCE and POLL_INVOKER_EMAIL must be set on a deployed instance (or POLL_AUTH_DISABLED=true, which is refused there)');
  }
  if (parsed.POLL_AUTH_DISABLED && parsed.K_SERVICE) problems.push('POLL_AUTH_DISABLED=true is for local runs only, but K_SERVICE says this is a deployed instance');
  if (parsed.K_SERVICE && (parsed.WEBHOOK_ALLOW_HTTP || parsed.WEBHOOK_ALLOW_LOOPBACK)) {
    problems.push('WEBHOOK_ALLOW_HTTP / WEBHOOK_ALLOW_LOOPBACK are for local runs only, but K_SERVICE says this is a deployed instance');
  }
  // A switch that weakens a check needs a run that says it is local, not merely one without K_SERVICE
  // (a VM, a container or another runtime sets none).
  if (parsed.EEPORT_LOCAL && parsed.K_SERVICE) problems.push('EEPORT_LOCAL=true marks a local run, but K_SERVICE says this is a deployed instance');
  const localOnly = (['POLL_AUTH_DISABLED', 'WEBHOOK_ALLOW_HTTP', 'WEBHOOK_ALLOW_LOOPBACK'] as const).filter((name) => parsed[name]);
  if (localOnly.length && !parsed.EEPORT_LOCAL && !parsed.K_SERVICE) {
    problems.push(`${localOnly.join(', ')}: for local runs only, and EEPORT_LOCAL=true does not say this is one (the local stack and the test harnesses set it)`);
  }
  if (parsed.WEBHOOK_SECRETS.some((s) => !s.startsWith('whsec_'))) problems.push('WEBHOOK_SECRETS: every secret must look like whsec_<base64>');
  // Rules are validated here, at start, so a broken rules file fails the deploy instead of every upload.
  const allowedEeProjects = resolveAllowedProjects(parsed.EE_ALLOWED_PROJECTS, parsed.EE_PROJECT, problems);
  for (const p of parsed.EXPORT_ALLOWED_ASSET_PREFIXES) {
    const problem = assetPrefixProblem(p);
    if (problem) problems.push(`EXPORT_ALLOWED_ASSET_PREFIXES: ${problem}`);
  }
  const destinations: DestinationRules = {
    ...(parsed.EXPORT_ALLOWED_BUCKETS.length ? { exportBuckets: parsed.EXPORT_ALLOWED_BUCKETS } : {}),
    ...(parsed.EXPORT_ALLOWED_ASSET_PREFIXES.length ? { assetPrefixes: parsed.EXPORT_ALLOWED_ASSET_PREFIXES } : {}),
  };
  problems.push(...tenantProblems(parsed, allowedEeProjects, destinations));
  const tenantProjects = new Map(parsed.TENANTS.map((t) => [t.id, t.eeProjects]));
  const uploads = loadUploadRules({ inline: parsed.UPLOAD_RULES, file: parsed.UPLOAD_RULES_FILE }, (path) => readFileSync(path, 'utf8'), { allowedEeProjects, tenantProjects });
  problems.push(...uploads.problems);
  if (problems.length) throw new ConfigError(problems);
  return { ...parsed, eventSource: parsed.EVENT_SOURCE ?? `//eeport/projects/${parsed.GOOGLE_CLOUD_PROJECT ?? 'local'}`, uploadRules: uploads.rules, allowedEeProjects, destinations, tenants: parsed.TENANTS };
}

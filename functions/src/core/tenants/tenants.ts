/**
 * Tenants: several teams on one eeport, each seeing only its own jobs and batches.
 *
 * A tenant is configuration (TENANTS, from Secret Manager when deployed): who its
 * callers are (API keys, OIDC emails), where its exports may go (Earth Engine
 * projects, buckets, asset folders) and which secrets sign its webhooks. Its requests
 * topic is its own, so the submit function learns the tenant from the topic a message
 * came through, never from the message. Everything a tenant makes (jobs, batches,
 * webhook deliveries, events) carries its id; idempotency keys and client requestIds
 * are namespaced by it.
 *
 * Without TENANTS there is one trust domain: every caller sees everything, as before.
 */
import { z } from 'zod';
import { assetPrefixProblem, EeProjectSchema, type DestinationRules } from '../requests/index.ts';

/** Lowercase letters, digits and "-", starting with a letter: safe in topic names, document ids and Pub/Sub attributes. */
export const TENANT_ID_PATTERN = /^[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/;

const MIN_API_KEY_LENGTH = 16;
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

const unique = <T>(what: string) => (xs: readonly T[], ctx: z.RefinementCtx) => {
  const seen = new Set<T>();
  for (const x of xs) {
    if (seen.has(x)) ctx.addIssue({ code: 'custom', message: `${what} listed twice` });
    seen.add(x);
  }
};

export const TenantSchema = z
  .strictObject({
    id: z.string().regex(TENANT_ID_PATTERN, '1–30 lowercase letters, digits or "-", starting with a letter and not ending with "-"'),
    apiKeys: z.array(z.string().min(MIN_API_KEY_LENGTH, `API keys have at least ${MIN_API_KEY_LENGTH} characters`)).default([]).describe('x-api-key values of its callers (API_AUTH=api-key)'),
    callers: z.array(z.email()).default([]).describe('Emails of its callers (API_AUTH=oidc)'),
    eeProjects: z.array(EeProjectSchema).min(1).superRefine(unique('a project')).describe('Earth Engine projects it may export in; the first is its default'),
    exportBuckets: z.array(z.string().regex(BUCKET, 'must be a bucket name')).default([]).describe('Buckets its file exports may write to; none: no file exports'),
    assetPrefixes: z
      .array(
        z.string().superRefine((p, ctx) => {
          const problem = assetPrefixProblem(p);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .optional()
      .describe('Asset folders its asset exports may write under; default: projects/{p}/assets of each of its eeProjects'),
    webhookSecrets: z
      .array(z.string().startsWith('whsec_', 'must look like whsec_<base64>'))
      .default([])
      .describe('whsec_… secrets its webhooks are signed with (all sign: rotate by adding, then dropping); none: its requests may not name a callbackUrl'),
  })
  .transform((t) => ({ ...t, assetPrefixes: t.assetPrefixes ?? t.eeProjects.map((p) => `projects/${p}/assets`) }));
export type Tenant = z.output<typeof TenantSchema>;

export const TenantsSchema = z.array(TenantSchema).superRefine((tenants, ctx) => {
  const owner = new Map<string, string>();
  const claim = (what: string, value: string, id: string, path: PropertyKey[]) => {
    const other = owner.get(`${what}\n${value}`);
    if (other !== undefined && other !== id) ctx.addIssue({ code: 'custom', path, message: `${what} also belongs to tenant "${other}": a caller must name one tenant` });
    else if (other === id) ctx.addIssue({ code: 'custom', path, message: `${what} listed twice` });
    owner.set(`${what}\n${value}`, id);
  };
  tenants.forEach((t, i) => {
    if (owner.has(`id\n${t.id}`)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `tenant id "${t.id}" is used twice` });
    owner.set(`id\n${t.id}`, t.id);
    t.apiKeys.forEach((k, j) => claim('an API key', k, t.id, [i, 'apiKeys', j]));
    t.callers.forEach((c, j) => claim(`caller ${c}`, c.toLowerCase(), t.id, [i, 'callers', j]));
  });
});

/**
 * Whose data a caller reaches: everyone's (admin: the operators, and every caller when
 * there are no tenants) or one tenant's. `tenantId: null` is the untenanted scope: the
 * shared requests topic while tenants exist.
 */
export type Scope = { kind: 'admin' } | { kind: 'tenant'; tenantId: string | null };

export const ADMIN_SCOPE: Scope = { kind: 'admin' };
export const tenantScope = (tenantId: string | null): Scope => ({ kind: 'tenant', tenantId });

/** Whether something owned by `tenantId` is visible in `scope`. Callers answer "not found" otherwise, never "forbidden". */
export function canSee(scope: Scope, tenantId: string | null): boolean {
  return scope.kind === 'admin' || scope.tenantId === tenantId;
}

/** The tenant a scope acts for when it creates something (admin: none). */
export const actingTenant = (scope: Scope): string | null => (scope.kind === 'admin' ? null : scope.tenantId);

/** The tenant filter of a listing in this scope: undefined lists everyone's. */
export const listFilter = (scope: Scope): string | null | undefined => (scope.kind === 'admin' ? undefined : scope.tenantId);

/** Where a tenant's exports may write. */
export function tenantDestinations(t: Tenant): DestinationRules {
  return { exportBuckets: t.exportBuckets, assetPrefixes: t.assetPrefixes };
}

export interface TenantDirectory {
  /** False without TENANTS: one trust domain, every caller admin. */
  readonly enabled: boolean;
  readonly tenants: readonly Tenant[];
  get(tenantId: string): Tenant | undefined;
  /**
   * The scope of an API caller the authenticator vouched for (an email, or an API key's
   * fingerprint), or null when tenants exist and neither a tenant nor the admin list
   * names it.
   */
  scopeOfCaller(caller: string | undefined): Scope | null;
}

/**
 * `callerIds` says how a tenant's callers show up once authenticated (the API keys'
 * fingerprints, the emails); `adminCallers` are the operators' (API_KEYS, API_ALLOWED_CALLERS).
 */
export function createTenantDirectory(tenants: readonly Tenant[], opts: { adminCallers: readonly string[]; callerIds: (t: Tenant) => readonly string[] }): TenantDirectory {
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const byCaller = new Map<string, string>();
  for (const t of tenants) for (const c of opts.callerIds(t)) byCaller.set(c.toLowerCase(), t.id);
  const admins = new Set(opts.adminCallers.map((c) => c.toLowerCase()));
  const enabled = tenants.length > 0;
  return {
    enabled,
    tenants,
    get: (id) => byId.get(id),
    scopeOfCaller(caller) {
      if (!enabled) return ADMIN_SCOPE;
      if (caller === undefined) return null;
      const key = caller.toLowerCase();
      const tenantId = byCaller.get(key);
      if (tenantId !== undefined) return tenantScope(tenantId);
      return admins.has(key) ? ADMIN_SCOPE : null;
    },
  };
}

/**
 * The tenant a requests topic belongs to: `{requestsTopic}-{tenantId}`. `shared` for the
 * shared topic itself; `unknown` for a topic that looks like neither (a tenant removed
 * from TENANTS whose topic still delivers, or a misdirected subscription).
 */
export function tenantOfTopic(topic: string | null, requestsTopic: string, directory: Pick<TenantDirectory, 'get'>): { kind: 'shared' } | { kind: 'tenant'; tenantId: string } | { kind: 'unknown'; topic: string | null } {
  if (topic === requestsTopic) return { kind: 'shared' };
  const prefix = `${requestsTopic}-`;
  const id = topic?.startsWith(prefix) ? topic.slice(prefix.length) : null;
  return id !== null && directory.get(id) ? { kind: 'tenant', tenantId: id } : { kind: 'unknown', topic };
}

/** The topic a tenant publishes its requests to. */
export const tenantTopic = (requestsTopic: string, tenantId: string) => `${requestsTopic}-${tenantId}`;

/** The topic a Pub/Sub CloudEvent's source names (`//pubsub.googleapis.com/projects/p/topics/t`), or null. */
export function topicOfSource(source: string): string | null {
  return /^\/\/pubsub\.googleapis\.com\/projects\/[^/]+\/topics\/([^/]+)$/.exec(source)?.[1] ?? null;
}

/**
 * Holds infra/ (Terraform) to the code. `terraform validate` needs the google provider,
 * which cannot be downloaded everywhere (it runs in Cloud Build); these checks need
 * only the HCL, parsed with @cdktf/hcl2json (test/unit/infra-schema.test.ts holds it to
 * the provider's schema):
 * - every function target the code registers is deployed, with its entry point, on nodejs22,
 *   from its own bundle, fed the way its signature expects (one resource over
 *   local.deployed_functions, each target's differences in local.function_specs);
 * - every variable the config schema requires is set on every function, and every
 *   variable set is one the schema knows;
 * - every Pub/Sub delivery has a retry policy and a dead-letter topic that is kept;
 *   every event trigger retries;
 * - no role broader than needed, each with its reason; no authoritative IAM;
 * - the composite indexes are exactly infra/firestore.indexes.json (itself generated from
 *   FIRESTORE_INDEXES), TTL only where the code says it is safe;
 * - the timeouts keep the invariants the code relies on;
 * - every reference resolves (a poor man's `terraform validate`);
 * - a first apply works: service agents exist before their grants, the build account has
 *   what Google documents, the first trigger waits for its roles, inputs Google would
 *   refuse mid-apply are refused at plan (validations and conditions, run with terraform).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getReferencesInExpression, parse } from '@cdktf/hcl2json';
import type { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../functions/src/config.ts';
import { COLLECTIONS, TTL_FIELD, TTL_RETENTION_DAYS } from '../../functions/src/adapters/job-store.firestore.ts';
import { discoverTargets, REPO_ROOT } from '../../tools/build-bundles.ts';
import { firestoreIndexes } from '../../tools/gen-schemas.ts';

const INFRA = join(REPO_ROOT, 'infra');
type Body = Record<string, unknown>;

interface Model {
  resource: Record<string, Record<string, Body>>;
  data: Record<string, Record<string, Body>>;
  locals: Record<string, unknown>;
  variable: Record<string, Body>;
  output: Record<string, Body>;
  terraform: Body[];
  files: Record<string, string>;
}

let model: Model;

async function loadModel(): Promise<Model> {
  const m: Model = { resource: {}, data: {}, locals: {}, variable: {}, output: {}, terraform: [], files: {} };
  for (const file of readdirSync(INFRA).filter((f) => f.endsWith('.tf')).sort()) {
    const text = readFileSync(join(INFRA, file), 'utf8');
    m.files[file] = text;
    const parsed = (await parse(file, text)) as Record<string, unknown>;
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Record<string, Body[]>>)) {
        for (const [name, bodies] of Object.entries(byName)) {
          expect(m[kind][type]?.[name], `${kind} ${type}.${name} declared twice`).toBeUndefined();
          (m[kind][type] ??= {})[name] = bodies[0]!;
        }
      }
    }
    for (const block of (parsed.locals ?? []) as Record<string, unknown>[]) {
      for (const [k, v] of Object.entries(block)) {
        expect(m.locals[k], `local.${k} declared twice`).toBeUndefined();
        m.locals[k] = v;
      }
    }
    for (const [k, v] of Object.entries((parsed.variable ?? {}) as Record<string, Body[]>)) m.variable[k] = v[0]!;
    for (const [k, v] of Object.entries((parsed.output ?? {}) as Record<string, Body[]>)) m.output[k] = v[0]!;
    m.terraform.push(...((parsed.terraform ?? []) as Body[]));
  }
  return m;
}

/** First element of a block list (hcl2json gives every nested block as a list). */
const block = (body: Body, name: string): Body => {
  const v = body[name];
  expect(Array.isArray(v) && v.length > 0, `missing block ${name}`).toBe(true);
  return (v as Body[])[0]!;
};
const hasBlock = (body: Body, name: string) => Array.isArray(body[name]) && (body[name] as unknown[]).length > 0;

/** `${local.name}` → the local's value; `${local.a.b}` → a nested attribute; anything else as is. */
function resolve(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = /^\$\{local\.([\w.]+)\}$/.exec(value);
  if (!m) return value;
  let v: unknown = model.locals;
  for (const part of m[1]!.split('.')) v = (v as Record<string, unknown>)?.[part];
  return resolve(v);
}
const num = (value: unknown): number => {
  const v = resolve(value);
  const n = typeof v === 'number' ? v : Number(v);
  expect(Number.isFinite(n), `expected a number, got ${JSON.stringify(value)}`).toBe(true);
  return n;
};

/** The one function resource; it is deployed once per entry of local.deployed_functions. */
const fnResource = () => {
  const all = model.resource.google_cloudfunctions2_function ?? {};
  expect(Object.keys(all), 'one google_cloudfunctions2_function resource, for_each over local.deployed_functions').toEqual(['fn']);
  expect(all.fn!.for_each).toBe('${local.deployed_functions}');
  return all.fn!;
};
/** What differs between targets: description, ingress, env, secrets (locals.function_specs). */
const specs = () => model.locals.function_specs as Record<string, Body>;
/**
 * The targets local.deployed_functions deploys, and which one runs once per watched bucket
 * with an event trigger: every function_specs entry but that one by its name, that one per
 * upload bucket (the expression is read, not evaluated: this is the shape it must keep).
 */
function deployedTargets(): { byName: string[]; perBucket: string } {
  const expr = String(model.locals.deployed_functions);
  const byName = /\{ for target, spec in local\.function_specs : target => merge\(spec, \{ target = target, name = local\.function_names\[target\], bucket = null \}\) if target != "(\w+)" \}/.exec(expr);
  expect(byName, 'deployed_functions: every spec by its name, with bucket = null').not.toBeNull();
  const perBucket = /for key, bucket in local\.upload_functions : "(\w+)\/\$\{key\}" => merge\(local\.function_specs\.(\w+), \{[\s\S]*?\btarget\s*=\s*"(\w+)"[\s\S]*?\bbucket\s*=\s*bucket\s*\}\)/.exec(expr);
  expect(perBucket, 'deployed_functions: one entry per upload bucket, with its bucket').not.toBeNull();
  expect(new Set([byName![1], perBucket![1], perBucket![2], perBucket![3]]).size, 'the same target is excluded by name and deployed per bucket').toBe(1);
  return { byName: Object.keys(specs()).filter((t) => t !== byName![1]), perBucket: byName![1]! };
}
const requiredVariables = () =>
  Object.entries(CONFIG_VARIABLES)
    .filter(([, v]) => !(v.schema as z.ZodType).safeParse(undefined).success)
    .map(([k]) => k);

/** The keys of a function's environment_variables: an object, or merge(local.a, local.b, var.extra_env). */
async function envKeys(expr: unknown): Promise<Set<string>> {
  if (expr && typeof expr === 'object') return new Set(Object.keys(expr));
  const keys = new Set<string>();
  for (const ref of await getReferencesInExpression('env.tf', String(expr))) {
    if (ref.value === 'var.extra_env') continue;
    const m = /^local\.(\w+)$/.exec(ref.value);
    expect(m, `environment built from ${ref.value}: only locals (object literals) and var.extra_env are understood`).not.toBeNull();
    const local = model.locals[m![1]!];
    expect(local && typeof local === 'object', `local.${m![1]} must be an object literal`).toBe(true);
    for (const k of Object.keys(local as object)) keys.add(k);
  }
  return keys;
}

/** The keys of a target's secret environment variables: its spec's `secrets`, a list literal or a local holding one. */
function secretKeys(target: string): string[] {
  const raw = specs()[target]!.secrets;
  // concat(local.a, local.b): the keys of each.
  const parts = /^\$\{concat\(([^()]*)\)\}$/.exec(String(raw))?.[1]?.split(',').map((p) => `\${${p.trim()}}`);
  if (parts) return parts.flatMap((p) => keysOf(resolve(p)));
  return keysOf(resolve(raw));
}
function keysOf(secrets: unknown): string[] {
  if (Array.isArray(secrets)) return secrets.map((s) => String((s as Body).key));
  return [...String(secrets).matchAll(/\bkey\s*=\s*"(\w+)"/g)].map((m) => m[1]!);
}

beforeAll(async () => {
  model = await loadModel();
}, 60_000);

describe('infra/: formatting and the provider', () => {
  it('is `terraform fmt` clean', (ctx) => {
    try {
      execFileSync('terraform', ['version'], { stdio: 'ignore' });
    } catch {
      console.log('SKIPPED terraform fmt: terraform is not on the PATH (Cloud Build runs it)');
      ctx.skip();
    }
    // Throws with the unformatted files listed when it is not clean.
    execFileSync('terraform', ['fmt', '-check', '-recursive', 'infra'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  });

  it('pins the google provider to one major line', () => {
    const providers = model.terraform.flatMap((t) => (t.required_providers ?? []) as Body[]);
    const google = providers.map((p) => p.google as Body | undefined).find(Boolean);
    expect(google?.source).toBe('hashicorp/google');
    expect(String(google?.version)).toMatch(/^~>\s*\d+\.\d+$/);
  });
});

describe('infra/: function targets', () => {
  it('deploys every target the code registers, and nothing else, with its entry point on nodejs22 from its own bundle', () => {
    const code = discoverTargets().map((t) => t.name).sort();
    expect(code.length).toBeGreaterThan(0);
    expect(Object.keys(specs()).sort()).toEqual(code);
    expect(model.locals.function_targets).toEqual(code);
    const { byName, perBucket } = deployedTargets();
    expect([...byName, perBucket].sort()).toEqual(code);
    const build = block(fnResource(), 'build_config');
    expect(build.runtime).toBe('nodejs22');
    expect(build.entry_point).toBe('${each.value.target}');
    const object = String(block(block(build, 'source'), 'storage_source').object);
    expect(object, 'each function deploys the bundle of its own target').toBe('${google_storage_bucket_object.bundle[each.value.target].name}');
    for (const field of ['memory', 'cpu', 'timeout', 'concurrency', 'max_instances']) {
      expect(JSON.stringify(block(fnResource(), 'service_config')), `${field} comes from the target's sizes`).toContain(`\${local.functions[each.value.target].${field}}`);
    }
  });

  it('feeds each target the way its signature expects: HTTP targets have no trigger; CloudEvent targets a trigger or a push subscription', () => {
    const pushed = Object.keys(model.locals.push_subscriptions as object);
    const { perBucket } = deployedTargets();
    // The trigger is there exactly when the entry has a bucket, i.e. for the per-bucket target.
    const trigger = ((fnResource().dynamic as Body).event_trigger as Body[])[0]!;
    expect(trigger.for_each).toBe('${each.value.bucket == null ? [] : [each.value.bucket]}');
    expect(hasBlock(fnResource(), 'event_trigger'), 'no unconditional trigger').toBe(false);
    for (const t of discoverTargets()) {
      const triggered = t.name === perBucket;
      if (t.signature === 'http') {
        expect(triggered, `${t.name} is an HTTP target`).toBe(false);
        expect(pushed, `${t.name} is an HTTP target`).not.toContain(t.name);
      } else {
        expect(triggered !== pushed.includes(t.name), `${t.name} (CloudEvent) needs exactly one of an event trigger or a push subscription`).toBe(true);
      }
    }
  });

  it('sets every variable the config schema requires on every function, and only variables the schema knows', async () => {
    const required = requiredVariables();
    expect(required).toContain('EE_PROJECT');
    const known = new Set(Object.keys(CONFIG_VARIABLES));
    const service = block(fnResource(), 'service_config');
    expect(service.environment_variables).toBe('${merge(each.value.env, var.extra_env)}');
    const secrets = ((service.dynamic as Body).secret_environment_variables as Body[])[0]!;
    expect(secrets.for_each).toBe('${each.value.secrets}');
    expect(block(secrets, 'content').key).toBe('${secret_environment_variables.value.key}');
    for (const [target, spec] of Object.entries(specs())) {
      const keys = await envKeys(spec.env);
      for (const r of [...required, 'GOOGLE_CLOUD_PROJECT', 'EE_PROJECT', 'EVENTS_TOPIC', 'FIRESTORE_DATABASE']) expect(keys, `${target} lacks ${r}`).toContain(r);
      for (const k of [...keys, ...secretKeys(target)]) expect(known, `${target} sets ${k}, which functions/src/config.ts does not read`).toContain(k);
    }
  });

  it('sets none of the local-only switches on any function (EEPORT_LOCAL, POLL_AUTH_DISABLED, WEBHOOK_ALLOW_*)', async () => {
    for (const [target, spec] of Object.entries(specs())) {
      const keys = await envKeys(spec.env);
      for (const k of ['EEPORT_LOCAL', 'POLL_AUTH_DISABLED', 'WEBHOOK_ALLOW_HTTP', 'WEBHOOK_ALLOW_LOOPBACK']) expect(keys, `${target} sets ${k}`).not.toContain(k);
    }
  });

  it('gives the poller what a deployed instance requires, and the webhook secret only to the functions that sign', async () => {
    const keys = await envKeys(specs().pollExports!.env);
    expect(keys).toContain('POLL_OIDC_AUDIENCE');
    expect(keys).toContain('POLL_INVOKER_EMAIL');
    expect(keys).not.toContain('POLL_AUTH_DISABLED');
    const signers = Object.keys(specs())
      .filter((t) => secretKeys(t).includes('WEBHOOK_SECRETS'))
      .sort();
    expect(signers).toEqual(['deliverWebhook', 'pollExports']);
    expect(String(model.locals.webhook_signers)).toContain('"deliverWebhook", "pollExports"');
    expect(Object.keys(specs()).filter((t) => secretKeys(t).includes('API_KEYS'))).toEqual(['api']);
  });

  it('tenants: a requests topic each, named as the code reads it ({REQUESTS_TOPIC}-{id}), pushed to submitExport by an endpoint naming it; publishers on it only; TENANTS on every function', () => {
    const topic = model.resource.google_pubsub_topic!.tenant_requests!;
    expect(topic.name).toBe('${google_pubsub_topic.requests.name}-${each.key}');
    expect((model.locals.env_common as Body).REQUESTS_TOPIC).toBe('${google_pubsub_topic.requests.name}');
    // One more push subscription per tenant, to submitExport, from the tenant's topic, with submitExport's policy.
    const deliveries = String(model.locals.push_deliveries);
    expect(deliveries).toContain('for id, t in local.tenants : "submitExport/${id}" => merge(local.push_subscriptions.submitExport, {');
    expect(deliveries).toMatch(/target\s*=\s*"submitExport"[\s\S]*topic\s*=\s*google_pubsub_topic\.tenant_requests\[id\]/);
    const push = model.resource.google_pubsub_subscription!.push!;
    expect(push.for_each).toBe('${local.push_deliveries}');
    expect(block(push, 'push_config').push_endpoint).toBe('${local.run_url[each.value.target]}/projects/${var.project_id}/topics/${each.value.topic.name}');
    expect(model.resource.google_pubsub_subscription_iam_member!.dead_letter_subscriber!.for_each).toBe('${local.push_deliveries}');
    expect(model.resource.google_pubsub_topic_iam_member!.tenant_publisher!.topic).toBe('${google_pubsub_topic.tenant_requests[each.value.id].id}');
    for (const t of Object.keys(specs())) expect(secretKeys(t), t).toContain('TENANTS');
  });

  it('keeps every target internal but the API', () => {
    expect(block(fnResource(), 'service_config').ingress_settings).toBe('${each.value.ingress}');
    for (const [target, spec] of Object.entries(specs())) expect(spec.ingress, target).toBe(target === 'api' ? 'ALLOW_ALL' : 'ALLOW_INTERNAL_ONLY');
  });
});

describe('infra/: delivery, retries and dead letters', () => {
  it('every push subscription has a retry policy, a delivery-attempt limit and a dead-letter topic with its own subscription', () => {
    const subs = Object.entries(model.resource.google_pubsub_subscription ?? {});
    const pushSubs = subs.filter(([, s]) => hasBlock(s, 'push_config'));
    expect(pushSubs.length).toBeGreaterThan(0);
    for (const [name, s] of pushSubs) {
      const retry = block(s, 'retry_policy');
      expect(retry.minimum_backoff, name).toBeDefined();
      expect(retry.maximum_backoff, name).toBeDefined();
      const dlq = block(s, 'dead_letter_policy');
      expect(String(dlq.dead_letter_topic), name).toMatch(/google_pubsub_topic\.dead_letter/);
      expect(String(block(s, 'push_config').oidc_token ? 'oidc' : ''), `${name} pushes with an identity token`).toBe('oidc');
    }
    for (const [target, cfg] of Object.entries(model.locals.push_subscriptions as Record<string, Body>)) {
      const attempts = num(cfg.max_delivery_attempts);
      expect(attempts, `${target}: Pub/Sub allows 5-100 delivery attempts`).toBeGreaterThanOrEqual(5);
      expect(attempts).toBeLessThanOrEqual(100);
    }
    // A dead-letter topic without a subscription loses what it gets.
    const hold = model.resource.google_pubsub_subscription!.dead_letter_hold!;
    expect(hold.for_each).toBe(model.resource.google_pubsub_topic!.dead_letter!.for_each);
    expect(String(hold.topic)).toMatch(/google_pubsub_topic\.dead_letter\[each\.key\]/);
    expect(hold.message_retention_duration).toBe('604800s');
    expect(block(hold, 'expiration_policy').ttl).toBe('');
  });

  it("grants Pub/Sub's service agent what dead-lettering needs", () => {
    const pub = model.resource.google_pubsub_topic_iam_member!.dead_letter_publisher!;
    const sub = model.resource.google_pubsub_subscription_iam_member!.dead_letter_subscriber!;
    expect([pub.role, sub.role]).toEqual(['roles/pubsub.publisher', 'roles/pubsub.subscriber']);
    for (const g of [pub, sub]) expect(g.member).toBe('${local.pubsub_service_agent}');
    expect(model.locals.pubsub_service_agent).toBe('${google_project_service_identity.agent["pubsub.googleapis.com"].member}');
  });

  it('every event trigger retries (the handlers are idempotent), and none reads Pub/Sub (that goes through the dead-lettered subscriptions)', () => {
    const triggers = ((fnResource().dynamic as Body).event_trigger ?? []) as Body[];
    expect(triggers.length).toBe(1);
    const t = block(triggers[0]!, 'content');
    expect(t.retry_policy).toBe('RETRY_POLICY_RETRY');
    expect(t.pubsub_topic).toBeUndefined();
    expect(t.service_account_email).toBe('${google_service_account.eventarc.email}');
    expect(t.event_type).toBe('google.cloud.storage.object.v1.finalized');
    expect(block(t, 'event_filters')).toEqual({ attribute: 'bucket', value: '${event_trigger.value}' });
    expect(t.trigger_region).toBe('${lower(data.google_storage_bucket.upload[event_trigger.value].location)}');
  });

  it('the scheduler calls the poller with OIDC, audience = URL = POLL_OIDC_AUDIENCE, with an explicit retry policy', () => {
    const job = model.resource.google_cloud_scheduler_job!.poll!;
    const target = block(job, 'http_target');
    const oidc = block(target, 'oidc_token');
    expect(target.uri).toBe('${local.run_url.pollExports}');
    expect(oidc.audience).toBe(target.uri);
    expect((model.locals.env_poll as Body).POLL_OIDC_AUDIENCE).toBe(target.uri);
    expect(String(oidc.service_account_email)).toContain('google_service_account.scheduler');
    expect(String((model.locals.env_poll as Body).POLL_INVOKER_EMAIL)).toContain('google_service_account.scheduler');
    expect(block(job, 'retry_config').retry_count).toBe(0);
  });
});

describe('infra/: timeouts keep the invariants the code relies on', () => {
  it('submit: lease > Earth Engine call with retries; function timeout > lease; ack deadline > timeout', () => {
    const lease = num(model.locals.submit_lease_seconds);
    expect(lease * 1000).toBeGreaterThan(num(model.locals.ee_retry_deadline_ms) + num(model.locals.ee_http_timeout_ms));
    for (const target of ['submitExport', 'onObjectFinalized', 'api']) {
      expect(num((model.locals.functions as Record<string, Body>)[target]!.timeout), target).toBeGreaterThan(lease);
    }
    expect((model.locals.env_common as Body).SUBMIT_LEASE_SECONDS).toBe('${tostring(local.submit_lease_seconds)}');
  });

  it('poll: timeout > window, < the 60 s schedule period; the scheduler waits for the whole run', () => {
    const window = num(model.locals.poll_window_seconds);
    const timeout = num((model.locals.functions as Record<string, Body>).pollExports!.timeout);
    expect(timeout).toBeGreaterThan(window);
    expect(timeout).toBeLessThan(60);
    const deadline = num(model.locals.poll_attempt_deadline_seconds);
    expect(deadline).toBeGreaterThanOrEqual(timeout);
    expect(deadline).toBeLessThanOrEqual(60);
    expect(model.resource.google_cloud_scheduler_job!.poll!.attempt_deadline).toBe('${local.poll_attempt_deadline_seconds}s');
    expect((model.locals.env_poll as Body).POLL_WINDOW_SECONDS).toBe('${tostring(local.poll_window_seconds)}');
  });

  it('webhook: timeout > the delivery lease (2 × WEBHOOK_TIMEOUT_MS); push ack deadlines exceed the function timeouts, within 600 s', () => {
    expect(num(model.locals.webhook_timeout_seconds) * 1000).toBeGreaterThan(2 * num(model.locals.webhook_timeout_ms));
    const fns = model.locals.functions as Record<string, Body>;
    for (const [target, cfg] of Object.entries(model.locals.push_subscriptions as Record<string, Body>)) {
      const ack = String(cfg.ack_deadline).match(/^\$\{local\.(\w+) \+ local\.(\w+)\}$/);
      expect(ack, `${target}: ack deadline as timeout + margin`).not.toBeNull();
      const seconds = num(`\${local.${ack![1]}}`) + num(`\${local.${ack![2]}}`);
      expect(seconds).toBeGreaterThan(num(fns[target]!.timeout));
      expect(seconds).toBeLessThanOrEqual(600);
    }
    for (const [name, cfg] of Object.entries(fns)) expect(num(cfg.timeout), `${name}: event functions stop at 540 s`).toBeLessThanOrEqual(540);
  });
});

describe('infra/: IAM', () => {
  const roles = () =>
    Object.entries(model.resource)
      .filter(([type]) => type.endsWith('_iam_member'))
      .flatMap(([type, byName]) => Object.entries(byName).map(([name, r]) => ({ at: `${type}.${name}`, type, role: String(r.role) })));

  it('grants no basic or admin role, and nothing authoritative', () => {
    expect(roles().length).toBeGreaterThan(10);
    for (const { at, role } of roles()) {
      expect(role, at).toMatch(/^roles\/[\w.]+$/);
      expect(['roles/owner', 'roles/editor', 'roles/viewer'], at).not.toContain(role);
      expect(role, at).not.toMatch(/admin$/i);
    }
    for (const type of Object.keys(model.resource)) expect(type, 'authoritative IAM would remove grants made elsewhere').not.toMatch(/_iam_(binding|policy)$/);
  });

  it('grants the narrow roles on the narrow resource: invoker per service, secrets per secret, publisher per topic', () => {
    for (const { at, type, role } of roles()) {
      if (role === 'roles/run.invoker') expect(type, at).toBe('google_cloud_run_v2_service_iam_member');
      if (role === 'roles/secretmanager.secretAccessor') expect(type, at).toBe('google_secret_manager_secret_iam_member');
      if (role === 'roles/pubsub.publisher' && type === 'google_project_iam_member') expect(at, "only Cloud Storage's service agent publishes project-wide").toBe('google_project_iam_member.gcs_notifications');
    }
    const poll = model.resource.google_cloud_run_v2_service_iam_member!.poll_invoker!;
    expect(poll.name).toBe('${google_cloudfunctions2_function.fn["pollExports"].name}');
    expect(poll.member).toBe('${google_service_account.scheduler.member}');
  });

  it('one runtime service account per function target', () => {
    const accounts = model.locals.runtime_accounts as Record<string, Body>;
    expect(Object.keys(accounts).sort()).toEqual(discoverTargets().map((t) => t.name).sort());
    expect(new Set(Object.values(accounts).map((a) => a.id)).size).toBe(Object.keys(accounts).length);
    expect(block(fnResource(), 'service_config').service_account_email).toBe('${google_service_account.fn[each.value.target].email}');
  });

  it('says why for every role', () => {
    for (const [file, text] of Object.entries(model.files)) {
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        if (!/^\s*role\s*=/.test(line)) return;
        const above = lines[i - 1] ?? '';
        expect(/^\s*#/.test(above) || /#/.test(line), `${file}:${i + 1} grants ${line.trim()} without a comment saying why`).toBe(true);
      });
    }
  });
});

describe('infra/: Firestore', () => {
  it('deploys exactly the indexes of firestore.indexes.json, which is generated from FIRESTORE_INDEXES', () => {
    const indexes = Object.entries(model.resource.google_firestore_index ?? {});
    expect(indexes.map(([n]) => n)).toEqual(['composite']);
    const [, ix] = indexes[0]!;
    expect(ix.for_each).toBe('${local.firestore_indexes}');
    expect(String(model.locals.firestore_indexes)).toContain('jsondecode(file("${path.module}/firestore.indexes.json")).indexes');
    const fields = ((ix.dynamic as Body).fields as Body[])[0]!;
    expect(fields.for_each).toBe('${each.value.fields}');
    const file = JSON.parse(readFileSync(join(INFRA, 'firestore.indexes.json'), 'utf8')) as unknown;
    expect(file).toEqual(firestoreIndexes());
  });

  it("indexes batchStats' summed fields behind its equality filters (Firestore computes sum() from index entries; the emulator never asks)", () => {
    const source = readFileSync(join(REPO_ROOT, 'functions/src/adapters/job-store.firestore.ts'), 'utf8');
    const body = /async batchStats\([\s\S]*?\n {4}\},\n/.exec(source)?.[0] ?? '';
    const equalities = [...body.matchAll(/\.where\('(\w+)', '=='/g)].map((m) => m[1]!);
    const summed = [...body.matchAll(/AggregateField\.(?:sum|average)\('(\w+)'\)/g)].map((m) => m[1]!);
    expect(equalities.sort()).toEqual(['batchCurrent', 'batchId', 'state']);
    expect(summed.length).toBeGreaterThan(0);
    const fits = firestoreIndexes().indexes.some((ix) => {
      const fields: string[] = ix.fields.map((f) => f.fieldPath);
      return ix.collectionGroup === 'jobs' && [...fields.slice(0, equalities.length)].sort().join() === [...equalities].sort().join() && summed.every((f) => fields.slice(equalities.length).includes(f));
    });
    expect(fits, `an index on jobs: ${equalities.join(', ')}, then ${summed.join(', ')}`).toBe(true);
  });

  it("indexes batchEstimate: its equalities, then the range on the estimate, then the summed fields", () => {
    const source = readFileSync(join(REPO_ROOT, 'functions/src/adapters/job-store.firestore.ts'), 'utf8');
    const body = /async batchEstimate\([\s\S]*?\n {4}\},\n/.exec(source)?.[0] ?? '';
    const equalities = [...body.matchAll(/\.where\('([\w.]+)', '=='/g)].map((m) => m[1]!);
    const ranges = [...body.matchAll(/\.where\('([\w.]+)', '>='/g)].map((m) => m[1]!);
    const summed = [...body.matchAll(/AggregateField\.sum\('([\w.]+)'\)/g)].map((m) => m[1]!);
    expect(equalities.sort()).toEqual(['batchCurrent', 'batchId']);
    expect(ranges).toEqual(['estimate.eecuSeconds.expected']);
    expect(summed.length).toBe(4);
    const fits = firestoreIndexes().indexes.some((ix) => {
      const fields: string[] = ix.fields.map((f) => f.fieldPath);
      return ix.collectionGroup === 'jobs' && fields.slice(0, 2).sort().join() === equalities.join() && fields[2] === ranges[0] && summed.every((f) => fields.slice(2).includes(f));
    });
    expect(fits, `an index on jobs: ${equalities.join(', ')}, then ${ranges[0]}, then ${summed.join(', ')}`).toBe(true);
  });

  it('uses TTL only on the collections the code marks safe, on the field the code writes', () => {
    const ttl = model.locals.ttl_collections as string[];
    expect([...ttl].sort()).toEqual(Object.keys(TTL_RETENTION_DAYS).sort());
    for (const never of [COLLECTIONS.jobs, COLLECTIONS.leases, COLLECTIONS.eeProjects]) expect(ttl).not.toContain(never);
    expect(model.locals.ttl_field).toBe(TTL_FIELD);
    const field = model.resource.google_firestore_field!.ttl!;
    expect(field.field).toBe('${local.ttl_field}');
    expect(hasBlock(field, 'ttl_config') || Array.isArray(field.ttl_config)).toBe(true);
  });
});

describe('cloudbuild.yaml', () => {
  const yaml = () => readFileSync(join(REPO_ROOT, 'cloudbuild.yaml'), 'utf8');

  /** Runs the terraform-apply step's script as Cloud Build would, substitutions applied, `terraform apply` replaced by a marker. */
  function applies(subs: Record<string, string>): boolean {
    const step = /- id: terraform-apply\n[\s\S]*?args:\n\s+- -c\n\s+- \|\n([\s\S]*?)\n\n/.exec(yaml())?.[1];
    expect(step, 'the terraform-apply step runs a script').toBeDefined();
    const indent = /^ */.exec(step!)![0].length;
    const script = step!
      .split('\n')
      .map((l) => l.slice(indent))
      .join('\n')
      // Cloud Build's substitution: $$ is a literal $, ${X} and $X the substitution (built-ins a build does not have are empty).
      .replace(/\$\$|\$\{(\w+)\}|\$(\w+)/g, (m, a?: string, b?: string) => (m === '$$' ? '$' : (subs[a ?? b!] ?? '')))
      .replace('terraform apply -input=false tfplan', 'echo APPLYING');
    return execFileSync('sh', ['-c', script], { encoding: 'utf8' }).includes('APPLYING');
  }

  it('installs, checks, tests, builds, validates and plans, then applies', () => {
    const ids = [...yaml().matchAll(/^ {2}- id: ([\w-]+)$/gm)].map((m) => m[1]);
    for (const id of ['install', 'lint', 'typecheck', 'test', 'build', 'terraform-init', 'terraform-validate', 'terraform-plan', 'terraform-apply']) expect(ids).toContain(id);
    expect(ids.indexOf('terraform-plan')).toBeLessThan(ids.indexOf('terraform-apply'));
    expect(yaml()).toMatch(/terraform validate/);
    expect(yaml()).toMatch(/npm run build/);
    // The plan waits for every check.
    expect(yaml()).toMatch(/id: terraform-plan[\s\S]*?waitFor: \[terraform-validate, build, test, lint, typecheck\]/);
  });

  it('applies with _APPLY=true from a manual `gcloud builds submit` (no trigger, empty $BRANCH_NAME) and from a trigger on main, nowhere else', () => {
    expect(applies({ _APPLY: 'true' }), 'manual build, as documented').toBe(true);
    expect(applies({ _APPLY: 'false' })).toBe(false);
    expect(applies({ _APPLY: 'true', TRIGGER_NAME: 'push', BRANCH_NAME: 'main' })).toBe(true);
    expect(applies({ _APPLY: 'true', TRIGGER_NAME: 'push', BRANCH_NAME: 'feature' })).toBe(false);
    expect(applies({ _APPLY: 'true', TRIGGER_NAME: 'release', TAG_NAME: 'v1' }), 'a tag build has no branch, but a trigger').toBe(false);
    expect(applies({ _APPLY: 'false', TRIGGER_NAME: 'push', BRANCH_NAME: 'main' })).toBe(false);
  });

  it('runs Terraform from one exact image version', () => {
    const images = [...yaml().matchAll(/name: (hashicorp\/terraform:\S*)/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThanOrEqual(4);
    for (const image of images) expect(image, 'a moving tag could change the plan between two builds of one commit').toMatch(/^hashicorp\/terraform:\d+\.\d+\.\d+$/);
    expect(new Set(images).size).toBe(1);
  });

  it('runs the tests on one exact Cloud SDK image and the Node.js the lockfile pins (the `node` devDependency)', () => {
    const images = [...yaml().matchAll(/name: (gcr\.io\/google\.com\/cloudsdktool\/\S*)/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const image of images) expect(image, 'a moving tag could change the emulators between two builds of one commit').toMatch(/^gcr\.io\/google\.com\/cloudsdktool\/google-cloud-cli:\d+\.\d+\.\d+-emulators$/);
    expect(new Set(images).size).toBe(1);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    expect(/_NODE_VERSION: (\S+)/.exec(yaml())?.[1]).toBe(lock.packages['node_modules/node']?.version);
    expect(yaml()).not.toMatch(/latest-v22/);
  });
});

describe('infra/: a first apply that works', () => {
  const iamMembers = () =>
    Object.entries(model.resource)
      .filter(([type]) => type.endsWith('_iam_member'))
      .flatMap(([type, byName]) => Object.entries(byName).map(([name, r]) => ({ at: `${type}.${name}`, r })));

  it('makes the Pub/Sub and Eventarc service agents (google-beta) after their APIs and before any grant to them; Cloud Storage\'s is read (which creates it) after the APIs', () => {
    const agents = model.resource.google_project_service_identity!.agent!;
    expect(agents.provider).toBe('${google-beta}');
    expect(agents.for_each).toBe('${toset(["pubsub.googleapis.com", "eventarc.googleapis.com"])}');
    expect(agents.depends_on).toContain('${google_project_service.enabled}');
    expect(model.locals.pubsub_service_agent).toBe('${google_project_service_identity.agent["pubsub.googleapis.com"].member}');
    expect(model.locals.eventarc_service_agent).toBe('${google_project_service_identity.agent["eventarc.googleapis.com"].member}');
    // No grant names a service agent by a hand-built address (which may not exist yet).
    for (const { at, r } of iamMembers()) expect(String(r.member), at).not.toMatch(/gcp-sa-|service-\$\{/);
    expect(model.data.google_storage_project_service_account!.gcs!.depends_on).toContain('${google_project_service.enabled}');
    const eventarc = model.resource.google_project_iam_member!.eventarc_agent!;
    expect([eventarc.role, eventarc.member]).toEqual(['roles/eventarc.serviceAgent', '${local.eventarc_service_agent}']);
  });

  it('waits once after the trigger-related grants before making the functions (the first-trigger race)', () => {
    const wait = model.resource.time_sleep!.eventarc_grants!;
    expect(wait.count).toBe('${length(local.upload_functions) > 0 ? 1 : 0}');
    expect(wait.create_duration).toMatch(/^\d+s$/);
    expect(Number.parseInt(String(wait.create_duration), 10)).toBeGreaterThanOrEqual(60);
    for (const grant of ['google_project_iam_member.eventarc_agent', 'google_project_iam_member.eventarc_receiver', 'google_project_iam_member.gcs_notifications']) {
      expect(wait.depends_on, grant).toContain(`\${${grant}}`);
    }
    expect(fnResource().depends_on).toContain('${time_sleep.eventarc_grants}');
  });

  it('gives the build account what Google documents for a custom build account (roles/run.builder), before any function is built', () => {
    const grants = Object.entries(model.resource.google_project_iam_member ?? {}).filter(([, r]) => r.member === '${google_service_account.build.member}');
    expect(grants.map(([, r]) => r.role)).toEqual(['roles/run.builder']);
    const build = block(fnResource(), 'build_config');
    expect(build.service_account).toBe('${google_service_account.build.id}');
    for (const [name] of grants) expect(fnResource().depends_on).toContain(`\${google_project_iam_member.${name}}`);
    expect(fnResource().depends_on).toContain('${google_storage_bucket_iam_member.build_sources}');
  });

  it('enables each API once per project: Earth Engine in every Earth Engine project and this one; the prerequisites are listed', () => {
    const enabled = String(model.resource.google_project_service!.enabled!.for_each);
    for (const api of ['cloudresourcemanager.googleapis.com', 'serviceusage.googleapis.com', 'eventarc.googleapis.com', 'pubsub.googleapis.com']) expect(enabled).toContain(`"${api}"`);
    expect(enabled).not.toContain('earthengine');
    const services = Object.values(model.resource.google_project_service ?? {});
    expect(services.filter((r) => JSON.stringify(r).includes('earthengine.googleapis.com'))).toHaveLength(1);
    expect(model.resource.google_project_service!.earthengine!.for_each).toBe('${toset(distinct(concat([var.project_id], local.ee_projects)))}');
  });

  it('holds the google providers to ~> 6.50 (the schema test/fixtures/provider-schema.json holds infra/ to)', () => {
    const providers = Object.assign({}, ...model.terraform.flatMap((t) => (t.required_providers ?? []) as Body[])) as Record<string, Body>;
    expect(providers.google).toEqual({ source: 'hashicorp/google', version: '~> 6.50' });
    expect(providers['google-beta']).toEqual({ source: 'hashicorp/google-beta', version: '~> 6.50' });
  });

  it('refuses an upload bucket of another project at plan (a storage trigger only watches its own project)', () => {
    const upload = model.data.google_storage_bucket!.upload!;
    const post = block(block(upload, 'lifecycle'), 'postcondition');
    expect(post.condition).toBe('${tostring(self.project_number) == tostring(data.google_project.this.number)}');
    expect(String(post.error_message)).toContain('${each.value}');
  });

  it('refuses IAM members of the wrong type at plan, naming them, and passes the emails to the code (terraform runs the validations)', (ctx) => {
    try {
      execFileSync('terraform', ['version'], { stdio: 'ignore' });
    } catch {
      console.log('SKIPPED: terraform is not on the PATH (Cloud Build validates and plans)');
      ctx.skip();
    }
    // variables.tf alone (no provider needed) and the expression the api's environment uses.
    const dir = mkdtempSync(join(tmpdir(), 'eeport-tf-vars-'));
    try {
      const callers = String((model.locals.env_api as Body).API_ALLOWED_CALLERS);
      writeFileSync(join(dir, 'variables.tf'), model.files['variables.tf']!);
      writeFileSync(join(dir, 'out.tf'), `output "callers" {\n  value = ${callers.slice(2, -1)}\n}\n`);
      const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
      execFileSync('terraform', ['init', '-input=false', '-backend=false'], { cwd: dir, env, stdio: 'ignore' });
      const plan = (vars: string) => {
        writeFileSync(join(dir, 'x.tfvars'), `project_id = "p"\nee_project = "e"\n${vars}\n`);
        try {
          return { ok: true, out: execFileSync('terraform', ['plan', '-input=false', '-no-color', '-var-file=x.tfvars'], { cwd: dir, env, encoding: 'utf8', stdio: 'pipe' }).replace(/\s+/g, ' ') };
        } catch (e) {
          return { ok: false, out: String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '').replace(/\s+/g, ' ') };
        }
      };
      const good = plan('api_invokers = ["group:team@example.com", "user:a@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com", "domain:example.com"]\napi_allowed_callers = ["user:a@example.com", "serviceAccount:ci@p.iam.gserviceaccount.com"]');
      expect(good.ok, good.out).toBe(true);
      expect(good.out).toContain('callers = "a@example.com,ci@p.iam.gserviceaccount.com"');
      const typeless = plan('api_allowed_callers = ["ci@p.iam.gserviceaccount.com"]');
      expect(typeless.ok).toBe(false);
      expect(typeless.out.replace(/[│\s]+/g, ' ')).toContain('Not one: ci@p.iam.gserviceaccount.com.');
      const swapped = plan('api_allowed_callers = ["serviceAccount:someone@example.com", "user:ci@p.iam.gserviceaccount.com", "user:ok@example.com"]');
      expect(swapped.ok).toBe(false);
      expect(swapped.out.replace(/[│\s]+/g, ' ')).toContain('Wrong: serviceAccount:someone@example.com, user:ci@p.iam.gserviceaccount.com.');
      const group = plan('api_allowed_callers = ["group:team@example.com"]');
      expect(group.ok, 'an ID token never names a group').toBe(false);
      const invokers = plan('api_invokers = ["someone@example.com", "user:ci@p.iam.gserviceaccount.com"]');
      expect(invokers.ok).toBe(false);
      expect(invokers.out.replace(/[│\s]+/g, ' ')).toContain('Not one: someone@example.com.');
      expect(invokers.out.replace(/[│\s]+/g, ' ')).toContain('Wrong: user:ci@p.iam.gserviceaccount.com.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('infra/: references', () => {
  it('every var., local., resource and data reference resolves (what terraform validate would catch first)', async () => {
    const problems: string[] = [];
    const declared = (ref: string): boolean => {
      const parts = ref.split('.');
      if (parts[0] === 'var') return parts[1]! in model.variable;
      if (parts[0] === 'local') return parts[1]! in model.locals;
      if (parts[0] === 'data') return Boolean(model.data[parts[1]!]?.[parts[2]!.replace(/\[.*$/, '')]);
      if (['each', 'count', 'path', 'self', 'terraform'].includes(parts[0]!)) return true;
      if (/^google_|^terraform_data$/.test(parts[0]!)) return Boolean(model.resource[parts[0]!]?.[parts[1]!.replace(/\[.*$/, '')]);
      return true; // iteration variables of for expressions and dynamic blocks
    };
    const visit = async (where: string, v: unknown): Promise<void> => {
      if (typeof v === 'string' && v.includes('${')) {
        for (const ref of await getReferencesInExpression('x.tf', v)) if (!declared(ref.value)) problems.push(`${where}: ${ref.value}`);
      } else if (Array.isArray(v)) for (const [i, x] of v.entries()) await visit(`${where}[${i}]`, x);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) await visit(`${where}.${k}`, x);
    };
    await visit('resource', model.resource);
    await visit('data', model.data);
    await visit('locals', model.locals);
    await visit('output', model.output);
    expect(problems).toEqual([]);
  }, 60_000);
});

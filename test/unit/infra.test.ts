/**
 * Holds infra/ (Terraform) to the code. `terraform validate` needs the google provider,
 * which cannot be downloaded everywhere (it runs in Cloud Build); these checks need
 * only the HCL, parsed with @cdktf/hcl2json:
 * - every function target the code registers is deployed, with its entry point, on nodejs22,
 *   from its own bundle, fed the way its signature expects;
 * - every variable the config schema requires is set on every function, and every
 *   variable set is one the schema knows;
 * - every Pub/Sub delivery has a retry policy and a dead-letter topic that is kept;
 *   every event trigger retries;
 * - no role broader than needed, each with its reason; no authoritative IAM;
 * - the composite indexes are exactly infra/firestore.indexes.json (itself generated from
 *   FIRESTORE_INDEXES), TTL only where the code says it is safe;
 * - the timeouts keep the invariants the code relies on;
 * - every reference resolves (a poor man's `terraform validate`).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

const functions = () => Object.entries(model.resource.google_cloudfunctions2_function ?? {});
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

/** The keys of a function's secret environment variables (plain or dynamic blocks). */
function secretKeys(serviceConfig: Body): string[] {
  const plain = ((serviceConfig.secret_environment_variables ?? []) as Body[]).map((s) => String(s.key));
  const dynamic = (((serviceConfig.dynamic as Body | undefined)?.secret_environment_variables ?? []) as Body[]).map((d) => String(block(d, 'content').key));
  return [...plain, ...dynamic];
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
    const deployed = functions().map(([, f]) => String(block(f, 'build_config').entry_point));
    expect([...new Set(deployed)].sort()).toEqual(code);
    expect(model.locals.function_targets).toEqual(code);
    for (const [name, f] of functions()) {
      const build = block(f, 'build_config');
      expect(build.runtime, name).toBe('nodejs22');
      const object = String(block(block(build, 'source'), 'storage_source').object);
      expect(object, `${name} must deploy the bundle of its own target`).toBe(`\${google_storage_bucket_object.bundle["${String(build.entry_point)}"].name}`);
    }
  });

  it('feeds each target the way its signature expects: HTTP targets have no trigger; CloudEvent targets a trigger or a push subscription', () => {
    const pushed = Object.keys(model.locals.push_subscriptions as object);
    for (const t of discoverTargets()) {
      const deployments = functions().filter(([, f]) => block(f, 'build_config').entry_point === t.name);
      for (const [name, f] of deployments) {
        if (t.signature === 'http') {
          expect(hasBlock(f, 'event_trigger'), `${name} is an HTTP target`).toBe(false);
          expect(pushed, `${name} is an HTTP target`).not.toContain(t.name);
        } else {
          expect(hasBlock(f, 'event_trigger') !== pushed.includes(t.name), `${name} (CloudEvent) needs exactly one of an event trigger or a push subscription`).toBe(true);
        }
      }
    }
  });

  it('sets every variable the config schema requires on every function, and only variables the schema knows', async () => {
    const required = requiredVariables();
    expect(required).toContain('EE_PROJECT');
    const known = new Set(Object.keys(CONFIG_VARIABLES));
    for (const [name, f] of functions()) {
      const service = block(f, 'service_config');
      const keys = await envKeys(service.environment_variables);
      for (const r of [...required, 'GOOGLE_CLOUD_PROJECT', 'EE_PROJECT', 'EVENTS_TOPIC', 'FIRESTORE_DATABASE']) expect(keys, `${name} lacks ${r}`).toContain(r);
      for (const k of [...keys, ...secretKeys(service)]) expect(known, `${name} sets ${k}, which functions/src/config.ts does not read`).toContain(k);
    }
  });

  it('gives the poller what a deployed instance requires, and the webhook secret only to the functions that sign', async () => {
    const poll = model.resource.google_cloudfunctions2_function!.poll_exports!;
    const keys = await envKeys(block(poll, 'service_config').environment_variables);
    expect(keys).toContain('POLL_OIDC_AUDIENCE');
    expect(keys).toContain('POLL_INVOKER_EMAIL');
    expect(keys).not.toContain('POLL_AUTH_DISABLED');
    const signers = functions()
      .filter(([, f]) => secretKeys(block(f, 'service_config')).includes('WEBHOOK_SECRETS'))
      .map(([, f]) => String(block(f, 'build_config').entry_point))
      .sort();
    expect(signers).toEqual(['deliverWebhook', 'pollExports']);
    expect(String(model.locals.webhook_signers)).toContain('"deliverWebhook", "pollExports"');
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
    expect(String(model.locals.pubsub_service_agent)).toContain('@gcp-sa-pubsub.iam.gserviceaccount.com');
  });

  it('every event trigger retries (the handlers are idempotent), and none reads Pub/Sub (that goes through the dead-lettered subscriptions)', () => {
    const triggers = functions().filter(([, f]) => hasBlock(f, 'event_trigger'));
    expect(triggers.length).toBeGreaterThan(0);
    for (const [name, f] of triggers) {
      const t = block(f, 'event_trigger');
      expect(t.retry_policy, name).toBe('RETRY_POLICY_RETRY');
      expect(t.pubsub_topic, name).toBeUndefined();
      expect(t.service_account_email, name).toBeDefined();
    }
    const upload = model.resource.google_cloudfunctions2_function!.on_object_finalized!;
    const t = block(upload, 'event_trigger');
    expect(t.event_type).toBe('google.cloud.storage.object.v1.finalized');
    expect(block(t, 'event_filters')).toEqual({ attribute: 'bucket', value: '${each.value}' });
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
    expect(poll.name).toBe('${google_cloudfunctions2_function.poll_exports.name}');
    expect(poll.member).toBe('${google_service_account.scheduler.member}');
  });

  it('one runtime service account per function target', () => {
    const accounts = model.locals.runtime_accounts as Record<string, Body>;
    expect(Object.keys(accounts).sort()).toEqual(discoverTargets().map((t) => t.name).sort());
    expect(new Set(Object.values(accounts).map((a) => a.id)).size).toBe(Object.keys(accounts).length);
    for (const [name, f] of functions()) {
      expect(String(block(f, 'service_config').service_account_email), name).toBe(`\${google_service_account.fn["${String(block(f, 'build_config').entry_point)}"].email}`);
    }
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
  it('installs, checks, tests, builds, validates and plans; applies only on main with _APPLY=true', () => {
    const yaml = readFileSync(join(REPO_ROOT, 'cloudbuild.yaml'), 'utf8');
    const ids = [...yaml.matchAll(/^ {2}- id: ([\w-]+)$/gm)].map((m) => m[1]);
    for (const id of ['install', 'lint', 'typecheck', 'test', 'build', 'terraform-init', 'terraform-validate', 'terraform-plan', 'terraform-apply']) expect(ids).toContain(id);
    expect(ids.indexOf('terraform-plan')).toBeLessThan(ids.indexOf('terraform-apply'));
    expect(yaml).toMatch(/terraform validate/);
    expect(yaml).toMatch(/npm run build/);
    expect(yaml).toMatch(/if \[ "\$\{_APPLY\}" = "true" \] && \[ "\$BRANCH_NAME" = "main" \]; then\s+terraform apply -input=false tfplan/);
    // The plan waits for every check.
    expect(yaml).toMatch(/id: terraform-plan[\s\S]*?waitFor: \[terraform-validate, build, test, lint, typecheck\]/);
  });
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

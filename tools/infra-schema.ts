/**
 * `npm run infra:schema`: writes test/fixtures/provider-schema.json, the schema of every
 * resource and data source type infra/*.tf uses, taken from the real providers, so a unit
 * test (test/unit/infra-schema.test.ts) can hold infra/ to it without network access.
 *
 * Where the schema comes from: the CDK for Terraform bindings on npm are generated from
 * the providers' own schemas, one package version per provider version:
 *   @cdktf/provider-google@16.12.1       hashicorp/google 6.50.0
 *   @cdktf/provider-google-beta@16.12.1  hashicorp/google-beta 6.50.0
 *   @cdktf/provider-time@11.0.1          hashicorp/time 0.13.1
 * Each tarball (`npm pack`, ~30 MB; not a dependency, never installed) holds a `.jsii`
 * file (JSON, ~100 MB): every resource is a class whose initializer takes a config
 * interface listing its arguments (`optional` or not); a nested block is a property whose
 * type is another such interface (one block) or an array of them (a list/set of blocks).
 * What a resource exports is its class's getters.
 *
 * Names: jsii names are camelCase; Terraform's are read back, not guessed (a naive
 * snake_case conversion is wrong for e.g. detectMd5Hash → detect_md5hash, or
 * buildAttribute → build), from two independent places that must agree:
 *   1. the property's docs: "Docs at Terraform Registry: {@link …#ack_deadline_seconds …}";
 *   2. the generated JavaScript next to it, which emits the Terraform key
 *      (`ack_deadline_seconds: cdktf.numberToTerraform(this._ackDeadlineSeconds)`) and reads
 *      exported attributes by name (`this.getStringAttribute('email')`).
 * A disagreement, or a name found in neither, stops the script.
 *
 * Not run in CI: it downloads ~65 MB. Run it when infra/ starts using another resource
 * type or the provider version moves, and commit the fixture.
 *
 *   npm run infra:schema                      # npm pack into a temporary directory
 *   npm run infra:schema -- --tarballs DIR    # reuse tarballs already in DIR (npm pack writes there too)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INFRA = join(REPO_ROOT, 'infra');
export const SCHEMA_FIXTURE = join(REPO_ROOT, 'test/fixtures/provider-schema.json');

/** Provider source → the bindings package generated from it (and the version it must say it was generated from). */
const PACKAGES: Record<string, { pkg: string; version: string; provider: string }> = {
  'hashicorp/google': { pkg: '@cdktf/provider-google', version: '16.12.1', provider: '6.50.0' },
  'hashicorp/google-beta': { pkg: '@cdktf/provider-google-beta', version: '16.12.1', provider: '6.50.0' },
  'hashicorp/time': { pkg: '@cdktf/provider-time', version: '11.0.1', provider: '0.13.1' },
};

// ---------------------------------------------------------------------------------------
// The fixture's shape (also what the test reads).

/** One block: the resource's top level, or a nested block. */
export interface BlockSchema {
  /** Arguments written as `name = value`: required or optional. */
  args: Record<string, 'required' | 'optional'>;
  /** Attributes the provider sets and exports, which cannot be written. */
  computed: string[];
  /** Nested blocks, written `name { … }`; `list` when there may be several; `computed` when only exported. */
  blocks: Record<string, { nesting: 'single' | 'list'; required?: true; computed?: true; block: BlockSchema }>;
}

export interface ProviderSchemaFixture {
  $comment: string;
  providers: Record<string, { version: string; from: string }>;
  resource: Record<string, { provider: string; schema: BlockSchema }>;
  data: Record<string, { provider: string; schema: BlockSchema }>;
}

/** Terraform's own resource (terraform.io/builtin/terraform), not in any provider package. */
const TERRAFORM_DATA: BlockSchema = {
  args: { input: 'optional', triggers_replace: 'optional' },
  computed: ['id', 'output'],
  blocks: {},
};

// ---------------------------------------------------------------------------------------
// What infra/ uses.

interface Used {
  kind: 'resource' | 'data';
  type: string;
  /** Provider source, e.g. hashicorp/google-beta. */
  source: string;
}

/** Every resource and data source type of infra/*.tf, with the provider each comes from. */
export async function usedTypes(infraDir = INFRA): Promise<Used[]> {
  const files = readdirSync(infraDir).filter((f) => f.endsWith('.tf')).sort();
  const parsed = await Promise.all(files.map(async (f) => (await parse(f, readFileSync(join(infraDir, f), 'utf8'))) as Record<string, unknown>));
  // Local provider names (required_providers) → sources; a type's default provider is its prefix.
  const sources: Record<string, string> = {};
  for (const p of parsed)
    for (const t of (p.terraform ?? []) as Record<string, unknown>[])
      for (const rp of (t.required_providers ?? []) as Record<string, { source?: string }>[])
        for (const [local, spec] of Object.entries(rp)) if (spec.source) sources[local] = spec.source;
  const used = new Map<string, Used>();
  for (const p of parsed) {
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byName] of Object.entries((p[kind] ?? {}) as Record<string, Record<string, Record<string, unknown>[]>>)) {
        for (const bodies of Object.values(byName)) {
          const explicit = /^\$\{([\w-]+)(\.\w+)?\}$/.exec(String(bodies[0]?.provider ?? ''))?.[1];
          const local = explicit ?? type.split('_')[0]!;
          const source = type === 'terraform_data' ? 'terraform.io/builtin/terraform' : (sources[local] ?? `hashicorp/${local}`);
          used.set(`${kind} ${type} ${source}`, { kind, type, source });
        }
      }
    }
  }
  return [...used.values()].sort((a, b) => `${a.kind} ${a.type}`.localeCompare(`${b.kind} ${b.type}`));
}

// ---------------------------------------------------------------------------------------
// Reading a .jsii assembly.

type TypeRef = { primitive?: string; fqn?: string; collection?: { kind: 'array' | 'map'; elementtype: TypeRef }; union?: { types: TypeRef[] } };
interface JsiiProperty {
  name: string;
  optional?: boolean;
  static?: boolean;
  type: TypeRef;
  docs?: { summary?: string; remarks?: string };
}
interface JsiiType {
  kind: 'class' | 'interface' | 'enum';
  fqn: string;
  name: string;
  datatype?: boolean;
  docs?: { summary?: string };
  initializer?: { parameters?: { name: string; type: TypeRef }[] };
  properties?: JsiiProperty[];
  methods?: { name: string; returns?: { type: TypeRef } }[];
  locationInModule?: { filename: string };
}

class Assembly {
  readonly types: Record<string, JsiiType>;
  /** "resource:google_x" / "data:google_x" → the class's fqn. */
  readonly byTerraformType = new Map<string, string>();
  readonly providerVersion: string;
  private readonly jsCache = new Map<string, string>();
  /** Names checked in both places, for the summary line. */
  namesChecked = 0;

  constructor(
    private readonly dir: string,
    private readonly tarball: string,
    expected: { pkg: string; provider: string },
  ) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package/package.json'), 'utf8')) as { name: string; cdktf?: { provider?: { version?: string } } };
    this.providerVersion = pkg.cdktf?.provider?.version ?? '?';
    if (pkg.name !== expected.pkg || this.providerVersion !== expected.provider) {
      throw new Error(`${tarball}: ${pkg.name} generated from provider ${this.providerVersion}, expected ${expected.pkg} from ${expected.provider}`);
    }
    this.types = (JSON.parse(readFileSync(join(dir, 'package/.jsii'), 'utf8')) as { types: Record<string, JsiiType> }).types;
    for (const t of Object.values(this.types)) {
      if (t.kind !== 'class') continue;
      // "Represents a {@link https://registry.terraform.io/providers/hashicorp/google/6.50.0/docs/resources/pubsub_subscription google_pubsub_subscription}."
      const m = /^Represents a \{@link (\S+)\/docs\/(resources|data-sources)\/\S+ ([\w-]+)\}/.exec(t.docs?.summary ?? '');
      if (!m) continue;
      if (!m[1]!.endsWith(`/${this.providerVersion}`)) throw new Error(`${t.fqn} documents ${m[1]}, not version ${this.providerVersion}`);
      this.byTerraformType.set(`${m[2] === 'resources' ? 'resource' : 'data'}:${m[3]}`, t.fqn);
    }
  }

  type(fqn: string): JsiiType | undefined {
    return this.types[fqn];
  }

  /** The generated JavaScript module of a type (extracted from the tarball on first use). */
  js(t: JsiiType): string {
    const file = t.locationInModule?.filename.replace(/^src\//, 'lib/').replace(/\.ts$/, '.js');
    if (!file) throw new Error(`${t.fqn}: no module location`);
    let text = this.jsCache.get(file);
    if (text === undefined) {
      const path = join(this.dir, 'package', file);
      if (!existsSync(path)) execFileSync('tar', ['-xzf', this.tarball, '-C', this.dir, `package/${file}`]);
      text = readFileSync(path, 'utf8');
      this.jsCache.set(file, text);
    }
    return text;
  }
}

function ensureTarball(spec: { pkg: string; version: string }, dir: string): string {
  const file = join(dir, `${spec.pkg.replace(/^@/, '').replace('/', '-')}-${spec.version}.tgz`);
  if (!existsSync(file)) {
    console.log(`npm pack ${spec.pkg}@${spec.version} (tens of MB) → ${dir}`);
    execFileSync('npm', ['pack', `${spec.pkg}@${spec.version}`, '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return file;
}

function loadAssembly(source: string, tarballDir: string): Assembly {
  const spec = PACKAGES[source];
  if (!spec) throw new Error(`No bindings package known for provider ${source}: add it to PACKAGES in tools/infra-schema.ts`);
  const tarball = ensureTarball(spec, tarballDir);
  const dir = join(tarballDir, `${spec.pkg.replace(/^@/, '').replace('/', '-')}-${spec.version}`);
  if (!existsSync(join(dir, 'package/.jsii'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/.jsii', 'package/package.json']);
  }
  console.log(`reading ${spec.pkg}@${spec.version} (.jsii)`);
  return new Assembly(dir, tarball, spec);
}

// ---------------------------------------------------------------------------------------
// From jsii types to Terraform block schemas.

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The Terraform name in a property's docs: "Docs at Terraform Registry: {@link …#field_name Class#field_name}". */
function nameFromDocs(p: JsiiProperty): string | undefined {
  const text = `${p.docs?.summary ?? ''}\n${p.docs?.remarks ?? ''}`;
  return /Docs at Terraform Registry: \{@link [^\s#]+#([\w-]+) [\w.#-]+\}/.exec(text)?.[1];
}

/** The text of one generated class (or function) in its module. */
function segment(js: string, start: RegExp): string | undefined {
  const m = start.exec(js);
  if (!m) return undefined;
  const rest = js.slice(m.index + m[0].length);
  const end = rest.search(/\n(class |function |exports\.)/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The key the generated code emits for a config property (ToTerraform / synthesizeAttributes). */
function nameFromEmitter(a: Assembly, iface: JsiiType, resourceClass: JsiiType | undefined, camel: string): string | undefined {
  const js = a.js(iface);
  const body = resourceClass
    ? segment(js, new RegExp(`class ${escape(resourceClass.name)} extends[\\s\\S]*?synthesizeAttributes\\(\\) \\{`))
    : segment(js, new RegExp(`function ${escape(iface.name.charAt(0).toLowerCase() + iface.name.slice(1))}ToTerraform\\(struct\\) \\{`));
  if (!body) return undefined;
  const ref = resourceClass ? `this\\._${escape(camel)}\\b` : `struct\\.${escape(camel)}\\b`;
  return new RegExp(`^\\s*([\\w-]+): .*${ref}`, 'm').exec(body)?.[1];
}

/** The attribute name a class's getter reads (`this.getStringAttribute('email')`, `new XList(this, "rule", …)`). */
function nameFromGetter(a: Assembly, cls: JsiiType, camel: string): string | undefined {
  const body = segment(a.js(cls), new RegExp(`class ${escape(cls.name)} extends [\\w.]+ \\{`));
  if (!body) return undefined;
  const getter = new RegExp(`get ${escape(camel)}\\(\\) \\{\\s*return [^;]*?this\\.(?:get\\w*Attribute|interpolationForAttribute)\\('([\\w-]+)'\\)`).exec(body);
  if (getter) return getter[1];
  return new RegExp(`this\\._${escape(camel)} = new [\\w.]+\\(this, "([\\w-]+)"`).exec(body)?.[1];
}

/** Is this reference a block: one config interface, or an array of them? */
function blockOf(a: Assembly, t: TypeRef): { nesting: 'single' | 'list'; fqn: string } | undefined {
  const isStruct = (r: TypeRef | undefined) => Boolean(r?.fqn && a.type(r.fqn)?.kind === 'interface' && a.type(r.fqn)?.datatype);
  if (isStruct(t)) return { nesting: 'single', fqn: t.fqn! };
  for (const r of [t, ...(t.union?.types ?? [])]) {
    if (r.collection?.kind === 'array' && isStruct(r.collection.elementtype)) return { nesting: 'list', fqn: r.collection.elementtype.fqn! };
  }
  return undefined;
}

/** The block schema of a config interface and/or the class that reads it back. */
function buildBlock(a: Assembly, where: string, ifaceFqn: string | undefined, clsFqn: string | undefined, resourceClass?: JsiiType): BlockSchema {
  const out: BlockSchema = { args: {}, computed: [], blocks: {} };
  const iface = ifaceFqn ? a.type(ifaceFqn) : undefined;
  const cls = clsFqn ? a.type(clsFqn) : undefined;
  const configured = new Set<string>();
  for (const p of iface?.properties ?? []) {
    const fromDocs = nameFromDocs(p);
    const fromCode = nameFromEmitter(a, iface!, resourceClass, p.name);
    if (fromDocs && fromCode && fromDocs !== fromCode) throw new Error(`${where}: ${p.name} is ${fromDocs} in the docs but emitted as ${fromCode}`);
    const name = fromDocs ?? fromCode;
    if (!name) throw new Error(`${where}: no Terraform name found for ${iface!.fqn}.${p.name}`);
    if (fromDocs && fromCode) a.namesChecked++;
    configured.add(p.name);
    const nested = blockOf(a, p.type);
    if (nested) {
      const outputRef = a.type(`${nested.fqn}OutputReference`) ? `${nested.fqn}OutputReference` : undefined;
      out.blocks[name] = { nesting: nested.nesting, ...(p.optional ? {} : { required: true as const }), block: buildBlock(a, `${where}.${name}`, nested.fqn, outputRef) };
    } else {
      out.args[name] = p.optional ? 'optional' : 'required';
    }
  }
  // What the class exports beyond its arguments: computed attributes and computed blocks.
  const props = cls?.properties ?? [];
  const names = new Set(props.map((p) => p.name));
  for (const p of props) {
    if (p.static || configured.has(p.name) || p.name === 'internalValue') continue;
    if (p.name.endsWith('Input') && names.has(p.name.slice(0, -'Input'.length))) continue; // the input accessor of an argument
    const name = nameFromGetter(a, cls!, p.name);
    if (!name) throw new Error(`${where}: no Terraform name found for the getter ${cls!.fqn}.${p.name}`);
    a.namesChecked++;
    const refType = p.type.fqn ? a.type(p.type.fqn) : undefined;
    if (refType?.kind === 'class' && refType.name.endsWith('OutputReference')) {
      out.blocks[name] = { nesting: 'single', computed: true, block: buildBlock(a, `${where}.${name}`, undefined, refType.fqn) };
    } else if (refType?.kind === 'class' && refType.name.endsWith('List')) {
      const element = refType.methods?.find((m) => m.name === 'get')?.returns?.type.fqn;
      out.blocks[name] = { nesting: 'list', computed: true, block: buildBlock(a, `${where}.${name}`, undefined, element) };
    } else {
      out.computed.push(name);
    }
  }
  out.computed.sort();
  return out;
}

function typeSchema(a: Assembly, kind: 'resource' | 'data', type: string): BlockSchema {
  const clsFqn = a.byTerraformType.get(`${kind}:${type}`);
  if (!clsFqn) throw new Error(`${kind} ${type} is not in the provider generated into this package`);
  const cls = a.type(clsFqn)!;
  const config = cls.initializer?.parameters?.find((p) => p.name === 'config')?.type.fqn;
  return buildBlock(a, `${kind}.${type}`, config, clsFqn, cls);
}

/** Stable, compact JSON: keys sorted, small objects on one line. */
function render(v: unknown, indent = ''): string {
  const flat = JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => p.localeCompare(q))) : x));
  if (flat.length <= 100 || v === null || typeof v !== 'object') return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + render(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([p], [q]) => (p === '$comment' ? -1 : q === '$comment' ? 1 : p.localeCompare(q)));
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${render(x, inner)}`).join(',\n')}\n${indent}}`;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const at = argv.indexOf('--tarballs');
  const tarballDir = at >= 0 && argv[at + 1] ? resolve(argv[at + 1]!) : mkdtempSync(join(tmpdir(), 'eeport-provider-schema-'));
  mkdirSync(tarballDir, { recursive: true });
  const used = await usedTypes();
  const fixture: ProviderSchemaFixture = {
    $comment:
      'Generated by `npm run infra:schema` (tools/infra-schema.ts) from the providers\' CDK for Terraform bindings; do not edit. ' +
      'The schema of every resource and data source type infra/*.tf uses; test/unit/infra-schema.test.ts holds infra/ to it.',
    providers: {},
    resource: {},
    data: {},
  };
  const assemblies = new Map<string, Assembly>();
  for (const u of used) {
    if (u.source === 'terraform.io/builtin/terraform') {
      fixture[u.kind][u.type] = { provider: u.source, schema: TERRAFORM_DATA };
      continue;
    }
    let a = assemblies.get(u.source);
    if (!a) {
      a = loadAssembly(u.source, tarballDir);
      assemblies.set(u.source, a);
      fixture.providers[u.source] = { version: a.providerVersion, from: `${PACKAGES[u.source]!.pkg}@${PACKAGES[u.source]!.version}` };
    }
    fixture[u.kind][u.type] = { provider: u.source, schema: typeSchema(a, u.kind, u.type) };
  }
  mkdirSync(dirname(SCHEMA_FIXTURE), { recursive: true });
  writeFileSync(SCHEMA_FIXTURE, `${render(fixture)}\n`);
  const checked = [...assemblies.values()].reduce((n, a) => n + a.namesChecked, 0);
  console.log(`wrote ${SCHEMA_FIXTURE.slice(REPO_ROOT.length + 1)}: ${used.length} types (${used.map((u) => `${u.kind === 'data' ? 'data.' : ''}${u.type}`).join(', ')}); ${checked} Terraform names read from the generated code`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}

/**
 * Holds every block of infra/*.tf to the real provider schema, offline: what
 * `terraform validate` would reject for the schema's sake, without the provider.
 *
 * The schema is test/fixtures/provider-schema.json, extracted by `npm run infra:schema`
 * (tools/infra-schema.ts) from the CDK for Terraform bindings generated from google
 * provider 6.50.0 (and google-beta 6.50.0, time 0.13.1). The HCL is parsed with
 * @cdktf/hcl2json for content and references; a small scanner of the same files tells an
 * argument (`name = …`) from a block (`name { … }`), which the JSON form cannot (both
 * `x { a = 1 }` and `x = [{ a = 1 }]` become a list of objects).
 *
 * Caught, each named by file, address and path: an unknown argument or block at any
 * depth (dynamic blocks' content included); a computed attribute set; a missing required
 * argument or block; an argument written as a block or the reverse; two blocks where
 * one is allowed; a reference to an attribute a resource or data source does not export
 * (through literal and computed indexes, into nested blocks). Meta-arguments (count,
 * for_each, depends_on, provider, lifecycle with its conditions, dynamic) are known.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getReferencesInExpression, parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../tools/build-bundles.ts';
import type { BlockSchema, ProviderSchemaFixture } from '../../tools/infra-schema.ts';

const INFRA = join(REPO_ROOT, 'infra');
const FIXTURE = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/provider-schema.json'), 'utf8')) as ProviderSchemaFixture;
type Body = Record<string, unknown>;

// ---------------------------------------------------------------------------------------
// A scanner of HCL's structure: per body, which names are arguments and which are blocks.

type SNode = { kind: 'attr'; name: string; line: number } | { kind: 'block'; type: string; labels: string[]; items: SNode[]; line: number };

function scanHcl(src: string, file: string): SNode[] {
  let i = 0;
  const line = () => src.slice(0, i).split('\n').length;
  const fail = (what: string): never => {
    throw new Error(`${file}:${line()}: ${what}`);
  };
  const IDENT = /[A-Za-z_][\w-]*/y;
  const ident = (): string | undefined => {
    IDENT.lastIndex = i;
    const m = IDENT.exec(src);
    if (m) i += m[0].length;
    return m?.[0];
  };
  const skipBlank = (newlines: boolean) => {
    for (;;) {
      const c = src[i];
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) i++;
      else if (newlines && (c === '#' || (c === '/' && src[i + 1] === '/'))) while (i < src.length && src[i] !== '\n') i++;
      else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) < 0 ? src.length : src.indexOf('*/', i + 2) + 2;
      else return;
    }
  };
  const skipHeredoc = (): boolean => {
    const m = /<<-?([A-Za-z_]\w*)\r?\n/y;
    m.lastIndex = i;
    const h = m.exec(src);
    if (!h) return false;
    i += h[0].length;
    for (;;) {
      const end = src.indexOf('\n', i);
      const text = src.slice(i, end < 0 ? src.length : end);
      if (end < 0 || text.trim() === h[1]) {
        i += text.length;
        return true;
      }
      i = end + 1;
    }
  };
  // Inside "${ … }" / "%{ … }" of a template: up to the matching brace.
  const skipTemplateExpr = () => {
    let depth = 0;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '"') skipString();
      else if (c === '{' || c === '(' || c === '[') {
        depth++;
        i++;
      } else if (c === '}' && depth === 0) return void i++;
      else if (c === '}' || c === ')' || c === ']') {
        depth--;
        i++;
      } else i++;
    }
  };
  const skipString = () => {
    i++;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '\\') i += 2;
      else if (c === '"') return void i++;
      else if ((c === '$' || c === '%') && src[i + 1] === c && src[i + 2] === '{') i += 3; // $${ is a literal
      else if ((c === '$' || c === '%') && src[i + 1] === '{') {
        i += 2;
        skipTemplateExpr();
      } else i++;
    }
  };
  // An argument's expression: up to the end of its line outside brackets (or the `}` closing a one-line block).
  const skipExpression = () => {
    let depth = 0;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '"') skipString();
      else if (c === '<' && src[i + 1] === '<' && skipHeredoc()) continue;
      else if (c === '#' || (c === '/' && src[i + 1] === '/')) while (i < src.length && src[i] !== '\n') i++;
      else if (c === '/' && src[i + 1] === '*') skipBlank(false);
      else if (c === '{' || c === '(' || c === '[') {
        depth++;
        i++;
      } else if ((c === '}' || c === '\n') && depth === 0) return;
      else if (c === '}' || c === ')' || c === ']') {
        depth--;
        i++;
      } else i++;
    }
  };
  const body = (closed: boolean): SNode[] => {
    const items: SNode[] = [];
    for (;;) {
      skipBlank(true);
      if (i >= src.length) return closed ? fail('unclosed block') : items;
      if (src[i] === '}') {
        if (!closed) fail('unexpected }');
        i++;
        return items;
      }
      const at = line();
      const name = ident() ?? fail(`expected an argument or a block, found ${JSON.stringify(src.slice(i, i + 20))}`);
      skipBlank(false);
      if (src[i] === '=' && src[i + 1] !== '=') {
        i++;
        skipExpression();
        items.push({ kind: 'attr', name, line: at });
        continue;
      }
      const labels: string[] = [];
      while (src[i] !== '{') {
        if (src[i] === '"') {
          const start = i;
          skipString();
          labels.push(JSON.parse(src.slice(start, i)) as string);
        } else labels.push(ident() ?? fail(`expected a block label or {, found ${JSON.stringify(src.slice(i, i + 20))}`));
        skipBlank(false);
      }
      i++;
      items.push({ kind: 'block', type: name, labels, items: body(true), line: at });
    }
  };
  return body(false);
}

// ---------------------------------------------------------------------------------------
// The check.

const COND: BlockSchema = { args: { condition: 'required', error_message: 'required' }, computed: [], blocks: {} };
const LIFECYCLE: Record<'resource' | 'data', BlockSchema> = {
  resource: {
    args: { create_before_destroy: 'optional', prevent_destroy: 'optional', ignore_changes: 'optional', replace_triggered_by: 'optional' },
    computed: [],
    blocks: { precondition: { nesting: 'list', block: COND }, postcondition: { nesting: 'list', block: COND } },
  },
  data: { args: {}, computed: [], blocks: { precondition: { nesting: 'list', block: COND }, postcondition: { nesting: 'list', block: COND } } },
};
const META_ARGS = ['count', 'for_each', 'depends_on', 'provider'];

interface Infra {
  files: Record<string, string>;
  parsed: Record<string, Body>;
  scanned: Record<string, SNode[]>;
  /** Local provider name → source (required_providers). */
  providers: Record<string, string>;
}

async function loadInfra(files: Record<string, string>): Promise<Infra> {
  const infra: Infra = { files, parsed: {}, scanned: {}, providers: {} };
  for (const [file, text] of Object.entries(files)) {
    infra.parsed[file] = (await parse(file, text)) as Body;
    infra.scanned[file] = scanHcl(text, file);
    for (const t of (infra.parsed[file]!.terraform ?? []) as Body[])
      for (const rp of (t.required_providers ?? []) as Record<string, { source?: string }>[])
        for (const [local, spec] of Object.entries(rp)) if (spec.source) infra.providers[local] = spec.source;
  }
  return infra;
}

const blocksOf = (node: SNode & { kind: 'block' }, type: string, label?: string) =>
  node.items.filter((n): n is SNode & { kind: 'block' } => n.kind === 'block' && n.type === type && (label === undefined || n.labels[0] === label));

/** How `key` is written in this block: as an argument, a block, or (if the two parses disagree) not found. */
function syntaxOf(node: SNode & { kind: 'block' }, key: string): 'attr' | 'block' | undefined {
  if (node.items.some((n) => n.kind === 'attr' && n.name === key)) return 'attr';
  if (node.items.some((n) => n.kind === 'block' && n.type === key)) return 'block';
  return undefined;
}

/**
 * Checks one body against its schema. `path` names it for the messages
 * ("functions.tf: google_cloudfunctions2_function.fn.service_config"), `node` is the
 * scanner's view of the same block.
 */
function checkBody(problems: string[], path: string, body: Body, node: SNode & { kind: 'block' }, schema: BlockSchema, top?: 'resource' | 'data') {
  const present = new Set<string>();
  for (const [key, value] of Object.entries(body)) {
    const syntax = syntaxOf(node, key);
    if (key === 'dynamic') {
      for (const [label, instances] of Object.entries(value as Record<string, Body[]>)) {
        const nested = schema.blocks[label];
        const where = `${path}.dynamic "${label}"`;
        if (!nested || nested.computed) {
          problems.push(`${where}: ${nested ? 'a computed block cannot be written' : 'unknown block'} "${label}"`);
          continue;
        }
        present.add(label);
        const nodes = blocksOf(node, 'dynamic', label);
        instances.forEach((d, j) => {
          const dnode = nodes[j];
          if (!dnode) return void problems.push(`${where}: the scanner does not see this dynamic block`);
          for (const k of Object.keys(d)) if (!['for_each', 'iterator', 'labels', 'content'].includes(k)) problems.push(`${where}.${k}: unknown argument of a dynamic block`);
          if (d.for_each === undefined) problems.push(`${where}: missing for_each`);
          const content = d.content as Body[] | undefined;
          const cnode = blocksOf(dnode, 'content')[0];
          if (!content?.[0] || !cnode) return void problems.push(`${where}: missing content block`);
          checkBody(problems, `${where}.content`, content[0], cnode, nested.block);
        });
      }
      continue;
    }
    if (top && META_ARGS.includes(key)) {
      if (syntax !== 'attr') problems.push(`${path}.${key}: the meta-argument ${key} is written as a block`);
      continue;
    }
    if (top && key === 'lifecycle') {
      checkBlocks(problems, path, key, value, node, { nesting: 'single', block: LIFECYCLE[top] });
      continue;
    }
    if (syntax === undefined) {
      problems.push(`${path}.${key}: the HCL scanner and hcl2json disagree about this name`);
      continue;
    }
    const arg = schema.args[key];
    const nested = schema.blocks[key];
    if (arg) {
      present.add(key);
      if (syntax === 'block') problems.push(`${path}.${key}: an argument, written as a block (write ${key} = …)`);
    } else if (nested && !nested.computed) {
      present.add(key);
      if (syntax === 'attr') problems.push(`${path}.${key}: a block, written as an argument (write ${key} { … })`);
      else checkBlocks(problems, path, key, value, node, nested);
    } else if (schema.computed.includes(key) || nested?.computed) {
      problems.push(`${path}.${key}: computed by the provider, it cannot be set`);
    } else {
      problems.push(`${path}.${key}: unknown ${syntax === 'block' ? 'block' : 'argument'} "${key}"`);
    }
  }
  if (top && body.count !== undefined && body.for_each !== undefined) problems.push(`${path}: count and for_each together`);
  for (const [name, need] of Object.entries(schema.args)) if (need === 'required' && !present.has(name)) problems.push(`${path}: missing required argument "${name}"`);
  for (const [name, b] of Object.entries(schema.blocks)) if (b.required && !present.has(name)) problems.push(`${path}: missing required block "${name}"`);
}

function checkBlocks(problems: string[], path: string, key: string, value: unknown, node: SNode & { kind: 'block' }, nested: BlockSchema['blocks'][string]) {
  const instances = value as Body[];
  const nodes = blocksOf(node, key);
  if (nested.nesting === 'single' && instances.length > 1) problems.push(`${path}.${key}: ${instances.length} blocks where one is allowed`);
  instances.forEach((b, j) => {
    const where = `${path}.${key}${instances.length > 1 ? `[${j}]` : ''}`;
    const n = nodes[j];
    if (!n) return void problems.push(`${where}: the scanner does not see this block`);
    checkBody(problems, where, b, n, nested.block);
  });
}

/** Each resource/data block of the files, with its address and the scanner's node. */
function* declarations(infra: Infra) {
  for (const [file, parsed] of Object.entries(infra.parsed)) {
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byName] of Object.entries((parsed[kind] ?? {}) as Record<string, Record<string, Body[]>>)) {
        for (const [name, bodies] of Object.entries(byName)) {
          const node = infra.scanned[file]!.find((n): n is SNode & { kind: 'block' } => n.kind === 'block' && n.type === kind && n.labels[0] === type && n.labels[1] === name);
          yield { file, kind, type, name, body: bodies[0]!, node, address: `${kind === 'data' ? 'data.' : ''}${type}.${name}` };
        }
      }
    }
  }
}

/** The provider source a block uses: its `provider` meta-argument, or its type's prefix. */
function sourceOf(infra: Infra, type: string, body: Body): string {
  if (type === 'terraform_data') return 'terraform.io/builtin/terraform';
  const local = /^\$\{([\w-]+)(\.\w+)?\}$/.exec(String(body.provider ?? ''))?.[1] ?? type.split('_')[0]!;
  return infra.providers[local] ?? `hashicorp/${local}`;
}

// --- References -------------------------------------------------------------------------

/** The attribute names a reference traverses after `type.name` (literal and computed indexes skipped). */
function traversal(expr: string, ref: { value: string; endPosition: number }): string[] {
  const parts = ref.value.match(/"(?:[^"\\]|\\.)*"|[^.]+/g) ?? [];
  const names = parts.filter((p) => !p.startsWith('"') && !/^\d+$/.test(p));
  // A computed index (`[each.key]`) ends hcl2json's reference: read on in the expression.
  const bytes = Buffer.from(expr, 'utf8');
  let rest = bytes.subarray(ref.endPosition).toString('utf8');
  for (;;) {
    if (rest.startsWith('[')) {
      let depth = 0;
      let k = 0;
      for (; k < rest.length; k++) {
        if (rest[k] === '[') depth++;
        else if (rest[k] === ']' && --depth === 0) break;
      }
      rest = rest.slice(k + 1);
      continue;
    }
    const m = /^\.([A-Za-z_][\w-]*)/.exec(rest);
    if (!m) break;
    names.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  return names;
}

/** Checks that `attrs` (after the resource address) are exported by `schema`, into nested blocks. */
function checkTraversal(schema: BlockSchema, attrs: string[]): string | undefined {
  let s = schema;
  for (const [k, a] of attrs.entries()) {
    if (a === '*') return undefined;
    const nested = s.blocks[a];
    if (nested) {
      s = nested.block;
      continue;
    }
    if (a in s.args || s.computed.includes(a) || (k === 0 && a === 'id')) return undefined; // a map or list value: its keys are data
    return a;
  }
  return undefined;
}

async function checkReferences(problems: string[], infra: Infra) {
  const declared = new Map<string, { kind: 'resource' | 'data'; type: string }>();
  for (const d of declarations(infra)) declared.set(d.address, { kind: d.kind, type: d.type });
  const visit = async (where: string, v: unknown, self?: BlockSchema): Promise<void> => {
    if (typeof v === 'string' && v.includes('${')) {
      for (const ref of await getReferencesInExpression('ref.tf', v)) {
        const names = traversal(v, ref);
        if (names[0] === 'self' && self) {
          const bad = checkTraversal(self, names.slice(1));
          if (bad) problems.push(`${where}: self.${names.slice(1).join('.')}: "${bad}" is not an attribute of this resource`);
          continue;
        }
        const data = names[0] === 'data';
        const [type, name, ...attrs] = data ? names.slice(1) : names;
        if (!type || !name) continue;
        const decl = declared.get(`${data ? 'data.' : ''}${type}.${name}`);
        if (!decl) continue; // var., local., each., iteration variables (and undeclared resources: test/unit/infra.test.ts)
        const schema = FIXTURE[decl.kind][decl.type]?.schema;
        if (!schema) continue; // reported as a missing fixture entry
        const bad = checkTraversal(schema, attrs);
        if (bad) problems.push(`${where}: ${names.join('.')}: "${bad}" is not exported by ${decl.kind === 'data' ? 'data source' : 'resource'} ${decl.type}`);
      }
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) await visit(`${where}[${i}]`, x, self);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) await visit(`${where}.${k}`, x, self);
    }
  };
  for (const d of declarations(infra)) await visit(`${d.file}: ${d.address}`, d.body, FIXTURE[d.kind][d.type]?.schema);
  for (const [file, parsed] of Object.entries(infra.parsed)) {
    for (const section of ['locals', 'output', 'variable', 'moved', 'check', 'provider']) if (parsed[section]) await visit(`${file}: ${section}`, parsed[section]);
  }
}

/** Every problem of infra/ against the provider schema; [] when it would pass. */
async function checkInfra(files: Record<string, string>): Promise<string[]> {
  const infra = await loadInfra(files);
  const problems: string[] = [];
  for (const d of declarations(infra)) {
    const where = `${d.file}: ${d.address}`;
    const entry = FIXTURE[d.kind][d.type];
    if (!entry) {
      problems.push(`${where}: ${d.kind} type ${d.type} is not in test/fixtures/provider-schema.json (run \`npm run infra:schema\`)`);
      continue;
    }
    const source = sourceOf(infra, d.type, d.body);
    if (entry.provider !== source) problems.push(`${where}: ${d.type} comes from ${entry.provider}, but this block uses ${source} (provider = …)`);
    if (!d.node) {
      problems.push(`${where}: the HCL scanner does not see this block`);
      continue;
    }
    checkBody(problems, where, d.body, d.node, entry.schema, d.kind);
  }
  await checkReferences(problems, infra);
  return problems;
}

const readInfra = (): Record<string, string> =>
  Object.fromEntries(
    readdirSync(INFRA)
      .filter((f) => f.endsWith('.tf'))
      .sort()
      .map((f) => [f, readFileSync(join(INFRA, f), 'utf8')]),
  );

// ---------------------------------------------------------------------------------------

describe('infra/ against the google provider 6.50 schema (test/fixtures/provider-schema.json)', () => {
  let files: Record<string, string>;
  beforeAll(() => {
    files = readInfra();
  });

  it('every resource and data source block: known arguments and blocks only, required ones present, each written the way the schema says, and every referenced attribute exported', async () => {
    expect(await checkInfra(files)).toEqual([]);
  }, 60_000);

  it('the fixture comes from the provider versions infra/versions.tf allows', async () => {
    const infra = await loadInfra(files);
    const constraints: Record<string, string> = {};
    for (const parsed of Object.values(infra.parsed))
      for (const t of (parsed.terraform ?? []) as Body[])
        for (const rp of (t.required_providers ?? []) as Record<string, { source: string; version: string }>[])
          for (const spec of Object.values(rp)) constraints[spec.source] = spec.version;
    expect(Object.keys(FIXTURE.providers).length).toBeGreaterThan(0);
    for (const [source, { version }] of Object.entries(FIXTURE.providers)) {
      const c = /^~>\s*(\d+)\.(\d+)$/.exec(constraints[source] ?? '');
      expect(c, `${source}: versions.tf should pin it as "~> MAJOR.MINOR"`).not.toBeNull();
      const [major, minor] = version.split('.').map(Number);
      // "~> 6.50" allows 6.50 and later 6.x: the schema extracted must be the floor, which every allowed version extends.
      expect([major, minor], `${source}: the fixture is from ${version}, versions.tf allows ${constraints[source]}`).toEqual([Number(c![1]), Number(c![2])]);
    }
  });

  it('every type in the fixture is used (re-run `npm run infra:schema` when infra/ stops using one)', async () => {
    const infra = await loadInfra(files);
    const used = new Set([...declarations(infra)].map((d) => `${d.kind} ${d.type}`));
    for (const kind of ['resource', 'data'] as const) for (const type of Object.keys(FIXTURE[kind])) expect(used, `${kind} ${type}`).toContain(`${kind} ${type}`);
  });
});

describe('the schema check catches what it should (mutations of the real infra/)', () => {
  let files: Record<string, string>;
  beforeAll(() => {
    files = readInfra();
  });

  /** Every nested block of every resource and data source, with its path as the check names it. */
  function nestedBlocks(): { file: string; line: number; path: string }[] {
    const out: { file: string; line: number; path: string }[] = [];
    const walk = (file: string, node: SNode & { kind: 'block' }, path: string) => {
      const counts = new Map<string, number>();
      for (const n of node.items) if (n.kind === 'block') counts.set(n.type, (counts.get(n.type) ?? 0) + 1);
      const seen = new Map<string, number>();
      const seenDynamic = new Map<string, number>();
      for (const n of node.items) {
        if (n.kind !== 'block') continue;
        if (n.type === 'dynamic') {
          const label = n.labels[0]!;
          seenDynamic.set(label, (seenDynamic.get(label) ?? 0) + 1);
          const content = blocksOf(n, 'content')[0]!;
          const p = `${path}.dynamic "${label}".content`;
          out.push({ file, line: content.line, path: p });
          walk(file, content, p);
          continue;
        }
        const j = seen.get(n.type) ?? 0;
        seen.set(n.type, j + 1);
        const p = `${path}.${n.type}${(counts.get(n.type) ?? 0) > 1 ? `[${j}]` : ''}`;
        if (n.type === 'lifecycle' || /\.lifecycle\./.test(`${p}.`)) continue; // Terraform's own block, not the provider's
        out.push({ file, line: n.line, path: p });
        walk(file, n, p);
      }
    };
    for (const [file, text] of Object.entries(files)) {
      for (const n of scanHcl(text, file)) {
        if (n.kind !== 'block' || (n.type !== 'resource' && n.type !== 'data')) continue;
        walk(file, n, `${file}: ${n.type === 'data' ? 'data.' : ''}${n.labels[0]}.${n.labels[1]}`);
      }
    }
    return out;
  }

  /** The file with `text` inserted as the first line inside the block that opens on `line`. */
  const insertInto = (text: string, line: number, insert: string) => {
    const lines = text.split('\n');
    const opening = lines[line - 1]!;
    const brace = opening.lastIndexOf('{');
    if (opening.slice(brace + 1).trim() === '}' || opening.trimEnd().endsWith('}')) {
      // a one-line block, `ttl_config {}` or `x { a = 1 }`: open it up
      lines[line - 1] = `${opening.slice(0, brace + 1)}\n${insert}\n${opening.slice(brace + 1).replace(/^\s*/, '')}`;
    } else {
      lines.splice(line, 0, insert);
    }
    return lines.join('\n');
  };

  it('an unknown argument inserted into ANY nested block fails the check, naming the block and the argument', async () => {
    const blocks = nestedBlocks();
    expect(blocks.length).toBeGreaterThan(15);
    for (const b of blocks) {
      const problems = await checkInfra({ ...files, [b.file]: insertInto(files[b.file]!, b.line, '  eeport_unknown_argument = 1') });
      expect(problems, b.path).toEqual([`${b.path}.eeport_unknown_argument: unknown argument "eeport_unknown_argument"`]);
    }
  }, 120_000);

  it('an unknown block, at the top and nested, is named', async () => {
    const text = files['pubsub.tf']!;
    const mutated = text.replace('  retry_policy {\n', '  retry_policy {\n    eeport_block {\n      x = 1\n    }\n');
    expect(await checkInfra({ ...files, 'pubsub.tf': mutated })).toEqual(['pubsub.tf: google_pubsub_subscription.push.retry_policy.eeport_block: unknown block "eeport_block"']);
  });

  it('a missing required argument is named', async () => {
    const text = files['pubsub.tf']!;
    const mutated = text.replace(/(resource "google_pubsub_subscription" "push" \{[\s\S]*?)\n {2}topic\s*= each\.value\.topic\.id\n/, '$1\n');
    expect(mutated).not.toBe(text);
    expect(await checkInfra({ ...files, 'pubsub.tf': mutated })).toEqual(['pubsub.tf: google_pubsub_subscription.push: missing required argument "topic"']);
  });

  it('an argument written as a block, and a block written as an argument, are named', async () => {
    const text = files['pubsub.tf']!;
    const asBlock = text.replace('  message_retention_duration = "604800s"\n\n  depends_on', '  message_retention_duration = "604800s"\n  labels {\n    a = "b"\n  }\n\n  depends_on');
    expect(asBlock).not.toBe(text);
    expect(await checkInfra({ ...files, 'pubsub.tf': asBlock })).toEqual(['pubsub.tf: google_pubsub_topic.requests.labels: an argument, written as a block (write labels = …)']);
    const asAttr = text.replace('  retry_policy {\n    minimum_backoff = "10s"\n    maximum_backoff = "600s"\n  }', '  retry_policy = [{\n    minimum_backoff = "10s"\n    maximum_backoff = "600s"\n  }]');
    expect(asAttr).not.toBe(text);
    expect(await checkInfra({ ...files, 'pubsub.tf': asAttr })).toEqual(['pubsub.tf: google_pubsub_subscription.push.retry_policy: a block, written as an argument (write retry_policy { … })']);
  });

  it('a computed attribute set, and a second block where one is allowed, are named', async () => {
    const text = files['scheduler.tf']!;
    const computed = text.replace('  schedule  = var.poll_schedule\n', '  schedule  = var.poll_schedule\n  state     = "ENABLED"\n');
    expect(computed).not.toBe(text);
    expect(await checkInfra({ ...files, 'scheduler.tf': computed })).toEqual(['scheduler.tf: google_cloud_scheduler_job.poll.state: computed by the provider, it cannot be set']);
    const twice = text.replace('  retry_config {\n', '  retry_config {\n    retry_count = 1\n  }\n  retry_config {\n');
    expect(await checkInfra({ ...files, 'scheduler.tf': twice })).toEqual(['scheduler.tf: google_cloud_scheduler_job.poll.retry_config: 2 blocks where one is allowed']);
  });

  it('a reference to an attribute a resource does not export is named, through literal and computed indexes and into nested blocks', async () => {
    const text = files['outputs.tf']!;
    for (const [expr, bad] of [
      ['google_pubsub_topic.requests.nme', 'nme'],
      ['google_service_account.fn["api"].emial', 'emial'],
      ['google_service_account.fn[local.function_targets[0]].emial', 'emial'],
      ['data.google_project.this.project_number', 'project_number'],
    ] as const) {
      const mutated = `${text}\noutput "eeport_probe" {\n  value = ${expr}\n}\n`;
      const problems = await checkInfra({ ...files, 'outputs.tf': mutated });
      expect(problems, expr).toHaveLength(1);
      expect(problems[0], expr).toMatch(new RegExp(`^outputs\\.tf: output\\..*"${bad}" is not exported by`));
    }
    // …and what they do export passes, nested blocks included.
    const ok = `${text}\noutput "eeport_probe" {\n  value = [google_pubsub_subscription.push["submitExport"].push_config[0].oidc_token[0].audience, data.google_project.this.number, google_service_account.fn["api"].member]\n}\n`;
    expect(await checkInfra({ ...files, 'outputs.tf': ok })).toEqual([]);
  });

  it('meta-arguments, lifecycle conditions and dynamic blocks are understood, and checked inside', async () => {
    const text = files['main.tf']!;
    const mutated = text.replace('    create_before_destroy = true\n', '    create_before_destroy = true\n    eeport_lifecycle_thing = true\n');
    expect(mutated).not.toBe(text);
    expect(await checkInfra({ ...files, 'main.tf': mutated })).toEqual([
      'main.tf: google_storage_bucket_object.bundle.lifecycle.eeport_lifecycle_thing: unknown argument "eeport_lifecycle_thing"',
    ]);
    const dyn = files['firestore.tf']!.replace('  dynamic "fields" {', '  dynamic "feilds" {');
    expect(dyn).not.toBe(files['firestore.tf']);
    const problems = await checkInfra({ ...files, 'firestore.tf': dyn });
    expect(problems).toContain('firestore.tf: google_firestore_index.composite.dynamic "feilds": unknown block "feilds"');
  });
});

describe('the HCL scanner', () => {
  it('tells arguments from blocks through strings, templates, heredocs, comments and one-line blocks', () => {
    const src = [
      'resource "a" "b" { # comment {',
      '  x = "}{ ${foo("}")} $${not} %{ if true }y%{ endif }" // }',
      '  y = <<-EOT',
      '    } not a block {',
      '  EOT',
      '  z = { k = [1, { m = 2 }] }',
      '  /* { */ one {}',
      '  two { a = 1 }',
      '  three "l" {',
      '    w = x == y ? 1 : 2',
      '  }',
      '}',
      '',
    ].join('\n');
    const [res] = scanHcl(src, 'x.tf');
    expect(res).toMatchObject({ kind: 'block', type: 'resource', labels: ['a', 'b'] });
    const items = (res as SNode & { kind: 'block' }).items.map((n) => (n.kind === 'attr' ? `${n.name}=` : `${n.type}${n.labels.map((l) => ` "${l}"`).join('')}{${n.items.map((m) => (m.kind === 'attr' ? `${m.name}=` : m.type)).join(',')}}`));
    expect(items).toEqual(['x=', 'y=', 'z=', 'one{}', 'two{a=}', 'three "l"{w=}']);
  });
});

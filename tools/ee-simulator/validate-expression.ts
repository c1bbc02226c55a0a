/**
 * Structural checks on an Earth Engine `Expression` graph, as the service performs at
 * submit time: a bad graph is a 400 before any task exists, which is what adapters
 * must be ready for.
 */
import { ApiError, invalidField } from './errors.ts';
import type { AlgorithmSignature } from './algorithms.ts';

/** The `{result, values}` expression graph (shapes are checked, contents are JSON). */
export interface Expression {
  result: string;
  values: Record<string, ValueNode>;
}

export type ValueNode = Record<string, unknown>;

const NODE_KINDS = [
  'constantValue',
  'integerValue',
  'bytesValue',
  'arrayValue',
  'dictionaryValue',
  'functionDefinitionValue',
  'functionInvocationValue',
  'argumentReference',
  'valueReference',
] as const;

// Deeper nesting than this is certainly not a real client's output; refusing it keeps
// the recursive walk safe from stack exhaustion.
const MAX_DEPTH = 500;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INT64 = /^-?\d{1,19}$/;

interface Ctx {
  values: Record<string, unknown>;
  signatures: ReadonlyMap<string, AlgorithmSignature>;
  argumentNames: Set<string>;
  // Edges between top-level values, for the cycle check.
  edges: Map<string, Set<string>>;
}

/**
 * Validates `expr` found at `path` (normally "expression"). Returns the typed
 * expression, or the 400 INVALID_ARGUMENT error naming the offending field.
 */
export function validateExpression(
  expr: unknown,
  path: string,
  signatures: ReadonlyMap<string, AlgorithmSignature>,
): { ok: true; expression: Expression } | { ok: false; error: ApiError } {
  try {
    return { ok: true, expression: check(expr, path, signatures) };
  } catch (e) {
    if (e instanceof ApiError) return { ok: false, error: e };
    throw e;
  }
}

function check(expr: unknown, path: string, signatures: ReadonlyMap<string, AlgorithmSignature>): Expression {
  if (!isPlainObject(expr)) throw invalidField(path, `Invalid value at '${path}': expected an Expression object.`);
  for (const key of Object.keys(expr)) {
    if (key !== 'result' && key !== 'values') {
      throw invalidField(`${path}.${key}`, `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`);
    }
  }
  const { result, values } = expr;
  if (typeof result !== 'string' || result === '') {
    throw invalidField(`${path}.result`, `Invalid value at '${path}.result': the result key is required and must be a non-empty string.`);
  }
  if (!isPlainObject(values)) {
    throw invalidField(`${path}.values`, `Invalid value at '${path}.values': expected a map of value nodes.`);
  }
  if (!(result in values)) {
    throw invalidField(`${path}.result`, `Invalid value at '${path}.result': result key "${result}" is not defined in '${path}.values'.`);
  }
  const ctx: Ctx = { values, signatures, argumentNames: new Set(), edges: new Map() };
  collectArgumentNames(values, ctx.argumentNames);
  for (const [key, node] of Object.entries(values)) {
    ctx.edges.set(key, new Set());
    checkNode(node, `${path}.values.${key}`, key, ctx, 0);
  }
  checkAcyclic(ctx.edges, `${path}.values`);
  return { result, values: values as Record<string, ValueNode> };
}

function collectArgumentNames(value: unknown, into: Set<string>): void {
  // Function definitions can sit anywhere in the graph; gather their parameters first so
  // that argumentReference can be checked without tracking lexical scope.
  if (Array.isArray(value)) {
    for (const v of value) collectArgumentNames(v, into);
  } else if (isPlainObject(value)) {
    const def = value['functionDefinitionValue'];
    if (isPlainObject(def) && Array.isArray(def['argumentNames'])) {
      for (const n of def['argumentNames']) if (typeof n === 'string') into.add(n);
    }
    for (const [k, v] of Object.entries(value)) if (k !== 'constantValue') collectArgumentNames(v, into);
  }
}

function isSet(node: Record<string, unknown>, kind: string): boolean {
  // constantValue: null is a real value (google.protobuf.NullValue); every other field
  // set to null is the same as absent in proto3 JSON.
  return kind === 'constantValue' ? kind in node : node[kind] !== undefined && node[kind] !== null;
}

function checkNode(node: unknown, path: string, owner: string, ctx: Ctx, depth: number): void {
  if (depth > MAX_DEPTH) throw invalidField(path, `Invalid value at '${path}': expression nesting exceeds ${MAX_DEPTH} levels.`);
  if (!isPlainObject(node)) throw invalidField(path, `Invalid value at '${path}': expected a ValueNode object.`);
  for (const key of Object.keys(node)) {
    if (!(NODE_KINDS as readonly string[]).includes(key)) {
      throw invalidField(`${path}.${key}`, `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`);
    }
  }
  const set = NODE_KINDS.filter((k) => isSet(node, k));
  if (set.length !== 1) {
    const found = set.length === 0 ? 'none' : set.join(' and ');
    throw invalidField(path, `Invalid value at '${path}': a ValueNode must set exactly one of ${NODE_KINDS.join(', ')}; found ${found}.`);
  }
  const kind = set[0] as (typeof NODE_KINDS)[number];
  const v = node[kind];
  const sub = `${path}.${kind}`;
  switch (kind) {
    case 'constantValue':
      return;
    case 'integerValue':
      if (!((typeof v === 'string' && INT64.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)))) {
        throw invalidField(sub, `Invalid value at '${sub}' (TYPE_INT64), ${JSON.stringify(v)}`);
      }
      return;
    case 'bytesValue':
      if (typeof v !== 'string' || !BASE64.test(v)) throw invalidField(sub, `Invalid value at '${sub}' (TYPE_BYTES), expected base64 data.`);
      return;
    case 'argumentReference':
      if (typeof v !== 'string' || !ctx.argumentNames.has(v)) {
        throw invalidField(sub, `Invalid value at '${sub}': argument reference ${JSON.stringify(v)} does not name an argument of any function definition.`);
      }
      return;
    case 'valueReference':
      refTo(v, sub, owner, ctx);
      return;
    case 'arrayValue': {
      if (!isPlainObject(v)) throw invalidField(sub, `Invalid value at '${sub}': expected an ArrayValue object.`);
      onlyFields(v, sub, ['values']);
      const items = v['values'] ?? [];
      if (!Array.isArray(items)) throw invalidField(`${sub}.values`, `Invalid value at '${sub}.values': expected a list of value nodes.`);
      items.forEach((item, i) => checkNode(item, `${sub}.values[${i}]`, owner, ctx, depth + 1));
      return;
    }
    case 'dictionaryValue': {
      if (!isPlainObject(v)) throw invalidField(sub, `Invalid value at '${sub}': expected a DictionaryValue object.`);
      onlyFields(v, sub, ['values']);
      const entries = v['values'] ?? {};
      if (!isPlainObject(entries)) throw invalidField(`${sub}.values`, `Invalid value at '${sub}.values': expected a map of value nodes.`);
      for (const [k, item] of Object.entries(entries)) checkNode(item, `${sub}.values.${k}`, owner, ctx, depth + 1);
      return;
    }
    case 'functionDefinitionValue': {
      if (!isPlainObject(v)) throw invalidField(sub, `Invalid value at '${sub}': expected a FunctionDefinition object.`);
      onlyFields(v, sub, ['argumentNames', 'body']);
      const names = v['argumentNames'] ?? [];
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
        throw invalidField(`${sub}.argumentNames`, `Invalid value at '${sub}.argumentNames': expected a list of strings.`);
      }
      refTo(v['body'], `${sub}.body`, owner, ctx);
      return;
    }
    case 'functionInvocationValue':
      checkInvocation(v, sub, owner, ctx, depth);
      return;
  }
}

function checkInvocation(v: unknown, sub: string, owner: string, ctx: Ctx, depth: number): void {
  if (!isPlainObject(v)) throw invalidField(sub, `Invalid value at '${sub}': expected a FunctionInvocation object.`);
  onlyFields(v, sub, ['functionName', 'functionReference', 'arguments']);
  const hasName = v['functionName'] !== undefined && v['functionName'] !== null;
  const hasRef = v['functionReference'] !== undefined && v['functionReference'] !== null;
  if (hasName === hasRef) {
    throw invalidField(sub, `Invalid value at '${sub}': a FunctionInvocation must set exactly one of functionName or functionReference.`);
  }
  const args = v['arguments'] ?? {};
  if (!isPlainObject(args)) throw invalidField(`${sub}.arguments`, `Invalid value at '${sub}.arguments': expected a map of value nodes.`);
  if (hasName) {
    const name = v['functionName'];
    const sig = typeof name === 'string' ? ctx.signatures.get(name) : undefined;
    if (!sig) throw invalidField(`${sub}.functionName`, `Unknown function: ${String(name)} (at '${sub}.functionName').`);
    const declared = new Set(sig.arguments.map((a) => a.argumentName));
    const unknown = Object.keys(args).filter((a) => !declared.has(a));
    if (unknown.length > 0) {
      throw invalidField(`${sub}.arguments`, `Unrecognized argument(s) ${unknown.map((a) => `'${a}'`).join(', ')} for function ${String(name)} (at '${sub}.arguments').`);
    }
    const missing = sig.arguments.filter((a) => !a.optional && !(a.argumentName in args));
    if (missing.length > 0) {
      throw invalidField(`${sub}.arguments`, `Required argument (${missing[0]?.argumentName}) missing to function: ${String(name)} (at '${sub}.arguments').`);
    }
  } else {
    refTo(v['functionReference'], `${sub}.functionReference`, owner, ctx);
  }
  for (const [k, item] of Object.entries(args)) checkNode(item, `${sub}.arguments.${k}`, owner, ctx, depth + 1);
}

function onlyFields(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      throw invalidField(`${path}.${key}`, `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`);
    }
  }
}

function refTo(target: unknown, path: string, owner: string, ctx: Ctx): void {
  if (typeof target !== 'string' || !(target in ctx.values)) {
    throw invalidField(path, `Invalid value at '${path}': reference ${JSON.stringify(target)} does not resolve to a key of the expression's values.`);
  }
  ctx.edges.get(owner)?.add(target);
}

function checkAcyclic(edges: Map<string, Set<string>>, path: string): void {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Map<string, number>();
  for (const start of edges.keys()) {
    if ((color.get(start) ?? WHITE) !== WHITE) continue;
    // Iterative DFS: graphs posted by real clients can be thousands of values long.
    const stack: Array<{ key: string; it: Iterator<string> }> = [{ key: start, it: (edges.get(start) ?? new Set()).values() }];
    color.set(start, GREY);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { key: string; it: Iterator<string> };
      const next = top.it.next();
      if (next.done) {
        color.set(top.key, BLACK);
        stack.pop();
        continue;
      }
      const c = color.get(next.value) ?? WHITE;
      if (c === GREY) {
        throw invalidField(`${path}.${next.value}`, `Invalid value at '${path}.${next.value}': the expression contains a reference cycle (${top.key} -> ${next.value}).`);
      }
      if (c === WHITE) {
        color.set(next.value, GREY);
        stack.push({ key: next.value, it: (edges.get(next.value) ?? new Set()).values() });
      }
    }
  }
}

/** Visits every function invocation by name, in the whole graph (used to size exports). */
export function forEachInvocation(expr: Expression, visit: (functionName: string, args: Record<string, unknown>) => void): void {
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
    } else if (isPlainObject(node)) {
      const inv = node['functionInvocationValue'];
      if (isPlainObject(inv) && typeof inv['functionName'] === 'string') {
        visit(inv['functionName'], isPlainObject(inv['arguments']) ? inv['arguments'] : {});
      }
      for (const [k, v] of Object.entries(node)) if (k !== 'constantValue') walk(v);
    }
  };
  walk(expr.values);
}

/**
 * Generators (fast-check) of hostile input for the request parser, the request schema
 * and the HTTP API: malformed JSON and bytes, wrong types, deep nesting, valueReference
 * graphs that look cyclic, huge strings, prototype-pollution keys, unicode edge cases,
 * random Pub/Sub attributes. Mutations start from the requests real clients send.
 */
import fc from 'fast-check';
import { jsClientRequest, assetLoadRequest } from '../../fakes/requests.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Keys that reach prototypes when copied carelessly. */
export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
/** Property names a successful pollution would leave on Object.prototype. */
export const POLLUTION_MARKERS = ['polluted', 'isAdmin', 'eeportPwned'] as const;

/** An own enumerable property, even for `__proto__` (plain assignment would set the prototype instead). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
}

const nastyStrings = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e' + 'gpj.exe',
  '\ufeff{}',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e309',
  '9223372036854775808',
  '-9223372036854775809',
  '0x7fffffff',
  '{{uri}}',
  '../../etc/passwd',
  '%00%2e%2e',
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  'projects/p/assets/a',
  'gs://bucket/x.tif',
  '𝕏'.repeat(300),
  'é'.normalize('NFD').repeat(50),
  'a'.repeat(101),
  'x'.repeat(70_000),
);

const weirdNumbers = fc.constantFrom(0, -0, 1, -1, 0.5, 1e308, -1e308, 5e-324, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e21, 10_000, -10_000);

/** Any string, from plain ASCII to lone surrogates. */
export const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 2, arbitrary: nastyStrings },
);

/** A pollution attempt, as an object with own `__proto__` / `constructor.prototype` keys. */
export const pollutionObject = fc.constantFrom(...POLLUTION_KEYS).chain((key) =>
  fc.constantFrom(...POLLUTION_MARKERS).map((marker) => {
    const obj: Record<string, unknown> = {};
    const payload = { [marker]: true };
    setOwn(obj, key, key === 'constructor' ? { prototype: payload } : payload);
    return obj;
  }),
);

/** Weird JSON values for a field. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: anyString },
  { weight: 2, arbitrary: weirdNumbers },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [[[]]], { value: '1' }, { value: { value: 1 } }) },
  { weight: 1, arbitrary: pollutionObject },
);

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** One edit at a path chosen by `steps` (each step picks a child by index modulo the children). */
interface Edit {
  steps: number[];
  op: 'delete' | 'set' | 'insert' | 'pollute';
  key: string;
  value: unknown;
}

function applyEdit(root: Record<string, unknown>, e: Edit): void {
  let node: unknown = root;
  for (const step of e.steps) {
    if (typeof node !== 'object' || node === null) break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const child = (node as Record<string, unknown>)[keys[step % keys.length]!];
    if (typeof child !== 'object' || child === null) break;
    node = child;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  const keys = Object.keys(obj);
  // A copy: constants are shared between runs, and a later edit may descend into what this one inserts.
  const value = e.value === undefined ? undefined : (JSON.parse(JSON.stringify(e.value)) as unknown);
  const existing = keys.length ? keys[(e.steps[e.steps.length - 1] ?? 0) % keys.length]! : e.key;
  // An array holds only indices in JSON: a named key on one (an array with its own `constructor`
  // string, say) is a value no JSON parser produces, so edits of arrays stay index edits.
  // (A deleted element is spliced out rather than left as a hole, for the same reason.)
  if (Array.isArray(obj)) {
    if (e.op === 'delete') obj.splice(Number(existing), 1);
    else if (e.op === 'set' && keys.length) obj[Number(existing)] = value;
    else obj.push(e.op === 'pollute' ? { polluted: true, prototype: { polluted: true } } : value);
    return;
  }
  switch (e.op) {
    case 'delete':
      delete obj[existing];
      break;
    case 'set':
      setOwn(obj, existing, value);
      break;
    case 'insert':
      setOwn(obj, e.key, value);
      break;
    case 'pollute':
      setOwn(obj, e.key.length % 3 === 0 ? '__proto__' : e.key.length % 3 === 1 ? 'constructor' : 'prototype', { polluted: true, prototype: { polluted: true } });
      break;
  }
}

const edit: fc.Arbitrary<Edit> = fc.record({
  steps: fc.array(fc.nat(20), { maxLength: 8 }),
  op: fc.constantFrom('delete', 'set', 'set', 'insert', 'pollute'),
  key: fc.oneof(anyString, fc.constantFrom(...POLLUTION_KEYS, 'requestId', 'maxPixels', 'priority', 'description')),
  value: weirdValue,
});

const BASES = [jsClientRequest(), assetLoadRequest(), jsClientRequest({ requestId: 'c0ffee00-1234-4abc-9def-0123456789ab', priority: 500 })];

/** A real request with 0–6 random edits (deleted fields, wrong types, unknown and pollution keys). */
export const mutatedRequest: fc.Arbitrary<unknown> = fc.record({ base: fc.nat(BASES.length - 1), edits: fc.array(edit, { maxLength: 6 }) }).map(({ base, edits }) => {
  const r = clone(BASES[base]!) as Record<string, unknown>;
  for (const e of edits) applyEdit(r, e);
  return r;
});

/** Deep nesting, as JSON text (built iteratively; up to 20,000 levels). */
export const deepJsonText: fc.Arbitrary<string> = fc.record({ depth: fc.integer({ min: 50, max: 20_000 }), kind: fc.constantFrom('array', 'object', 'valueNode', 'invocation', 'envelope') }).map(({ depth, kind }) => {
  const open: Record<string, string> = {
    array: '[',
    object: '{"a":',
    valueNode: '{"arrayValue":{"values":[',
    invocation: '{"functionInvocationValue":{"functionName":"Image.select","arguments":{"input":',
    envelope: '{"request":',
  };
  const close: Record<string, string> = { array: ']', object: '}', valueNode: ']}}', invocation: '}}}', envelope: '}' };
  const leaf = kind === 'array' || kind === 'object' || kind === 'envelope' ? '1' : '{"constantValue":1}';
  const inner = `${open[kind]!.repeat(depth)}${leaf}${close[kind]!.repeat(depth)}`;
  if (kind === 'valueNode' || kind === 'invocation') {
    return `{"expression":{"result":"0","values":{"0":${inner}}},"fileExportOptions":{"driveDestination":{"folder":"f"},"fileFormat":"GEO_TIFF"}}`;
  }
  return inner;
});

/** valueReference graphs that look cyclic: self references, cycles, long chains, dangling ends, fan-out. */
export const referenceGraph: fc.Arbitrary<unknown> = fc
  .record({ kind: fc.constantFrom('self', 'cycle', 'chain', 'dangling', 'fanout', 'argCycle'), n: fc.integer({ min: 1, max: 200 }), long: fc.boolean() })
  .map(({ kind, n, long }) => {
    // Up to 4,000 nodes (fan-out: 20 references each); parsing is linear in references, so size adds only time.
    const size = long ? n * 20 : n;
    const values: Record<string, Json> = {};
    const ref = (to: number | string) => ({ valueReference: String(to) });
    switch (kind) {
      case 'self':
        values['0'] = ref(0);
        break;
      case 'cycle':
        for (let i = 0; i < size; i++) values[String(i)] = ref((i + 1) % size);
        break;
      case 'chain':
        for (let i = 0; i < size - 1; i++) values[String(i)] = ref(i + 1);
        values[String(size - 1)] = { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } };
        break;
      case 'dangling':
        for (let i = 0; i < size; i++) values[String(i)] = ref(i + 1);
        break;
      case 'fanout':
        for (let i = 0; i < size; i++) values[String(i)] = { arrayValue: { values: Array.from({ length: Math.min(size, 20) }, (_, k) => ref((i + k + 1) % size)) } };
        break;
      case 'argCycle':
        for (let i = 0; i < size; i++) values[String(i)] = { functionInvocationValue: { functionName: 'Image.select', arguments: { input: ref((i + 1) % size) } } };
        break;
    }
    return { expression: { result: '0', values }, fileExportOptions: { cloudStorageDestination: { bucket: 'b', filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF' } };
  });

/** A real request with one field set to a huge string (up to 1 MB). */
export const hugeStringRequest: fc.Arbitrary<unknown> = fc
  .record({ field: fc.constantFrom('description', 'requestId', 'bucket', 'filenamePrefix', 'assetId', 'key', 'maxPixels'), len: fc.constantFrom(1_000, 100_000, 1_000_000), ch: fc.constantFrom('a', '9', 'é', '𝕏', '\u0000') })
  .map(({ field, len, ch }) => {
    const s = ch.repeat(Math.ceil(len / ch.length));
    const r = clone(jsClientRequest()) as Record<string, Json>;
    const fe = r.fileExportOptions as Record<string, Record<string, Json>>;
    if (field === 'description' || field === 'requestId' || field === 'maxPixels') r[field] = s;
    else if (field === 'bucket' || field === 'filenamePrefix') fe.cloudStorageDestination![field] = s;
    else if (field === 'assetId') r.expression = { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: s } } } } } };
    else r[s.slice(0, 200_000)] = 1;
    return r;
  });

/** A real request, untouched or with one edit (so that a good share is accepted). */
const nearlyValidRequest: fc.Arbitrary<unknown> = fc.record({ base: fc.nat(BASES.length - 1), edits: fc.array(edit, { maxLength: 1 }) }).map(({ base, edits }) => {
  const r = clone(BASES[base]!) as Record<string, unknown>;
  for (const e of edits) applyEdit(r, e);
  return r;
});

/** The message payload as bytes: JSON of any of the above, raw text, or garbage. */
export const messageData: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  { weight: 3, arbitrary: nearlyValidRequest.map((v) => enc(JSON.stringify(v))) },
  { weight: 5, arbitrary: mutatedRequest.map((v) => enc(JSON.stringify(v))) },
  { weight: 2, arbitrary: fc.record({ request: mutatedRequest, options: fc.dictionary(fc.constantFrom('eeProject', 'labels', 'callbackUrl', 'idempotencyKey', 'priorty', '__proto__'), weirdValue, { maxKeys: 4 }) }).map(({ request, options }) => enc(JSON.stringify({ request, ...options }))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => enc(JSON.stringify(v))) },
  { weight: 1, arbitrary: deepJsonText.map(enc) },
  { weight: 1, arbitrary: referenceGraph.map((v) => enc(JSON.stringify(v))) },
  { weight: 1, arbitrary: hugeStringRequest.map((v) => enc(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map(enc) },
  { weight: 1, arbitrary: mutatedRequest.map((v) => JSON.stringify(v)).chain((text) => fc.nat(Math.max(0, text.length - 1)).map((cut) => enc(text.slice(0, cut)))) },
  {
    weight: 1,
    arbitrary: mutatedRequest.chain((v) =>
      fc.constantFrom<(t: string) => Uint8Array>(
        (t) => enc(`\ufeff${t}`),
        (t) => concat(enc(t.slice(0, 10)), new Uint8Array([0xff, 0xfe, 0xc0, 0x80]), enc(t.slice(10))),
        (t) => enc(t.replace('"d"', '"\\ud800"')),
        (t) => enc(`${t}\u0000garbage`),
        (t) => enc(`${t}${t}`),
      ).map((f) => f(JSON.stringify(v))),
    ),
  },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);

/** Attributes a well-behaved publisher sends. */
const goodAttributes: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    eeProject: fc.constantFrom('ee-test-project', 'ee-second-project'),
    labels: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/), fc.stringMatching(/^[a-z0-9_-]{0,10}$/), { maxKeys: 3 }).map((d) => JSON.stringify(d)),
    idempotencyKey: fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
    callbackUrl: fc.constantFrom('https://hooks.example.com/eeport', 'https://hooks.example.org/x?token=abc'),
  },
  { requiredKeys: [] },
);

/** The attributes eeport reads, with hostile values, plus random ones. */
const hostileAttributes: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      eeProject: fc.oneof(fc.constantFrom('ee-test-project', 'ee-second-project', 'someone-else-12', 'Bad Project', ''), anyString),
      labels: fc.oneof(
        fc.dictionary(fc.oneof(fc.constantFrom('team', 'Team', '__proto__', 'constructor', ''), anyString), fc.oneof(fc.constantFrom('forest', 'UPPER', ''), anyString), { maxKeys: 70 }).map((d) => JSON.stringify(d)),
        fc.constantFrom('{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '[]', 'null', '"x"', '{', 'team=forest', '{"a":{"b":{}}}'),
        anyString,
      ),
      callbackUrl: fc.oneof(
        fc.constantFrom('https://hooks.example.com/x', 'http://hooks.example.com/x', 'https://127.0.0.1/', 'https://[::1]/', 'https://169.254.169.254/', 'https://user:pw@hooks.example.com/', 'ftp://x', 'javascript:alert(1)', 'https://2130706433/', 'https://metadata.google.internal/', `https://${'a'.repeat(3000)}.com/`),
        fc.webUrl(),
        anyString,
      ),
      idempotencyKey: fc.oneof(fc.constantFrom('k1', ' ', 'ключ', 'a'.repeat(201), '\u0000'), anyString),
      action: fc.constantFrom('submit', 'cancel', 'retry', 'explode', '', 'SUBMIT'),
      batchId: fc.oneof(fc.constantFrom('0'.repeat(32), 'not a batch!', ''), anyString),
      jobId: fc.oneof(fc.constantFrom('0'.repeat(32), 'not-a-job'), anyString),
      requestId: anyString,
    },
    { requiredKeys: [] },
  )
  .chain((known) => fc.dictionary(anyString, anyString, { maxKeys: 3 }).map((extra) => ({ ...extra, ...known })));

/** Pub/Sub message attributes: none, well-behaved ones, or the ones eeport reads with hostile values plus random ones. */
export const attributes: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: goodAttributes },
  { weight: 4, arbitrary: hostileAttributes },
);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/**
 * Whether a message carries an ill-formed UTF-16 string (a lone surrogate, raw in an
 * attribute or as a \uD8xx escape in JSON): the known defect the suite reports
 * (hostile-input.test.ts, "KNOWN DEFECT: … lone surrogate").
 */
export function hasIllFormedUtf16(data: Uint8Array | null, attrs: Record<string, string> = {}): boolean {
  if (data && SURROGATE_ESCAPE.test(new TextDecoder().decode(data))) return true;
  return Object.entries(attrs).some(([k, v]) => LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v) || SURROGATE_ESCAPE.test(v));
}

export function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Fails when anything was added to, or changed on, the shared prototypes. */
export function prototypeSnapshot(): () => string[] {
  const targets: [string, object][] = [
    ['Object.prototype', Object.prototype],
    ['Array.prototype', Array.prototype],
    ['Function.prototype', Function.prototype],
    ['String.prototype', String.prototype],
  ];
  const before = targets.map(([name, t]) => [name, Object.getOwnPropertyNames(t).sort().join(',')] as const);
  return () => {
    const problems: string[] = [];
    targets.forEach(([name, t], i) => {
      const now = Object.getOwnPropertyNames(t).sort().join(',');
      if (now !== before[i]![1]) problems.push(`${name} changed: ${now.split(',').filter((k) => !before[i]![1].split(',').includes(k)).join(', ')}`);
    });
    for (const m of POLLUTION_MARKERS) if ((({}) as Record<string, unknown>)[m] !== undefined) problems.push(`({}).${m} is defined`);
    return problems;
  };
}

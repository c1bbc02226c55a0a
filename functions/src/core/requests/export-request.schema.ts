/**
 * The schema of Earth Engine's `ExportImageRequest` (the body of
 * `POST v1/projects/{p}/image:export`), as eeport receives it on Pub/Sub and HTTP.
 *
 * Bodies arrive verbatim as the official clients send them, so the schema accepts
 * what the service's proto3 JSON parser accepts: a field set to `null` is absent
 * (except `constantValue`, where null is a real constant), int32, int64 and double
 * fields may be numbers or decimal strings, `{"value": …}` wrappers from the Python
 * client, the deprecated `gcsDestination`. It normalizes them, so the rest of eeport
 * sees one shape: null fields are dropped, int32 and double fields become numbers,
 * int64 fields become decimal strings (their canonical proto3 JSON form, exact beyond
 * 2^53), wrapped numbers become plain numbers, `gcsDestination` becomes
 * `cloudStorageDestination`.
 *
 * It refuses, with the reason, what the service refuses although the message type
 * has a field for it: image file formats other than GEO_TIFF and TF_RECORD_IMAGE
 * (the official clients export only those; the others are thumbnail formats),
 * `maxWorkers` and `assetExportOptions.tileSize` (internal users only),
 * `geoTiffOptions.noData.integerValue` (only floatValue is supported) and a
 * `workloadTag` outside the clients' pattern.
 *
 * Facts: the shared reference earth-engine-export-api.md, production-facts.md and the
 * generated client in `@google/earthengine` 1.7.x (`ee_api_client.*`), which adds a few
 * fields the reference does not list (`geoTiffOptions.metadataKeys`,
 * `geoTiffOptions.pyramidOptions`); they are accepted because the schema is strict
 * and a real field must never be refused as "unknown".
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------
// Limits and vocabularies
// ---------------------------------------------------------------------------

/**
 * Earth Engine limits task descriptions to 100 characters (client libraries and
 * tools truncate to this; the REST reference does not state the number, so this is
 * the conservative, commonly observed limit).
 */
export const DESCRIPTION_MAX_LENGTH = 100;

/**
 * Maximum nesting of ValueNodes inside one entry of `expression.values`. Parsing
 * recurses once per level (about 25 stack frames each), so this bound is what keeps
 * hostile graphs from exhausting the stack; real graphs that need more can be
 * flattened with `valueReference`, which costs no nesting.
 */
export const MAX_VALUE_NODE_DEPTH = 100;

/**
 * Maximum nesting of raw JSON anywhere in the body, checked iteratively before any
 * recursive parsing. A ValueNode level is three JSON levels (node → kind → values),
 * so this must stay above 3 × MAX_VALUE_NODE_DEPTH plus room for constants.
 */
export const MAX_JSON_DEPTH = 400;

/**
 * Maximum number of JSON values (objects, arrays and scalars) in one body. It bounds
 * the work per body; Earth Engine refuses bodies over 10 MiB, and even a
 * coordinate-heavy body of that size holds well under this many values.
 */
export const MAX_JSON_VALUES = 2_000_000;

/** At most this many errors are reported; the rest are summarized in one line. */
const MAX_REPORTED_ERRORS = 50;

export const IMAGE_FILE_FORMATS = [
  'IMAGE_FILE_FORMAT_UNSPECIFIED',
  'JPEG',
  'PNG',
  'AUTO_JPEG_PNG',
  'NPY',
  'GEO_TIFF',
  'TF_RECORD_IMAGE',
  'ZIPPED_GEO_TIFF',
  'ZIPPED_GEO_TIFF_PER_BAND',
  'MULTI_BAND_IMAGE_TILE',
] as const;

/**
 * The formats a batch image export writes. The official clients build image exports
 * only as these ("Supported formats are: 'GEOTIFF', 'TFRECORD'", Export.image in the JS
 * client); ZIPPED_GEO_TIFF* are "only available when using CreateThumbnail", and PNG,
 * JPEG, AUTO_JPEG_PNG and NPY are thumbnail/pixel formats. An unset format
 * (IMAGE_FILE_FORMAT_UNSPECIFIED, which proto3 cannot tell from an absent field) is
 * accepted: the reference does not say the service refuses it, and the clients default
 * to GeoTIFF themselves.
 */
export const EXPORT_FILE_FORMATS = ['IMAGE_FILE_FORMAT_UNSPECIFIED', 'GEO_TIFF', 'TF_RECORD_IMAGE'] as const;

/**
 * `workloadTag` as both official clients enforce it (`javascript/src/data.js`,
 * `python/ee/_state.py`). The empty string is proto3's default, i.e. no tag.
 */
export const WORKLOAD_TAG_PATTERN = /^([a-z0-9]|[a-z0-9][-_a-z0-9]{0,61}[a-z0-9])$/;

/** Why a field the message type has is refused for everyone but Google's own users. */
const INTERNAL_ONLY = 'can only be set by internal Earth Engine users (official Python client, ee/batch.py); remove it';

export const TILE_PERMISSIONS = ['TILE_PERMISSIONS_UNSPECIFIED', 'PUBLIC', 'DEFAULT_OBJECT_ACL'] as const;

export const PYRAMIDING_POLICIES = [
  'PYRAMIDING_POLICY_UNSPECIFIED',
  'MEAN',
  'SAMPLE',
  'MIN',
  'MAX',
  'MODE',
  'MEDIAN',
] as const;

export const RESAMPLING_METHODS = [
  'RESAMPLING_METHOD_UNSPECIFIED',
  'NEAREST',
  'AVERAGE',
  'BILINEAR',
  'CUBIC',
  'CUBIC_SPLINE',
  'GAUSS',
  'LANCZOS',
  'MODE',
  'RMS',
] as const;

export const EXPORT_REQUEST_SCHEMA_ID = 'urn:eeport:schema:export-image-request:v1';

const INT32_MAX = 2_147_483_647;
const INT64_MIN = -9_223_372_036_854_775_808n;
const INT64_MAX = 9_223_372_036_854_775_807n;

/** Keys refused in every map, so that no copy of a parsed body can reach a prototype. */
const RESERVED_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

function quote(value: string, max = 40): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

/** Describes a received value in a few words, never echoing more than a short prefix. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of ${value.length} characters` : `the string ${quote(value)}`;
    case 'number':
      return String(value);
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    case 'undefined':
      return 'nothing';
    default:
      return `a ${typeof value}`;
  }
}

/**
 * A per-schema error message stating the rule and what was received, or simply
 * "is required" when the field is missing.
 */
function rule(text: (got: string) => string) {
  return (iss: { input?: unknown }): string => (iss.input === undefined ? 'is required' : text(describeValue(iss.input)));
}

/** Map key: any string except the prototype-polluting names. */
const SafeKey = z
  .string()
  .regex(new RegExp(`^(?!(?:${RESERVED_KEYS.join('|')})$)`), {
    error: `is a reserved name (${RESERVED_KEYS.join(', ')}) and is refused to prevent prototype pollution`,
  });

function safeRecord<T extends z.ZodType>(value: T) {
  return z.record(SafeKey, value);
}

const NonEmptyString = z.string().min(1, { error: 'must not be empty' });

const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * An int32, as a JSON number or a decimal string (proto3 JSON accepts both for every
 * integer type); output: the number.
 */
function int32(opts: { min: number; max?: number; what: string }) {
  const max = opts.max ?? INT32_MAX;
  const error = rule((got) => `must be ${opts.what}: a whole number from ${opts.min} to ${max} (got ${got})`);
  const inRange = (s: string) => !DECIMAL_INTEGER.test(s) || (Number(s) >= opts.min && Number(s) <= max);
  return z
    .union(
      [
        z.number({ error }).int({ error }).min(opts.min, { error }).max(max, { error }),
        z.string({ error }).regex(DECIMAL_INTEGER, { error }).refine(inRange, { error }),
      ],
      { error },
    )
    .transform((v) => Number(v));
}

/** An int32 sent bare or as a protobuf wrapper `{"value": n}` (Python client); output: the number. */
function wrappedInt32(opts: { min: number; max?: number; what: string }) {
  const n = int32(opts);
  const max = opts.max ?? INT32_MAX;
  return z
    .union([n, z.strictObject({ value: n })], {
      error: rule((got) => `must be ${opts.what}: a whole number from ${opts.min} to ${max}, or {"value": n} (got ${got})`),
    })
    .transform((v) => (typeof v === 'number' ? v : v.value));
}

const DECIMAL_NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * A finite double, as a JSON number or a decimal string (proto3 JSON accepts both);
 * output: the number.
 */
function double(opts: { what: string; min?: number; max?: number }) {
  const range = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : '';
  const error = rule((got) => `must be ${opts.what}: a number${range} (got ${got})`);
  const ok = (n: number) => Number.isFinite(n) && (opts.min === undefined || n >= opts.min) && (opts.max === undefined || n <= opts.max);
  let num = z.number({ error });
  if (opts.min !== undefined) num = num.min(opts.min, { error });
  if (opts.max !== undefined) num = num.max(opts.max, { error });
  const str = z
    .string({ error })
    .regex(DECIMAL_NUMBER, { error })
    .refine((s) => !DECIMAL_NUMBER.test(s) || ok(Number(s)), { error });
  return z.union([num, str], { error }).transform((v) => Number(v));
}

/** A field the message type has but the service refuses; `why` says so in the error. */
function refused(why: string) {
  return z.never({ error: (iss) => (iss.input === undefined ? undefined : why) });
}

/** True unless `digits` is a decimal integer outside int64; other strings are left to the pattern check. */
function inInt64(digits: string): boolean {
  if (!/^-?\d+$/.test(digits)) return true;
  const n = BigInt(digits);
  return n >= INT64_MIN && n <= INT64_MAX;
}

/**
 * An int64, accepted as a JSON number (if exactly representable), a decimal string
 * (the canonical protobuf JSON form, what the JS client sends) or a wrapper
 * `{"value": …}` (the Python client); output: the canonical decimal string.
 */
function int64(opts: { positive: boolean; what: string }) {
  const kind = opts.positive ? 'a positive whole number' : 'a whole number';
  const digits = opts.positive ? /^0*[1-9]\d*$/ : /^-?\d+$/;
  const str = z
    .string()
    .regex(digits, {
      error: rule((got) => `must be ${opts.what}: ${kind} written in decimal digits, e.g. "10000000000" (got ${got})`),
    })
    .refine(inInt64, { error: `must be ${opts.what} within the int64 range (at most ${INT64_MAX})` });
  const numError = rule((got) => `must be ${opts.what}: ${kind} (got ${got})`);
  const inexact = (iss: { input?: unknown }) =>
    typeof iss.input === 'number' && !Number.isSafeInteger(iss.input) && Number.isInteger(iss.input)
      ? `must be ${opts.what}: ${describeValue(iss.input)} is too large to be exact as a JSON number; send it as a decimal string`
      : numError(iss);
  let num = z.number({ error: numError }).int({ error: inexact });
  if (opts.positive) num = num.positive({ error: numError });
  return z
    .union([num, str, z.strictObject({ value: z.union([num, str]) })], {
      error: rule((got) => `must be ${opts.what}: ${kind} as a number, a decimal string or {"value": …} (got ${got})`),
    })
    .transform((v) => BigInt(typeof v === 'object' ? v.value : v).toString());
}

/** Which of `keys` are present on `obj`. `null` counts as present: `constantValue: null` is a real constant. */
function setKeys(obj: Record<string, unknown>, keys: readonly string[]): string[] {
  return keys.filter((k) => obj[k] !== undefined);
}

function list(keys: readonly string[]): string {
  if (keys.length <= 1) return keys.join('');
  return `${keys.slice(0, -1).join(', ')} or ${keys.at(-1)}`;
}

/**
 * "Exactly one of" (a protobuf `oneof` that is required) or "at most one of". The
 * issue is reported on the object that holds the fields, naming the fields.
 */
function oneOf(keys: readonly string[], what: string, required: boolean) {
  return (obj: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const set = setKeys(obj, keys);
    if (set.length > 1) {
      const allowed = keys.length > 3 ? 'one' : `one of ${list(keys)}`;
      ctx.addIssue({
        code: 'custom',
        message: `sets ${set.length} ${what} (${set.join(', ')}); ${required ? 'exactly' : 'at most'} ${allowed} is allowed`,
      });
    } else if (required && set.length === 0) {
      ctx.addIssue({ code: 'custom', message: `needs exactly one ${what.replace(/s$/, '')}: set ${list(keys)}` });
    }
  };
}

/** JSON Schema for "these properties are set": present and not null (null is absent in proto3 JSON). */
function jsonSet(keys: readonly string[]) {
  return { required: [...keys], properties: Object.fromEntries(keys.map((k) => [k, { not: { type: 'null' } }])) };
}

/** JSON Schema for "exactly one of these properties is set". */
function jsonOneOf(keys: readonly string[]) {
  return { oneOf: keys.map((k) => jsonSet([k])) };
}

/** JSON Schema for "at most one of these properties is set". */
function jsonAtMostOne(keys: readonly string[]) {
  return { not: { anyOf: keys.flatMap((a, i) => keys.slice(i + 1).map((b) => jsonSet([a, b]))) } };
}

// ---------------------------------------------------------------------------
// Expression graph
// ---------------------------------------------------------------------------

/** One node of an Earth Engine expression graph; exactly one field is set. */
export interface ValueNode {
  constantValue?: unknown;
  integerValue?: string | number;
  bytesValue?: string;
  arrayValue?: { values?: ValueNode[] };
  dictionaryValue?: { values?: Record<string, ValueNode> };
  functionDefinitionValue?: { argumentNames?: string[]; body: string };
  functionInvocationValue?: {
    functionName?: string;
    functionReference?: string;
    arguments?: Record<string, ValueNode>;
  };
  argumentReference?: string;
  valueReference?: string;
}

const VALUE_KINDS = [
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

const FUNCTION_TARGETS = ['functionName', 'functionReference'] as const;

const Int64Digits = z
  .union(
    [
      z
        .string()
        .regex(/^-?\d+$/, { error: rule((got) => `must be a whole number in decimal digits (got ${got})`) })
        .refine(inInt64, { error: `must be a whole number within the int64 range (at most ${INT64_MAX})` }),
      z.number().int(),
    ],
    { error: rule((got) => `must be a whole number within the int64 range, preferably as a decimal string (got ${got})`) },
  );

// Standard or URL-safe base64, padding optional: protobuf JSON accepts both alphabets.
const Base64 = z
  .string()
  .regex(/^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/, {
    error: 'must be base64-encoded bytes',
  });

const ValueNodeSchema: z.ZodType<ValueNode, ValueNode> = z
  .strictObject({
    constantValue: z.unknown().optional().meta({ description: 'Any JSON value, including null.' }),
    integerValue: Int64Digits.optional(),
    bytesValue: Base64.optional(),
    get arrayValue() {
      return z.strictObject({ values: z.array(ValueNodeSchema).optional() }).optional();
    },
    get dictionaryValue() {
      return z.strictObject({ values: safeRecord(ValueNodeSchema).optional() }).optional();
    },
    functionDefinitionValue: z
      .strictObject({
        argumentNames: z.array(NonEmptyString).optional(),
        body: NonEmptyString.meta({ description: 'A key of expression.values: the function body.' }),
      })
      .optional(),
    get functionInvocationValue() {
      return z
        .strictObject({
          functionName: NonEmptyString.optional(),
          functionReference: NonEmptyString.optional().meta({
            description: 'A key of expression.values holding a functionDefinitionValue.',
          }),
          arguments: safeRecord(ValueNodeSchema).optional(),
        })
        .superRefine(oneOf(FUNCTION_TARGETS, 'function targets', true))
        .meta(jsonOneOf(FUNCTION_TARGETS))
        .optional();
    },
    argumentReference: NonEmptyString.optional(),
    valueReference: NonEmptyString.optional().meta({ description: 'A key of expression.values.' }),
  })
  .superRefine(oneOf(VALUE_KINDS, 'value kinds', true))
  .meta({
    id: 'ValueNode',
    description: 'One node of the expression graph. Exactly one field is set.',
    minProperties: 1,
    maxProperties: 1,
  });

type PathSeg = string | number;

interface Reference {
  target: string;
  path: PathSeg[];
}

/**
 * Graph rules that a structural schema cannot state: `result` names a value, every
 * reference (valueReference, functionDefinitionValue.body, functionReference)
 * resolves, references form no cycle, and nesting stays under MAX_VALUE_NODE_DEPTH.
 * Everything is iterative so that no input can exhaust the stack here.
 */
function checkGraph(expr: { result: string; values: Record<string, ValueNode> }, ctx: z.RefinementCtx): void {
  const values = expr.values;
  const has = (key: string) => Object.hasOwn(values, key);
  // Hostile graphs can break these rules millions of times; past this many issues
  // the report is long enough and the work stops.
  let budget = 2 * MAX_REPORTED_ERRORS;
  const report = (issue: { path: PathSeg[]; message: string }) => {
    if (budget-- > 0) ctx.addIssue({ code: 'custom', ...issue });
  };
  if (!has(expr.result)) {
    report({
      path: ['result'],
      message: `names ${quote(expr.result)}, which is not a key of expression.values`,
    });
  }

  const refsByKey = new Map<string, Reference[]>();
  for (const key of Object.keys(values)) {
    const refs: Reference[] = [];
    refsByKey.set(key, refs);
    const stack: { node: ValueNode; depth: number; path: PathSeg[] }[] = [
      { node: values[key] as ValueNode, depth: 1, path: ['values', key] },
    ];
    let tooDeep = false;
    while (stack.length > 0) {
      const { node, depth, path } = stack.pop()!;
      if (depth > MAX_VALUE_NODE_DEPTH) {
        if (!tooDeep) {
          report({
            path: ['values', key],
            message: `nests ValueNodes more than ${MAX_VALUE_NODE_DEPTH} levels deep; flatten the graph with valueReference`,
          });
          tooDeep = true;
        }
        continue;
      }
      if (node.valueReference !== undefined) refs.push({ target: node.valueReference, path: [...path, 'valueReference'] });
      const def = node.functionDefinitionValue;
      if (def) refs.push({ target: def.body, path: [...path, 'functionDefinitionValue', 'body'] });
      const call = node.functionInvocationValue;
      if (call?.functionReference !== undefined) {
        refs.push({ target: call.functionReference, path: [...path, 'functionInvocationValue', 'functionReference'] });
      }
      const children: [PathSeg[], ValueNode][] = [];
      node.arrayValue?.values?.forEach((child, i) => children.push([[...path, 'arrayValue', 'values', i], child]));
      for (const [k, child] of Object.entries(node.dictionaryValue?.values ?? {})) {
        children.push([[...path, 'dictionaryValue', 'values', k], child]);
      }
      for (const [k, child] of Object.entries(call?.arguments ?? {})) {
        children.push([[...path, 'functionInvocationValue', 'arguments', k], child]);
      }
      for (let i = children.length - 1; i >= 0; i--) {
        const [childPath, child] = children[i]!;
        stack.push({ node: child, depth: depth + 1, path: childPath });
      }
    }
    for (const ref of refs) {
      if (!has(ref.target)) {
        report({
          path: ref.path,
          message: `refers to ${quote(ref.target)}, which is not a key of expression.values`,
        });
      }
    }
  }

  // Cycle search: iterative depth-first walk. A key on the current path is "grey"
  // (its position in the stack is recorded), a finished key is "done".
  const onPath = new Map<string, number>();
  const done = new Set<string>();
  for (const start of refsByKey.keys()) {
    if (done.has(start)) continue;
    const stack: { key: string; next: number }[] = [{ key: start, next: 0 }];
    onPath.set(start, 0);
    while (stack.length > 0 && budget > 0) {
      const top = stack[stack.length - 1]!;
      const refs = refsByKey.get(top.key) ?? [];
      if (top.next >= refs.length) {
        onPath.delete(top.key);
        done.add(top.key);
        stack.pop();
        continue;
      }
      const ref = refs[top.next++]!;
      if (!refsByKey.has(ref.target) || done.has(ref.target)) continue; // dangling ones are reported above
      const from = onPath.get(ref.target);
      if (from !== undefined) {
        report({
          path: ref.path,
          message: `closes a reference cycle (${describeCycle([...stack.slice(from).map((f) => f.key), ref.target])}); the expression graph must be acyclic`,
        });
      } else {
        onPath.set(ref.target, stack.length);
        stack.push({ key: ref.target, next: 0 });
      }
    }
  }
}

/** `"a" → "b" → "a"`, shortened in the middle when long. */
function describeCycle(keys: string[]): string {
  const shown = keys.length > 7 ? [...keys.slice(0, 3).map((k) => quote(k, 20)), '…', ...keys.slice(-3).map((k) => quote(k, 20))] : keys.map((k) => quote(k, 20));
  return shown.join(' → ');
}

const ExpressionSchema = z
  .strictObject({
    result: NonEmptyString.meta({ description: 'The key of expression.values whose value is the image to export.' }),
    values: safeRecord(ValueNodeSchema),
  })
  .superRefine(checkGraph)
  .meta({ description: 'The image to compute: a graph of ValueNodes keyed by name, evaluated from `result`.' });

// ---------------------------------------------------------------------------
// Grid
// ---------------------------------------------------------------------------

const GridDimensions = z.strictObject({
  width: int32({ min: 1, what: 'a width in pixels' }),
  height: int32({ min: 1, what: 'a height in pixels' }),
});

const MarginDimensions = z.strictObject({
  width: int32({ min: 0, what: 'a margin in pixels' }).optional(),
  height: int32({ min: 0, what: 'a margin in pixels' }).optional(),
});

const Coefficient = double({ what: 'an affine coefficient' });

const CRS_FIELDS = ['crsCode', 'crsWkt'] as const;

const PixelGridSchema = z
  .strictObject({
    dimensions: GridDimensions.optional(),
    // Protobuf JSON omits zero doubles, so every coefficient is optional (absent = 0).
    affineTransform: z
      .strictObject({
        scaleX: Coefficient.optional(),
        shearX: Coefficient.optional(),
        translateX: Coefficient.optional(),
        shearY: Coefficient.optional(),
        scaleY: Coefficient.optional(),
        translateY: Coefficient.optional(),
      })
      .optional(),
    crsCode: NonEmptyString.optional().meta({ description: 'A standard CRS code, e.g. "EPSG:4326".' }),
    crsWkt: NonEmptyString.optional().meta({ description: 'A CRS in Well-Known Text.' }),
  })
  // The reference makes the CRS a union ("one of crsCode or crsWkt"): at most one may be
  // set. It does not say that one is required, so a grid with neither is accepted.
  .superRefine(oneOf(CRS_FIELDS, 'coordinate reference systems', false))
  .meta({ ...jsonAtMostOne(CRS_FIELDS), description: 'The output pixel grid; at most one of crsCode or crsWkt.' });

// ---------------------------------------------------------------------------
// File export
// ---------------------------------------------------------------------------

/**
 * Cloud Storage bucket naming rules (cloud.google.com/storage/docs/buckets#naming):
 * lowercase letters, digits, `-`, `_`, `.`; starts and ends with a letter or digit;
 * at most 63 characters, or 222 when dotted with each dot-separated part at most
 * 63; not an IP address; not starting with "goog"; not containing "google".
 *
 * One deliberate relaxation: GCS also requires at least 3 characters, but the
 * verbatim client body in the shared reference uses the placeholder bucket "b", and
 * a name too short to exist fails at Earth Engine anyway. Set this to 3 to enforce it.
 */
const BUCKET_MIN_LENGTH = 1;

const BUCKET_CHARSET = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;

function bucketCharsetProblem(name: string): string {
  if (name.includes('/') || name.includes(':')) return 'must be a bare bucket name, without gs:// or a path';
  return 'may use only lowercase letters, digits, "-", "_" and ".", and must start and end with a letter or digit';
}

/** The rules beyond the character set (which the pattern states, for JSON Schema too). */
function bucketNameProblem(name: string): string | undefined {
  if (name.length < BUCKET_MIN_LENGTH) return `must be at least ${BUCKET_MIN_LENGTH} characters`;
  const parts = name.split('.');
  if (parts.some((p) => p.length === 0)) return 'must not contain empty dot-separated parts ("..")';
  if (parts.length === 1 && name.length > 63) return 'must be at most 63 characters (222 if it contains dots)';
  if (name.length > 222 || parts.some((p) => p.length > 63)) {
    return 'must be at most 222 characters with each dot-separated part at most 63';
  }
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(name)) return 'must not be an IP address';
  if (name.startsWith('goog')) return 'must not start with "goog"';
  if (/g[o0]{2}gle/.test(name)) return 'must not contain "google" or a look-alike';
  return undefined;
}

const BucketName = z
  .string({ error: rule((got) => `must be a Cloud Storage bucket name (got ${got})`) })
  .regex(BUCKET_CHARSET, {
    error: (iss) =>
      `is not a valid Cloud Storage bucket name: ${bucketCharsetProblem(typeof iss.input === 'string' ? iss.input : '')}`,
  })
  .max(222, { error: 'is not a valid Cloud Storage bucket name: must be at most 222 characters' })
  .superRefine((name, ctx) => {
    if (!BUCKET_CHARSET.test(name) || name.length > 222) return; // reported above
    const problem = bucketNameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: `is not a valid Cloud Storage bucket name: ${problem}` });
  });

/** Object-name prefix or Drive folder: GCS caps object names at 1024 bytes. */
const PathLike = z.string().max(1024, { error: 'must be at most 1024 characters' });

const DriveDestinationSchema = z.strictObject({
  folder: PathLike.optional(),
  filenamePrefix: PathLike.optional(),
});

const CloudStorageDestinationSchema = z.strictObject({
  bucket: BucketName,
  filenamePrefix: PathLike.optional(),
  permissions: z.enum(TILE_PERMISSIONS).optional(),
  bucketCorsUris: z.array(NonEmptyString).optional(),
});

// "Only noData.float_value is currently supported" (GeoTiffImageExportOptions reference).
const NoDataSchema = z
  .strictObject({
    floatValue: z
      .union([double({ what: 'a no-data value' }), z.enum(['NaN', 'Infinity', '-Infinity'])], {
        error: rule((got) => `must be a number, "NaN", "Infinity" or "-Infinity" (got ${got})`),
      })
      .optional()
      .meta({ description: 'The no-data value; proto3 JSON writes non-finite doubles as "NaN", "Infinity", "-Infinity".' }),
    integerValue: refused('is not supported: Earth Engine supports only noData.floatValue; give the value as floatValue')
      .optional()
      .meta({ description: 'Refused: Earth Engine supports only floatValue.' }),
  })
  .superRefine((nd, ctx) => {
    if (nd.floatValue === undefined && nd.integerValue === undefined) ctx.addIssue({ code: 'custom', message: 'needs floatValue' });
  })
  .meta({ required: ['floatValue'] });

const GeoTiffOptionsSchema = z.strictObject({
  cloudOptimized: z.boolean().optional(),
  tileDimensions: GridDimensions.optional(),
  skipEmptyFiles: z.boolean().optional(),
  tileSize: wrappedInt32({ min: 1, what: 'a tile size in pixels' }).optional(),
  noData: NoDataSchema.optional(),
  metadataKeys: z.array(z.string()).optional().meta({ description: 'In the generated client, not in the reference.' }),
  pyramidOptions: z
    .strictObject({ resamplingMethod: z.enum(RESAMPLING_METHODS).optional() })
    .optional()
    .meta({ description: 'In the generated client, not in the reference.' }),
});

const RatioSchema = double({ what: 'a ratio', min: 0, max: 1 });

const TfRecordOptionsSchema = z.strictObject({
  tileDimensions: GridDimensions.optional(),
  marginDimensions: MarginDimensions.optional(),
  compress: z.boolean().optional(),
  maxSizeBytes: int64({ positive: true, what: 'a file size in bytes' }).optional(),
  defaultValue: double({ what: 'a default value' }).optional(),
  tensorDepths: safeRecord(int32({ min: 1, what: 'a tensor depth' })).optional(),
  sequenceData: z.boolean().optional(),
  collapseBands: z.boolean().optional(),
  maxMaskedRatio: z
    .union([RatioSchema, z.strictObject({ value: RatioSchema })], {
      error: rule((got) => `must be a ratio from 0 to 1, bare or as {"value": r} (got ${got})`),
    })
    .transform((v) => (typeof v === 'number' ? v : v.value))
    .optional(),
});

const DESTINATIONS = ['driveDestination', 'cloudStorageDestination', 'gcsDestination'] as const;
const FORMAT_OPTIONS = ['geoTiffOptions', 'tfRecordOptions'] as const;

const FileExportOptionsSchema = z
  .strictObject({
    fileFormat: z
      .enum(EXPORT_FILE_FORMATS, {
        error: (iss) => {
          if (iss.input === undefined) return undefined;
          const known = (IMAGE_FILE_FORMATS as readonly unknown[]).includes(iss.input);
          return `must be GEO_TIFF or TF_RECORD_IMAGE, the formats Earth Engine exports images in (got ${describeValue(iss.input)}${
            known ? ', a thumbnail or pixel format that batch exports do not write' : ''
          })`;
        },
      })
      .optional()
      .meta({ description: 'GEO_TIFF or TF_RECORD_IMAGE; unset is accepted (the official clients default to GEO_TIFF).' }),
    driveDestination: DriveDestinationSchema.optional(),
    cloudStorageDestination: CloudStorageDestinationSchema.optional(),
    gcsDestination: CloudStorageDestinationSchema.optional().meta({
      deprecated: true,
      description: 'v1alpha name of cloudStorageDestination; eeport rewrites it to cloudStorageDestination.',
    }),
    geoTiffOptions: GeoTiffOptionsSchema.optional(),
    tfRecordOptions: TfRecordOptionsSchema.optional(),
  })
  .superRefine(oneOf(DESTINATIONS, 'destinations', true))
  .superRefine(oneOf(FORMAT_OPTIONS, 'format options', false))
  .meta({ ...jsonOneOf(DESTINATIONS), ...jsonAtMostOne(FORMAT_OPTIONS) })
  // eeport calls v1, which has no gcsDestination; forwarding it would be a 400.
  .transform(({ gcsDestination, ...rest }) =>
    gcsDestination === undefined ? rest : { ...rest, cloudStorageDestination: gcsDestination },
  );

// ---------------------------------------------------------------------------
// Asset export
// ---------------------------------------------------------------------------

const AssetName = z.string().regex(/^projects\/[^/\s]+\/assets\/[^/\s]+(?:\/[^/\s]+)*$/, {
  error: (iss) =>
    `must be a full asset name like "projects/my-project/assets/folder/image" (got ${describeValue(iss.input)})`,
});

const AssetExportOptionsSchema = z.strictObject({
  earthEngineDestination: z.strictObject({
    name: AssetName,
    overwrite: z.boolean().optional(),
  }),
  pyramidingPolicy: z.enum(PYRAMIDING_POLICIES).optional(),
  pyramidingPolicyOverrides: safeRecord(z.enum(PYRAMIDING_POLICIES)).optional(),
  tileSize: refused(INTERNAL_ONLY).optional().meta({ description: 'Refused: internal Earth Engine users only.' }),
});

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

const EXPORT_KINDS = ['fileExportOptions', 'assetExportOptions'] as const;

/*
 * Every object is strict: an unknown field is an error, not silently dropped.
 * Earth Engine's JSON parser answers unknown fields with 400 "Unknown name", so
 * dropping one would change the request's meaning (a misspelt `fileExportOption`
 * would otherwise surface as a confusing "no destination" error, or worse, a
 * silently ignored option), and passing it through would fail later at submit
 * time, after the job was accepted. Rejecting here reports it at the boundary,
 * with a suggestion for the likely intended name.
 */
const ExportImageRequestBodySchema = z
  .strictObject({
    expression: ExpressionSchema,
    description: z
      .string()
      .max(DESCRIPTION_MAX_LENGTH, {
        error: (iss) =>
          `must be at most ${DESCRIPTION_MAX_LENGTH} characters, Earth Engine's limit for task descriptions (got ${
            typeof iss.input === 'string' ? iss.input.length : '?'
          })`,
      })
      .optional()
      .meta({ description: `Task name shown in task lists; at most ${DESCRIPTION_MAX_LENGTH} characters.` }),
    maxPixels: int64({ positive: true, what: 'a pixel count' })
      .optional()
      .meta({ description: 'int64 safety cap on computed pixels (Earth Engine default 1e8); normalized to a decimal string.' }),
    grid: PixelGridSchema.optional(),
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,60}$/, {
        error: (iss) =>
          `must be 1 to 60 characters, each a letter, a digit or "-" (got ${describeValue(iss.input)})`,
      })
      .optional()
      .meta({ description: 'Idempotency key: one operation per caller and id.' }),
    workloadTag: z
      .string()
      .regex(new RegExp(`^$|${WORKLOAD_TAG_PATTERN.source}`), {
        error: (iss) =>
          `must be 1 to 63 lowercase letters, digits, "-" or "_", starting and ending with a letter or digit, as Earth Engine's clients require (got ${describeValue(iss.input)})`,
      })
      .optional()
      .meta({ description: 'User label for tracking the computation: ^([a-z0-9]|[a-z0-9][-_a-z0-9]{0,61}[a-z0-9])$; "" means none.' }),
    priority: wrappedInt32({ min: 0, max: 9999, what: 'a priority' })
      .optional()
      .meta({ description: '0–9999, higher runs sooner (Earth Engine default 100); normalized to a number.' }),
    maxWorkers: refused(INTERNAL_ONLY).optional().meta({ description: 'Refused: internal Earth Engine users only.' }),
    fileExportOptions: FileExportOptionsSchema.optional().meta({ description: 'Write files to Drive or Cloud Storage.' }),
    assetExportOptions: AssetExportOptionsSchema.optional().meta({ description: 'Write an Earth Engine asset.' }),
  })
  .superRefine(oneOf(EXPORT_KINDS, 'export kinds', true))
  .meta(jsonOneOf(EXPORT_KINDS));

/**
 * Checks that the raw input is plain JSON within size limits before any recursive
 * parsing: a plain object at the top; only null, booleans, finite numbers, strings,
 * arrays and plain objects inside; no `__proto__` key anywhere; nesting at most
 * MAX_JSON_DEPTH; at most MAX_JSON_VALUES values. Iterative, so it cannot overflow
 * the stack, and bounded by the value count, so shared or cyclic JS objects
 * terminate. Returns the first problem found.
 */
function jsonProblem(input: unknown): { path: (PathSeg | typeof TRUNCATED)[]; message: string } | undefined {
  if (!isPlainObject(input)) {
    return { path: [], message: `the request must be a JSON object, got ${describeValue(input)}` };
  }
  interface Frame {
    value: unknown;
    depth: number;
    parent: Frame | undefined;
    key: PathSeg | undefined;
  }
  const pathOf = (frame: Frame, max = Infinity): (PathSeg | typeof TRUNCATED)[] => {
    const segs: PathSeg[] = [];
    for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) segs.push(f.key);
    segs.reverse();
    return segs.length > max ? [...segs.slice(0, max), TRUNCATED] : segs;
  };
  const stack: Frame[] = [{ value: input, depth: 0, parent: undefined, key: undefined }];
  let count = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (++count > MAX_JSON_VALUES) {
      return { path: [], message: `has more than ${MAX_JSON_VALUES} JSON values; the request is too large` };
    }
    const { value, depth } = frame;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path: pathOf(frame), message: `must be a finite number, got ${value}` };
      continue;
    }
    if (typeof value !== 'object') {
      return { path: pathOf(frame), message: `must be JSON data, got ${describeValue(value)}` };
    }
    if (depth >= MAX_JSON_DEPTH) {
      return {
        path: pathOf(frame, 8),
        message: `is nested more than ${MAX_JSON_DEPTH} levels deep, beyond any real request (ValueNodes may nest ${MAX_VALUE_NODE_DEPTH} levels; flatten with valueReference)`,
      };
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (item === undefined) {
          return { path: [...pathOf(frame), i], message: 'must be JSON data, got an empty or undefined array item' };
        }
        stack.push({ value: item, depth: depth + 1, parent: frame, key: i });
      }
      continue;
    }
    if (!isPlainObject(value)) {
      return { path: pathOf(frame), message: `must be a plain JSON object, got a ${value.constructor?.name ?? 'special'} object` };
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (key === '__proto__') {
        return { path: [...pathOf(frame), key], message: 'is a forbidden key (prototype pollution)' };
      }
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) stack.push({ value: item, depth: depth + 1, parent: frame, key });
    }
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Marks a path cut short (for the depth limit, whose full path is the problem). */
const TRUNCATED = Symbol('truncated');

/**
 * The request schema. It first checks the raw input iteratively (see jsonProblem)
 * and only then parses, so even hostile input gives issues rather than a stack
 * overflow. Output is normalized (see the file comment).
 */
export const ExportImageRequestSchema = z
  .unknown()
  .superRefine((input, ctx) => {
    const problem = jsonProblem(input);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path as PropertyKey[], message: problem.message });
  })
  .transform(nullFieldsAsAbsent)
  .pipe(ExportImageRequestBodySchema)
  .transform(withoutUndefinedFields);

/** Fields holding maps whose values are ValueNodes (inside a message). */
const VALUE_NODE_MAPS = new Set(['values', 'arguments']);
/** Fields left exactly as sent: any JSON (constantValue) or maps of scalars. */
const OPAQUE_FIELDS = new Set(['constantValue', 'tensorDepths', 'pyramidingPolicyOverrides']);

/**
 * A copy of the body with its null fields made absent (undefined), the way proto3 JSON
 * parsing treats them ("null is accepted for all field types and treated as the default
 * value"). The key stays, so an unknown field is still refused even when null, as the
 * service's parser does. Left as they are: `constantValue: null` (a
 * google.protobuf.Value, where null is a value), anything inside a constantValue, and
 * nulls in arrays and as map values, which proto3 JSON refuses (the schema then reports
 * them). Iterative; runs only on input that jsonProblem passed, so the input is a
 * finite tree of plain JSON.
 */
function nullFieldsAsAbsent(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  type Kind = 'message' | 'nodeMap';
  const root: Record<string, unknown> = {};
  const stack: { from: Record<string, unknown>; to: Record<string, unknown>; kind: Kind }[] = [{ from: input, to: root, kind: 'message' }];
  const copy = (value: unknown, kind: Kind): unknown => {
    if (!isPlainObject(value)) return value;
    const to: Record<string, unknown> = {};
    stack.push({ from: value, to, kind });
    return to;
  };
  while (stack.length > 0) {
    const { from, to, kind } = stack.pop()!;
    for (const key of Object.keys(from)) {
      const value = from[key];
      if (kind === 'nodeMap') {
        to[key] = copy(value, 'message');
      } else if (value === null && key !== 'constantValue') {
        to[key] = undefined;
      } else if (OPAQUE_FIELDS.has(key)) {
        to[key] = value;
      } else if (Array.isArray(value)) {
        to[key] = value.map((item) => copy(item, 'message'));
      } else {
        to[key] = copy(value, VALUE_NODE_MAPS.has(key) ? 'nodeMap' : 'message');
      }
    }
  }
  return root;
}

/**
 * Deletes the keys left undefined by nullFieldsAsAbsent from the parsed output (fresh
 * objects made by the schema), so the normalized request has no trace of them. Does
 * not enter constantValue, whose JSON holds no undefined.
 */
function withoutUndefinedFields<T>(output: T): T {
  const stack: unknown[] = [output];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value as unknown[]) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        if (obj[key] === undefined) delete obj[key];
        else if (key !== 'constantValue') stack.push(obj[key]);
      }
    }
  }
  return output;
}

/** A request after parsing and normalization: what the rest of eeport works with. */
export type ExportImageRequest = z.output<typeof ExportImageRequestBodySchema>;
/** A request as clients send it (before normalization). */
export type ExportImageRequestInput = z.input<typeof ExportImageRequestBodySchema>;
export type Expression = ExportImageRequest['expression'];

// ---------------------------------------------------------------------------
// Parsing with plain-words errors
// ---------------------------------------------------------------------------

export interface ExportRequestIssue {
  /** Dotted path to the offending field, e.g. `fileExportOptions.cloudStorageDestination.bucket`; `(root)` for the body itself. */
  path: string;
  /** The rule broken, in plain words. */
  message: string;
}

export type ParseExportRequestResult =
  | { ok: true; value: ExportImageRequest }
  | { ok: false; errors: ExportRequestIssue[] };

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const seg of path) {
    if (seg === TRUNCATED) out += '…';
    else if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z0-9_$-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  record: 'an object',
};

type KnownFields = WeakMap<object, readonly string[]>;

/** Plain-words messages for the issues that no schema customized. */
function plainMessage(iss: z.core.$ZodRawIssue, known: KnownFields): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case 'too_big': {
      const limit = `${iss.inclusive === false ? 'less than' : 'at most'} ${iss.maximum}`;
      if (iss.origin === 'string') return `must be ${limit} characters long`;
      if (iss.origin === 'array') return `must have ${limit} items`;
      return `must be ${limit} (got ${describeValue(iss.input)})`;
    }
    case 'too_small': {
      const limit = `${iss.inclusive === false ? 'greater than' : 'at least'} ${iss.minimum}`;
      if (iss.origin === 'string') return `must be ${limit} characters long`;
      if (iss.origin === 'array') return `must have ${limit} items`;
      return `must be ${limit} (got ${describeValue(iss.input)})`;
    }
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => String(v)).join(', ')} (got ${describeValue(iss.input)})`;
    case 'invalid_format':
      return `has an invalid format (expected ${iss.format === 'regex' ? `to match ${String(iss.pattern)}` : iss.format})`;
    case 'unrecognized_keys': {
      const inst = iss.inst as { _zod?: { def?: { shape?: object } } } | undefined;
      const shape = inst?._zod?.def?.shape;
      if (shape) known.set(iss.keys, Object.keys(shape));
      return `has unknown fields: ${iss.keys.join(', ')}`;
    }
    case 'invalid_key':
      return 'has a key that is not allowed';
    case 'invalid_union':
      return `does not match any accepted form (got ${describeValue(iss.input)})`;
    default:
      return undefined;
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function unknownFieldMessage(key: string, known: readonly string[] | undefined): string {
  const base = `is not a known field; Earth Engine rejects unknown fields`;
  if (!known || known.length === 0) return base;
  const lower = key.toLowerCase();
  const best = known
    .map((k) => ({ k, d: k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0];
  if (best && best.d <= Math.max(2, Math.floor(key.length / 4))) return `${base} (did you mean "${best.k}"?)`;
  return `${base} (expected one of: ${known.join(', ')})`;
}

function toErrors(issues: readonly z.core.$ZodIssue[], known: KnownFields): ExportRequestIssue[] {
  const errors: ExportRequestIssue[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) {
        errors.push({ path: formatPath([...iss.path, key]), message: unknownFieldMessage(key, known.get(iss.keys)) });
      }
    } else if (iss.code === 'invalid_key') {
      const detail = iss.issues.map((i) => i.message).join('; ');
      errors.push({ path: formatPath(iss.path), message: `is not an allowed key: ${detail}` });
    } else {
      errors.push({ path: formatPath(iss.path), message: iss.message });
    }
  }
  if (errors.length > MAX_REPORTED_ERRORS) {
    const more = errors.length - MAX_REPORTED_ERRORS;
    return [...errors.slice(0, MAX_REPORTED_ERRORS), { path: '(root)', message: `and at least ${more} more errors` }];
  }
  return errors;
}

/**
 * Parses and normalizes an `ExportImageRequest` body. Never throws: any input,
 * however large, deep or malformed, yields either the normalized request or a
 * list of errors, each naming the field and the rule it breaks.
 */
export function parseExportRequest(input: unknown): ParseExportRequestResult {
  try {
    const known: KnownFields = new WeakMap();
    const result = ExportImageRequestSchema.safeParse(input, { error: (iss) => plainMessage(iss, known) });
    if (result.success) return { ok: true, value: result.data };
    return { ok: false, errors: toErrors(result.error.issues, known) };
  } catch (err) {
    // Reached only through an exotic input (a throwing getter or proxy) or a caller
    // already near the end of its stack.
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [{ path: '(root)', message: `could not be validated: ${reason}` }] };
  }
}

/** One line, e.g. `maxPixels: must be …; requestId: must be …`. */
export function formatIssues(errors: readonly ExportRequestIssue[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`.replace(/\s+/g, ' ')).join('; ');
}

// ---------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------

/**
 * The request as JSON Schema (draft 2020-12), describing what clients may send
 * (the input side, before normalization). The oneof rules are stated with
 * `oneOf`/`not`; graph rules (references resolve, no cycles, depth), the int64
 * range, bucket-name details and reserved-key checks beyond the pattern are only
 * enforced by parseExportRequest.
 */
export function exportRequestJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(ExportImageRequestBodySchema, {
    target: 'draft-2020-12',
    io: 'input',
  }) as Record<string, unknown>;
  return {
    $schema,
    $id: EXPORT_REQUEST_SCHEMA_ID,
    title: 'ExportImageRequest',
    description:
      'Body of Earth Engine image:export as eeport accepts it (Pub/Sub message or HTTP body), read as proto3 JSON: ' +
      'an optional field may be null (treated as absent); integer and double fields may be numbers or decimal strings; ' +
      'int64 fields and priority may also be {"value": …}. Fields the service refuses (maxWorkers, assetExportOptions.tileSize, ' +
      'geoTiffOptions.noData.integerValue) are described as never valid.',
    ...(nullableFields(rest) as Record<string, unknown>),
  };
}

/**
 * The generated schema with every optional field of every message also allowing null
 * (proto3 JSON reads it as absent). ValueNode's own fields (the value kinds) are left
 * as generated: its one-kind rule is stated with minProperties/maxProperties, which a
 * null kind beside the set one would break (the parser accepts that; clients do not
 * send it). The messages inside a ValueNode do allow null fields.
 */
function nullableFields(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableFields);
  if (!isPlainObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(schema)) {
    if (key === '$defs' && isPlainObject(sub)) {
      out[key] = Object.fromEntries(Object.entries(sub).map(([name, def]) => [name, name === 'ValueNode' ? valueNodeSchema(def) : nullableFields(def)]));
    } else if (key === 'properties' && isPlainObject(sub)) {
      const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as string[]) : []);
      out[key] = Object.fromEntries(
        Object.entries(sub).map(([name, prop]) => {
          const inner = nullableFields(prop) as Record<string, unknown>;
          if (required.has(name)) return [name, inner];
          const { description, deprecated, ...body } = inner;
          return [name, { ...(description !== undefined ? { description } : {}), ...(deprecated !== undefined ? { deprecated } : {}), anyOf: [body, { type: 'null' }] }];
        }),
      );
    } else {
      out[key] = nullableFields(sub);
    }
  }
  return out;
}

function valueNodeSchema(def: unknown): unknown {
  if (!isPlainObject(def) || !isPlainObject(def['properties'])) return def;
  return { ...def, properties: Object.fromEntries(Object.entries(def['properties']).map(([name, prop]) => [name, nullableFields(prop)])) };
}

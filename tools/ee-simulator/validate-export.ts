/**
 * Validation of the `image:export` body (ExportImageRequest), field by field, the way
 * the service's JSON mapping and request checks reject it: 400 INVALID_ARGUMENT with
 * the field path (camelCase, as the client wrote it) in the message and in a
 * google.rpc.BadRequest detail. Unknown fields are rejected, as the real JSON parser does.
 *
 * Read as proto3 JSON, as the service's parser reads it: a null field is absent, integer
 * and double fields may be numbers or decimal strings. Refused although the message type
 * has a field for them: image file formats other than GEO_TIFF and TF_RECORD_IMAGE,
 * `maxWorkers` and `assetExportOptions.tileSize` (internal users only),
 * `geoTiffOptions.noData.integerValue` (only floatValue is supported) and a `workloadTag`
 * outside the official clients' pattern. The exact wording of the service's messages for
 * these is not published; the field paths and the 400 INVALID_ARGUMENT are what clients
 * can rely on.
 */
import { ApiError, errorInfo, invalidField } from './errors.ts';
import type { AlgorithmSignature } from './algorithms.ts';
import { type Expression, validateExpression } from './validate-expression.ts';

export type ApiVersion = 'v1' | 'v1alpha' | 'v1beta';

export const FILE_FORMATS = [
  'IMAGE_FILE_FORMAT_UNSPECIFIED',
  'JPEG',
  'PNG',
  'AUTO_JPEG_PNG',
  'NPY',
  'GEO_TIFF',
  'TF_RECORD_IMAGE',
  'MULTI_BAND_IMAGE_TILE',
  'ZIPPED_GEO_TIFF',
  'ZIPPED_GEO_TIFF_PER_BAND',
] as const;
/**
 * The formats an image export writes: the official clients build image exports only as
 * these ("Supported formats are: 'GEOTIFF', 'TFRECORD'"); ZIPPED_GEO_TIFF* are for
 * thumbnails only and PNG/JPEG/NPY are thumbnail or pixel formats. An unset format is
 * accepted: the reference does not say the service refuses it.
 */
export const EXPORT_FILE_FORMATS: readonly string[] = ['IMAGE_FILE_FORMAT_UNSPECIFIED', 'GEO_TIFF', 'TF_RECORD_IMAGE'];
export const TILE_PERMISSIONS = ['TILE_PERMISSIONS_UNSPECIFIED', 'PUBLIC', 'DEFAULT_OBJECT_ACL'] as const;
export const PYRAMIDING_POLICIES = ['PYRAMIDING_POLICY_UNSPECIFIED', 'MEAN', 'SAMPLE', 'MIN', 'MAX', 'MODE', 'MEDIAN'] as const;

/** Default `maxPixels` when the request leaves it out (documented service default). */
export const DEFAULT_MAX_PIXELS = 1e8;
/** Default task priority (documented service default). */
export const DEFAULT_PRIORITY = 100;

export const REQUEST_ID_PATTERN = /^[A-Za-z0-9-]{1,60}$/;
const ASSET_NAME_PATTERN = /^projects\/[^/]+\/assets\/.+$/;
// A bucket *name*: catches "gs://bucket" and "bucket/path" mistakes at submit. Length and
// existence are not checked; the service only discovers a missing bucket when the task runs.
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9._-]{0,221}$/;
// The rule both official clients enforce (javascript/src/data.js, python/ee/_state.py).
const WORKLOAD_TAG_PATTERN = /^([a-z0-9]|[a-z0-9][-_a-z0-9]{0,61}[a-z0-9])$/;
const INTERNAL_ONLY = 'can only be set by internal users.';

/**
 * Projects that no longer serve Earth Engine requests: `earthengine-legacy` stopped on
 * 2024-11-13. What the service answers there is not documented; the simulator answers
 * 403 PERMISSION_DENIED for every method.
 */
export const RETIRED_PROJECTS: readonly string[] = ['earthengine-legacy'];

export function retiredProject(project: string): ApiError {
  return new ApiError('PERMISSION_DENIED', `Project ${project} no longer serves Earth Engine requests; use a Cloud project registered for Earth Engine.`, {
    details: [errorInfo('USER_PROJECT_DENIED', { consumer: `projects/${project}` })],
  });
}

/** Where the export writes, normalized from whichever destination field was used. */
export type ExportDestination =
  | { kind: 'cloudStorage'; bucket: string; filenamePrefix: string; permissions?: string }
  | { kind: 'drive'; folder: string; filenamePrefix: string }
  | { kind: 'asset'; name: string; overwrite: boolean };

/** A validated, normalized ExportImageRequest. */
export interface ExportImageRequest {
  expression: Expression;
  description: string;
  maxPixels: number;
  priority: number;
  requestId?: string;
  workloadTag?: string;
  grid?: { width?: number; height?: number; crsCode?: string; crsWkt?: string };
  fileFormat?: string;
  destination: ExportDestination;
  /** The body exactly as posted, for inspection by tests. */
  body: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Obj, k: string): boolean => o[k] !== undefined && o[k] !== null;
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

function bad(path: string, problem: string): ApiError {
  return invalidField(path, `Invalid value at '${path}': ${problem}`);
}

function object(v: unknown, path: string): Obj {
  if (!isObj(v)) throw bad(path, `expected a JSON object, got ${JSON.stringify(v)}.`);
  return v;
}

function onlyFields(o: Obj, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      const at = path ? ` at '${path}'` : '';
      throw invalidField(join(path, key), `Invalid JSON payload received. Unknown name "${key}"${at}: Cannot find field.`);
    }
  }
}

function optString(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(join(path, key), `expected a string, got ${JSON.stringify(v)}.`);
  return v;
}

function optBool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(join(path, key), `expected a boolean, got ${JSON.stringify(v)}.`);
  return v;
}

/** A double as proto3 JSON carries it: a number or a decimal string ("NaN"/"Infinity" only where `nonFinite`). */
function optNumber(o: Obj, key: string, path: string, nonFinite = false): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(v) && Number.isFinite(Number(v))) return Number(v);
  if (nonFinite && typeof v === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(v)) return Number(v);
  throw bad(join(path, key), `expected a number, got ${JSON.stringify(v)}.`);
}

/** A field the message has but the service refuses when set (null is absent). */
function refused(o: Obj, key: string, path: string, why: string): void {
  if (has(o, key)) throw invalidField(join(path, key), `Invalid value at '${join(path, key)}': ${why}`);
}

/**
 * Integers as proto3 JSON carries them: a number or a decimal string, optionally in a
 * `{"value": …}` wrapper (what some clients send for wrapper types such as Int64Value).
 */
function optInteger(o: Obj, key: string, path: string, kind: 'TYPE_INT32' | 'TYPE_INT64', min: number, max: number): number | undefined {
  let v = o[key];
  if (v === undefined || v === null) return undefined;
  const at = join(path, key);
  if (isObj(v)) {
    onlyFields(v, at, ['value']);
    v = v['value'];
  }
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = Number(v);
  else throw invalidField(at, `Invalid value at '${at}' (${kind}), ${JSON.stringify(v)}`);
  if (!Number.isInteger(n)) throw invalidField(at, `Invalid value at '${at}' (${kind}), ${JSON.stringify(v)}`);
  if (n < min || n > max) throw bad(at, `${n} is out of range [${min}, ${max}].`);
  return n;
}

function optEnum(o: Obj, key: string, path: string, values: readonly string[], typeName: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const at = join(path, key);
  if (typeof v !== 'string' || !values.includes(v)) {
    throw invalidField(at, `Invalid value at '${at}' (type.googleapis.com/google.earthengine.v1.${typeName}), ${JSON.stringify(v)}`);
  }
  return v;
}

function optStringList(o: Obj, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(join(path, key), 'expected a list of strings.');
  return v as string[];
}

function dimensions(o: Obj, key: string, path: string, required = false, min = 1): { width?: number; height?: number } | undefined {
  const v = o[key];
  const at = join(path, key);
  if (v === undefined || v === null) {
    if (required) throw bad(at, 'required field is missing.');
    return undefined;
  }
  const d = object(v, at);
  onlyFields(d, at, ['width', 'height']);
  return {
    width: optInteger(d, 'width', at, 'TYPE_INT32', min, 2 ** 31 - 1),
    height: optInteger(d, 'height', at, 'TYPE_INT32', min, 2 ** 31 - 1),
  };
}

function exactlyOne(o: Obj, keys: readonly string[], path: string, what: string): string {
  const set = keys.filter((k) => has(o, k));
  if (set.length !== 1) {
    const list = keys.map((k) => join(path, k)).join(', ');
    const found = set.length === 0 ? 'none was set' : `${set.map((k) => join(path, k)).join(' and ')} were set`;
    throw invalidField(set[1] ? join(path, set[1]) : join(path, keys[0] ?? ''), `Exactly one ${what} must be set (one of ${list}); ${found}.`);
  }
  return set[0] as string;
}

function validateGrid(o: Obj): ExportImageRequest['grid'] {
  const path = 'grid';
  const g = object(o['grid'], path);
  onlyFields(g, path, ['crsCode', 'crsWkt', 'dimensions', 'affineTransform']);
  if (has(g, 'crsCode') && has(g, 'crsWkt')) throw invalidField('grid.crsWkt', "Only one of 'grid.crsCode' and 'grid.crsWkt' may be set.");
  const crsCode = optString(g, 'crsCode', path);
  const crsWkt = optString(g, 'crsWkt', path);
  const dims = dimensions(g, 'dimensions', path);
  if (has(g, 'affineTransform')) {
    const at = object(g['affineTransform'], 'grid.affineTransform');
    const fields = ['scaleX', 'shearX', 'translateX', 'shearY', 'scaleY', 'translateY'];
    onlyFields(at, 'grid.affineTransform', fields);
    for (const f of fields) optNumber(at, f, 'grid.affineTransform');
  }
  return { ...dims, crsCode, crsWkt };
}

function validateFileOptions(o: Obj, version: ApiVersion): { destination: ExportDestination; fileFormat?: string } {
  const path = 'fileExportOptions';
  const f = object(o[path], path);
  const destinations = version === 'v1alpha' ? ['driveDestination', 'cloudStorageDestination', 'gcsDestination'] : ['driveDestination', 'cloudStorageDestination'];
  onlyFields(f, path, [...destinations, 'geoTiffOptions', 'tfRecordOptions', 'fileFormat']);
  const fileFormat = optEnum(f, 'fileFormat', path, FILE_FORMATS, 'ImageFileFormat');
  if (fileFormat !== undefined && !EXPORT_FILE_FORMATS.includes(fileFormat)) {
    throw invalidField(`${path}.fileFormat`, `Invalid value at '${path}.fileFormat': ${fileFormat} is not supported for image exports; use GEO_TIFF or TF_RECORD_IMAGE.`);
  }
  // format_options is a oneof: at most one. Whether the service checks that the options
  // match fileFormat (geoTiffOptions with TF_RECORD_IMAGE, or either with no format) is
  // not documented, so the simulator does not; neither does eeport.
  if (has(f, 'geoTiffOptions') && has(f, 'tfRecordOptions')) {
    throw invalidField(`${path}.tfRecordOptions`, `Only one of '${path}.geoTiffOptions' and '${path}.tfRecordOptions' may be set.`);
  }
  if (has(f, 'geoTiffOptions')) {
    const at = `${path}.geoTiffOptions`;
    const g = object(f['geoTiffOptions'], at);
    onlyFields(g, at, ['cloudOptimized', 'tileDimensions', 'skipEmptyFiles', 'tileSize', 'noData', 'metadataKeys', 'pyramidOptions']);
    optBool(g, 'cloudOptimized', at);
    optBool(g, 'skipEmptyFiles', at);
    dimensions(g, 'tileDimensions', at);
    optInteger(g, 'tileSize', at, 'TYPE_INT32', 1, 2 ** 31 - 1);
    optStringList(g, 'metadataKeys', at);
    if (has(g, 'pyramidOptions')) object(g['pyramidOptions'], `${at}.pyramidOptions`);
    if (has(g, 'noData')) {
      const nd = object(g['noData'], `${at}.noData`);
      onlyFields(nd, `${at}.noData`, ['floatValue', 'integerValue']);
      // "Only noData.float_value is currently supported" (GeoTiffImageExportOptions reference).
      refused(nd, 'integerValue', `${at}.noData`, 'only noData.floatValue is supported.');
      // An empty noData is refused as eeport refuses it; the reference does not say.
      if (!has(nd, 'floatValue')) throw invalidField(`${at}.noData.floatValue`, `Invalid value at '${at}.noData.floatValue': required field is missing.`);
      optNumber(nd, 'floatValue', `${at}.noData`, true);
    }
  }
  if (has(f, 'tfRecordOptions')) {
    const at = `${path}.tfRecordOptions`;
    const t = object(f['tfRecordOptions'], at);
    onlyFields(t, at, ['tileDimensions', 'marginDimensions', 'compress', 'maxSizeBytes', 'defaultValue', 'tensorDepths', 'sequenceData', 'collapseBands', 'maxMaskedRatio']);
    dimensions(t, 'tileDimensions', at);
    // Margins may be 0 (the default); the reference sets no lower bound beyond that.
    dimensions(t, 'marginDimensions', at, false, 0);
    optBool(t, 'compress', at);
    optBool(t, 'sequenceData', at);
    optBool(t, 'collapseBands', at);
    optInteger(t, 'maxSizeBytes', at, 'TYPE_INT64', 1, Number.MAX_SAFE_INTEGER);
    optNumber(t, 'defaultValue', at);
    const ratio = optNumber(t, 'maxMaskedRatio', at);
    // The reference gives no range for tensor depths; 1 and up, as eeport checks.
    if (ratio !== undefined && (ratio < 0 || ratio > 1)) throw invalidField(`${at}.maxMaskedRatio`, `Invalid value at '${at}.maxMaskedRatio': must be between 0 and 1.`);
    if (has(t, 'tensorDepths')) {
      const depths = object(t['tensorDepths'], `${at}.tensorDepths`);
      for (const band of Object.keys(depths)) {
        if (depths[band] === null) throw bad(`${at}.tensorDepths.${band}`, 'map values cannot be null.');
        optInteger(depths, band, `${at}.tensorDepths`, 'TYPE_INT32', 1, 2 ** 31 - 1);
      }
    }
  }

  const which = exactlyOne(f, destinations, path, 'destination');
  const at = `${path}.${which}`;
  const d = object(f[which], at);
  if (which === 'driveDestination') {
    onlyFields(d, at, ['folder', 'filenamePrefix']);
    return { fileFormat, destination: { kind: 'drive', folder: optString(d, 'folder', at) ?? '', filenamePrefix: optString(d, 'filenamePrefix', at) ?? '' } };
  }
  onlyFields(d, at, ['bucket', 'filenamePrefix', 'permissions', 'bucketCorsUris']);
  const bucket = optString(d, 'bucket', at);
  if (!bucket) throw invalidField(`${at}.bucket`, `Invalid value at '${at}.bucket': a Cloud Storage bucket is required.`);
  if (!BUCKET_PATTERN.test(bucket)) throw invalidField(`${at}.bucket`, `Invalid value at '${at}.bucket': ${JSON.stringify(bucket)} is not a valid bucket name.`);
  const permissions = optEnum(d, 'permissions', at, TILE_PERMISSIONS, 'TilePermissions');
  optStringList(d, 'bucketCorsUris', at);
  return { fileFormat, destination: { kind: 'cloudStorage', bucket, filenamePrefix: optString(d, 'filenamePrefix', at) ?? '', permissions } };
}

function validateAssetOptions(o: Obj): ExportDestination {
  const path = 'assetExportOptions';
  const a = object(o[path], path);
  onlyFields(a, path, ['earthEngineDestination', 'pyramidingPolicy', 'pyramidingPolicyOverrides', 'tileSize']);
  optEnum(a, 'pyramidingPolicy', path, PYRAMIDING_POLICIES, 'PyramidingPolicy');
  refused(a, 'tileSize', path, INTERNAL_ONLY);
  if (has(a, 'pyramidingPolicyOverrides')) {
    const at = `${path}.pyramidingPolicyOverrides`;
    const overrides = object(a['pyramidingPolicyOverrides'], at);
    for (const band of Object.keys(overrides)) optEnum(overrides, band, at, PYRAMIDING_POLICIES, 'PyramidingPolicy');
  }
  const at = `${path}.earthEngineDestination`;
  if (!has(a, 'earthEngineDestination')) throw invalidField(at, `Invalid value at '${at}': required field is missing.`);
  const d = object(a['earthEngineDestination'], at);
  onlyFields(d, at, ['name', 'overwrite']);
  const name = optString(d, 'name', at);
  if (!name || !ASSET_NAME_PATTERN.test(name)) {
    throw invalidField(`${at}.name`, `Invalid value at '${at}.name': asset name must look like "projects/*/assets/**", got ${JSON.stringify(name ?? '')}.`);
  }
  return { kind: 'asset', name, overwrite: optBool(d, 'overwrite', at) ?? false };
}

/**
 * Validates a posted ExportImageRequest. `signatures` is the algorithm catalogue that
 * `functionName`s must come from.
 */
export function validateExportRequest(
  body: unknown,
  version: ApiVersion,
  signatures: ReadonlyMap<string, AlgorithmSignature>,
): { ok: true; request: ExportImageRequest } | { ok: false; error: ApiError } {
  try {
    return { ok: true, request: parse(body, version, signatures) };
  } catch (e) {
    if (e instanceof ApiError) return { ok: false, error: e };
    throw e;
  }
}

function parse(body: unknown, version: ApiVersion, signatures: ReadonlyMap<string, AlgorithmSignature>): ExportImageRequest {
  if (!isObj(body)) throw new ApiError('INVALID_ARGUMENT', 'Invalid JSON payload received. Expected an ExportImageRequest object.');
  onlyFields(body, '', ['expression', 'description', 'maxPixels', 'grid', 'requestId', 'maxWorkers', 'workloadTag', 'priority', 'fileExportOptions', 'assetExportOptions']);

  if (!has(body, 'expression')) throw invalidField('expression', "Invalid value at 'expression': required field is missing.");
  const checked = validateExpression(body['expression'], 'expression', signatures);
  if (!checked.ok) throw checked.error;

  const description = optString(body, 'description', '') ?? '';
  const requestIdRaw = optString(body, 'requestId', '');
  if (requestIdRaw && !REQUEST_ID_PATTERN.test(requestIdRaw)) {
    throw invalidField('requestId', `Invalid value at 'requestId': ${JSON.stringify(requestIdRaw)} must match [A-Za-z0-9-]{1,60}.`);
  }
  const workloadTag = optString(body, 'workloadTag', '') || undefined;
  if (workloadTag !== undefined && !WORKLOAD_TAG_PATTERN.test(workloadTag)) {
    throw invalidField('workloadTag', `Invalid value at 'workloadTag': ${JSON.stringify(workloadTag)} must be 1-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.`);
  }
  const maxPixels = optInteger(body, 'maxPixels', '', 'TYPE_INT64', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULT_MAX_PIXELS;
  const priority = optInteger(body, 'priority', '', 'TYPE_INT32', 0, 9999) ?? DEFAULT_PRIORITY;
  refused(body, 'maxWorkers', '', INTERNAL_ONLY);
  const grid = has(body, 'grid') ? validateGrid(body) : undefined;

  const which = exactlyOne(body, ['fileExportOptions', 'assetExportOptions'], '', 'export options field');
  const { destination, fileFormat } = which === 'fileExportOptions' ? validateFileOptions(body, version) : { destination: validateAssetOptions(body), fileFormat: undefined };

  return {
    expression: checked.expression,
    description,
    maxPixels,
    priority,
    requestId: requestIdRaw || undefined,
    workloadTag,
    grid,
    fileFormat,
    destination,
    body,
  };
}

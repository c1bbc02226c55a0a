/**
 * The intake table: every form of a request that eeport refuses because the real Earth
 * Engine refuses it, and every form it accepts because the service's proto3 JSON parser
 * does. One row per form. The same rows run against parseExportRequest (unit), the
 * simulator (it must agree with eeport), and the four ways in on the emulators: the
 * requests topic, the HTTP API, uploads and batches (test/integration/intake-forms.test.ts).
 *
 * Sources: the shared references production-facts.md and earth-engine-export-api.md
 * (image file formats, internal-only fields, noData, workloadTag, projects, proto3 JSON).
 */
import { assetLoadRequest } from '../../tools/samples/export-requests.ts';

export type Body = Record<string, unknown>;

/** A Cloud project number (digits), accepted wherever a project id is. */
export const PROJECT_NUMBER = '123456789012';
/** The retired project: Earth Engine stopped serving requests there on 2024-11-13. */
export const LEGACY_PROJECT = 'earthengine-legacy';

/** The base every form varies: one asset, loaded whole, written to Cloud Storage as a GeoTIFF. */
export const baseRequest = (): Body => assetLoadRequest('projects/p/assets/a', { description: 'intake form' });

const DESTINATION = { bucket: 'eeport-out', filenamePrefix: 'forms/x' };
/** The base with these fileExportOptions fields (over a Cloud Storage destination and GEO_TIFF). */
const file = (options: Body, top: Body = {}): Body => ({ ...baseRequest(), fileExportOptions: { cloudStorageDestination: { ...DESTINATION }, fileFormat: 'GEO_TIFF', ...options }, ...top });
/** The base as an asset export with these assetExportOptions fields. */
const asset = (options: Body): Body => {
  const { fileExportOptions: _file, ...rest } = baseRequest();
  return { ...rest, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/forms/x' }, ...options } };
};
/** The base with these top-level fields. */
const top = (fields: Body): Body => ({ ...baseRequest(), ...fields });

/** An upload's object, as the upload rows use it (the expression of a form may name it). */
export const UPLOAD_URI = 'gs://eeport-uploads/forms/scene.tif';

export interface RefusedForm {
  name: string;
  /** The request body (valid apart from the form). */
  request: Body;
  /** The target project (envelope `eeProject`, message attribute, rule or batch field), when the form is the project. */
  eeProject?: string;
  /** The path eeport's error names: a request path, or `eeProject`. */
  path: string;
  /** What eeport's error says. */
  rule: RegExp;
}

const NOT_EXPORTED = /must be GEO_TIFF or TF_RECORD_IMAGE.*thumbnail or pixel format/;
const INTERNAL = /can only be set by internal Earth Engine users/;
const TAG = /lowercase letters, digits, "-" or "_", starting and ending with a letter or digit/;

export const REFUSED_FORMS: readonly RefusedForm[] = [
  ...(['JPEG', 'PNG', 'AUTO_JPEG_PNG', 'NPY', 'ZIPPED_GEO_TIFF', 'ZIPPED_GEO_TIFF_PER_BAND', 'MULTI_BAND_IMAGE_TILE'] as const).map((fileFormat) => ({
    name: `fileFormat ${fileFormat}`,
    request: file({ fileFormat }),
    path: 'fileExportOptions.fileFormat',
    rule: NOT_EXPORTED,
  })),
  { name: 'maxWorkers', request: top({ maxWorkers: 4 }), path: 'maxWorkers', rule: INTERNAL },
  { name: 'maxWorkers as {"value": n}', request: top({ maxWorkers: { value: 4 } }), path: 'maxWorkers', rule: INTERNAL },
  { name: 'assetExportOptions.tileSize', request: asset({ tileSize: 256 }), path: 'assetExportOptions.tileSize', rule: INTERNAL },
  {
    name: 'geoTiffOptions.noData.integerValue',
    request: file({ geoTiffOptions: { noData: { integerValue: '-1' } } }),
    path: 'fileExportOptions.geoTiffOptions.noData.integerValue',
    rule: /supports only noData\.floatValue/,
  },
  { name: 'workloadTag with capitals', request: top({ workloadTag: 'Nightly' }), path: 'workloadTag', rule: TAG },
  { name: 'workloadTag with a dot', request: top({ workloadTag: 'nightly.v2' }), path: 'workloadTag', rule: TAG },
  { name: 'workloadTag starting with "-"', request: top({ workloadTag: '-nightly' }), path: 'workloadTag', rule: TAG },
  { name: 'workloadTag ending with "_"', request: top({ workloadTag: 'nightly_' }), path: 'workloadTag', rule: TAG },
  { name: 'workloadTag of 64 characters', request: top({ workloadTag: 'a'.repeat(64) }), path: 'workloadTag', rule: TAG },
  { name: 'workloadTag with a space', request: top({ workloadTag: 'night run' }), path: 'workloadTag', rule: TAG },
  { name: 'the project earthengine-legacy', request: baseRequest(), eeProject: LEGACY_PROJECT, path: 'eeProject', rule: /no longer serves Earth Engine requests/ },
];

export interface AcceptedForm {
  name: string;
  request: Body;
  /** The target project, when the form is the project. */
  eeProject?: string;
  /** What eeport sends on (the normalized request) must match this (toMatchObject). */
  sent: Body;
  /** Dotted paths that must be absent from what eeport sends on. */
  absent?: readonly string[];
}

const geoTiff = (options: Body): Body => ({ fileExportOptions: { geoTiffOptions: options } });
const tfRecord = (options: Body): Body => ({ fileExportOptions: { fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: options } });

export const ACCEPTED_FORMS: readonly AcceptedForm[] = [
  { name: 'a Cloud project number as eeProject', request: baseRequest(), eeProject: PROJECT_NUMBER, sent: { description: 'intake form' } },
  // null fields are absent (proto3 JSON), top level and nested, and null does not make a refused field set.
  { name: 'null description, requestId, workloadTag', request: top({ description: null, requestId: null, workloadTag: null }), sent: {}, absent: ['description', 'requestId', 'workloadTag'] },
  { name: 'null priority and maxPixels', request: top({ priority: null, maxPixels: null }), sent: {}, absent: ['priority', 'maxPixels'] },
  { name: 'null grid', request: top({ grid: null }), sent: {}, absent: ['grid'] },
  { name: 'null assetExportOptions beside fileExportOptions', request: top({ assetExportOptions: null }), sent: { fileExportOptions: { fileFormat: 'GEO_TIFF' } }, absent: ['assetExportOptions'] },
  { name: 'null fileExportOptions beside assetExportOptions', request: { ...asset({}), fileExportOptions: null }, sent: { assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/forms/x' } } }, absent: ['fileExportOptions'] },
  {
    name: 'null destination, format option and nested fields',
    request: file({ driveDestination: null, tfRecordOptions: null, geoTiffOptions: { cloudOptimized: null, noData: null }, cloudStorageDestination: { ...DESTINATION, permissions: null } }),
    sent: { fileExportOptions: { cloudStorageDestination: DESTINATION, geoTiffOptions: {} } },
    absent: ['fileExportOptions.driveDestination', 'fileExportOptions.tfRecordOptions', 'fileExportOptions.geoTiffOptions.cloudOptimized', 'fileExportOptions.cloudStorageDestination.permissions'],
  },
  { name: 'null maxWorkers', request: top({ maxWorkers: null }), sent: {}, absent: ['maxWorkers'] },
  { name: 'null assetExportOptions.tileSize', request: asset({ tileSize: null }), sent: {}, absent: ['assetExportOptions.tileSize'] },
  { name: 'null noData.integerValue beside floatValue', request: file({ geoTiffOptions: { noData: { floatValue: -9999, integerValue: null } } }), sent: geoTiff({ noData: { floatValue: -9999 } }), absent: ['fileExportOptions.geoTiffOptions.noData.integerValue'] },
  {
    name: 'null ValueNode kinds beside the one set',
    request: top({ expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', functionReference: null, arguments: { uri: { constantValue: UPLOAD_URI, valueReference: null } } }, integerValue: null } } } }),
    sent: { expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF' } } } } },
    absent: ['expression.values.0.integerValue', 'expression.values.0.functionInvocationValue.functionReference'],
  },
  // int32 as decimal strings (proto3 JSON), sent on as numbers.
  { name: 'priority as a string', request: top({ priority: '250' }), sent: { priority: 250 } },
  { name: 'priority as {"value": string}', request: top({ priority: { value: '7' } }), sent: { priority: 7 } },
  { name: 'grid dimensions as strings', request: top({ grid: { crsCode: 'EPSG:4326', dimensions: { width: '256', height: '128' } } }), sent: { grid: { dimensions: { width: 256, height: 128 } } } },
  { name: 'geoTiffOptions tileDimensions and tileSize as strings', request: file({ geoTiffOptions: { tileDimensions: { width: '512', height: '512' }, tileSize: '256' } }), sent: geoTiff({ tileDimensions: { width: 512, height: 512 }, tileSize: 256 }) },
  {
    name: 'tfRecordOptions tile and margin dimensions as strings',
    request: file({ fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { tileDimensions: { width: '256', height: '256' }, marginDimensions: { width: '0', height: '16' } } }),
    sent: tfRecord({ tileDimensions: { width: 256, height: 256 }, marginDimensions: { width: 0, height: 16 } }),
  },
  { name: 'tfRecordOptions tensorDepths as strings', request: file({ fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { tensorDepths: { B4: '3' } } }), sent: tfRecord({ tensorDepths: { B4: 3 } }) },
  // int64 as strings or numbers: sent on as the canonical decimal string.
  { name: 'maxPixels as a string', request: top({ maxPixels: '10000000000' }), sent: { maxPixels: '10000000000' } },
  { name: 'maxPixels as a number', request: top({ maxPixels: 10000000000 }), sent: { maxPixels: '10000000000' } },
  { name: 'tfRecordOptions maxSizeBytes as a number', request: file({ fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { maxSizeBytes: 1000000 } }), sent: tfRecord({ maxSizeBytes: '1000000' }) },
  // doubles as strings (proto3 JSON), sent on as numbers.
  {
    name: 'affineTransform coefficients as strings',
    request: top({ grid: { crsCode: 'EPSG:32633', affineTransform: { scaleX: '30', shearX: '0', translateX: '500000.5', shearY: '0', scaleY: '-30', translateY: '4000000' } } }),
    sent: { grid: { affineTransform: { scaleX: 30, shearX: 0, translateX: 500000.5, shearY: 0, scaleY: -30, translateY: 4000000 } } },
  },
  { name: 'noData.floatValue as a string', request: file({ geoTiffOptions: { noData: { floatValue: '-9999' } } }), sent: geoTiff({ noData: { floatValue: -9999 } }) },
  { name: 'noData.floatValue "NaN"', request: file({ geoTiffOptions: { noData: { floatValue: 'NaN' } } }), sent: geoTiff({ noData: { floatValue: 'NaN' } }) },
  { name: 'tfRecordOptions maxMaskedRatio and defaultValue as strings', request: file({ fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { maxMaskedRatio: '0.5', defaultValue: '-1.5' } }), sent: tfRecord({ maxMaskedRatio: 0.5, defaultValue: -1.5 }) },
  // A PixelGrid's CRS is a union (at most one); nothing requires one.
  { name: 'a grid with neither crsCode nor crsWkt', request: top({ grid: { dimensions: { width: 100, height: 100 }, affineTransform: { scaleX: 30, scaleY: -30 } } }), sent: { grid: { dimensions: { width: 100, height: 100 } } }, absent: ['grid.crsCode', 'grid.crsWkt'] },
  // The export formats, and an unset one (the clients default to GEO_TIFF; the reference does not say the service refuses it).
  { name: 'fileFormat TF_RECORD_IMAGE', request: file({ fileFormat: 'TF_RECORD_IMAGE' }), sent: { fileExportOptions: { fileFormat: 'TF_RECORD_IMAGE' } } },
  { name: 'fileFormat unset', request: file({ fileFormat: undefined }), sent: {}, absent: ['fileExportOptions.fileFormat'] },
  // workloadTag forms the clients' pattern allows; "" is proto3's default, no tag.
  { name: 'workloadTag of one character', request: top({ workloadTag: 'a' }), sent: { workloadTag: 'a' } },
  { name: 'workloadTag with "-" and "_" inside', request: top({ workloadTag: 'nightly-export_2' }), sent: { workloadTag: 'nightly-export_2' } },
  { name: 'workloadTag of 63 characters', request: top({ workloadTag: `a${'_'.repeat(61)}z` }), sent: { workloadTag: `a${'_'.repeat(61)}z` } },
  { name: 'empty workloadTag', request: top({ workloadTag: '' }), sent: {} },
  // Assets may still be named under the retired project; only running in it is refused.
  { name: 'an asset destination under projects/earthengine-legacy', request: asset({ earthEngineDestination: { name: 'projects/earthengine-legacy/assets/users/me/x' } }), sent: { assetExportOptions: { earthEngineDestination: { name: 'projects/earthengine-legacy/assets/users/me/x' } } } },
];

/** The value at a dotted path, or undefined. */
export function at(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

/** Whether a dotted path names a key that exists (with any value, undefined included). */
export function hasPath(value: unknown, path: string): boolean {
  const keys = path.split('.');
  const last = keys.pop()!;
  const parent = keys.length ? at(value, keys.join('.')) : value;
  return parent !== null && typeof parent === 'object' && Object.hasOwn(parent, last);
}

/**
 * The form as an upload rule's request template: no requestId (rules cannot set one) and
 * the default expression (Image.loadGeoTIFF of the upload) unless the form is about the
 * expression, in which case the upload's URI becomes the {{uri}} placeholder.
 */
export function uploadTemplate(request: Body): Body {
  const { requestId: _id, expression, ...rest } = request;
  const isBase = JSON.stringify(expression) === JSON.stringify(baseRequest().expression);
  return isBase ? rest : { ...rest, expression: JSON.parse(JSON.stringify(expression).replaceAll(UPLOAD_URI, '{{uri}}')) as unknown };
}

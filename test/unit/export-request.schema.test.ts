import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DESCRIPTION_MAX_LENGTH,
  EXPORT_FILE_FORMATS,
  ExportImageRequestSchema,
  MAX_JSON_DEPTH,
  MAX_VALUE_NODE_DEPTH,
  PYRAMIDING_POLICIES,
  TILE_PERMISSIONS,
  exportRequestJsonSchema,
  formatIssues,
  parseExportRequest,
  type ExportImageRequest,
  type ExportRequestIssue,
} from '../../functions/src/core/requests/export-request.schema.ts';
import { GENERATED_SCHEMAS, REPO_ROOT, renderSchema } from '../../tools/gen-schemas.ts';
import { ACCEPTED_FORMS, REFUSED_FORMS, at, hasPath } from '../fakes/intake-forms.ts';

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/** Verbatim: what the official JS client sent (shared reference, earth-engine-export-api.md). */
const JS_CLIENT_BODY_TEXT = `{"description":"d",
 "expression":{"result":"0","values":{"0":{"functionInvocationValue":{"functionName":"Image.clipToBoundsAndScale","arguments":{
   "input":{"functionInvocationValue":{"functionName":"Image.select","arguments":{
     "input":{"functionInvocationValue":{"functionName":"Image.load","arguments":{"id":{"constantValue":"projects/p/assets/a"}}}},
     "bandSelectors":{"constantValue":["B4"]}}}},
   "scale":{"constantValue":30}}}}}},
 "fileExportOptions":{"cloudStorageDestination":{"bucket":"b","filenamePrefix":"x"},"fileFormat":"GEO_TIFF",
   "geoTiffOptions":{"cloudOptimized":false,"skipEmptyFiles":false}},
 "maxPixels":"10000000000",
 "requestId":"f956722a-1c70-4b51-bf91-b3b6bc862e6c"}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Body = { [key: string]: Json };

const jsClientBody = (): Body => JSON.parse(JS_CLIENT_BODY_TEXT) as Body;

const ASSET_LOAD_EXPRESSION: Json = {
  result: '0',
  values: {
    '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'ASSET_ID' } } } },
  },
};

const LOAD_GEOTIFF_EXPRESSION: Json = {
  result: '0',
  values: {
    '0': {
      functionInvocationValue: {
        functionName: 'Image.loadGeoTIFF',
        arguments: { uri: { constantValue: 'gs://bucket/path.tif' } },
      },
    },
  },
};

const GCS: Json = { cloudStorageDestination: { bucket: 'my-bucket', filenamePrefix: 'exports/x' }, fileFormat: 'GEO_TIFF' };

/** A minimal valid body to vary: asset load, to Cloud Storage. */
function body(overrides: Body = {}): Body {
  return { expression: structuredClone(ASSET_LOAD_EXPRESSION), fileExportOptions: structuredClone(GCS), ...overrides };
}

function withFileOptions(options: Body): Body {
  return body({ fileExportOptions: { ...(GCS as Body), ...options } });
}

function withValues(values: Body, result = '0'): Body {
  return body({ expression: { result, values } });
}

/** `depth` ValueNodes nested through the given kind, ending in a constant. */
function nested(depth: number, kind: 'array' | 'dict' | 'call'): Json {
  let node: Json = { constantValue: 1 };
  for (let i = 1; i < depth; i++) {
    if (kind === 'array') node = { arrayValue: { values: [node] } };
    else if (kind === 'dict') node = { dictionaryValue: { values: { k: node } } };
    else node = { functionInvocationValue: { functionName: 'Image.abs', arguments: { input: node } } };
  }
  return node;
}

function expectOk(input: unknown): ExportImageRequest {
  const result = parseExportRequest(input);
  if (!result.ok) throw new Error(`expected ok, got: ${formatIssues(result.errors)}`);
  return result.value;
}

function expectErrors(input: unknown): ExportRequestIssue[] {
  const result = parseExportRequest(input);
  if (result.ok) throw new Error('expected errors, got ok');
  return result.errors;
}

// ---------------------------------------------------------------------------
// Accepted bodies
// ---------------------------------------------------------------------------

describe('parseExportRequest accepts what real clients send', () => {
  it('accepts the verbatim JS-client body and keeps it unchanged', () => {
    const input = jsClientBody();
    const value = expectOk(input);
    expect(value).toEqual(input);
    expect(value.maxPixels).toBe('10000000000');
  });

  it('accepts the asset-load graph', () => {
    expect(expectOk(body()).expression).toEqual(ASSET_LOAD_EXPRESSION);
  });

  it('accepts the Image.loadGeoTIFF graph', () => {
    expect(expectOk(body({ expression: LOAD_GEOTIFF_EXPRESSION })).expression).toEqual(LOAD_GEOTIFF_EXPRESSION);
  });

  it('accepts a flat graph linked by many valueReferences', () => {
    const values: Body = { '0': { constantValue: 1 } };
    for (let i = 1; i <= 2000; i++) {
      values[String(i)] = {
        functionInvocationValue: {
          functionName: 'Image.add',
          arguments: { image1: { valueReference: String(i - 1) }, image2: { valueReference: String(Math.floor(i / 2)) } },
        },
      };
    }
    expect(Object.keys(expectOk(withValues(values, '2000')).expression.values)).toHaveLength(2001);
  });

  it.each(['array', 'dict', 'call'] as const)('accepts %s nesting up to the depth limit', (kind) => {
    expectOk(withValues({ '0': nested(MAX_VALUE_NODE_DEPTH, kind) }));
  });

  it('accepts every ValueNode kind, including a null constant and user functions', () => {
    expectOk(
      withValues(
        {
          '0': {
            dictionaryValue: {
              values: {
                nothing: { constantValue: null },
                big: { integerValue: '-9223372036854775808' },
                bytes: { bytesValue: 'AAECAw==' },
                urlSafe: { bytesValue: 'AAEC-_8' },
                list: { arrayValue: { values: [{ constantValue: { a: [1, 2] } }, { valueReference: 'f' }] } },
                call: { functionInvocationValue: { functionReference: 'f', arguments: { x: { constantValue: 2 } } } },
              },
            },
          },
          f: { functionDefinitionValue: { argumentNames: ['x'], body: 'body' } },
          body: { argumentReference: 'x' },
        },
        '0',
      ),
    );
  });

  it.each([
    ['a number', 10000000000],
    ['a decimal string', '10000000000'],
    ['a wrapped string (Python client)', { value: '10000000000' }],
    ['a wrapped number', { value: 10000000000 }],
    ['a string with leading zeros', '010000000000'],
  ])('accepts maxPixels as %s and normalizes it to a decimal string', (_, maxPixels) => {
    expect(expectOk(body({ maxPixels })).maxPixels).toBe('10000000000');
  });

  it('accepts maxPixels up to the int64 maximum', () => {
    expect(expectOk(body({ maxPixels: '9223372036854775807' })).maxPixels).toBe('9223372036854775807');
  });

  it.each([
    ['a number', 5000, 5000],
    ['a wrapper (Python client)', { value: 0 }, 0],
    ['the maximum', 9999, 9999],
  ])('accepts priority as %s and normalizes it to a number', (_, priority, expected) => {
    expect(expectOk(body({ priority })).priority).toBe(expected);
  });

  it('accepts requestId, workloadTag and description forms', () => {
    expectOk(body({ requestId: 'a'.repeat(60) }));
    for (const workloadTag of ['nightly-export_1', 'a', '', '0abc']) expectOk(body({ workloadTag }));
    expectOk(body({ description: 'x'.repeat(DESCRIPTION_MAX_LENGTH) }));
  });

  describe('destinations', () => {
    it('accepts Drive, including the empty destination the JS client sends by default', () => {
      expectOk(body({ fileExportOptions: { driveDestination: {}, fileFormat: 'GEO_TIFF' } }));
      const value = expectOk(
        body({ fileExportOptions: { driveDestination: { folder: 'ee', filenamePrefix: 'img' }, fileFormat: 'GEO_TIFF' } }),
      );
      expect(value.fileExportOptions?.driveDestination).toEqual({ folder: 'ee', filenamePrefix: 'img' });
    });

    it('accepts Cloud Storage with every field', () => {
      for (const permissions of TILE_PERMISSIONS) {
        const destination = {
          bucket: 'my.bucket_2',
          filenamePrefix: 'a/b',
          permissions,
          bucketCorsUris: ['https://example.org'],
        };
        const value = expectOk(body({ fileExportOptions: { cloudStorageDestination: destination, fileFormat: 'GEO_TIFF' } }));
        expect(value.fileExportOptions?.cloudStorageDestination).toEqual(destination);
      }
    });

    it('maps the deprecated gcsDestination to cloudStorageDestination', () => {
      const value = expectOk(
        body({ fileExportOptions: { gcsDestination: { bucket: 'legacy-bucket', filenamePrefix: 'p' }, fileFormat: 'GEO_TIFF' } }),
      );
      expect(value.fileExportOptions).toEqual({
        cloudStorageDestination: { bucket: 'legacy-bucket', filenamePrefix: 'p' },
        fileFormat: 'GEO_TIFF',
      });
      expect(value.fileExportOptions).not.toHaveProperty('gcsDestination');
    });

    it('accepts every export file format (GEO_TIFF, TF_RECORD_IMAGE, unset)', () => {
      for (const fileFormat of EXPORT_FILE_FORMATS) expectOk(withFileOptions({ fileFormat }));
    });

    it('accepts an asset export with pyramiding overrides', () => {
      const value = expectOk({
        expression: ASSET_LOAD_EXPRESSION,
        assetExportOptions: {
          earthEngineDestination: { name: 'projects/earthengine-legacy/assets/users/me/out', overwrite: true },
          pyramidingPolicy: 'MEAN',
          pyramidingPolicyOverrides: { B4: 'SAMPLE', QA: 'MODE' },
        },
      });
      expect(value.assetExportOptions).toEqual({
        earthEngineDestination: { name: 'projects/earthengine-legacy/assets/users/me/out', overwrite: true },
        pyramidingPolicy: 'MEAN',
        pyramidingPolicyOverrides: { B4: 'SAMPLE', QA: 'MODE' },
      });
    });
  });

  describe('format options', () => {
    it('accepts geoTiffOptions with every field', () => {
      const value = expectOk(
        withFileOptions({
          geoTiffOptions: {
            cloudOptimized: true,
            tileDimensions: { width: 1024, height: 512 },
            skipEmptyFiles: true,
            tileSize: { value: 256 },
            noData: { floatValue: -9999 },
            metadataKeys: ['system:time_start'],
            pyramidOptions: { resamplingMethod: 'NEAREST' },
          },
        }),
      );
      expect(value.fileExportOptions?.geoTiffOptions?.tileSize).toBe(256);
      expectOk(withFileOptions({ geoTiffOptions: { noData: { floatValue: 'NaN' } } }));
    });

    it('accepts tfRecordOptions with every field and normalizes the wrappers', () => {
      const value = expectOk(
        withFileOptions({
          fileFormat: 'TF_RECORD_IMAGE',
          tfRecordOptions: {
            tileDimensions: { width: 256, height: 256 },
            marginDimensions: { width: 1, height: 0 },
            compress: true,
            maxSizeBytes: { value: '1000000000' },
            defaultValue: -1.5,
            tensorDepths: { B4: 1, label: 3 },
            sequenceData: false,
            collapseBands: true,
            maxMaskedRatio: { value: 0.25 },
          },
        }),
      );
      expect(value.fileExportOptions?.tfRecordOptions).toMatchObject({ maxSizeBytes: '1000000000', maxMaskedRatio: 0.25 });
    });
  });

  it('accepts a grid with crsCode or crsWkt', () => {
    const grid = {
      dimensions: { width: 100, height: 200 },
      affineTransform: { scaleX: 30, shearX: 0, translateX: 500000, shearY: 0, scaleY: -30, translateY: 4000000 },
      crsCode: 'EPSG:32633',
    };
    expect(expectOk(body({ grid })).grid).toEqual(grid);
    expectOk(body({ grid: { crsWkt: 'GEOGCS["WGS 84"]', affineTransform: { scaleX: 1 } } }));
  });

  it('accepts a body shaped like the Python client builds it', () => {
    const value = expectOk({
      expression: ASSET_LOAD_EXPRESSION,
      description: 'myExportImageTask',
      fileExportOptions: {
        fileFormat: 'GEO_TIFF',
        driveDestination: { folder: 'f', filenamePrefix: 'myExportImageTask' },
        geoTiffOptions: { cloudOptimized: true, tileDimensions: { width: 256, height: 256 }, tileSize: { value: 256 } },
      },
      maxPixels: { value: '10000000000000' },
      priority: { value: 200 },
      requestId: 'ABCDEFGHIJKLMNOPQRSTUVWX',
      workloadTag: 'my-tag',
    });
    expect(value).toMatchObject({ maxPixels: '10000000000000', priority: 200 });
  });
});

// ---------------------------------------------------------------------------
// Rejected bodies
// ---------------------------------------------------------------------------

/** A body whose `expression.values` nests `levels` arrays: the depth bomb. */
function depthBomb(levels: number): Body {
  let node: Json = { constantValue: 1 };
  for (let i = 0; i < levels; i++) node = { arrayValue: { values: [node] } };
  return withValues({ '0': node });
}

interface InvalidCase {
  name: string;
  input: () => unknown;
  /** The path an error must name (exact string, or a pattern). */
  path: string | RegExp;
  /** The rule that error must state. */
  rule: RegExp;
}

const INVALID: InvalidCase[] = [
  { name: 'a string', input: () => 'expression', path: '(root)', rule: /must be a JSON object, got/ },
  { name: 'an array', input: () => [body()], path: '(root)', rule: /must be a JSON object, got an array/ },
  { name: 'null', input: () => null, path: '(root)', rule: /must be a JSON object, got null/ },
  { name: 'a missing expression', input: () => ({ fileExportOptions: GCS }), path: 'expression', rule: /is required/ },
  {
    name: 'an expression without result',
    input: () => body({ expression: { values: { '0': { constantValue: 1 } } } }),
    path: 'expression.result',
    rule: /is required/,
  },
  {
    name: 'a result that is not in values',
    input: () => withValues({ '0': { constantValue: 1 } }, 'out'),
    path: 'expression.result',
    rule: /"out", which is not a key of expression\.values/,
  },
  {
    name: 'a dangling valueReference',
    input: () => withValues({ '0': { arrayValue: { values: [{ valueReference: 'nope' }] } } }),
    path: 'expression.values.0.arrayValue.values[0].valueReference',
    rule: /refers to "nope", which is not a key/,
  },
  {
    name: 'a dangling functionReference',
    input: () => withValues({ '0': { functionInvocationValue: { functionReference: 'fn' } } }),
    path: 'expression.values.0.functionInvocationValue.functionReference',
    rule: /refers to "fn", which is not a key/,
  },
  {
    name: 'a reference cycle',
    input: () =>
      withValues({
        '0': { valueReference: 'a' },
        a: { functionInvocationValue: { functionName: 'Image.abs', arguments: { input: { valueReference: 'b' } } } },
        b: { valueReference: 'a' },
      }),
    path: 'expression.values.b.valueReference',
    rule: /reference cycle \("a" → "b" → "a"\)/,
  },
  {
    name: 'a self-reference',
    input: () => withValues({ '0': { valueReference: '0' } }),
    path: 'expression.values.0.valueReference',
    rule: /reference cycle/,
  },
  {
    name: 'a node with two kinds set',
    input: () => withValues({ '0': { constantValue: 1, valueReference: '0' } }),
    path: 'expression.values.0',
    rule: /sets 2 value kinds \(constantValue, valueReference\); exactly one is allowed/,
  },
  {
    name: 'a node with no kind set',
    input: () => withValues({ '0': {} }),
    path: 'expression.values.0',
    rule: /needs exactly one value kind/,
  },
  {
    name: 'a node with an unknown kind',
    input: () => withValues({ '0': { stringValue: 'x' } }),
    path: 'expression.values.0.stringValue',
    rule: /not a known field/,
  },
  {
    name: 'a call with both functionName and functionReference',
    input: () =>
      withValues({
        '0': { functionInvocationValue: { functionName: 'Image.load', functionReference: 'f' } },
        f: { functionDefinitionValue: { body: 'x' } },
        x: { argumentReference: 'a' },
      }),
    path: 'expression.values.0.functionInvocationValue',
    rule: /exactly one of functionName or functionReference/,
  },
  {
    name: 'a call with neither functionName nor functionReference',
    input: () => withValues({ '0': { functionInvocationValue: { arguments: {} } } }),
    path: 'expression.values.0.functionInvocationValue',
    rule: /needs exactly one function target/,
  },
  {
    name: 'an integerValue that is not an int64',
    input: () => withValues({ '0': { integerValue: '99999999999999999999' } }),
    path: 'expression.values.0.integerValue',
    rule: /int64/,
  },
  {
    name: 'bytesValue that is not base64',
    input: () => withValues({ '0': { bytesValue: 'not base64!' } }),
    path: 'expression.values.0.bytesValue',
    rule: /base64/,
  },
  {
    name: 'ValueNodes nested past the limit',
    input: () => withValues({ '0': nested(MAX_VALUE_NODE_DEPTH + 1, 'call') }),
    path: 'expression.values.0',
    rule: new RegExp(`more than ${MAX_VALUE_NODE_DEPTH} levels deep`),
  },
  {
    name: 'a depth bomb (10,000 levels)',
    input: () => depthBomb(10_000),
    path: /^expression\.values\.0\.arrayValue\.values\[0\].*…$/,
    rule: new RegExp(`nested more than ${MAX_JSON_DEPTH} levels deep`),
  },
  {
    name: 'both fileExportOptions and assetExportOptions',
    input: () => body({ assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } } }),
    path: '(root)',
    rule: /sets 2 export kinds .*exactly one of fileExportOptions or assetExportOptions/,
  },
  {
    name: 'neither fileExportOptions nor assetExportOptions',
    input: () => ({ expression: ASSET_LOAD_EXPRESSION }),
    path: '(root)',
    rule: /needs exactly one export kind: set fileExportOptions or assetExportOptions/,
  },
  {
    name: 'two destinations',
    input: () => withFileOptions({ driveDestination: {} }),
    path: 'fileExportOptions',
    rule: /sets 2 destinations \(driveDestination, cloudStorageDestination\)/,
  },
  {
    name: 'cloudStorageDestination and the deprecated gcsDestination',
    input: () => withFileOptions({ gcsDestination: { bucket: 'other' } }),
    path: 'fileExportOptions',
    rule: /sets 2 destinations/,
  },
  {
    name: 'no destination',
    input: () => body({ fileExportOptions: { fileFormat: 'GEO_TIFF' } }),
    path: 'fileExportOptions',
    rule: /needs exactly one destination: set driveDestination, cloudStorageDestination or gcsDestination/,
  },
  {
    name: 'a bad fileFormat',
    input: () => withFileOptions({ fileFormat: 'GeoTIFF' }),
    path: 'fileExportOptions.fileFormat',
    rule: /must be GEO_TIFF or TF_RECORD_IMAGE.*\(got the string "GeoTIFF"\)/,
  },
  {
    name: 'a bad permissions value',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'my-bucket', permissions: 'PRIVATE' } }),
    path: 'fileExportOptions.cloudStorageDestination.permissions',
    rule: /must be one of TILE_PERMISSIONS_UNSPECIFIED, PUBLIC, DEFAULT_OBJECT_ACL/,
  },
  {
    name: 'a bucket with capitals',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'My_Bucket' } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /not a valid Cloud Storage bucket name: may use only lowercase letters/,
  },
  {
    name: 'a bucket given as a gs:// URL',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'gs://my-bucket/path' } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /without gs:\/\/ or a path/,
  },
  {
    name: 'a bucket longer than 63 characters',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'a'.repeat(64) } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /at most 63 characters/,
  },
  {
    name: 'a bucket named like Google',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'goog-exports' } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /must not start with "goog"/,
  },
  {
    name: 'a bucket that is an IP address',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: '192.168.5.4' } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /must not be an IP address/,
  },
  {
    name: 'a Cloud Storage destination without a bucket',
    input: () => withFileOptions({ cloudStorageDestination: { filenamePrefix: 'x' } }),
    path: 'fileExportOptions.cloudStorageDestination.bucket',
    rule: /is required/,
  },
  {
    name: 'priority 10000',
    input: () => body({ priority: 10000 }),
    path: 'priority',
    rule: /whole number from 0 to 9999/,
  },
  { name: 'priority -1', input: () => body({ priority: -1 }), path: 'priority', rule: /from 0 to 9999.*got -1/ },
  { name: 'priority 1.5', input: () => body({ priority: 1.5 }), path: 'priority', rule: /whole number .*got 1\.5/ },
  {
    name: 'a wrapped priority out of range',
    input: () => body({ priority: { value: 10000 } }),
    path: 'priority.value',
    rule: /from 0 to 9999/,
  },
  {
    name: 'a requestId with "_"',
    input: () => body({ requestId: 'job_1' }),
    path: 'requestId',
    rule: /1 to 60 characters, each a letter, a digit or "-"/,
  },
  {
    name: 'a requestId over 60 characters',
    input: () => body({ requestId: 'a'.repeat(61) }),
    path: 'requestId',
    rule: /1 to 60 characters/,
  },
  {
    name: 'maxPixels "abc"',
    input: () => body({ maxPixels: 'abc' }),
    path: 'maxPixels',
    rule: /positive whole number written in decimal digits/,
  },
  { name: 'maxPixels 0', input: () => body({ maxPixels: 0 }), path: 'maxPixels', rule: /positive whole number \(got 0\)/ },
  {
    name: 'maxPixels negative',
    input: () => body({ maxPixels: '-100' }),
    path: 'maxPixels',
    rule: /positive whole number/,
  },
  {
    name: 'maxPixels beyond int64',
    input: () => body({ maxPixels: '9223372036854775808' }),
    path: 'maxPixels',
    rule: /int64 range/,
  },
  {
    name: 'maxPixels as an inexact JSON number',
    input: () => body({ maxPixels: 1e19 }),
    path: 'maxPixels',
    rule: /too large to be exact as a JSON number; send it as a decimal string/,
  },
  {
    name: 'a legacy asset id instead of an asset name',
    input: () => ({ expression: ASSET_LOAD_EXPRESSION, assetExportOptions: { earthEngineDestination: { name: 'users/me/x' } } }),
    path: 'assetExportOptions.earthEngineDestination.name',
    rule: /full asset name like "projects\/my-project\/assets\/folder\/image"/,
  },
  {
    name: 'a bad pyramiding override',
    input: () => ({
      expression: ASSET_LOAD_EXPRESSION,
      assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' }, pyramidingPolicyOverrides: { B1: 'AVG' } },
    }),
    path: 'assetExportOptions.pyramidingPolicyOverrides.B1',
    rule: /must be one of PYRAMIDING_POLICY_UNSPECIFIED/,
  },
  {
    name: 'both geoTiffOptions and tfRecordOptions',
    input: () => withFileOptions({ geoTiffOptions: {}, tfRecordOptions: {} }),
    path: 'fileExportOptions',
    rule: /at most one of geoTiffOptions or tfRecordOptions/,
  },
  {
    name: 'noData with an integerValue beside floatValue',
    input: () => withFileOptions({ geoTiffOptions: { noData: { floatValue: 0, integerValue: 0 } } }),
    path: 'fileExportOptions.geoTiffOptions.noData.integerValue',
    rule: /supports only noData\.floatValue/,
  },
  {
    name: 'an empty noData',
    input: () => withFileOptions({ geoTiffOptions: { noData: {} } }),
    path: 'fileExportOptions.geoTiffOptions.noData',
    rule: /needs floatValue/,
  },
  {
    name: 'maxMaskedRatio above 1',
    input: () => withFileOptions({ tfRecordOptions: { maxMaskedRatio: 1.5 } }),
    path: 'fileExportOptions.tfRecordOptions.maxMaskedRatio',
    rule: /ratio from 0 to 1/,
  },
  {
    name: 'crsCode and crsWkt both',
    input: () => body({ grid: { crsCode: 'EPSG:4326', crsWkt: 'GEOGCS[]' } }),
    path: 'grid',
    rule: /at most one of crsCode or crsWkt/,
  },
  {
    name: 'a grid with a zero width',
    input: () => body({ grid: { crsCode: 'EPSG:4326', dimensions: { width: 0, height: 1 } } }),
    path: 'grid.dimensions.width',
    rule: /whole number from 1 to/,
  },
  {
    name: 'an unknown top-level field (typo)',
    input: () => ({ expression: ASSET_LOAD_EXPRESSION, fileExportOption: GCS }),
    path: 'fileExportOption',
    rule: /not a known field; Earth Engine rejects unknown fields \(did you mean "fileExportOptions"\?\)/,
  },
  {
    name: 'an unknown nested field',
    input: () => withFileOptions({ cloudStorageDestination: { bucket: 'my-bucket', fileNamePrefix: 'x' } }),
    path: 'fileExportOptions.cloudStorageDestination.fileNamePrefix',
    rule: /did you mean "filenamePrefix"/,
  },
  {
    name: 'a __proto__ key',
    input: () => JSON.parse('{"expression":{"result":"0","values":{"__proto__":{"constantValue":1}}}}') as unknown,
    path: 'expression.values.__proto__',
    rule: /forbidden key \(prototype pollution\)/,
  },
  {
    name: 'a constructor key in a map',
    input: () => withFileOptions({ tfRecordOptions: { tensorDepths: { constructor: 1 } } }),
    path: 'fileExportOptions.tfRecordOptions.tensorDepths.constructor',
    rule: /reserved name .*prototype pollution/,
  },
  {
    name: 'a huge description',
    input: () => body({ description: 'x'.repeat(5_000_000) }),
    path: 'description',
    rule: /at most 100 characters, Earth Engine's limit for task descriptions \(got 5000000\)/,
  },
  {
    name: 'a workloadTag with spaces',
    input: () => body({ workloadTag: 'my tag' }),
    path: 'workloadTag',
    rule: /1 to 63 lowercase letters, digits/,
  },
  {
    name: 'a non-JSON number',
    input: () => body({ maxPixels: Number.NaN }),
    path: 'maxPixels',
    rule: /must be a finite number/,
  },
  {
    name: 'a cyclic JS object',
    input: () => {
      const loop: Record<string, unknown> = body();
      loop['self'] = loop;
      return loop;
    },
    path: /^self\.self\.self/,
    rule: /nested more than/,
  },
];

describe('parseExportRequest rejects invalid bodies, naming the field and the rule', () => {
  it('has a table of at least 25 cases', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(25);
  });

  it.each(INVALID)('rejects $name', ({ input, path, rule }) => {
    const errors = expectErrors(input());
    const match = errors.find((e) => (typeof path === 'string' ? e.path === path : path.test(e.path)) && rule.test(e.message));
    expect(match, `no error at ${String(path)} matching ${String(rule)}; got: ${formatIssues(errors)}`).toBeDefined();
  });

  it('keeps every message to one line and never echoes a huge input', () => {
    for (const { input } of INVALID) {
      for (const error of expectErrors(input())) {
        expect(error.message).not.toMatch(/\n/);
        expect(error.path.length + error.message.length).toBeLessThan(1000);
      }
    }
  });

  it('reports a flood of errors with a bounded list', () => {
    const values: Body = {};
    for (let i = 0; i < 500; i++) values[String(i)] = { valueReference: `missing${i}` };
    const errors = expectErrors(withValues(values));
    expect(errors.length).toBeLessThanOrEqual(51);
    expect(errors.at(-1)).toEqual({ path: '(root)', message: expect.stringMatching(/^and at least \d+ more errors$/) as unknown });
  });

  it('parses the deepest graph the raw-depth guard lets through without exhausting the stack', () => {
    // request → expression → values → node is 3 levels; each call level adds 3 more.
    const levels = Math.floor((MAX_JSON_DEPTH - 4) / 3);
    const errors = expectErrors(withValues({ '0': nested(levels, 'call') }));
    expect(formatIssues(errors)).not.toMatch(/could not be validated/);
    expect(errors).toContainEqual({
      path: 'expression.values.0',
      message: expect.stringMatching(new RegExp(`more than ${MAX_VALUE_NODE_DEPTH} levels deep`)) as unknown,
    });
  });

  it('reports a long reference cycle briefly and bounds the work on hostile graphs', () => {
    const values: Body = {};
    const n = 5000;
    for (let i = 0; i < n; i++) {
      values[`k${i}`] = { arrayValue: { values: [{ valueReference: `k${(i + 1) % n}` }, { valueReference: 'k0' }] } };
    }
    const errors = expectErrors(withValues(values, 'k0'));
    expect(errors.length).toBeLessThanOrEqual(51);
    expect(errors[0]).toEqual({
      path: `expression.values.k${n - 1}.arrayValue.values[0].valueReference`,
      message: `closes a reference cycle ("k0" → "k1" → "k2" → … → "k${n - 2}" → "k${n - 1}" → "k0"); the expression graph must be acyclic`,
    });
  });

  it('rejects non-JSON values anywhere', () => {
    expect(expectErrors(body({ description: (() => 'x') as unknown as Json }))[0]).toMatchObject({
      path: 'description',
      message: expect.stringMatching(/must be JSON data/) as unknown,
    });
    expect(expectErrors(body({ when: new Date(0) as unknown as Json }))[0]?.message).toMatch(/plain JSON object/);
  });

  it('never throws through the schema itself either', () => {
    expect(() => ExportImageRequestSchema.safeParse(depthBomb(10_000))).not.toThrow();
    expect(ExportImageRequestSchema.safeParse(depthBomb(10_000)).success).toBe(false);
  });

  it('never throws and never fails internally, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4, withNullPrototype: true, withObjectString: true }), (input) => {
        const result = parseExportRequest(input);
        if (!result.ok) expect(formatIssues(result.errors)).not.toMatch(/could not be validated/);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on mutations of a valid body (property)', () => {
    const base = jsClientBody();
    const paths: (string | number)[][] = [];
    const collect = (value: Json, path: (string | number)[]): void => {
      paths.push(path);
      if (Array.isArray(value)) value.forEach((v, i) => collect(v, [...path, i]));
      else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, [...path, k]);
    };
    collect(base, []);
    fc.assert(
      fc.property(fc.constantFrom(...paths.slice(1)), fc.jsonValue({ maxDepth: 3 }), fc.boolean(), (path, replacement, remove) => {
        const copy = structuredClone(base);
        let parent: Json = copy;
        for (const seg of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[seg] as Json;
        const last = path.at(-1)!;
        if (remove && !Array.isArray(parent)) delete (parent as Record<string, Json>)[last];
        else (parent as Record<string | number, Json>)[last] = replacement as Json;
        const result = parseExportRequest(copy);
        if (!result.ok) {
          expect(result.errors.length).toBeGreaterThan(0);
          expect(formatIssues(result.errors)).not.toMatch(/could not be validated/);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

// ---------------------------------------------------------------------------
// The intake table (test/fakes/intake-forms.ts): what the service refuses and accepts
// ---------------------------------------------------------------------------

describe('parseExportRequest: the intake table', () => {
  const requestForms = REFUSED_FORMS.filter((f) => f.eeProject === undefined);

  it.each(requestForms)('refuses $name, naming $path', ({ request, path, rule }) => {
    const errors = expectErrors(request);
    expect(errors.find((e) => e.path === path && rule.test(e.message)), formatIssues(errors)).toBeDefined();
  });

  it.each(ACCEPTED_FORMS)('accepts $name and normalizes it', ({ request, sent, absent = [] }) => {
    const value = expectOk(request);
    expect(value).toMatchObject(sent);
    for (const path of absent) expect(hasPath(value, path), path).toBe(false);
    // What is sent on has no nulls left (but a null constant) and parses to itself.
    expect(JSON.stringify(value)).not.toMatch(/(?<!"constantValue"):null/);
    expect(expectOk(JSON.parse(JSON.stringify(value)))).toEqual(value);
  });

  it('keeps an unknown field refused even when it is null, as the service parser does', () => {
    expect(expectErrors(body({ colour: null }))[0]).toMatchObject({ path: 'colour', message: expect.stringMatching(/not a known field/) });
  });

  it('refuses null where proto3 JSON does: as a map value or an array item', () => {
    expect(expectErrors(withValues({ '0': null as unknown as Json }))[0]!.path).toBe('expression.values.0');
    expect(expectErrors(withValues({ '0': { arrayValue: { values: [null] } } }))[0]!.path).toBe('expression.values.0.arrayValue.values[0]');
    expect(expectErrors(withFileOptions({ fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { tensorDepths: { B4: null } } }))[0]!.path).toBe(
      'fileExportOptions.tfRecordOptions.tensorDepths.B4',
    );
  });

  it('keeps a null constant and a null inside a constant', () => {
    const value = expectOk(withValues({ '0': { constantValue: null }, n: { constantValue: { a: null, b: [null] } } }));
    expect(at(value, 'expression.values.0')).toEqual({ constantValue: null });
    expect(at(value, 'expression.values.n')).toEqual({ constantValue: { a: null, b: [null] } });
  });

  it('refuses int32 strings that are not whole numbers in range, naming the field', () => {
    for (const [input, path] of [
      [body({ priority: '10000' }), 'priority'],
      [body({ priority: '1.5' }), 'priority'],
      [body({ grid: { dimensions: { width: '0', height: '1' } } }), 'grid.dimensions.width'],
      [body({ grid: { dimensions: { width: '1', height: 'x' } } }), 'grid.dimensions.height'],
      [body({ grid: { affineTransform: { scaleX: 'thirty' } } }), 'grid.affineTransform.scaleX'],
      [withFileOptions({ tfRecordOptions: { maxMaskedRatio: '1.5' } }), 'fileExportOptions.tfRecordOptions.maxMaskedRatio'],
    ] as const) {
      expect(expectErrors(input).map((e) => e.path), JSON.stringify(input)).toContain(path);
    }
  });
});

describe('formatIssues', () => {
  it('joins errors into one line', () => {
    expect(
      formatIssues([
        { path: 'maxPixels', message: 'must be positive' },
        { path: 'requestId', message: 'must be\nshort' },
      ]),
    ).toBe('maxPixels: must be positive; requestId: must be short');
  });
});

// ---------------------------------------------------------------------------
// JSON Schema
// ---------------------------------------------------------------------------

type Schema = { [key: string]: unknown };

/**
 * A deliberately small validator for the draft 2020-12 keywords the generated
 * document uses (ajv cannot be installed here). The test below fails if the
 * document starts using a keyword this does not know, so it cannot pass by
 * ignoring one.
 */
const KNOWN_KEYWORDS = new Set([
  '$schema', '$id', '$defs', '$ref', 'title', 'description', 'deprecated', 'type', 'properties', 'required',
  'additionalProperties', 'propertyNames', 'items', 'enum', 'anyOf', 'oneOf', 'not', 'pattern', 'minLength',
  'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'minProperties', 'maxProperties',
]);

function validate(root: Schema, schema: Schema, value: unknown): boolean {
  if (typeof schema['$ref'] === 'string') {
    const name = schema['$ref'].replace('#/$defs/', '');
    return validate(root, (root['$defs'] as Record<string, Schema>)[name]!, value);
  }
  const type = schema['type'] as string | string[] | undefined;
  if (type !== undefined) {
    const types = Array.isArray(type) ? type : [type];
    const actual =
      value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
    if (!types.some((t) => t === actual || (t === 'number' && actual === 'integer'))) return false;
  }
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) return false;
  if (typeof value === 'string') {
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'], 'u').test(value)) return false;
    if (typeof schema['minLength'] === 'number' && value.length < schema['minLength']) return false;
    if (typeof schema['maxLength'] === 'number' && value.length > schema['maxLength']) return false;
  }
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) return false;
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) return false;
    if (typeof schema['exclusiveMinimum'] === 'number' && value <= schema['exclusiveMinimum']) return false;
  }
  if (Array.isArray(value) && schema['items']) {
    if (!value.every((item) => validate(root, schema['items'] as Schema, item))) return false;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    const props = (schema['properties'] ?? {}) as Record<string, Schema>;
    if (Array.isArray(schema['required']) && !schema['required'].every((k: string) => k in obj)) return false;
    if (typeof schema['minProperties'] === 'number' && keys.length < schema['minProperties']) return false;
    if (typeof schema['maxProperties'] === 'number' && keys.length > schema['maxProperties']) return false;
    for (const key of keys) {
      if (schema['propertyNames'] && !validate(root, schema['propertyNames'] as Schema, key)) return false;
      if (key in props) {
        if (!validate(root, props[key]!, obj[key])) return false;
      } else if (schema['additionalProperties'] === false) {
        return false;
      } else if (typeof schema['additionalProperties'] === 'object') {
        if (!validate(root, schema['additionalProperties'] as Schema, obj[key])) return false;
      }
    }
  }
  if (Array.isArray(schema['anyOf']) && !schema['anyOf'].some((s: Schema) => validate(root, s, value))) return false;
  if (Array.isArray(schema['oneOf']) && schema['oneOf'].filter((s: Schema) => validate(root, s, value)).length !== 1) {
    return false;
  }
  if (schema['not'] && validate(root, schema['not'] as Schema, value)) return false;
  return true;
}

function allKeywords(schema: unknown, out = new Set<string>(), inMap = false): Set<string> {
  if (Array.isArray(schema)) schema.forEach((s) => allKeywords(s, out));
  else if (schema !== null && typeof schema === 'object') {
    for (const [key, sub] of Object.entries(schema)) {
      if (!inMap) out.add(key);
      if (key === 'enum' || key === 'required') continue;
      allKeywords(sub, out, key === 'properties' || key === '$defs');
    }
  }
  return out;
}

/** An optional field's schema without the `null` the generator allows beside it. */
function nonNull(field: Schema | undefined): Schema {
  const options = field?.['anyOf'] as Schema[] | undefined;
  if (options?.length === 2 && options[1]!['type'] === 'null') return { ...options[0], ...(field!['description'] ? { description: field!['description'] } : {}) };
  return field!;
}

describe('exportRequestJsonSchema', () => {
  const schema = exportRequestJsonSchema() as Schema;
  const props = schema['properties'] as Record<string, Schema>;
  const defs = schema['$defs'] as Record<string, Schema>;
  const fileProps = nonNull(props['fileExportOptions'])['properties'] as Record<string, Schema>;

  it('is a JSON-serialisable draft 2020-12 document with an id, title and description', () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: expect.stringMatching(/^urn:eeport:/) as unknown,
      title: 'ExportImageRequest',
      description: expect.any(String) as unknown,
      type: 'object',
      additionalProperties: false,
    });
  });

  it('describes every top-level field, requires expression and states the export-kind union', () => {
    expect(Object.keys(props).sort()).toEqual(
      [
        'assetExportOptions', 'description', 'expression', 'fileExportOptions', 'grid', 'maxPixels', 'maxWorkers',
        'priority', 'requestId', 'workloadTag',
      ].sort(),
    );
    expect(schema['required']).toEqual(['expression']);
    const set = (k: string) => ({ required: [k], properties: { [k]: { not: { type: 'null' } } } });
    expect(schema['oneOf']).toEqual([set('fileExportOptions'), set('assetExportOptions')]);
    expect(nonNull(props['description'])).toMatchObject({ type: 'string', maxLength: DESCRIPTION_MAX_LENGTH });
    expect(nonNull(props['requestId'])).toMatchObject({ pattern: '^[A-Za-z0-9-]{1,60}$' });
    // Every optional field also allows null (proto3 JSON: absent); refused fields allow nothing else.
    expect(props['priority']!['anyOf']).toContainEqual({ type: 'null' });
    expect(nonNull(props['maxWorkers'])).toMatchObject({ not: {} });
  });

  it('lists every enum value', () => {
    expect(nonNull(fileProps['fileFormat'])['enum']).toEqual([...EXPORT_FILE_FORMATS]);
    const csProps = nonNull(fileProps['cloudStorageDestination'])['properties'] as Record<string, Schema>;
    expect(nonNull(csProps['permissions'])['enum']).toEqual([...TILE_PERMISSIONS]);
    const assetProps = nonNull(props['assetExportOptions'])['properties'] as Record<string, Schema>;
    expect(nonNull(assetProps['pyramidingPolicy'])['enum']).toEqual([...PYRAMIDING_POLICIES]);
  });

  it('defines ValueNode once, recursively, with exactly one field set', () => {
    const node = defs['ValueNode']!;
    expect(Object.keys(node['properties'] as object)).toHaveLength(9);
    expect(node).toMatchObject({ minProperties: 1, maxProperties: 1, additionalProperties: false });
    const text = JSON.stringify(schema);
    for (const ref of text.match(/"\$ref":"[^"]+"/g) ?? []) {
      expect(ref).toBe('"$ref":"#/$defs/ValueNode"');
    }
  });

  it('uses only keywords the validator below understands', () => {
    const unknown = [...allKeywords(schema)].filter((k) => !KNOWN_KEYWORDS.has(k));
    expect(unknown).toEqual([]);
  });

  it('accepts the bodies parseExportRequest accepts and rejects structural errors', () => {
    const accepted: unknown[] = [
      jsClientBody(),
      body({ expression: LOAD_GEOTIFF_EXPRESSION, priority: { value: 5 }, maxPixels: { value: '100' } }),
      body({ fileExportOptions: { gcsDestination: { bucket: 'x1' }, fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: {} } }),
      withValues({ '0': nested(20, 'dict'), n: { constantValue: null } }),
      { expression: ASSET_LOAD_EXPRESSION, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/a' } } },
    ];
    for (const value of accepted) {
      expect(parseExportRequest(value).ok).toBe(true);
      expect(validate(schema, schema, value)).toBe(true);
    }
    const rejected: unknown[] = [
      { fileExportOptions: GCS },
      body({ assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } } }),
      { expression: ASSET_LOAD_EXPRESSION },
      withFileOptions({ fileFormat: 'TIFF' }),
      withFileOptions({ driveDestination: {} }),
      withValues({ '0': { constantValue: 1, integerValue: '1' } }),
      withValues({ '0': {} }),
      body({ priority: 10000 }),
      body({ requestId: 'a_b' }),
      body({ fileExportOption: GCS }),
      withFileOptions({ geoTiffOptions: {}, tfRecordOptions: {} }),
      withValues({ constructor: { constantValue: 1 }, '0': { constantValue: 1 } }),
    ];
    for (const value of rejected) {
      expect(parseExportRequest(value).ok).toBe(false);
      expect(validate(schema, schema, value), JSON.stringify(value).slice(0, 200)).toBe(false);
    }
  });

  it('accepts the accepted forms of the intake table and refuses its refused request forms', () => {
    // Null value kinds beside the set one: the parser accepts them, the schema states the one-kind rule strictly.
    for (const { name, request } of ACCEPTED_FORMS.filter((f) => !f.name.startsWith('null ValueNode'))) {
      expect(validate(schema, schema, JSON.parse(JSON.stringify(request))), name).toBe(true);
    }
    for (const { name, request } of REFUSED_FORMS.filter((f) => f.eeProject === undefined)) {
      expect(validate(schema, schema, request), name).toBe(false);
    }
  });

  it('matches the committed files in docs/schemas (run `npx tsx tools/gen-schemas.ts` to refresh)', () => {
    for (const { file, build } of GENERATED_SCHEMAS) {
      expect(readFileSync(resolve(REPO_ROOT, file), 'utf8'), `${file} is stale`).toBe(renderSchema(build()));
    }
  });
});

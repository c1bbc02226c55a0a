/** image:export validation: a table of bad bodies (400 naming the field) and good variants. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Operation, type Simulator, startSimulator } from '../../tools/ee-simulator/index.ts';
import { type GoogleErrorBody, PROJECT, call, exportBody, referenceExpression } from './helpers.ts';
import { ACCEPTED_FORMS, REFUSED_FORMS } from '../fakes/intake-forms.ts';

const gcs = (dest: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ fileExportOptions: { cloudStorageDestination: dest, fileFormat: 'GEO_TIFF', ...extra } });
const load = (id: unknown = 'projects/p/assets/a') => ({ functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: id } } } });
const expr = (values: Record<string, unknown>, result = '0') => ({ expression: { result, values } });

/** [case, top-level overrides, field that the error must name] */
const INVALID: Array<[string, string, Record<string, unknown>]> = [
  ['missing expression', 'expression', { expression: undefined }],
  ['expression not an object', 'expression', { expression: 'Image.load' }],
  ['missing result', 'expression.result', { expression: { values: { '0': load() } } }],
  ['result key not in values', 'expression.result', expr({ '1': load() })],
  ['values not a map', 'expression.values', { expression: { result: '0', values: [] } }],
  ['node with no kind', 'expression.values.0', expr({ '0': {} })],
  ['node with two kinds', 'expression.values.0', expr({ '0': { constantValue: 1, integerValue: '1' } })],
  ['unknown node field', 'expression.values.0.stringValue', expr({ '0': { stringValue: 'x' } })],
  ['bad integerValue', 'expression.values.0.integerValue', expr({ '0': { integerValue: '1.5' } })],
  ['bad bytesValue', 'expression.values.0.bytesValue', expr({ '0': { bytesValue: 'not base64!' } })],
  ['dangling valueReference', 'expression.values.0.valueReference', expr({ '0': { valueReference: 'nope' } })],
  ['nested dangling valueReference', 'expression.values.0.functionInvocationValue.arguments.id.valueReference', expr({ '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { valueReference: '9' } } } } })],
  ['reference cycle', 'expression.values.0', expr({ '0': { valueReference: '1' }, '1': { arrayValue: { values: [{ valueReference: '0' }] } } })],
  ['self reference', 'expression.values.0', expr({ '0': { valueReference: '0' } })],
  ['unknown function', 'expression.values.0.functionInvocationValue.functionName', expr({ '0': { functionInvocationValue: { functionName: 'Image.teleport', arguments: {} } } })],
  ['name and reference', 'expression.values.0.functionInvocationValue', expr({ '0': { functionInvocationValue: { functionName: 'Image.load', functionReference: '1', arguments: {} } }, '1': { constantValue: 1 } })],
  ['unknown argument', 'expression.values.0.functionInvocationValue.arguments', expr({ '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'a' }, colour: { constantValue: 1 } } } } })],
  ['missing required argument', 'expression.values.0.functionInvocationValue.arguments', expr({ '0': { functionInvocationValue: { functionName: 'Image.load', arguments: {} } } })],
  ['argumentReference outside any function', 'expression.values.0.argumentReference', expr({ '0': { argumentReference: '_MAPPING_VAR_0_0' } })],
  ['function body reference dangling', 'expression.values.0.functionDefinitionValue.body', expr({ '0': { functionDefinitionValue: { argumentNames: ['x'], body: 'zz' } } })],
  ['unknown top-level field', 'colour', { colour: 'red' }],
  ['no export options', 'fileExportOptions', { fileExportOptions: undefined }],
  ['both export options', 'assetExportOptions', { assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' } } }],
  ['no destination', 'fileExportOptions.driveDestination', { fileExportOptions: { fileFormat: 'GEO_TIFF' } }],
  ['two destinations', 'fileExportOptions.cloudStorageDestination', { fileExportOptions: { driveDestination: { folder: 'f' }, cloudStorageDestination: { bucket: 'b' } } }],
  ['gcsDestination outside v1alpha', 'fileExportOptions.gcsDestination', { fileExportOptions: { gcsDestination: { bucket: 'b' } } }],
  ['missing bucket', 'fileExportOptions.cloudStorageDestination.bucket', gcs({ filenamePrefix: 'x' })],
  ['gs:// in bucket', 'fileExportOptions.cloudStorageDestination.bucket', gcs({ bucket: 'gs://b' })],
  ['bad permissions enum', 'fileExportOptions.cloudStorageDestination.permissions', gcs({ bucket: 'b', permissions: 'WORLD' })],
  ['bad fileFormat enum', 'fileExportOptions.fileFormat', gcs({ bucket: 'b' }, { fileFormat: 'GIF' })],
  ['unknown geoTiffOptions field', 'fileExportOptions.geoTiffOptions.cog', gcs({ bucket: 'b' }, { geoTiffOptions: { cog: true } })],
  ['bad pyramidingPolicy', 'assetExportOptions.pyramidingPolicy', { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/x' }, pyramidingPolicy: 'AVERAGE' } }],
  ['bad asset name', 'assetExportOptions.earthEngineDestination.name', { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'users/me/x' } } }],
  ['missing asset destination', 'assetExportOptions.earthEngineDestination', { fileExportOptions: undefined, assetExportOptions: {} }],
  ['priority too high', 'priority', { priority: 10000 }],
  ['priority negative', 'priority', { priority: -1 }],
  ['priority not integer', 'priority', { priority: 1.5 }],
  ['priority wrapper out of range', 'priority', { priority: { value: 20000 } }],
  ['maxPixels not a number', 'maxPixels', { maxPixels: 'lots' }],
  ['maxPixels zero', 'maxPixels', { maxPixels: 0 }],
  ['maxPixels wrapper with junk', 'maxPixels', { maxPixels: { value: '1e9' } }],
  ['requestId with underscore', 'requestId', { requestId: 'my_request' }],
  ['requestId too long', 'requestId', { requestId: 'a'.repeat(61) }],
  ['requestId not a string', 'requestId', { requestId: 42 }],
  ['description not a string', 'description', { description: 7 }],
  ['workloadTag uppercase', 'workloadTag', { workloadTag: 'Nightly' }],
  ['grid dimensions negative', 'grid.dimensions.width', { grid: { dimensions: { width: -1, height: 10 } } }],
  ['grid both crs forms', 'grid.crsWkt', { grid: { crsCode: 'EPSG:4326', crsWkt: 'GEOGCS[]' } }],
  ['margin dimensions negative', 'fileExportOptions.tfRecordOptions.marginDimensions.width', gcs({ bucket: 'b' }, { fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { marginDimensions: { width: -1 } } })],
  ['a null map value', 'fileExportOptions.tfRecordOptions.tensorDepths.B4', gcs({ bucket: 'b' }, { fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { tensorDepths: { B4: null } } })],
  ['an unknown field set to null', 'colour', { colour: null }],
];

/** [case, top-level overrides] that must be accepted. */
const VALID: Array<[string, Record<string, unknown>]> = [
  ['the reference body', {}],
  ['maxPixels as number', { maxPixels: 1e10 }],
  ['maxPixels as int64 string', { maxPixels: '10000000000' }],
  ['maxPixels as {value} wrapper', { maxPixels: { value: '10000000000' } }],
  ['maxPixels as {value: number}', { maxPixels: { value: 5e9 } }],
  ['no maxPixels', { maxPixels: undefined }],
  ['priority number', { priority: 9999 }],
  ['priority {value}', { priority: { value: 0 } }],
  ['no requestId', { requestId: undefined }],
  ['empty requestId', { requestId: '' }],
  ['60-char requestId', { requestId: 'A-'.repeat(30) }],
  ['workloadTag', { workloadTag: 'nightly-run_2' }],
  ['grid', { grid: { crsCode: 'EPSG:32610', dimensions: { width: 256, height: 256 }, affineTransform: { scaleX: 30, shearX: 0, translateX: 500000, shearY: 0, scaleY: -30, translateY: 4200000 } } }],
  ['drive destination', { fileExportOptions: { driveDestination: { folder: 'f', filenamePrefix: 'p' }, fileFormat: 'GEO_TIFF' } }],
  ['TFRecord', { fileExportOptions: { cloudStorageDestination: { bucket: 'b' }, fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { tileDimensions: { width: 256, height: 256 }, compress: true, maxSizeBytes: '1000000', tensorDepths: { B4: 1 } } } }],
  ['COG with noData', { fileExportOptions: { cloudStorageDestination: { bucket: 'my-bucket', filenamePrefix: 'a/b/c', permissions: 'DEFAULT_OBJECT_ACL', bucketCorsUris: ['https://x'] }, fileFormat: 'GEO_TIFF', geoTiffOptions: { cloudOptimized: true, noData: { floatValue: -9999 }, tileDimensions: { width: 512, height: 512 } } } }],
  ['asset export', { fileExportOptions: undefined, assetExportOptions: { earthEngineDestination: { name: 'projects/p/assets/folder/x', overwrite: true }, pyramidingPolicy: 'MODE', pyramidingPolicyOverrides: { B4: 'MAX' } } }],
  ['flat graph with valueReference', expr({ '0': { functionInvocationValue: { functionName: 'Image.select', arguments: { input: { valueReference: '1' }, bandSelectors: { valueReference: '2' } } } }, '1': load(), '2': { constantValue: ['B4'] } })],
  ['loadGeoTIFF from Cloud Storage', expr({ '0': { functionInvocationValue: { functionName: 'Image.loadGeoTIFF', arguments: { uri: { constantValue: 'gs://bucket/path.tif' } } } } })],
  ['function definition with argumentReference', expr({
    '0': { functionInvocationValue: { functionName: 'Collection.map', arguments: { collection: { valueReference: '1' }, baseAlgorithm: { functionDefinitionValue: { argumentNames: ['_MAPPING_VAR_0_0'], body: '2' } } } } },
    '1': { functionInvocationValue: { functionName: 'ImageCollection.load', arguments: { id: { constantValue: 'C' } } } },
    '2': { functionInvocationValue: { functionName: 'Image.select', arguments: { input: { argumentReference: '_MAPPING_VAR_0_0' }, bandSelectors: { constantValue: [0] } } } },
  })],
  // The reference does not say the format options must match fileFormat: not checked (nor by eeport).
  ['tfRecordOptions with GEO_TIFF', gcs({ bucket: 'b' }, { tfRecordOptions: { compress: true } })],
  ['geoTiffOptions with TF_RECORD_IMAGE', gcs({ bucket: 'b' }, { fileFormat: 'TF_RECORD_IMAGE', geoTiffOptions: { cloudOptimized: true } })],
  ['tfRecordOptions without fileFormat', { fileExportOptions: { cloudStorageDestination: { bucket: 'b' }, tfRecordOptions: { compress: true } } }],
  ['zero margins', gcs({ bucket: 'b' }, { fileFormat: 'TF_RECORD_IMAGE', tfRecordOptions: { marginDimensions: { width: 0, height: 0 } } })],
  ['all node kinds', expr({ '0': { functionInvocationValue: { functionName: 'Image.constant', arguments: { value: { arrayValue: { values: [{ integerValue: '1' }, { constantValue: null }, { bytesValue: 'AAEC' }, { dictionaryValue: { values: { a: { constantValue: 1 } } } }] } } } } } })],
];

describe('image:export validation', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ rateLimitPerSecond: 0 });
  });
  beforeEach(() => sim.reset());
  afterAll(() => sim.close());

  it.each(INVALID)('rejects %s with 400 naming %s', async (_name, field, overrides) => {
    const r = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody(overrides));
    expect(r.status).toBe(400);
    expect(r.body.error.status).toBe('INVALID_ARGUMENT');
    expect(r.body.error.code).toBe(400);
    expect(r.body.error.details[0]).toMatchObject({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field }] });
    // Unknown names are reported like Google's JSON parser: the name, at its parent's path.
    expect(r.body.error.message).toContain(field.split('.').at(-1));
    expect(sim.tasks()).toHaveLength(0);
  });

  it.each(VALID)('accepts %s', async (_name, overrides) => {
    const r = await call<Operation>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody(overrides));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.metadata.state).toBe('PENDING');
  });

  // The intake table (test/fakes/intake-forms.ts): the simulator refuses and accepts what eeport does.
  const requestForms = REFUSED_FORMS.filter((f) => f.eeProject === undefined);
  it.each(requestForms)('intake table: refuses $name with 400 naming $path, like eeport', async ({ request, path }) => {
    const r = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, request);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error.status).toBe('INVALID_ARGUMENT');
    expect(r.body.error.details[0]).toMatchObject({ fieldViolations: [{ field: path }] });
    expect(sim.tasks()).toHaveLength(0);
  });

  it.each(REFUSED_FORMS.filter((f) => f.eeProject !== undefined))('intake table: refuses $name as the project of every method (403)', async ({ request, eeProject }) => {
    const r = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${eeProject}/image:export`, request);
    expect(r.status).toBe(403);
    expect(r.body.error.status).toBe('PERMISSION_DENIED');
    expect(r.body.error.message).toMatch(/no longer serves Earth Engine requests/);
    expect((await call(sim, 'GET', `/v1/projects/${eeProject}/operations`)).status).toBe(403);
    expect(sim.tasks()).toHaveLength(0);
  });

  it.each(ACCEPTED_FORMS)('intake table: accepts $name, like eeport', async ({ request, eeProject = PROJECT }) => {
    const r = await call<Operation>(sim, 'POST', `/v1/projects/${eeProject}/image:export`, request);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.name).toMatch(new RegExp(`^projects/${eeProject}/operations/`));
    expect(sim.tasks(eeProject)).toHaveLength(1);
  });

  it('rejects malformed JSON and non-object bodies', async () => {
    const bad = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, '{"expression":');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^Invalid JSON payload received/);
    const arr = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, []);
    expect(arr.status).toBe(400);
  });

  it('names the field in a google.rpc.BadRequest detail', async () => {
    const r = await call<GoogleErrorBody>(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody({ priority: 10000 }));
    expect(r.body.error.details).toEqual([
      { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'priority', description: expect.stringContaining('priority') }] },
    ]);
  });

  it('accepts the deprecated gcsDestination on v1alpha and reports the v1alpha metadata type', async () => {
    const body = exportBody({ fileExportOptions: { gcsDestination: { bucket: 'b', filenamePrefix: 'old/x' } } });
    const r = await call<Operation>(sim, 'POST', `/v1alpha/projects/${PROJECT}/image:export`, body);
    expect(r.status).toBe(200);
    expect(r.body.metadata['@type']).toBe('type.googleapis.com/google.earthengine.v1alpha.OperationMetadata');
    const beta = await call<Operation>(sim, 'GET', `/v1beta/${r.body.name}`);
    expect(beta.body.metadata['@type']).toBe('type.googleapis.com/google.earthengine.v1beta.OperationMetadata');
  });

  it('keeps the reference expression intact', async () => {
    await call(sim, 'POST', `/v1/projects/${PROJECT}/image:export`, exportBody());
    expect(sim.tasks()[0]?.request.expression).toEqual(referenceExpression());
  });
});

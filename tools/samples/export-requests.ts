/**
 * Sample export requests, shaped as the official Earth Engine clients send them (see the
 * Earth Engine API reference notes): the local-stack demo and sample file, and the tests'
 * fakes, build their requests here. The simulator (tools/ee-simulator/) stands in for
 * Google and keeps its own copy on purpose; it must not import this module.
 */

/** The Sentinel-2 scene the local stack exports. */
export const SENTINEL2_SCENE = 'COPERNICUS/S2_SR_HARMONIZED/20240601T100559_20240601T101308_T32TQM';

/**
 * The expression graph for `ee.Image(assetId).select(bands)`; with a `scale`, wrapped in
 * `Image.clipToBoundsAndScale` as the JS client does when the export names a scale.
 */
export function selectExpression(assetId: string, bands: string[], scale?: number) {
  const selected = {
    functionInvocationValue: {
      functionName: 'Image.select',
      arguments: {
        input: { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: assetId } } } },
        bandSelectors: { constantValue: bands },
      },
    },
  };
  const root =
    scale === undefined
      ? selected
      : { functionInvocationValue: { functionName: 'Image.clipToBoundsAndScale', arguments: { input: selected, scale: { constantValue: scale } } } };
  return { result: '0', values: { '0': root } };
}

/**
 * The body the official JS client posts for `ee.Image('projects/p/assets/a').select(['B4'])`
 * exported to Cloud Storage at scale 30 with maxPixels 1e10; `overrides` replace top-level fields.
 */
export const jsClientRequest = (overrides: Record<string, unknown> = {}) => ({
  description: 'd',
  expression: selectExpression('projects/p/assets/a', ['B4'], 30),
  fileExportOptions: { cloudStorageDestination: { bucket: 'b', filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF', geoTiffOptions: { cloudOptimized: false, skipEmptyFiles: false } },
  maxPixels: '10000000000',
  ...overrides,
});

/** The smallest valid request: one asset, loaded whole, written as a GeoTIFF. */
export const assetLoadRequest = (assetId = 'projects/p/assets/a', overrides: Record<string, unknown> = {}) => ({
  description: 'asset export',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: assetId } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/asset' }, fileFormat: 'GEO_TIFF' },
  ...overrides,
});

/** The local stack's export bucket. */
export const LOCAL_EXPORT_BUCKET = 'eeport-local-exports';

/** The request the local stack writes to sample-request.json: the Sentinel-2 scene's RGB bands, as a GeoTIFF. */
export const SAMPLE_REQUEST = {
  description: 'my-first-export',
  expression: selectExpression(SENTINEL2_SCENE, ['B4', 'B3', 'B2']),
  fileExportOptions: { cloudStorageDestination: { bucket: LOCAL_EXPORT_BUCKET, filenamePrefix: 'exports/my-first-export' }, fileFormat: 'GEO_TIFF' },
  maxPixels: '10000000000',
};

/** The demo's export: the Sentinel-2 scene's RGB bands at 10 m, written to Cloud Storage as a Cloud-Optimized GeoTIFF. */
export function sentinel2CogExport(description: string, filenamePrefix: string) {
  return {
    description,
    expression: selectExpression(SENTINEL2_SCENE, ['B4', 'B3', 'B2'], 10),
    fileExportOptions: {
      cloudStorageDestination: { bucket: LOCAL_EXPORT_BUCKET, filenamePrefix },
      fileFormat: 'GEO_TIFF',
      geoTiffOptions: { cloudOptimized: true },
    },
    maxPixels: '10000000000',
  };
}

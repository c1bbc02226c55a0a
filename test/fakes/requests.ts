/** Realistic requests, as the official clients send them (see the reference doc). */
export const jsClientRequest = (overrides: Record<string, unknown> = {}) => ({
  description: 'd',
  expression: {
    result: '0',
    values: {
      '0': {
        functionInvocationValue: {
          functionName: 'Image.clipToBoundsAndScale',
          arguments: {
            input: {
              functionInvocationValue: {
                functionName: 'Image.select',
                arguments: {
                  input: { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/a' } } } },
                  bandSelectors: { constantValue: ['B4'] },
                },
              },
            },
            scale: { constantValue: 30 },
          },
        },
      },
    },
  },
  fileExportOptions: { cloudStorageDestination: { bucket: 'b', filenamePrefix: 'x' }, fileFormat: 'GEO_TIFF', geoTiffOptions: { cloudOptimized: false, skipEmptyFiles: false } },
  maxPixels: '10000000000',
  ...overrides,
});

export const assetLoadRequest = (assetId = 'projects/p/assets/a', overrides: Record<string, unknown> = {}) => ({
  description: 'asset export',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: assetId } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'exports/asset' }, fileFormat: 'GEO_TIFF' },
  ...overrides,
});

/**
 * BATCH_MAX_CHILDREN: how many children a batch may have is the deployment's setting
 * (default 10,000, at most 100,000), checked from the spec before any child is made.
 */
import { describe, it, expect } from 'vitest';
import { DEFAULT_MAX_BATCH_CHILDREN, MAX_BATCH_CHILDREN, expandBatch } from '../../functions/src/core/batches/batch-spec.ts';
import { ConfigError, loadConfig } from '../../functions/src/config.ts';
import { assetLoadRequest } from '../fakes/requests.ts';

const template = {
  description: 'item {{value}}',
  expression: { result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'projects/p/assets/mosaic' } } } } } },
  fileExportOptions: { cloudStorageDestination: { bucket: 'eeport-out', filenamePrefix: 'out/{{index}}' }, fileFormat: 'GEO_TIFF' },
};
const values = (n: number) => Array.from({ length: n }, (_, i) => i);
/** A tiling of exactly n tiles (n × 1, 1 px each). */
const tiles = (n: number) => ({ template, tiles: { region: { west: 0, south: 0, east: n, north: 1 }, crsCode: 'EPSG:3857', scale: 1, tileWidth: 1, tileHeight: 1 } });
const message = (r: ReturnType<typeof expandBatch>) => (r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));

describe('BATCH_MAX_CHILDREN', () => {
  it('takes a batch of exactly the limit, and refuses one more, for each way of describing children', () => {
    const limits = { maxChildren: 5 };
    expect(expandBatch({ template, fanOut: { values: values(5) } }, limits).ok).toBe(true);
    expect(expandBatch(tiles(5), limits).ok).toBe(true);
    expect(expandBatch({ requests: Array.from({ length: 5 }, () => assetLoadRequest()) }, limits).ok).toBe(true);

    expect(message(expandBatch({ template, fanOut: { values: values(6) } }, limits))).toMatch(/^batch\.fanOut\.values: the batch has 6 children; at most 5 \(BATCH_MAX_CHILDREN\)/);
    expect(message(expandBatch(tiles(6), limits))).toMatch(/^batch\.tiles: the tiling makes 6 tiles; at most 5 \(BATCH_MAX_CHILDREN\)/);
    expect(message(expandBatch({ requests: Array.from({ length: 6 }, () => assetLoadRequest()) }, limits))).toMatch(/^batch\.requests: the batch has 6 children; at most 5/);
  });

  it('defaults to 10,000 children', () => {
    expect(DEFAULT_MAX_BATCH_CHILDREN).toBe(10_000);
    expect(message(expandBatch(tiles(10_001)))).toMatch(/makes 10001 tiles; at most 10000/);
  });

  it('raised, takes a fan-out beyond the default (a 12,000-value fan-out)', () => {
    const r = expandBatch({ template, fanOut: { values: values(12_000) } }, { maxChildren: 12_000 });
    expect(r.ok && r.children.length).toBe(12_000);
    expect(r.ok && r.children[11_999]!.description).toBe('item 11999');
  });

  it('is never more than 100,000, whatever the setting says', () => {
    expect(MAX_BATCH_CHILDREN).toBe(100_000);
    expect(message(expandBatch(tiles(100_001), { maxChildren: 1_000_000 }))).toMatch(/makes 100001 tiles; at most 100000/);
  });

  it('is read from the environment, within 1..100000', () => {
    const base = { EE_PROJECT: 'ee-test-project' };
    expect(loadConfig(base).BATCH_MAX_CHILDREN).toBe(10_000);
    expect(loadConfig({ ...base, BATCH_MAX_CHILDREN: '100000' }).BATCH_MAX_CHILDREN).toBe(100_000);
    expect(() => loadConfig({ ...base, BATCH_MAX_CHILDREN: '100001' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, BATCH_MAX_CHILDREN: '0' })).toThrow(/BATCH_MAX_CHILDREN/);
  });
});

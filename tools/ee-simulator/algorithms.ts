/**
 * The algorithm catalogue answered by `GET /v1/projects/{p}/algorithms`.
 *
 * The official JavaScript client builds its whole API (ee.Image, ee.Geometry, …) from
 * this answer during `ee.initialize`, and its argument names become the argument names
 * in the expressions it posts; so names and types here follow the real catalogue. Only
 * a subset is listed: what export pipelines use (load, select, clip, reproject, rename,
 * clipToBoundsAndScale, geometry constructors, Feature/Collection basics). The export
 * validator also uses it to reject unknown `functionName`s, as the service does.
 */

/** One entry of ListAlgorithmsResponse.algorithms (REST shape). */
export interface AlgorithmSignature {
  name: string;
  description: string;
  returnType: string;
  arguments: AlgorithmArgument[];
  hidden?: boolean;
  deprecated?: boolean;
  deprecationReason?: string;
}

export interface AlgorithmArgument {
  argumentName: string;
  type: string;
  description?: string;
  optional?: boolean;
  defaultValue?: unknown;
}

type ArgSpec = [name: string, type: string, description: string, optional?: { default?: unknown } | true];

function alg(name: string, returnType: string, description: string, args: ArgSpec[]): AlgorithmSignature {
  return {
    name: `algorithms/${name}`,
    description,
    returnType,
    arguments: args.map(([argumentName, type, desc, opt]) => {
      const a: AlgorithmArgument = { argumentName, type, description: desc };
      if (opt) {
        a.optional = true;
        if (opt !== true && 'default' in opt) a.defaultValue = opt.default;
      }
      return a;
    }),
  };
}

const OPT = true as const;
const img = (n: string, d = 'The input image.'): ArgSpec => [n, 'Image', d];

const binaryImageOp = (op: string, verb: string): AlgorithmSignature =>
  alg(`Image.${op}`, 'Image', `${verb} the first value by the second for each matched pair of bands.`, [
    img('image1', 'The image from which the left operand bands are taken.'),
    img('image2', 'The image from which the right operand bands are taken.'),
  ]);

const castOp = (name: string, type: string): AlgorithmSignature =>
  alg(`Image.${name}`, 'Image', `Casts the input value to ${type}.`, [img('value', 'The image to which the operation is applied.')]);

const geometryCtor = (name: string, extra: ArgSpec[]): AlgorithmSignature =>
  alg(`GeometryConstructors.${name}`, 'Geometry', `Constructs a ${name} geometry.`, [
    ['coordinates', 'List', 'The coordinates of the geometry.'],
    ['crs', 'Projection', 'The coordinate reference system of the coordinates. Defaults to EPSG:4326.', OPT],
    ...extra,
  ]);

const GEODESIC: ArgSpec = ['geodesic', 'Boolean', 'If false, edges are straight in the projection; if true, edges follow the shortest path on the earth.', OPT];
const MAX_ERROR: ArgSpec = ['maxError', 'ErrorMargin', 'Max error when input geometry must be reprojected.', OPT];
const EVEN_ODD: ArgSpec = ['evenOdd', 'Boolean', 'If true, polygon interiors are determined by the even/odd rule.', OPT];

const fieldFilter = (name: string, what: string): AlgorithmSignature =>
  alg(`Filter.${name}`, 'Filter', `Creates a unary or binary filter that passes if ${what}.`, [
    ['leftField', 'String', 'A selector for the left operand.', { default: null }],
    ['rightValue', 'Object', 'The value of the right operand.', { default: null }],
    ['rightField', 'String', 'A selector for the right operand.', { default: null }],
    ['leftValue', 'Object', 'The value of the left operand.', { default: null }],
  ]);

/** The catalogue, in the order the service would list it (alphabetical is close enough). */
export const ALGORITHMS: readonly AlgorithmSignature[] = [
  alg('Collection', 'FeatureCollection', 'Returns a Collection containing the specified features.', [
    ['features', 'List', 'The features comprising the collection.'],
  ]),
  alg('Collection.filter', 'FeatureCollection', 'Applies a filter to a collection.', [
    ['collection', 'FeatureCollection', 'The input collection.'],
    ['filter', 'Filter', 'The filter to apply to this collection.'],
  ]),
  alg('Collection.first', 'Element', 'Returns the first entry from a given collection.', [
    ['collection', 'FeatureCollection', 'The collection from which to select the first entry.'],
  ]),
  alg('Collection.geometry', 'Geometry', 'Extracts and merges the geometries of a collection.', [
    ['collection', 'FeatureCollection', 'The collection whose geometries will be extracted.'],
    MAX_ERROR,
  ]),
  alg('Collection.iterate', 'Object', 'Applies a user-supplied function to each element of a collection.', [
    ['collection', 'FeatureCollection', 'The collection to which the function is applied.'],
    ['function', 'Algorithm', 'The function to apply to each element.'],
    ['first', 'Object', 'The initial state.', { default: null }],
  ]),
  alg('Collection.limit', 'FeatureCollection', 'Limits a collection to the specified number of elements.', [
    ['collection', 'FeatureCollection', 'The input collection.'],
    ['limit', 'Integer', 'The number to limit the collection to.', { default: -1 }],
    ['key', 'String', 'The key of a property to sort by.', { default: null }],
    ['ascending', 'Boolean', 'Whether to sort in ascending or descending order.', { default: true }],
  ]),
  alg('Collection.loadTable', 'FeatureCollection', 'Returns a Collection of features from a specified table.', [
    ['tableId', 'Object', 'The ID of the table to load.'],
    ['geometryColumn', 'String', 'The name of the column to use as the main feature geometry.', { default: null }],
    ['version', 'Long', 'The version of the asset. -1 signifies the latest version.', { default: -1 }],
  ]),
  alg('Collection.map', 'FeatureCollection', 'Maps an algorithm over a collection.', [
    ['collection', 'FeatureCollection', 'The collection of the elements to which the algorithm is applied.'],
    ['baseAlgorithm', 'Algorithm', 'The algorithm being applied to each element.'],
    ['dropNulls', 'Boolean', 'If true, the mapped algorithm is allowed to return nulls.', { default: false }],
  ]),
  alg('Collection.size', 'Integer', 'Returns the number of elements in the collection.', [
    ['collection', 'FeatureCollection', 'The collection to count.'],
  ]),
  alg('Date', 'Date', 'Creates a Date.', [
    ['value', 'Object', 'A number (milliseconds since the epoch) or an ISO date string.'],
    ['timeZone', 'String', 'An optional time zone.', { default: null }],
  ]),
  alg('DateRange', 'DateRange', 'Creates a DateRange with the given start (inclusive) and end (exclusive).', [
    ['start', 'Date', 'The start date.'],
    ['end', 'Date', 'The end date.', { default: null }],
    ['timeZone', 'String', 'An optional time zone.', { default: null }],
  ]),
  alg('Dictionary', 'Dictionary', 'Constructs a dictionary.', [['input', 'Object', 'A dictionary or a list of keys and values.', { default: null }]]),
  alg('Element.copyProperties', 'Element', 'Copies metadata properties from one element to another.', [
    ['destination', 'Element', 'The object whose properties to override.', { default: null }],
    ['source', 'Element', 'The object from which to copy the properties.', { default: null }],
    ['properties', 'List', 'The properties to copy.', { default: null }],
    ['exclude', 'List', 'The list of properties to exclude.', { default: null }],
  ]),
  alg('Element.get', 'Object', 'Extract a property from a feature.', [
    ['object', 'Element', 'The feature to extract the property from.'],
    ['property', 'String', 'The property to extract.'],
  ]),
  alg('Element.set', 'Element', 'Overrides one or more metadata properties of an Element.', [
    ['object', 'Element', 'The Element instance.'],
    ['key', 'String', 'The name of the metadata property to set.'],
    ['value', 'Object', 'The value to set.'],
  ]),
  alg('Element.setMulti', 'Element', 'Overrides one or more metadata properties of an Element.', [
    ['object', 'Element', 'The Element instance.'],
    ['properties', 'Dictionary', 'The property values to set.'],
  ]),
  alg('Feature', 'Feature', 'Returns a Feature composed of the given geometry and metadata.', [
    ['geometry', 'Geometry', 'The geometry of the feature.', { default: null }],
    ['metadata', 'Dictionary', 'The properties of the feature.', { default: null }],
  ]),
  alg('Filter.and', 'Filter', 'Returns a filter that passes if each of the component filters pass.', [['filters', 'List', 'The filters to conjunct.']]),
  alg('Filter.dateRangeContains', 'Filter', 'Creates a filter that passes if the left operand, a date range, contains the right operand, a date.', [
    ['leftField', 'String', 'A selector for the left operand.', { default: null }],
    ['rightValue', 'Object', 'The value of the right operand.', { default: null }],
    ['rightField', 'String', 'A selector for the right operand.', { default: null }],
    ['leftValue', 'Object', 'The value of the left operand.', { default: null }],
  ]),
  fieldFilter('equals', 'the two operands are equal'),
  fieldFilter('greaterThan', 'the left operand is greater than the right operand'),
  alg('Filter.intersects', 'Filter', 'Creates a filter that passes if the left geometry intersects the right geometry.', [
    ['leftField', 'String', 'A selector for the left operand.', { default: null }],
    ['rightValue', 'Object', 'The value of the right operand.', { default: null }],
    ['rightField', 'String', 'A selector for the right operand.', { default: null }],
    ['leftValue', 'Object', 'The value of the left operand.', { default: null }],
    MAX_ERROR,
  ]),
  fieldFilter('lessThan', 'the left operand is less than the right operand'),
  alg('Filter.not', 'Filter', 'Returns a filter that passes if the provided filter fails.', [['filter', 'Filter', 'The filter to negate.']]),
  alg('Filter.or', 'Filter', 'Returns a filter that passes if any of the component filters pass.', [['filters', 'List', 'The filters to disjunct.']]),
  alg('Geometry.bounds', 'Geometry', "Returns the bounding rectangle of the geometry.", [
    ['geometry', 'Geometry', 'The geometry.'],
    MAX_ERROR,
    ['proj', 'Projection', 'If specified, the result will be in this projection.', { default: null }],
  ]),
  alg('Geometry.buffer', 'Geometry', 'Returns the input buffered by a given distance.', [
    ['geometry', 'Geometry', 'The geometry being buffered.'],
    ['distance', 'Float', 'The distance of the buffering, in meters unless proj is given.'],
    MAX_ERROR,
    ['proj', 'Projection', 'If specified, the buffering is performed in this projection.', { default: null }],
  ]),
  alg('GeometryConstructors.BBox', 'Geometry', 'Constructs a rectangle whose edges are lines of constant latitude or longitude.', [
    ['west', 'Float', 'The westernmost longitude.'],
    ['south', 'Float', 'The southernmost latitude.'],
    ['east', 'Float', 'The easternmost longitude.'],
    ['north', 'Float', 'The northernmost latitude.'],
  ]),
  geometryCtor('LineString', [GEODESIC, MAX_ERROR]),
  geometryCtor('LinearRing', [GEODESIC, MAX_ERROR]),
  alg('GeometryConstructors.MultiGeometry', 'Geometry', 'Constructs a MultiGeometry from the given list of geometry elements.', [
    ['geometries', 'List', 'The list of geometries.'],
    ['crs', 'Projection', 'The coordinate reference system of the coordinates.', OPT],
    GEODESIC,
    MAX_ERROR,
  ]),
  geometryCtor('MultiLineString', [GEODESIC, MAX_ERROR]),
  geometryCtor('MultiPoint', []),
  geometryCtor('MultiPolygon', [GEODESIC, MAX_ERROR, EVEN_ODD]),
  geometryCtor('Point', []),
  geometryCtor('Polygon', [GEODESIC, MAX_ERROR, EVEN_ODD]),
  geometryCtor('Rectangle', [GEODESIC, EVEN_ODD]),
  binaryImageOp('add', 'Adds'),
  alg('Image.addBands', 'Image', 'Returns an image containing all bands copied from the first input and selected bands from the second input.', [
    img('dstImg', 'An image into which to copy bands.'),
    img('srcImg', 'An image containing bands to copy.'),
    ['names', 'List', 'Optional list of band names to copy.', { default: null }],
    ['overwrite', 'Boolean', 'If true, bands from srcImg override bands with the same names in dstImg.', { default: false }],
  ]),
  alg('Image.bandNames', 'List', 'Returns a list containing the names of the bands of an image.', [img('image', 'The image from which to get band names.')]),
  alg('Image.clip', 'Image', 'Clips an image to a Geometry or Feature.', [
    img('input', 'The image to clip.'),
    ['geometry', 'Object', 'The Geometry or Feature to clip to.'],
  ]),
  alg('Image.clipToBoundsAndScale', 'Image', 'Clips an image to the bounds of a Geometry, and scales the clipped image to a particular size or scale.', [
    img('input', 'The image to clip and scale.'),
    ['geometry', 'Geometry', 'The Geometry to clip the image to.', { default: null }],
    ['width', 'Integer', 'The width to scale the image to, in pixels.', { default: null }],
    ['height', 'Integer', 'The height to scale the image to, in pixels.', { default: null }],
    ['maxDimension', 'Integer', 'The maximum dimension to scale the image to, in pixels.', { default: null }],
    ['scale', 'Float', 'If scale is specified, then the projection is scaled by dividing the specified scale value by the nominal size of a meter in the image projection.', { default: null }],
  ]),
  alg('Image.constant', 'Image', 'Generates an image containing a constant value everywhere.', [
    ['value', 'Object', 'The value of the pixels in the constant image. Must be a number or an Array or a list of numbers or Arrays.'],
  ]),
  binaryImageOp('divide', 'Divides'),
  alg('Image.load', 'Image', 'Returns the image given its ID.', [
    ['id', 'String', 'The asset ID of the image.'],
    ['version', 'Long', 'The version of the asset. -1 signifies the latest version.', { default: -1 }],
  ]),
  alg('Image.loadGeoTIFF', 'Image', 'Loads a GeoTIFF image from Google Cloud Storage.', [
    ['uri', 'String', 'The Cloud Storage URI of the GeoTIFF to load (a Cloud-Optimized GeoTIFF in a bucket in the US multi-region, us-central1, or a dual-region including us-central1).'],
  ]),
  alg('Image.mask', 'Image', 'Gets or sets an image mask.', [
    img('image', 'The input image.'),
    ['mask', 'Image', 'The mask image. If not specified, the mask of the input image is returned.', { default: null }],
  ]),
  binaryImageOp('multiply', 'Multiplies'),
  alg('Image.normalizedDifference', 'Image', 'Computes the normalized difference between two bands.', [
    img('input', 'The input image.'),
    ['bandNames', 'List', 'A list of names specifying the bands to use.', { default: null }],
  ]),
  alg('Image.projection', 'Projection', 'Returns the default projection of an Image.', [img('image', 'The image from which to get the projection.')]),
  alg('Image.rename', 'Image', 'Rename the bands of an image.', [
    img('input', 'The image to which to apply the operations.'),
    ['names', 'List', 'The new names for the bands.'],
  ]),
  alg('Image.reproject', 'Image', 'Force an image to be computed in a given projection and resolution.', [
    img('image', 'The Image to reproject.'),
    ['crs', 'Projection', 'The CRS to project the image to.'],
    ['crsTransform', 'List', 'The list of CRS transform values.', { default: null }],
    ['scale', 'Float', 'If scale is specified, then the projection is scaled by dividing the specified scale value by the nominal size of a meter in the specified projection.', { default: null }],
  ]),
  alg('Image.resample', 'Image', 'Use bilinear or bicubic interpolation when reprojecting.', [
    img('image', 'The Image to resample.'),
    ['mode', 'String', "The interpolation mode to use: 'bilinear' or 'bicubic'.", { default: 'bilinear' }],
  ]),
  alg('Image.select', 'Image', 'Selects bands from an image by name, RE2-compatible regex or index.', [
    img('input', 'The image to select bands from.'),
    ['bandSelectors', 'List', 'A list of names, regexes or numeric indices specifying the bands to select.'],
    ['newNames', 'List', 'Optional new names for the output bands.', { default: null }],
  ]),
  alg('Image.setDefaultProjection', 'Image', 'Set a default projection to be applied to this image.', [
    img('image', 'The Image to reproject.'),
    ['crs', 'Projection', 'The CRS to project the image to.'],
    ['crsTransform', 'List', 'The list of CRS transform values.', { default: null }],
    ['scale', 'Float', 'If scale is specified, then the projection is scaled by this value.', { default: null }],
  ]),
  binaryImageOp('subtract', 'Subtracts'),
  castOp('toByte', 'an unsigned 8-bit integer'),
  castOp('toDouble', 'a 64-bit float'),
  castOp('toFloat', 'a 32-bit float'),
  castOp('toInt16', 'a signed 16-bit integer'),
  castOp('toInt32', 'a signed 32-bit integer'),
  castOp('toUint16', 'an unsigned 16-bit integer'),
  alg('Image.unmask', 'Image', 'Replaces mask and value of the input image with the mask and value of another image at all positions where the input mask is zero.', [
    img('input', 'Input image.'),
    ['value', 'Image', 'New value and mask for the masked pixels of the input image.', { default: null }],
    ['sameFootprint', 'Boolean', 'If true, the result is masked outside the footprint of the input image.', { default: true }],
  ]),
  alg('Image.updateMask', 'Image', "Updates an image's mask at all positions where the existing mask is not zero.", [
    img('image', 'Input image.'),
    ['mask', 'Image', 'New mask for the image.'],
  ]),
  alg('ImageCollection.fromImages', 'ImageCollection', 'Returns the image collection containing the given images.', [
    ['images', 'List', 'The images to include in the collection.'],
  ]),
  alg('ImageCollection.load', 'ImageCollection', 'Returns the image collection given its ID.', [
    ['id', 'String', 'The asset ID of the image collection.'],
    ['version', 'Long', 'The version of the asset. -1 signifies the latest version.', { default: -1 }],
  ]),
  alg('ImageCollection.mosaic', 'Image', 'Composites all the images in a collection, using the mask.', [
    ['collection', 'ImageCollection', 'The collection to mosaic.'],
  ]),
  alg('Projection', 'Projection', 'Returns a Projection with the given base coordinate system and the given transform.', [
    ['crs', 'Object', 'The base coordinate reference system of this Projection, given as a well-known authority code or a WKT string.'],
    ['transform', 'List', 'The transform between projected coordinates and the base coordinate system.', { default: null }],
    ['transformWkt', 'String', 'The transform between projected coordinates and the base coordinate system, as a WKT string.', { default: null }],
  ]),
  alg('reduce.mean', 'Image', 'Reduces an image collection by computing the mean of all values at each pixel.', [
    ['collection', 'ImageCollection', 'The image collection to reduce.'],
  ]),
  alg('reduce.median', 'Image', 'Reduces an image collection by calculating the median of all values at each pixel.', [
    ['collection', 'ImageCollection', 'The image collection to reduce.'],
  ]),
];

/** Function names (without the `algorithms/` prefix) the validator accepts. */
export function knownFunctionNames(algorithms: readonly AlgorithmSignature[] = ALGORITHMS): ReadonlySet<string> {
  return new Set(algorithms.map((a) => a.name.replace(/^algorithms\//, '')));
}

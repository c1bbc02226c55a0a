/** Public face of the kernel capability. */
export { EarthEngineError, EeportError, isEarthEngineError } from './errors.ts';
export type { EarthEngineFailureKind, ErrorCode } from './errors.ts';
export { InvalidPageTokenError, decodePageToken, encodePageToken } from './page-token.ts';

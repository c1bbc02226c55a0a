/** What every capability shares and that knows none of them: errors with stable codes, page tokens. */
export { EarthEngineError, EeportError, isEarthEngineError } from './errors.ts';
export type { EarthEngineFailureKind, ErrorCode } from './errors.ts';
export { InvalidPageTokenError, decodePageToken, encodePageToken } from './page-token.ts';

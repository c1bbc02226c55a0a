/**
 * Page tokens of list queries: the last item's sort keys, opaque and URL-safe. A token
 * comes back from the client, so it is input like any other: decoding checks its shape
 * and throws InvalidPageTokenError, which the API answers with a 400 naming `pageToken`.
 */

export class InvalidPageTokenError extends Error {
  constructor(reason: string) {
    super(`invalid page token: ${reason}`);
    this.name = 'InvalidPageTokenError';
  }
}

export function encodePageToken(cursor: readonly string[]): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** The cursor, which must have exactly `arity` strings. */
export function decodePageToken(token: string, arity: number): string[] {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(token)) throw new InvalidPageTokenError('not a token this API issued');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidPageTokenError('not a token this API issued');
  }
  if (!Array.isArray(v) || v.length !== arity || !v.every((x) => typeof x === 'string')) throw new InvalidPageTokenError('not a token this API issued');
  return v as string[];
}

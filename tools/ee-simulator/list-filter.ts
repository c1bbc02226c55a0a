/**
 * The `filter` of `GET …/operations`. The service's server-side syntax is undocumented
 * (official clients filter on their side), so this is a small, documented subset of
 * Google's AIP-160 filter language:
 *
 *   filter     := or
 *   or         := and ("OR" and)*
 *   and        := unary (["AND"] unary)*        juxtaposition means AND
 *   unary      := ("NOT" | "-") unary | "(" or ")" | comparison
 *   comparison := field op value
 *   op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
 *   value      := bare word | "double-quoted string"
 *
 * Fields (each also accepted with a `metadata.` prefix): `state`, `done`, `type`,
 * `description`, `priority`, `createTime`, `updateTime`, `startTime`, `endTime`; plus `name`.
 * `state` values are case-insensitive and also accept the legacy task names
 * (READY = PENDING, COMPLETED = SUCCEEDED, CANCEL_REQUESTED = CANCELLING).
 * Times are RFC3339 strings compared as instants. For strings `:` means "contains";
 * elsewhere it means "=". AND binds tighter than OR. A comparison on a field the
 * operation does not have yet (e.g. `endTime` of a running task) is false.
 *
 * Examples: `state=RUNNING`, `metadata.state="RUNNING" OR metadata.state="PENDING"`,
 * `done=false AND priority>=100`, `updateTime>"2025-01-01T00:00:00Z"`.
 */
import { ApiError, badRequest } from './errors.ts';

/** The facts about an operation that filters can test. */
export interface FilterView {
  name: string;
  state: string;
  done: boolean;
  type: string;
  description: string;
  priority: number;
  createTime: number;
  updateTime: number;
  startTime?: number;
  endTime?: number;
}

export type FilterPredicate = (op: FilterView) => boolean;

type Token = { kind: 'word' | 'string' | 'op' | 'lparen' | 'rparen'; text: string; pos: number };

const LEGACY_STATES: Record<string, string> = { READY: 'PENDING', COMPLETED: 'SUCCEEDED', CANCEL_REQUESTED: 'CANCELLING' };
const STATES = new Set(['STATE_UNSPECIFIED', 'PENDING', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'CANCELLED', 'FAILED']);
const TIME_FIELDS = new Set(['createTime', 'updateTime', 'startTime', 'endTime']);
const FIELDS = new Set(['name', 'state', 'done', 'type', 'description', 'priority', ...TIME_FIELDS]);

function fail(message: string): never {
  throw new ApiError('INVALID_ARGUMENT', `Invalid filter: ${message}`, { details: [badRequest('filter', message)] });
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push({ kind: c === '(' ? 'lparen' : 'rparen', text: c, pos: i });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        text += src[j];
        j++;
      }
      if (j >= src.length) fail(`unterminated string at position ${i}`);
      out.push({ kind: 'string', text, pos: i });
      i = j + 1;
    } else if (c === '-' && out.at(-1)?.kind !== 'op' && /[A-Za-z(]/.test(src[i + 1] ?? '')) {
      // A leading '-' negates the term that follows (AIP-160); after an operator it is a sign.
      out.push({ kind: 'word', text: '-', pos: i });
      i++;
    } else if ('=!<>:'.includes(c)) {
      const two = src.slice(i, i + 2);
      const op = ['!=', '<=', '>='].includes(two) ? two : c;
      if (op === '!') fail(`unexpected '!' at position ${i}`);
      out.push({ kind: 'op', text: op, pos: i });
      i += op.length;
    } else {
      let j = i;
      // A ':' ends a field name, but belongs to a bare timestamp value (which starts with a digit).
      const startsWithDigit = /\d/.test(c);
      while (j < src.length && !/[\s()"=!<>]/.test(src[j] as string) && (src[j] !== ':' || startsWithDigit)) j++;
      if (j === i) fail(`unexpected character '${c}' at position ${i}`);
      out.push({ kind: 'word', text: src.slice(i, j), pos: i });
      i = j;
    }
  }
  return out;
}

/** Parses a filter; an empty or blank filter matches everything. Throws 400 on bad syntax. */
export function parseFilter(src: string | undefined): FilterPredicate {
  if (src === undefined || src.trim() === '') return () => true;
  const tokens = tokenize(src);
  let k = 0;
  const peek = (): Token | undefined => tokens[k];
  const isKeyword = (t: Token | undefined, word: string): boolean => t?.kind === 'word' && t.text === word;

  const parseOr = (): FilterPredicate => {
    const parts = [parseAnd()];
    while (isKeyword(peek(), 'OR')) {
      k++;
      parts.push(parseAnd());
    }
    return parts.length === 1 ? (parts[0] as FilterPredicate) : (op) => parts.some((p) => p(op));
  };
  const parseAnd = (): FilterPredicate => {
    const parts = [parseUnary()];
    for (;;) {
      const t = peek();
      if (isKeyword(t, 'AND')) {
        k++;
      } else if (!t || t.kind === 'rparen' || isKeyword(t, 'OR')) {
        break;
      }
      parts.push(parseUnary());
    }
    return parts.length === 1 ? (parts[0] as FilterPredicate) : (op) => parts.every((p) => p(op));
  };
  const parseUnary = (): FilterPredicate => {
    const t = peek();
    if (!t) fail('unexpected end of filter');
    if (isKeyword(t, 'NOT') || (t.kind === 'word' && t.text === '-')) {
      k++;
      const inner = parseUnary();
      return (op) => !inner(op);
    }
    if (t.kind === 'lparen') {
      k++;
      const inner = parseOr();
      if (peek()?.kind !== 'rparen') fail(`missing ')' for '(' at position ${t.pos}`);
      k++;
      return inner;
    }
    return parseComparison();
  };
  const parseComparison = (): FilterPredicate => {
    const f = tokens[k++];
    const o = tokens[k++];
    const v = tokens[k++];
    if (!f || f.kind !== 'word') fail(`expected a field name at position ${f?.pos ?? src.length}`);
    if (!o || o.kind !== 'op') fail(`expected a comparison operator after '${f.text}'`);
    if (!v || (v.kind !== 'word' && v.kind !== 'string')) fail(`expected a value after '${f.text}${o.text}'`);
    return comparison(f.text, o.text, v.text);
  };

  const predicate = parseOr();
  if (k < tokens.length) fail(`unexpected '${tokens[k]?.text}' at position ${tokens[k]?.pos}`);
  return predicate;
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '=':
    case ':':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

function comparison(rawField: string, op: string, value: string): FilterPredicate {
  const field = rawField.replace(/^metadata\./, '').replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
  if (!FIELDS.has(field)) fail(`unknown field '${rawField}'`);
  if (field === 'state') {
    const up = value.toUpperCase();
    const state = LEGACY_STATES[up] ?? up;
    if (!STATES.has(state)) fail(`unknown state '${value}'`);
    if (op !== '=' && op !== ':' && op !== '!=') fail(`operator '${op}' is not supported for state`);
    return (o) => (op === '!=' ? o.state !== state : o.state === state);
  }
  if (field === 'done') {
    if (value !== 'true' && value !== 'false') fail(`done must be true or false, got '${value}'`);
    if (op !== '=' && op !== ':' && op !== '!=') fail(`operator '${op}' is not supported for done`);
    const want = value === 'true';
    return (o) => (op === '!=' ? o.done !== want : o.done === want);
  }
  if (field === 'priority') {
    const n = Number(value);
    if (!Number.isFinite(n)) fail(`priority must be a number, got '${value}'`);
    return (o) => compare(o.priority, op, n);
  }
  if (TIME_FIELDS.has(field)) {
    const t = Date.parse(value);
    if (Number.isNaN(t)) fail(`${rawField} must be an RFC3339 timestamp, got '${value}'`);
    const key = field as 'createTime' | 'updateTime' | 'startTime' | 'endTime';
    return (o) => {
      const x = o[key];
      return x !== undefined && compare(x, op, t);
    };
  }
  const key = field as 'name' | 'type' | 'description';
  switch (op) {
    case '=':
      return (o) => o[key] === value;
    case '!=':
      return (o) => o[key] !== value;
    case ':':
      return (o) => o[key].includes(value);
    default:
      fail(`operator '${op}' is not supported for ${rawField}`);
  }
}

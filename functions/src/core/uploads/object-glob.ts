/**
 * Globs over Cloud Storage object names.
 *
 * Written here rather than taken from picomatch/minimatch: those are in node_modules
 * only as build-tool dependencies, not as dependencies of the deployed functions, and
 * upload rules need just this small, fully specified subset:
 *
 * - `*` any run of characters within one path segment (no `/`), possibly empty;
 * - `?` exactly one character other than `/`;
 * - `**` as a whole segment: any number of whole segments. Leading or in the middle,
 *   possibly none (`**` between `a/` and `/b` matches `a/b` and `a/x/y/b`); trailing, at
 *   least one, so `a/**` matches everything below `a/` but not an object named `a`.
 *   `**` inside a segment (`a**b`) is the same as `*`, as in picomatch and minimatch;
 * - `\` makes the next character literal (`\*`, `\?`, `\[`);
 * - everything else is literal and case-sensitive. Object names have no hidden files:
 *   `*` matches names that start with a dot too.
 *
 * Character classes and braces (`[a-z]`, `{tif,tiff}`) are refused rather than taken
 * literally, so a pattern written for a richer glob dialect fails loudly at load
 * instead of silently never matching.
 *
 * Matching does not go through a RegExp: with several stars in a segment a regular
 * expression backtracks polynomially (`*a*a*a*b` against a long run of "a"s), and
 * whoever may upload chooses the object name. Segments are matched with the classic
 * last-star wildcard algorithm and `**` by memoized search over segments, which is
 * bounded by pattern length × name length.
 */

const UNSUPPORTED = new Set(['[', ']', '{', '}']);

/** Why a pattern cannot be used, or undefined when it can. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.startsWith('/')) return 'object names have no leading "/"; write the pattern without it';
  if (pattern.startsWith('gs://')) return 'is matched against the object name only; put the bucket in match.bucket';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (i === pattern.length - 1) return 'ends with an unfinished escape "\\"';
      i++;
    } else if (UNSUPPORTED.has(c)) {
      return `uses "${c}": character classes and braces are not supported (escape it as "\\${c}" to match it literally)`;
    }
  }
  return undefined;
}

/** One segment's tokens: a literal character, `?`, or `*` (runs of stars collapsed). */
type Token = { lit: string } | 'any' | 'star';
type Segment = Token[] | 'globstar';

/** Splits at unescaped "/" into segments of tokens, by code point (so `?` is one character). */
function parse(pattern: string): Segment[] {
  const chars = Array.from(pattern);
  const segments: Segment[] = [];
  let cur: Token[] = [];
  let raw = '';
  const end = () => {
    segments.push(raw === '**' ? 'globstar' : cur);
    cur = [];
    raw = '';
  };
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      cur.push({ lit: chars[++i]! });
      raw += `\\${chars[i]}`;
    } else if (c === '/') {
      end();
    } else {
      if (c === '*') {
        if (cur.at(-1) !== 'star') cur.push('star');
      } else cur.push(c === '?' ? 'any' : { lit: c });
      raw += c;
    }
  }
  end();
  // Consecutive "**" segments mean the same as one.
  return segments.filter((s, i) => !(s === 'globstar' && segments[i - 1] === 'globstar'));
}

/** Wildcard match of one segment: on a mismatch, only the most recent star takes one more character. */
function segmentMatches(tokens: readonly Token[], text: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const tok = tokens[p];
    if (tok === 'star') {
      starP = p++;
      starT = t;
    } else if (tok !== undefined && (tok === 'any' || tok.lit === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else return false;
  }
  while (tokens[p] === 'star') p++;
  return p === tokens.length;
}

export type GlobMatcher = (name: string) => boolean;

/** A matcher for a valid pattern (see globProblem); throws on an invalid one. */
export function compileGlob(pattern: string): GlobMatcher {
  const problem = globProblem(pattern);
  if (problem) throw new Error(`invalid glob ${JSON.stringify(pattern)}: ${problem}`);
  const segs = parse(pattern);
  return (name) => {
    const parts = name.split('/').map((s) => Array.from(s));
    const memo = new Map<number, boolean>();
    const from = (i: number, j: number): boolean => {
      if (i === segs.length) return j === parts.length;
      const key = i * (parts.length + 1) + j;
      const known = memo.get(key);
      if (known !== undefined) return known;
      const seg = segs[i]!;
      let ok: boolean;
      if (seg === 'globstar') {
        // Trailing: one or more segments remain. Otherwise: skip none, or take one and stay.
        ok = i === segs.length - 1 ? j < parts.length : from(i + 1, j) || (j < parts.length && from(i, j + 1));
      } else {
        ok = j < parts.length && segmentMatches(seg, parts[j]!) && from(i + 1, j + 1);
      }
      memo.set(key, ok);
      return ok;
    };
    return from(0, 0);
  };
}

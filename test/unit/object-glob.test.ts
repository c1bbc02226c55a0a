import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { compileGlob, globProblem } from '../../functions/src/core/uploads/object-glob.ts';

// [pattern, object name, matches?]
const CASES: [string, string, boolean][] = [
  // * stays within one segment
  ['*.tif', 'a.tif', true],
  ['*.tif', '.tif', true],
  ['*.tif', 'dir/a.tif', false],
  ['*.tif', 'a.tiff', false],
  ['incoming/*.tif', 'incoming/a.tif', true],
  ['incoming/*.tif', 'incoming/x/a.tif', false],
  ['incoming/*', 'incoming/', true],
  ['incoming/*', 'incoming', false],
  ['a*b*c', 'abc', true],
  ['a*b*c', 'a-b-c', true],
  ['a*b*c', 'a/b/c', false],
  // ? is one character, never "/"
  ['scene-?.tif', 'scene-1.tif', true],
  ['scene-?.tif', 'scene-12.tif', false],
  ['scene-?.tif', 'scene-/.tif', false],
  // ** as a segment: zero or more segments
  ['incoming/**/*.tif', 'incoming/a.tif', true],
  ['incoming/**/*.tif', 'incoming/x/a.tif', true],
  ['incoming/**/*.tif', 'incoming/x/y/z/a.tif', true],
  ['incoming/**/*.tif', 'incomingx/a.tif', false],
  ['incoming/**/*.tif', 'other/incoming/a.tif', false],
  ['incoming/**/*.tif', 'incoming/x/a.tif.bak', false],
  ['**/*.tif', 'a.tif', true],
  ['**/*.tif', 'x/y/a.tif', true],
  ['**', 'anything/at/all', true],
  ['**', '', true],
  ['a/**', 'a/', true],
  ['a/**', 'a/b/c', true],
  ['a/**', 'a', false],
  ['a/**/b', 'a/b', true],
  ['a/**/b', 'a/x/y/b', true],
  ['a/**/b', 'a/xb', false],
  ['a/**/**/b', 'a/b', true],
  ['a/**/**/b', 'a/x/y/b', true],
  // ** inside a segment is *
  ['a**b', 'axxb', true],
  ['a**b', 'a/b', false],
  // literal characters, including regex ones
  ['data (1).tif', 'data (1).tif', true],
  ['a.b', 'axb', false],
  ['a+b^$|c', 'a+b^$|c', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'axb', false],
  ['a\\?b', 'a?b', true],
  ['\\[x\\]', '[x]', true],
  ['Scene.TIF', 'scene.tif', false],
  ['line\nbreak/*', 'line\nbreak/x', true],
  ['*', 'new\nline', true],
  ['a//b', 'a//b', true],
  ['ünï/*.tif', 'ünï/ç.tif', true],
];

describe('compileGlob', () => {
  it.each(CASES)('%j against %j → %s', (pattern, name, expected) => {
    expect(compileGlob(pattern)(name)).toBe(expected);
  });

  it('a pattern without metacharacters matches exactly itself', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => !/[*?\\[\]{}]/.test(s) && !s.startsWith('/') && !s.startsWith('gs://')), fc.string(), (literal, other) => {
        const matches = compileGlob(literal);
        expect(matches(literal)).toBe(true);
        if (other !== literal) expect(matches(other)).toBe(false);
      }),
    );
  });

  it('a trailing ** matches everything below its folder', () => {
    fc.assert(fc.property(fc.string(), (rest) => compileGlob('dir/**')(`dir/${rest}`)));
  });

  it('stays fast on names crafted against backtracking (many stars, many segments)', () => {
    const cases: [string, string][] = [
      ['*a*a*a*a*a*a*b', 'a'.repeat(1000)],
      ['**/a*a*a*a*a*a*b/**/c', `${'a/'.repeat(300)}${'a'.repeat(400)}`],
      ['**/x/**/x/**/x/**/y', 'x/'.repeat(500)],
    ];
    for (const [pattern, name] of cases) {
      const start = performance.now();
      expect(compileGlob(pattern)(name)).toBe(false);
      expect(performance.now() - start, pattern).toBeLessThan(250);
    }
  });

  it('? is one character, also outside the Basic Multilingual Plane', () => {
    expect(compileGlob('?.tif')('🛰.tif')).toBe(true);
  });
});

describe('globProblem', () => {
  it.each([
    ['incoming/**/*.tif', undefined],
    ['a\\[b\\]', undefined],
    ['', /empty/],
    ['/incoming/*.tif', /leading "\/"/],
    ['gs://bucket/*.tif', /match\.bucket/],
    ['*.{tif,tiff}', /braces are not supported/],
    ['scene[0-9].tif', /character classes/],
    ['trailing\\', /unfinished escape/],
  ])('%j → %s', (pattern, problem) => {
    const got = globProblem(pattern);
    if (problem === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(problem);
  });

  it('compileGlob refuses what globProblem refuses', () => {
    expect(() => compileGlob('a[b]')).toThrow(/character classes/);
  });
});

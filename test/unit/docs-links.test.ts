/**
 * The README and the docs/ guide hold together: every relative Markdown link resolves to
 * a file that exists, every #anchor to a heading of its page (GitHub's slugs), the README
 * stays a short front door that links every guide page, and the guide has its pages.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(path);
    return e.isFile() && e.name.endsWith('.md') ? [path] : [];
  });
}

/** The text outside fenced code blocks and inline code spans: links there are not links. */
function prose(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (opener && opener[0] === fence[0] && opener.length >= fence.length && line.trim() === opener) fence = null;
      lines.push('');
    } else if (opener) {
      fence = opener;
      lines.push('');
    } else {
      lines.push(line.replace(/(`+)[\s\S]*?\1/g, ''));
    }
  }
  return lines;
}

/** GitHub's heading anchor: lower case, only letters, digits, spaces, `-` and `_` kept, spaces as `-`. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, ''); // code and emphasis markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit `<a id|name>`. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (opener && opener[0] === fence[0] && line.trim() === opener) fence = null;
      continue;
    }
    if (opener) {
      fence = opener;
      continue;
    }
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

function linksOf(file: string): Link[] {
  const out: Link[] = [];
  prose(readFileSync(file, 'utf8')).forEach((text, i) => {
    for (const m of text.matchAll(/!?\[(?:[^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ file, line: i + 1, target: m[1]! });
  });
  return out;
}

/** What is wrong with the relative links of these files, one line per dead link. */
function deadLinks(files: string[], root: string): string[] {
  const problems: string[] = [];
  for (const link of files.flatMap(linksOf)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue; // https:, mailto:, …: not ours to check
    const where = `${relative(root, link.file)}:${link.line}: ${link.target}`;
    const hash = link.target.indexOf('#');
    const pathPart = decodeURIComponent(hash === -1 ? link.target : link.target.slice(0, hash));
    const anchor = hash === -1 ? null : decodeURIComponent(link.target.slice(hash + 1));
    const target = pathPart === '' ? link.file : resolve(dirname(link.file), pathPart);
    if (!existsSync(target)) {
      problems.push(`${where} → no such file`);
      continue;
    }
    if (anchor === null) continue;
    if (statSync(target).isDirectory() || !target.endsWith('.md')) {
      problems.push(`${where} → an anchor into something that is not a Markdown page`);
      continue;
    }
    if (!anchorsOf(readFileSync(target, 'utf8')).has(anchor)) problems.push(`${where} → no heading "#${anchor}" in ${relative(root, target)}`);
  }
  return problems;
}

const docsFiles = () => [README, ...markdownFiles(DOCS)];
/** Guide pages: docs/*.md and below, without the decision records and the index. */
const guidePages = () => markdownFiles(DOCS).filter((f) => !f.startsWith(join(DOCS, 'adr') + '/') && f !== join(DOCS, 'README.md'));

describe('README.md and the docs/ guide', () => {
  it('every relative link and #anchor resolves to an existing file and heading', () => {
    expect(deadLinks(docsFiles(), ROOT)).toEqual([]);
  });

  it('the README is a front door: at most 300 lines', () => {
    const lines = readFileSync(README, 'utf8').trimEnd().split('\n').length;
    expect(lines).toBeLessThanOrEqual(300);
  });

  it('the guide has at least six pages besides the decision records, and the README links every one', () => {
    const pages = guidePages();
    expect(pages.length).toBeGreaterThanOrEqual(6);
    const linked = new Set(
      linksOf(README)
        .filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target))
        .map((l) => resolve(ROOT, decodeURIComponent(l.target.split('#')[0]!))),
    );
    expect(pages.filter((p) => !linked.has(p)).map((p) => relative(ROOT, p))).toEqual([]);
  });
});

describe('the link check itself', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a missing file, a missing heading and an anchor into a folder; ignores code and external links', () => {
    dir = mkdtempSync(join(tmpdir(), 'eeport-docs-links-'));
    writeFileSync(
      join(dir, 'a.md'),
      [
        '# Page A',
        '## Setting up: `npm start`',
        'See [b](b.md), [its part](b.md#the-part), [here](#setting-up-npm-start) and [Google](https://example.com/x.md).',
        'Dead: [gone](gone.md), [no heading](b.md#nope), [folder](./#x).',
        '`[not a link](nowhere.md)`',
        '```md',
        '[inside a fence](nowhere-either.md)',
        '```',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'b.md'), '# B\n\n## The part\n');
    expect(deadLinks([join(dir, 'a.md')], dir)).toEqual([
      'a.md:4: gone.md → no such file',
      'a.md:4: b.md#nope → no heading "#nope" in b.md',
      'a.md:4: ./#x → an anchor into something that is not a Markdown page',
    ]);
  });

  it.each([
    ['Failures and smart resubmission', 'failures-and-smart-resubmission'],
    ['The `eeport` CLI', 'the-eeport-cli'],
    ['Uploads: objects that become exports', 'uploads-objects-that-become-exports'],
    ["What's new? (2026)", 'whats-new-2026'],
    ['The core, by capability', 'the-core-by-capability'],
    ['Where it talks, and as whom', 'where-it-talks-and-as-whom'],
    ['See [Events](events.md)', 'see-events'],
    ['snake_case and kebab-case', 'snake_case-and-kebab-case'],
  ])('slugs %j as GitHub does: %s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it('numbers repeated headings as GitHub does', () => {
    expect([...anchorsOf('# A\n## Notes\n## Notes\n## Notes')]).toEqual(['a', 'notes', 'notes-1', 'notes-2']);
  });
});

/**
 * The dashboard's files, served by the api target: `GET /` is index.html, and its
 * scripts and style sheet are under `/dashboard/`. They are plain files beside this
 * module (no build step): edit them and restart.
 *
 * Run from source (tests, the local stack), they are read from disk on first use. A
 * deployed function has nothing but its bundle, so tools/build-bundles.ts inlines them
 * as `__EEPORT_DASHBOARD_FILES__` (an esbuild `define`), and the disk is never read.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const DASHBOARD_FILES = ['index.html', 'dashboard.js', 'job-times.js', 'burn-down.js', 'dashboard.css'] as const;
export type DashboardFile = (typeof DASHBOARD_FILES)[number];

declare const __EEPORT_DASHBOARD_FILES__: Record<DashboardFile, string> | undefined;

/** The files' contents, read from `dir` (by default this module's directory). */
export function readDashboardFiles(dir: URL = new URL('./', import.meta.url)): Record<DashboardFile, string> {
  return Object.fromEntries(DASHBOARD_FILES.map((f) => [f, readFileSync(new URL(f, dir), 'utf8')])) as Record<DashboardFile, string>;
}

export interface StaticAsset {
  contentType: string;
  body: string;
  /** A strong validator: the content's hash, so a browser revalidates with a cheap 304. */
  etag: string;
  headers: Record<string, string>;
}

/**
 * The page may load its own script, style sheet and data (the API, same origin) and
 * nothing else: no inline script, no other origin, no framing. Everything it shows
 * comes from job data that others wrote, so this is the second line behind escaping.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const ROUTES: Record<string, { file: DashboardFile; contentType: string; headers: Record<string, string> }> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8', headers: PAGE_HEADERS },
  '/dashboard/dashboard.js': { file: 'dashboard.js', contentType: 'text/javascript; charset=utf-8', headers: {} },
  '/dashboard/job-times.js': { file: 'job-times.js', contentType: 'text/javascript; charset=utf-8', headers: {} },
  '/dashboard/burn-down.js': { file: 'burn-down.js', contentType: 'text/javascript; charset=utf-8', headers: {} },
  '/dashboard/dashboard.css': { file: 'dashboard.css', contentType: 'text/css; charset=utf-8', headers: {} },
};

let assets: Map<string, StaticAsset> | undefined;

function load(): Map<string, StaticAsset> {
  const files = typeof __EEPORT_DASHBOARD_FILES__ === 'undefined' ? readDashboardFiles() : __EEPORT_DASHBOARD_FILES__;
  return new Map(
    Object.entries(ROUTES).map(([path, r]) => {
      const body = files[r.file];
      return [path, { contentType: r.contentType, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, headers: r.headers }];
    }),
  );
}

/** The dashboard file a path names, or null (the API answers everything else). */
export function dashboardAsset(path: string): StaticAsset | null {
  assets ??= load();
  return assets.get(path) ?? null;
}

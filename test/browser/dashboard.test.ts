/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core, against
 * the `api` target on the functions-framework test server, over the Firestore and
 * Pub/Sub emulators and the Earth Engine simulator (manual clock, advanced by the test
 * while it runs the poller). Nothing here sleeps: every wait is for the page's own
 * refresh (every second, with ?refresh=1) to show what the test expects.
 *
 * Screenshots go to test-output/ (git-ignored): dashboard.png and dashboard-detail.png.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import '../../functions/src/entry/api.entry.ts';
import { startSimulator, type Simulator } from '../../tools/ee-simulator/index.ts';
import { emulatorsOrSkip } from '../harness/emulators.ts';
import { startTestStack, testConfig, type TestStack } from '../harness/stack.ts';
import { assetLoadRequest } from '../fakes/requests.ts';
import { BatchSubmitResponseSchema, JobViewSchema, SubmitResponseSchema } from '../../functions/src/core/api/api-contract.ts';
import { JOB_STATES } from '../../functions/src/core/jobs/job.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'];
const OUTPUT = fileURLToPath(new URL('../../test-output/', import.meta.url));

const emu = emulatorsOrSkip('dashboard (browser)');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`SKIPPING "dashboard (browser)": no chromium at ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH)`);

/** A browser with a profile of its own, thrown away afterwards. */
async function launch(): Promise<{ context: BrowserContext; page: Page; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'eeport-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1440, height: 960 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The api target on a port of its own, as a browser reaches it. */
async function serveApi(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = getTestServer('api');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

const rowSel = (jobId: string, state?: string) => `#jobs tr[data-job-id="${jobId}"]${state ? `[data-state="${state}"]` : ''}`;
const countSel = (state: string, n: number) => `#counts [data-state="${state}"] .n:text-is("${n}")`;

describe.skipIf(!emu || !haveChromium)('dashboard (chromium, emulators + simulator)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let api: { url: string; close: () => Promise<void> };
  let browser: Awaited<ReturnType<typeof launch>>;
  let page: Page;
  const pageErrors: string[] = [];
  const ids: Record<'forest' | 'water' | 'failing' | 'long' | 'hostile', string> = { forest: '', water: '', failing: '', long: '', hostile: '' };
  let batchId = '';

  const submit = async (body: unknown) => {
    const res = await stack.http('api', '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    const out = SubmitResponseSchema.parse(await res.json());
    return out.jobId;
  };
  const job = async (jobId: string) => JobViewSchema.parse(await (await stack.http('api', `/v1/jobs/${jobId}`)).json());
  /** One scheduler tick, then a simulated minute and more. */
  const tick = async () => {
    await stack.services.pollExports().run();
    sim.clock.advance(65_000);
  };

  beforeAll(async () => {
    // "long" tasks take half an hour of simulated time: one stays RUNNING, part-way, for the screenshot.
    // No request-rate limit: the manual clock stands still, so every call would fall in one simulated second.
    sim = await startSimulator({ clock: { mode: 'manual' }, rateLimitPerSecond: 0, taskDurationMs: (r) => (/long/.test(r.description ?? '') ? 30 * 60_000 : 60_000) });
    await emu!.clear();
    stack = await startTestStack(
      testConfig(emu!, sim.url, {
        POLL_WINDOW_SECONDS: '0',
        POLL_AUTH_DISABLED: 'true',
        MAX_RESUBMISSIONS: '0',
        EECU_BUDGETS: JSON.stringify([
          { eeProject: 'ee-test-project', monthlyEecuSeconds: 3_600 },
          // A simulated task uses about 60 EECU-seconds: the forest job uses this one up.
          { eeProject: 'ee-test-project', label: { key: 'team', value: 'forest' }, monthlyEecuSeconds: 50, thresholds: [25, 50, 90] },
        ]),
      }),
    );
    api = await serveApi();
    browser = await launch();
    page = browser.page;
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // The API's 4xx answers (a bad filter, below) are expected; anything else (a CSP violation, an exception) is not.
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await stack?.close();
    await sim?.close();
  });

  it('loads: counts, an empty job table, the budgets, and when it last refreshed', async () => {
    await page.goto(`${api.url}?refresh=1`);
    await page.waitForSelector('#refresh-status[data-ok="true"]');
    expect(await page.textContent('#refresh-status')).toMatch(/^Updated \d{1,2}:\d{2}:\d{2}.* · every 1 s$/);
    await page.waitForSelector('#count-total:text-is("0")');
    // One chip per job state.
    expect(await page.locator('#counts button.count').count()).toBe(JOB_STATES.length);
    expect(await page.textContent('#jobs tbody')).toMatch(/No jobs yet/);
    expect(await page.locator('#budgets .budget').count()).toBe(2);
    expect(await page.textContent('#budgets')).toMatch(/0 of 3,600 EECU-s/);
    expect(await page.textContent('#batches')).toMatch(/No batches yet/);
  });

  it('shows a job submitted through the API, and follows it to SUCCEEDED as the poller records it; the counts follow', async () => {
    ids.forest = await submit({ request: { ...assetLoadRequest('projects/p/assets/forest'), description: 'forest mosaic 2026' }, labels: { team: 'forest', run: 'r1' } });
    await page.waitForSelector(rowSel(ids.forest, 'PENDING'));
    await page.waitForSelector(countSel('PENDING', 1));

    ids.water = await submit({ request: { ...assetLoadRequest('projects/p/assets/water'), description: 'water mask' }, labels: { team: 'water' } });
    sim.faults.inject({ kind: 'task-failure', match: { description: '^failing' }, code: 3, message: 'User memory limit exceeded.' });
    ids.failing = await submit({ request: { ...assetLoadRequest('projects/p/assets/big'), description: 'failing composite' }, labels: { team: 'water' } });
    ids.long = await submit({ request: { ...assetLoadRequest('projects/p/assets/dem'), description: 'long reprojection' }, labels: { team: 'terrain' } });
    const batch = await stack.http('api', '/v1/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        batchId: 'alps-tiles',
        description: 'Alps tiles',
        labels: { team: 'tiles' },
        template: { ...assetLoadRequest('projects/p/assets/alps'), description: 'alps tile {{value}}' },
        fanOut: { values: ['a', 'b', 'c'] },
      }),
    });
    batchId = BatchSubmitResponseSchema.parse(await batch.json()).batchId;

    for (let i = 0; i < 8 && (await job(ids.forest)).state !== 'SUCCEEDED'; i++) await tick();
    expect((await job(ids.forest)).state).toBe('SUCCEEDED');
    await page.waitForSelector(rowSel(ids.forest, 'SUCCEEDED'));
    // A few more ticks finish the batch (its children are released by the poller).
    for (let i = 0; i < 6; i++) await tick();
    await stack.services.pollExports().run();

    await page.waitForSelector(countSel('SUCCEEDED', 5));
    await page.waitForSelector(countSel('FAILED', 1));
    await page.waitForSelector(countSel('RUNNING', 1));
    await page.waitForSelector('#count-total:text-is("7")');
    await page.waitForSelector(rowSel(ids.failing, 'FAILED'));
    await page.waitForSelector(rowSel(ids.long, 'RUNNING'));
    // The finished job's row: a full bar, its EECU, and its duration: its own start to end,
    // both Earth Engine's (a simulated minute; the test's wall clock took a few seconds).
    const row = page.locator(rowSel(ids.forest));
    expect(await row.locator('.bar').getAttribute('aria-valuenow')).toBe('100');
    const forest = await job(ids.forest);
    expect(Date.parse(forest.endTime!) - Date.parse(forest.startTime!)).toBe(60_000);
    expect(await row.locator('td').nth(7).textContent()).toBe('1m 00s');
    expect(await row.locator('td').nth(8).textContent()).toMatch(/^\d+(\.\d)?$/);
    expect(await row.locator('.label').allTextContents()).toEqual(['team:forest', 'run:r1']);
    // The batch panel shows the batch with its aggregate progress once the poller has refreshed it.
    await page.waitForSelector(`#batches .batch[data-batch-id="${batchId}"][data-state="SUCCEEDED"]`);
    expect(await page.textContent(`#batches .batch[data-batch-id="${batchId}"]`)).toMatch(/3 of 3 succeeded/);
    // The label budget is used up by the forest job.
    await page.waitForSelector('#budgets .budget .flag');
    await page.waitForSelector('#budgets .budget-bar[data-exceeded="true"]');
  });

  it('draws each budget’s month as an SVG burn-down chart: its own threshold lines, the limit, used and projected', async () => {
    const chart = (scope: string) => page.locator(`#budgets .budget[data-budget-id*="~${scope}~"] svg.burn-down`);
    // The label budget: its configured thresholds, all crossed by the forest job's ~60 of 50 EECU-seconds.
    // Attached, not "visible": a horizontal line has no height for the visibility check.
    await page.waitForSelector('#budgets .budget[data-budget-id*="~label.team=forest~"] svg.burn-down line.threshold[data-crossed="true"]', { state: 'attached' });
    const forest = chart('label.team=forest');
    expect(await forest.locator('line.threshold').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-percent')))).toEqual(['25', '50', '90']);
    expect(await forest.locator('line.threshold[data-crossed="true"]').count()).toBe(3);
    // Higher thresholds sit higher (smaller y); the limit at 100 % above them all.
    const ys = await forest.locator('line.threshold').evaluateAll((ls) => ls.map((l) => Number(l.getAttribute('y1'))));
    expect(ys[0]!).toBeGreaterThan(ys[1]!);
    expect(ys[1]!).toBeGreaterThan(ys[2]!);
    expect(Number(await forest.locator('line.limit').getAttribute('y1'))).toBeLessThan(ys[2]!);
    expect(Number(await forest.locator('line.limit').getAttribute('data-limit'))).toBe(50);
    expect(Number(await forest.locator('polyline.used').getAttribute('data-used'))).toBeGreaterThan(50);
    expect(await forest.locator('polyline.projected').count()).toBe(1);
    // The project budget: the default 50/80/100 %, none crossed yet.
    const all = chart('all');
    expect(await all.locator('line.threshold').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-percent')))).toEqual(['50', '80', '100']);
    expect(await all.locator('line.threshold[data-crossed="true"]').count()).toBe(0);
    expect(await page.textContent('#budgets')).toMatch(/projected [\d,.]+ EECU-s by month end/);
  });

  it('the state filter and the label filter select on the server; a bad filter says why', async () => {
    await page.selectOption('#filter-state', 'FAILED');
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('#jobs tbody tr[data-job-id]:not([data-state="FAILED"])', { state: 'detached' });
    expect(await page.locator('#jobs tbody tr[data-job-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job-id')))).toEqual([ids.failing]);

    await page.selectOption('#filter-state', '');
    await page.fill('#filter-label', 'team:forest');
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector(`#jobs tbody tr[data-job-id]:not([data-job-id="${ids.forest}"])`, { state: 'detached' });
    expect(await page.locator('#jobs tbody tr[data-job-id]').count()).toBe(1);

    // A count chip is a shortcut for the state filter (the label filter stays).
    await page.fill('#filter-label', '');
    await page.click('#filters button[type="submit"]');
    await page.click('#counts button[data-state="RUNNING"]');
    await page.waitForSelector('#jobs tbody tr[data-job-id]:not([data-state="RUNNING"])', { state: 'detached' });
    expect(await page.locator('#jobs tbody tr[data-job-id]').count()).toBe(1);
    expect(await page.getAttribute('#counts button[data-state="RUNNING"]', 'aria-pressed')).toBe('true');

    await page.fill('#filter-label', 'Team');
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('#jobs-error:not([hidden])');
    expect(await page.textContent('#jobs-error')).toMatch(/label must be key:value/);

    await page.click('#filter-clear');
    await page.waitForSelector('#jobs-error', { state: 'hidden' });
    await page.waitForFunction('document.querySelectorAll("#jobs tbody tr[data-job-id]").length === 7');
  });

  it('a job’s detail: history, stages, destination URIs as links, and the request', async () => {
    const forest = await job(ids.forest);
    expect(forest.destinationUris.length).toBeGreaterThan(0);
    await page.click(`${rowSel(ids.forest)} td.desc`);
    await page.waitForSelector('#detail[open]');
    await page.waitForSelector(`#detail-job-id:text-is("${ids.forest}")`);
    const links = page.locator('#detail .uris a');
    expect(await links.count()).toBe(forest.destinationUris.length);
    expect(await links.first().getAttribute('href')).toBe(new URL(forest.destinationUris[0]!).href);
    expect(await links.first().getAttribute('rel')).toBe('noopener noreferrer');
    expect(await links.first().getAttribute('target')).toBe('_blank');
    const text = (await page.textContent('#detail-body'))!;
    expect(text).toContain('History');
    expect(text).toMatch(/succeeded/);
    expect(text).toContain(forest.operationName!);
    expect(await page.locator('#detail-body section').filter({ hasText: 'Stages' }).locator('tbody tr').count()).toBe(forest.stages.length);
    expect(await page.textContent('#detail .json')).toBe(JSON.stringify(forest.request, null, 2));
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'dashboard-detail.png') });
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });

    // The failed job shows why.
    await page.click(`${rowSel(ids.failing)} td.desc`);
    await page.waitForSelector(`#detail-job-id:text-is("${ids.failing}")`);
    expect(await page.textContent('#detail-body')).toMatch(/User memory limit exceeded/);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#detail', { state: 'hidden' });

    // A batch opens with its children, by index; a child opens as a job.
    await page.click(`#batches .batch[data-batch-id="${batchId}"]`);
    await page.waitForSelector('#detail .children tbody tr[data-job-id]');
    expect(await page.locator('#detail .children tbody tr td:first-child').allTextContents()).toEqual(['0', '1', '2']);
    const child = (await page.getAttribute('#detail .children tbody tr:nth-child(2)', 'data-job-id'))!;
    await page.click('#detail .children tbody tr:nth-child(2)');
    await page.waitForSelector(`#detail-job-id:text-is("${child}")`);
    expect(await page.textContent('#detail-body')).toContain(`${batchId} #1`);
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });
  });

  it('shows estimates beside actuals: a job’s band, method and verdict; a batch’s children’s estimates summed against what they used', async () => {
    const forest = await job(ids.forest);
    const e = forest.estimate!;
    expect(e).toBeTruthy();
    await page.click(`${rowSel(ids.forest)} td.desc`);
    await page.waitForSelector(`#detail-job-id:text-is("${ids.forest}")`);
    await page.waitForSelector(`#job-estimate[data-method="${e.method}"]`);
    const text = (await page.textContent('#job-estimate'))!;
    const inBand = forest.eecuSeconds! >= e.eecuSeconds.low && forest.eecuSeconds! <= e.eecuSeconds.high;
    expect(text).toContain(`expected ${new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 }).format(e.eecuSeconds.expected)}`);
    expect(text).toContain(e.basis);
    expect(text).toContain(`${(forest.eecuSeconds! / e.eecuSeconds.expected).toFixed(2)}× expected, ${inBand ? 'in the band' : forest.eecuSeconds! > e.eecuSeconds.high ? 'above the band' : 'below the band'}`);
    expect(await page.locator(`#job-estimate .verdict.${inBand ? 'in-band' : 'out-of-band'}`).count()).toBe(1);
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });

    const children = (await (await stack.http('api', `/v1/batches/${batchId}/jobs`)).json()) as { jobs: Array<{ estimate: { eecuSeconds: { expected: number } } | null; eecuSeconds: number | null }> };
    expect(children.jobs.every((c) => c.estimate)).toBe(true);
    const expected = children.jobs.reduce((n, c) => n + c.estimate!.eecuSeconds.expected, 0);
    const actual = children.jobs.reduce((n, c) => n + (c.eecuSeconds ?? 0), 0);
    await page.click(`#batches .batch[data-batch-id="${batchId}"]`);
    await page.waitForSelector('#batch-estimate[data-expected]');
    expect(Number(await page.getAttribute('#batch-estimate', 'data-expected'))).toBeCloseTo(expected, 6);
    expect(Number(await page.getAttribute('#batch-estimate', 'data-actual'))).toBeCloseTo(actual, 6);
    expect(await page.textContent('#batch-estimate')).toMatch(/\(3 of 3 children\); they used \S+/);
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });
  });

  it('renders what others wrote as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    ids.hostile = await submit({ request: { ...assetLoadRequest('projects/p/assets/h'), description: hostile } });
    await page.waitForSelector(rowSel(ids.hostile));
    expect(await page.textContent(`${rowSel(ids.hostile)} .desc-text`)).toBe(hostile);
    expect(await page.locator('#jobs img, #jobs b').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });

  it('a job whose task exists but is not identified yet shows a verifying badge, and its detail says why', async () => {
    // The answer to image:export is lost; the retry is told the requestId "already exists" (the simulator's default).
    sim.faults.inject({ kind: 'drop-connection', phase: 'after', method: 'export', times: 1 });
    const id = await submit({ request: { ...assetLoadRequest('projects/p/assets/lost'), description: 'lost answer' } });
    expect((await job(id)).verifying).not.toBeNull();
    await page.waitForSelector(`${rowSel(id, 'SUBMITTING')} .state.verifying`);
    await page.click(rowSel(id));
    await page.waitForSelector('#detail dt:text("Verifying")');
    expect(await page.textContent('#detail')).toMatch(/taking it once a search/);
  });

  it('a job the stalled-task watch found stalled shows a stalled badge, and its detail says why', async () => {
    const id = await submit({ request: { ...assetLoadRequest('projects/p/assets/stuck'), description: 'stuck in the queue' } });
    const cur = await job(id);
    expect(cur.state).toBe('PENDING');
    // What the watch writes (core/watch), written here directly: this stack runs no poller.
    const stalled = { kind: 'pending', attempt: 0, operationName: cur.operationName, at: new Date().toISOString(), elapsedSeconds: 7300, limitSeconds: 7200, basis: 'PENDING longer than the threshold of 7200 s', samples: 0, p95Seconds: null, action: 'none', cancelPending: false };
    await stack.firestore.collection('jobs').doc(id).update({ stalled });
    expect((await job(id)).stalled).toMatchObject({ kind: 'pending' });
    await page.keyboard.press('Escape'); // the previous test's detail
    await page.waitForSelector(`${rowSel(id, 'PENDING')} .state.stalled`);
    await page.click(`${rowSel(id)} td.desc`);
    await page.waitForSelector('#detail dt:text("Stalled")');
    expect(await page.textContent('#detail')).toMatch(/PENDING 7300 s, past 7200 s: PENDING longer than the threshold/);
  });

  it('a job tiled recovery resubmitted shows a Recovery row naming the tile batch', async () => {
    const id = await submit({ request: { ...assetLoadRequest('projects/p/assets/too-big'), description: 'too big for one worker' } });
    // What tiled recovery writes (core/watch), written here directly: this stack runs no poller.
    const recovery = { policy: 'tiled', kind: 'memory', reason: 'memory: User memory limit exceeded.', batchId: 'c'.repeat(32), tiles: 4, depth: 1, at: new Date().toISOString() };
    await stack.firestore.collection('jobs').doc(id).update({ recovery });
    expect((await job(id)).recovery).toMatchObject({ batchId: 'c'.repeat(32) });
    await page.keyboard.press('Escape'); // the previous test's detail
    await page.waitForSelector(rowSel(id));
    await page.click(`${rowSel(id)} td.desc`);
    await page.waitForSelector('#detail dt:text("Recovery")');
    expect(await page.textContent('#detail')).toMatch(new RegExp(`memory: resubmitted as 4 tiles \\(depth 1\\) in batch ${'c'.repeat(32)}`));
  });

  it('lists schedules with cadence, state and next run; a schedule opens with its next windows and its last runs with their states', async () => {
    const post = async (path: string, body: unknown) => stack.http('api', path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const request = { ...assetLoadRequest('projects/p/assets/day-{{window.startDate}}'), description: 'day {{window.startDate}}' };
    const backfillFrom = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    expect((await post('/v1/schedules', { scheduleId: 'daily-forest', description: 'daily forest', cadence: { cron: '0 2 * * *', timeZone: 'UTC' }, backfillFrom, request })).status).toBeLessThan(300);
    expect((await post('/v1/schedules', { scheduleId: 'every-16-days', cadence: { everyDays: 16, anchor: '2026-01-01' }, request })).status).toBeLessThan(300);
    expect((await post('/v1/schedules/every-16-days:pause', {})).status).toBe(200);
    // One scheduler tick submits the daily schedule's missed windows.
    await stack.services.pollExports().run();
    const daily = (await (await stack.http('api', '/v1/schedules/daily-forest')).json()) as { runCount: number; nextRuns: Array<{ windowStart: string }>; runs: Array<{ jobId: string; state: string | null }> };
    expect(daily.runCount).toBeGreaterThan(0);
    await page.keyboard.press('Escape'); // the previous test's detail
    await page.waitForSelector('#detail', { state: 'hidden' });

    await page.waitForSelector('#schedules .schedule[data-schedule-id="every-16-days"][data-state="PAUSED"]');
    await page.waitForSelector(`#schedules .schedule[data-schedule-id="daily-forest"][data-state="ACTIVE"] :text("${daily.runCount} run")`);
    expect(await page.textContent('#schedules .schedule[data-schedule-id="daily-forest"] .cadence')).toBe('cron 0 2 * * * (UTC)');
    expect(await page.textContent('#schedules .schedule[data-schedule-id="every-16-days"] .cadence')).toBe('every 16 days from 2026-01-01');
    expect(await page.textContent('#schedules .schedule[data-schedule-id="every-16-days"]')).toMatch(/paused/);
    expect(await page.textContent('#schedules .schedule[data-schedule-id="daily-forest"]')).toMatch(/next run/);

    await page.click('#schedules .schedule[data-schedule-id="daily-forest"]');
    await page.waitForSelector('#detail-schedule-id:text-is("daily-forest")');
    expect(await page.locator('#detail .next-windows li').count()).toBe(daily.nextRuns.length);
    const rows = page.locator('#detail .runs tbody tr');
    expect(await rows.count()).toBe(daily.runs.length);
    // Newest first, each with its job's state as the API answered it (a run's job may move on meanwhile: compare with a fresh answer).
    const now = (await (await stack.http('api', '/v1/schedules/daily-forest')).json()) as typeof daily;
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-job-id')))).toEqual([...now.runs].reverse().map((r) => r.jobId));
    for (const r of now.runs) expect(await page.getAttribute(`#detail .runs tr[data-job-id="${r.jobId}"] .state`, 'data-state')).toBe((await job(r.jobId)).state);
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });

    await page.click('#schedules .schedule[data-schedule-id="every-16-days"]');
    await page.waitForSelector('#detail-schedule-id:text-is("every-16-days")');
    expect(await page.textContent('#detail-body')).toMatch(/None while it is paused/);
    await page.click('#detail-close');
    await page.waitForSelector('#detail', { state: 'hidden' });
  });

  it('screenshot of the whole page; no script errors or policy violations on the way', async () => {
    // A refresh can catch a job in the middle of its submit (SUBMITTING); wait for the state the API answered.
    await page.waitForSelector(rowSel(ids.hostile, 'PENDING'));
    await page.waitForSelector('#refresh-status[data-ok="true"]');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});

describe.skipIf(!emu || !haveChromium)('dashboard with API_AUTH=api-key (chromium)', () => {
  let sim: Simulator;
  let stack: TestStack;
  let api: { url: string; close: () => Promise<void> };
  let browser: Awaited<ReturnType<typeof launch>>;
  const KEY = 'k-dashboard-0123456789';

  beforeAll(async () => {
    sim = await startSimulator({ clock: { mode: 'manual' } });
    await emu!.clear();
    stack = await startTestStack(testConfig(emu!, sim.url, { API_AUTH: 'api-key', API_KEYS: KEY }));
    api = await serveApi();
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await stack?.close();
    await sim?.close();
  });

  it('asks for the key, sends it as x-api-key once given, and keeps it for the session only', async () => {
    const { page } = browser;
    await page.goto(`${api.url}?refresh=1`);
    await page.waitForSelector('#refresh-status[data-ok="false"]');
    expect(await page.textContent('#refresh-status')).toMatch(/API key/);
    await page.waitForSelector('#key-form.attention');

    await page.fill('#api-key', KEY);
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('#refresh-status[data-ok="true"]');
    await page.waitForSelector('#key-form:not(.attention)');
    expect(await page.evaluate(`sessionStorage.getItem('eeport.apiKey')`)).toBe(KEY);
    expect(await page.evaluate(`localStorage.length`)).toBe(0);
    // Reloading keeps it (same session); forgetting it asks again.
    await page.reload();
    await page.waitForSelector('#refresh-status[data-ok="true"]');
    expect(await page.inputValue('#api-key')).toBe(KEY);
    await page.click('#key-forget');
    await page.waitForSelector('#refresh-status[data-ok="false"]');
  });
});

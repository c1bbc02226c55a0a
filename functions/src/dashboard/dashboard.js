/* global document, window, sessionStorage, Node, URLSearchParams, setInterval, clearInterval */
/**
 * eeport's dashboard: a read-mostly view over the HTTP API, in one module and no build
 * step. Everything it shows comes from job data other people wrote (descriptions,
 * labels, error messages, URIs), so nothing is ever parsed as HTML: elements are made
 * with createElement and filled with textContent, and only http(s) URIs become links.
 *
 * Lists are paged on the server (the API's page tokens), so thousands of jobs cost one
 * page per refresh. The page refreshes itself every few seconds (?refresh=<seconds>
 * changes the period) while it is visible.
 */

import { jobDuration } from './job-times.js';
import { burnDownChart } from './burn-down.js';

/** The API's root: this module is served at <root>/dashboard/dashboard.js. */
const API_ROOT = new URL('../', import.meta.url);
const KEY_STORAGE = 'eeport.apiKey';
const JOB_STATES = ['QUEUED', 'SUBMITTING', 'PENDING', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED', 'SKIPPED'];
const BATCHES_PER_PAGE = 8;
const CHILDREN_PER_PAGE = 20;

const refreshSeconds = (() => {
  const n = Number(new URLSearchParams(window.location.search).get('refresh'));
  return Number.isFinite(n) && n >= 1 ? n : 5;
})();

// ---------------------------------------------------------------------------
// DOM helpers: text only, never markup.
// ---------------------------------------------------------------------------

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
};

/**
 * h('td', {class: 'num', title: '…'}, 'text', childElement) — strings become text
 * nodes; attributes are set with setAttribute (never event-handler attributes).
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) throw new Error('attach handlers with addEventListener');
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A link only for http(s) URLs (never javascript: or data:); anything else is shown as text. */
function safeLink(uri, text = uri) {
  let url;
  try {
    url = new URL(uri);
  } catch {
    return h('span', { class: 'mono' }, uri);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return h('span', { class: 'mono' }, uri);
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, text);
}

const badge = (state) => h('span', { class: 'state', 'data-state': state }, state.replace('_', ' ').toLowerCase());
/** A SUBMITTING job whose task exists but is not identified yet (Earth Engine said "already exists"). */
const verifyingBadge = (job) => (job.verifying ? h('span', { class: 'state verifying', title: job.verifying.note }, 'verifying') : null);
/** The stalled-task watch's finding on the job's current attempt (docs/watch.md). */
const stalledNow = (job) => !!job.stalled && job.stalled.attempt === job.resubmissions && (job.state === 'PENDING' || job.state === 'RUNNING');
const stalledBadge = (job) => (stalledNow(job) ? h('span', { class: 'state stalled', title: `${job.stalled.basis} (${job.stalled.elapsedSeconds} s)` }, 'stalled') : null);

function progressBar(fraction, state) {
  const pct = Math.round(Math.max(0, Math.min(1, fraction ?? 0)) * 100);
  const fill = h('span', { class: 'fill' });
  // CSSOM, not a style attribute: the page's Content-Security-Policy allows no inline styles.
  fill.style.width = `${pct}%`;
  return h('div', { class: 'bar', 'data-state': state ?? '', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, title: `${pct}%` }, fill, h('span', { class: 'bar-text' }, `${pct}%`));
}

const labelChips = (labels) => h('span', { class: 'labels' }, Object.entries(labels ?? {}).map(([k, v]) => h('span', { class: 'label' }, v ? `${k}:${v}` : k)));

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const numFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const intFmt = new Intl.NumberFormat();

/** Today's times to the second, older ones by day: what a glance at a table needs. */
function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return h('time', { datetime: iso, title: iso }, today ? timeFmt.format(d) : dateTimeFmt.format(d));
}

const eecu = (n) => (n === null || n === undefined ? '—' : numFmt.format(n));

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, init = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers = { accept: 'application/json', ...(key ? { 'x-api-key': key } : {}), ...(init.headers ?? {}) };
  const res = await fetch(new URL(path, API_ROOT), { ...init, headers, cache: 'no-store' });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not ours (a proxy's error page): report the status.
  }
  if (!res.ok) throw new ApiError(res.status, body?.error?.code ?? `HTTP ${res.status}`, body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

// ---------------------------------------------------------------------------
// State: filters and page tokens. tokens[i] fetches page i (tokens[0] is null).
// ---------------------------------------------------------------------------

const view = {
  jobs: { state: '', label: '', pageSize: 50, tokens: [null], page: 0, next: null },
  batches: { tokens: [null], page: 0, next: null },
  /** What the detail dialog shows: {kind: 'job', id} or {kind: 'batch', id, tokens, page, next}. */
  detail: null,
};

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

function renderCounts(stats) {
  const chips = JOB_STATES.map((s) =>
    h(
      'button',
      { type: 'button', class: 'count', 'data-state': s, 'aria-pressed': String(view.jobs.state === s), title: `Show ${s} jobs` },
      h('span', { class: 'dot' }),
      h('span', { class: 'count-name' }, s.toLowerCase()),
      h('span', { class: 'n' }, intFmt.format(stats.counts[s] ?? 0)),
    ),
  );
  const total = h('div', { class: 'count total' }, h('span', { class: 'count-name' }, 'all jobs'), h('span', { class: 'n', id: 'count-total' }, intFmt.format(stats.total)));
  $('counts').replaceChildren(total, ...chips);
}

function renderJobs(page) {
  const rows = page.jobs.map((job) =>
    h(
      'tr',
      { 'data-job-id': job.jobId, 'data-state': job.state, tabindex: 0, title: 'Show details' },
      h('td', {}, badge(job.state), verifyingBadge(job), stalledBadge(job)),
      h('td', {}, progressBar(job.state === 'SUCCEEDED' ? 1 : job.progress, job.state)),
      h('td', { class: 'desc', title: job.description ?? job.jobId }, h('span', { class: 'desc-text' }, job.description ?? job.jobId), job.batchId ? h('span', { class: 'muted small' }, ` batch #${job.batchIndex}`) : null),
      h('td', { class: 'mono small' }, job.eeProject),
      h('td', {}, labelChips(job.labels)),
      h('td', {}, when(job.createTime)),
      h('td', {}, when(job.updateTime)),
      h('td', { class: 'num' }, jobDuration(job, Date.now())),
      h('td', { class: 'num' }, eecu(job.eecuSeconds)),
    ),
  );
  const body = $('jobs').tBodies[0];
  if (!rows.length) {
    const filtered = view.jobs.state || view.jobs.label;
    body.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 9 }, filtered ? 'No jobs match these filters.' : 'No jobs yet. Submit one: POST /v1/jobs, or publish to the requests topic.')));
  } else body.replaceChildren(...rows);
  view.jobs.next = page.nextPageToken;
  $('jobs-page').textContent = `Page ${view.jobs.page + 1}`;
  $('jobs-prev').disabled = view.jobs.page === 0;
  $('jobs-next').disabled = !view.jobs.next;
}

function renderBudgets(out) {
  $('budgets-month').textContent = out.month;
  if (!out.budgets.length) {
    $('budgets').replaceChildren(h('p', { class: 'muted' }, 'No budgets configured (EECU_BUDGETS).'));
    return;
  }
  $('budgets').replaceChildren(
    ...out.budgets.map((b) => {
      const meter = h('div', { class: 'bar budget-bar', 'data-exceeded': String(b.exceeded), role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': b.limitEecuSeconds, 'aria-valuenow': b.usedEecuSeconds }, h('span', { class: 'fill' }));
      meter.firstChild.style.width = `${Math.min(100, b.usedFraction * 100)}%`;
      return h(
        'div',
        { class: 'budget', 'data-budget-id': b.id },
        h('div', { class: 'budget-head' }, h('span', { class: 'mono small' }, b.eeProject), h('span', { class: 'scope' }, b.label ? `${b.label.key}:${b.label.value}` : b.workloadTag ? `tag ${b.workloadTag}` : 'all jobs')),
        meter,
        h(
          'div',
          { class: 'budget-foot' },
          h('span', { class: 'small muted' }, `${eecu(b.usedEecuSeconds)} of ${eecu(b.limitEecuSeconds)} EECU-s (${Math.round(b.usedFraction * 100)}%)`),
          b.tier !== null && b.tier !== undefined ? h('span', { class: 'small muted' }, `tier ${b.tier}`) : null,
          // What happens to covered jobs now, in the words of the admission check.
          b.exceeded ? h('span', { class: 'flag', title: `Covered jobs are ${{ reject: 'refused', 'stop-batches': 'held, and their batches STOPPED,' }[b.onExceeded] ?? 'held in QUEUED'} until ${b.month} ends` }, { reject: 'used up · rejecting', 'stop-batches': 'used up · stopping batches' }[b.onExceeded] ?? 'used up · queueing') : null,
        ),
        b.projectedEecuSeconds !== undefined ? burnDownChart(document, b, new Date().toISOString()) : null,
        b.projectedEecuSeconds !== undefined ? h('div', { class: 'small muted' }, `projected ${eecu(b.projectedEecuSeconds)} EECU-s by month end${b.runningEecuSeconds ? ` · ${eecu(b.runningEecuSeconds)} running` : ''}`) : null,
      );
    }),
  );
}

function batchSummary(b) {
  const c = b.counts ?? {};
  const parts = [`${intFmt.format(c.SUCCEEDED ?? 0)} of ${intFmt.format(b.total)} succeeded`];
  if (c.FAILED) parts.push(`${intFmt.format(c.FAILED)} failed`);
  const live = (c.SUBMITTING ?? 0) + (c.PENDING ?? 0) + (c.RUNNING ?? 0) + (c.CANCELLING ?? 0);
  if (live) parts.push(`${intFmt.format(live)} running`);
  if (c.QUEUED) parts.push(`${intFmt.format(c.QUEUED)} queued`);
  if (c.CANCELLED) parts.push(`${intFmt.format(c.CANCELLED)} cancelled`);
  return parts.join(' · ');
}

function renderBatches(page) {
  if (!page.batches.length && view.batches.page === 0) {
    $('batches').replaceChildren(h('p', { class: 'muted' }, 'No batches yet.'));
  } else {
    $('batches').replaceChildren(
      ...page.batches.map((b) =>
        h(
          'div',
          { class: 'batch', 'data-batch-id': b.batchId, 'data-state': b.state, tabindex: 0, role: 'button', title: 'Show the batch and its jobs' },
          h('div', { class: 'batch-head' }, badge(b.state), h('span', { class: 'batch-name' }, b.description ?? b.batchId.slice(0, 12)), h('span', { class: 'muted small' }, `${eecu(b.eecuSeconds)} EECU-s`)),
          progressBar(b.progress, b.state),
          h('div', { class: 'small muted' }, batchSummary(b), ' · ', when(b.createTime)),
          b.state === 'STOPPED' && b.stop ? h('div', { class: 'small stop-reason', title: b.stop.message }, `stopped: ${b.stop.reason}`) : null,
        ),
      ),
    );
  }
  view.batches.next = page.nextPageToken;
  $('batches-page').textContent = `Page ${view.batches.page + 1}`;
  $('batches-prev').disabled = view.batches.page === 0;
  $('batches-next').disabled = !view.batches.next;
}

/** Schedules shown in the side panel (the newest; GET /v1/schedules pages further). */
const SCHEDULES_SHOWN = 20;

/** A schedule's cadence in words (docs/schedules.md). */
function cadenceText(c) {
  if (c.cron) return `cron ${c.cron} (${c.timeZone})`;
  if (c.newImages) return `new ${c.per === 'date' ? 'dates' : 'images'} in ${c.newImages}, checked every ${c.checkEveryMinutes ?? '?'} min`;
  return `every ${c.everyDays} day${c.everyDays === 1 ? '' : 's'} from ${c.anchor}`;
}

/** The schedules panel; `page` null: this API has no schedules (an older deployment). */
function renderSchedules(page) {
  const list = page ? page.schedules.filter((s) => s.state !== 'DELETED') : [];
  if (!list.length) {
    $('schedules').replaceChildren(h('p', { class: 'muted' }, page ? 'No schedules.' : 'This API has no schedules.'));
    return;
  }
  $('schedules').replaceChildren(
    ...list.map((s) => {
      const last = s.runs?.[s.runs.length - 1];
      return h(
        'div',
        { class: 'batch schedule', 'data-schedule-id': s.scheduleId, 'data-state': s.state, tabindex: 0, role: 'button', title: 'Show the schedule: next windows and last runs' },
        h('div', { class: 'batch-head' }, badge(s.state), h('span', { class: 'batch-name' }, s.description ?? s.scheduleId), h('span', { class: 'muted small' }, `${intFmt.format(s.runCount)} run${s.runCount === 1 ? '' : 's'}`)),
        h('div', { class: 'small muted cadence' }, cadenceText(s.cadence)),
        h('div', { class: 'small muted' }, s.state === 'PAUSED' ? 'paused' : h('span', {}, 'next run ', when(s.nextRunAt)), last ? h('span', {}, ' · last window ', when(last.windowStart)) : null),
      );
    }),
  );
}

function renderScheduleDetail(s) {
  $('detail-title').replaceChildren(badge(s.state), ' ', s.description ?? s.scheduleId);
  $('detail-body').replaceChildren(
    section(
      'Schedule',
      facts([
        ['Schedule id', h('span', { class: 'mono', id: 'detail-schedule-id' }, s.scheduleId)],
        ['Cadence', cadenceText(s.cadence)],
        ['State', s.state === 'PAUSED' ? 'paused: no runs are submitted until it is resumed (POST :resume, or eeport schedule resume)' : s.state.toLowerCase()],
        ['Earth Engine project', s.eeProject ? h('span', { class: 'mono' }, s.eeProject) : null],
        ['Labels', s.labels && Object.keys(s.labels).length ? labelChips(s.labels) : null],
        ['Runs', intFmt.format(s.runCount)],
        ['Next run', s.state === 'ACTIVE' ? when(s.nextRunAt) : null],
        ['Created', when(s.createTime)],
      ]),
    ),
    section(
      'Next windows',
      s.state === 'ACTIVE' && s.nextRuns.length
        ? h('ul', { class: 'plain next-windows' }, s.nextRuns.map((w) => h('li', {}, when(w.windowStart), ' – ', when(w.windowEnd))))
        : h('p', { class: 'muted' }, s.state === 'PAUSED' ? 'None while it is paused.' : 'None.'),
    ),
    section(
      'Last runs',
      s.runs.length
        ? h(
            'table',
            { class: 'mini children runs' },
            h('thead', {}, h('tr', {}, ['Window start', 'Window end', 'State', 'Job'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, [...s.runs].reverse().map((r) => h('tr', { 'data-job-id': r.jobId, 'data-state': r.state ?? '', tabindex: 0, class: 'clickable', title: 'Show the job' }, h('td', {}, when(r.windowStart)), h('td', {}, when(r.windowEnd)), h('td', {}, r.state ? badge(r.state) : '—'), h('td', { class: 'mono small' }, r.jobId)))),
          )
        : h('p', { class: 'muted' }, 'No runs yet.'),
    ),
  );
}

/** A definition list of [term, value] rows; rows with a null value are left out. */
const facts = (rows) => h('dl', { class: 'facts' }, rows.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

const section = (title, ...content) => h('section', { class: 'detail-section' }, h('h3', {}, title), ...content);

const table = (head, rows, empty) =>
  rows.length
    ? h('table', { class: 'mini' }, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))))
    : h('p', { class: 'muted' }, empty);

const failure = (f) => (f ? h('span', {}, h('span', { class: 'mono' }, f.code), ` ${f.message}`, f.failureClass ? h('span', { class: 'muted' }, ` (${f.failureClass}, rule ${f.rule})`) : null) : null);

/** A chain's steps, in order, with their states and why a step was skipped; the job shown is marked. */
const chainSection = (chain, jobId) =>
  section(
    `Chain (${chain.state.toLowerCase()})`,
    table(
      ['Step', 'After', 'State', 'Job', 'Reason'],
      chain.steps.map((s) => [s.id === jobId ? h('strong', {}, s.step) : s.step, s.after.join(', ') || '—', badge(s.state), h('span', { class: 'mono small' }, s.id), s.reason ?? '']),
      'No steps.',
    ),
  );

/** Where an actual falls against an estimate's band: `in band`, or how far above or below it. */
function bandVerdict(e, actual) {
  const ratio = e.eecuSeconds.expected > 0 ? `${(actual / e.eecuSeconds.expected).toFixed(2)}× expected` : '';
  const where = actual < e.eecuSeconds.low ? 'below the band' : actual > e.eecuSeconds.high ? 'above the band' : 'in the band';
  return { text: [ratio, where].filter(Boolean).join(', '), inBand: where === 'in the band' };
}

/** The job's recorded estimate (docs/estimates.md) beside what it used: band, expected, method and basis. */
function estimateFact(job) {
  const e = job.estimate;
  if (!e) return null;
  const verdict = job.state === 'SUCCEEDED' && job.eecuSeconds !== null ? bandVerdict(e, job.eecuSeconds) : null;
  return h(
    'span',
    { class: 'estimate', id: 'job-estimate', 'data-method': e.method },
    `${eecu(e.eecuSeconds.low)}–${eecu(e.eecuSeconds.high)} EECU-s, expected ${eecu(e.eecuSeconds.expected)} `,
    h('span', { class: 'label' }, e.method),
    verdict ? h('span', { class: `verdict ${verdict.inBand ? 'in-band' : 'out-of-band'}` }, ` actual ${eecu(job.eecuSeconds)}: ${verdict.text}`) : job.eecuSeconds !== null ? ` · ${eecu(job.eecuSeconds)} used so far` : '',
    h('div', { class: 'small muted' }, e.basis),
  );
}

/** The batch's children's recorded estimates, summed by the API in one aggregation (no child read). */
const batchEstimate = (batchId) => api(`v1/batches/${encodeURIComponent(batchId)}/estimate`);

function batchEstimateFact(batch, sum) {
  if (!sum) return null;
  if (!sum.estimated) return h('span', { class: 'muted', id: 'batch-estimate' }, 'None recorded yet (the poller records a child’s estimate when it first follows it).');
  return h(
    'span',
    { id: 'batch-estimate', 'data-expected': sum.eecuSeconds.expected, 'data-actual': sum.actualEecuSeconds },
    `${eecu(sum.eecuSeconds.low)}–${eecu(sum.eecuSeconds.high)} EECU-s, expected ${eecu(sum.eecuSeconds.expected)} (${sum.estimated} of ${batch.total} children); they used ${eecu(sum.actualEecuSeconds)}`,
  );
}

function renderJobDetail(job) {
  $('detail-title').replaceChildren(badge(job.state), ' ', job.description ?? job.jobId);
  const source = job.source.kind === 'upload' ? `upload gs://${job.source.bucket}/${job.source.name}` : job.source.kind === 'pubsub' ? `pubsub message ${job.source.messageId}` : `api${job.source.caller ? ` (${job.source.caller})` : ''}`;
  const uris = job.destinationUris.length ? h('ul', { class: 'uris' }, job.destinationUris.map((u) => h('li', {}, safeLink(u)))) : h('p', { class: 'muted' }, job.state === 'SUCCEEDED' ? 'Earth Engine reported none.' : 'Known once the export succeeds.');
  const webhook = job.webhook
    ? [
        facts([
          ['URL', h('span', { class: 'mono' }, job.webhook.url)],
          ['State', job.webhook.state],
        ]),
        table(
          ['At', 'Event', 'Status', 'Latency', 'Error'],
          job.webhook.attempts.map((a) => [when(a.at), h('span', { class: 'mono small' }, a.eventId), a.status ?? '—', a.latencyMs === null ? '—' : `${a.latencyMs} ms`, a.error ?? '']),
          'No attempts yet.',
        ),
      ]
    : [h('p', { class: 'muted' }, job.callbackUrl ? 'Called when the job ends.' : 'No callback URL.')];
  $('detail-body').replaceChildren(
    section(
      'Job',
      facts([
        ['Job id', h('span', { class: 'mono', id: 'detail-job-id' }, job.jobId)],
        ['Progress', progressBar(job.state === 'SUCCEEDED' ? 1 : job.progress, job.state)],
        ['Earth Engine project', h('span', { class: 'mono' }, job.eeProject)],
        ['Operation', job.operationName ? h('span', { class: 'mono small' }, job.operationName) : null],
        ['Request id', h('span', { class: 'mono small' }, job.requestId)],
        ['Labels', Object.keys(job.labels).length ? labelChips(job.labels) : null],
        ['Batch', job.batchId ? `${job.batchId} #${job.batchIndex}` : null],
        ['Source', source],
        ['Created', when(job.createTime)],
        ['Submitted', job.submitTime ? when(job.submitTime) : null],
        ['Started', job.startTime ? when(job.startTime) : null],
        ['Ended', job.endTime ? when(job.endTime) : null],
        ['Duration', jobDuration(job, Date.now())],
        ['EECU-seconds', job.eecuSeconds === null ? null : eecu(job.eecuSeconds)],
        ['Estimate', estimateFact(job)],
        ['Attempt', job.attempt],
        ['Queued because', job.state === 'QUEUED' ? job.queuedReason : null],
        ['Verifying', job.verifying ? h('span', {}, `${job.verifying.note} (${job.verifying.checks} search${job.verifying.checks === 1 ? '' : 'es'} since `, when(job.verifying.since), ')') : null],
        ['Candidate operations', job.verifying?.candidates.length ? h('ul', { class: 'plain mono small' }, job.verifying.candidates.map((o) => h('li', {}, o))) : null],
        ['Stalled', job.stalled ? h('span', {}, `${job.stalled.kind === 'pending' ? 'PENDING' : 'RUNNING'} ${job.stalled.elapsedSeconds} s, past ${job.stalled.limitSeconds} s: ${job.stalled.basis}${job.stalled.action === 'resubmitted' ? '; cancelled and resubmitted' : ''}${stalledNow(job) ? '' : ' (an earlier attempt)'} — `, when(job.stalled.at)) : null],
        ['Error', failure(job.error)],
        // Tiled recovery (docs/watch.md): the failed job resubmitted as a batch of tiles on its pixel grid, or why not.
        ['Recovery', job.recovery ? h('span', { 'data-recovery': job.recovery.batchId ?? '' }, job.recovery.batchId ? `${job.recovery.kind}: resubmitted as ${job.recovery.tiles} tiles (depth ${job.recovery.depth}) in batch ` : `${job.recovery.kind}: `, job.recovery.batchId ? h('span', { class: 'mono' }, job.recovery.batchId) : job.recovery.reason, ' — ', when(job.recovery.at)) : null],
        ['Resubmissions', job.resubmissions || null],
        ['Last failure', failure(job.lastFailure)],
        ['Earlier operations', job.previousOperations.length ? h('ul', { class: 'plain mono small' }, job.previousOperations.map((o) => h('li', {}, o))) : null],
        ['Cancel requested', job.cancelRequestedAt ? when(job.cancelRequestedAt) : null],
      ]),
    ),
    section('Destination', uris),
    section(
      'Stages',
      table(
        ['Stage', 'Description', 'Work units'],
        job.stages.map((s) => [s.displayName, s.description ?? '', s.totalWorkUnits ? `${s.completeWorkUnits ?? 0} / ${s.totalWorkUnits}` : '']),
        'Earth Engine has reported no stages yet.',
      ),
    ),
    section(
      'History',
      table(
        ['At', 'From', 'To', 'Why'],
        job.history.map((e) => [when(e.at), e.from ? badge(e.from) : '—', badge(e.to), e.reason ?? '']),
        'No changes yet.',
      ),
    ),
    section('Webhook', ...webhook),
    section('Request', job.request ? h('pre', { class: 'json' }, JSON.stringify(job.request, null, 2)) : h('p', { class: 'muted' }, job.rawPreview ? `Not a valid request. As received: ${job.rawPreview}` : 'None recorded.')),
  );
}

function renderBatchDetail(batch, children, estimate = null) {
  const d = view.detail;
  $('detail-title').replaceChildren(badge(batch.state), ' ', batch.description ?? batch.batchId);
  const rows = children.jobs.map((job) => {
    const tr = h(
      'tr',
      { 'data-job-id': job.jobId, 'data-state': job.state, tabindex: 0, class: 'clickable', title: 'Show the job' },
      h('td', { class: 'num' }, job.batchIndex),
      h('td', {}, badge(job.state), verifyingBadge(job), stalledBadge(job)),
      h('td', {}, progressBar(job.state === 'SUCCEEDED' ? 1 : job.progress, job.state)),
      h('td', {}, job.description ?? job.jobId),
      h('td', { class: 'num' }, eecu(job.eecuSeconds)),
    );
    return tr;
  });
  const prev = h('button', { type: 'button', id: 'children-prev', disabled: d.page === 0 }, '‹ Previous');
  const next = h('button', { type: 'button', id: 'children-next', disabled: !children.nextPageToken }, 'Next ›');
  prev.addEventListener('click', () => {
    d.page--;
    void refreshDetail();
  });
  next.addEventListener('click', () => {
    d.tokens[d.page + 1] = children.nextPageToken;
    d.page++;
    void refreshDetail();
  });
  $('detail-body').replaceChildren(
    section(
      'Batch',
      facts([
        ['Batch id', h('span', { class: 'mono' }, batch.batchId)],
        ['Progress', progressBar(batch.progress, batch.state)],
        ['Children', batchSummary(batch)],
        ['Earth Engine project', h('span', { class: 'mono' }, batch.eeProject)],
        ['Labels', Object.keys(batch.labels).length ? labelChips(batch.labels) : null],
        ['EECU-seconds', eecu(batch.eecuSeconds)],
        ['Estimate', batchEstimateFact(batch, estimate)],
        ['Retries', batch.retries || null],
        ['Created', when(batch.createTime)],
        ['Ended', batch.endTime ? when(batch.endTime) : null],
        ['Error', batch.error ? `${batch.error.code}: ${batch.error.message}` : null],
        ['EECU cap', batch.maxEecuSeconds ? eecu(batch.maxEecuSeconds) : null],
        ['Stopped', batch.state === 'STOPPED' && batch.stop ? `${batch.stop.reason}: ${batch.stop.message} (POST :resume, or eeport batch resume)` : null],
      ]),
    ),
    section(
      'Jobs',
      rows.length
        ? h('table', { class: 'mini children' }, h('thead', {}, h('tr', {}, ['#', 'State', 'Progress', 'Description', 'EECU-s'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No jobs.'),
      h('nav', { class: 'pager' }, prev, h('span', {}, `Page ${d.page + 1}`), next),
    ),
    batch.destinationUris.length ? section('Destinations', h('ul', { class: 'uris' }, batch.destinationUris.slice(0, 50).map((u) => h('li', {}, safeLink(u))))) : null,
  );
}

// ---------------------------------------------------------------------------
// Refreshing
// ---------------------------------------------------------------------------

let refreshing = null;
let again = false;
let lastOk = null;

function jobsPath() {
  const j = view.jobs;
  return `v1/jobs${query({ state: j.state, label: j.label, pageSize: j.pageSize, pageToken: j.tokens[j.page] })}`;
}

async function refreshDetail() {
  const d = view.detail;
  if (!d) return;
  if (d.kind === 'job') {
    const job = await api(`v1/jobs/${encodeURIComponent(d.id)}`);
    // The chain a job is a step of (docs/chains.md); an older API without chains, or a tenant's caller, has no such route.
    const chain = job.chain ? await api(`v1/chains/${encodeURIComponent(job.chain.chainId)}`).catch(() => null) : null;
    // The dialog may have moved on (closed, another row) while this was on its way.
    if (view.detail === d) {
      renderJobDetail(job);
      if (chain) $('detail-body').append(chainSection(chain, job.jobId));
    }
  } else if (d.kind === 'schedule') {
    const s = await api(`v1/schedules/${encodeURIComponent(d.id)}`);
    if (view.detail === d) renderScheduleDetail(s);
  } else {
    const [batch, children] = await Promise.all([api(`v1/batches/${encodeURIComponent(d.id)}`), api(`v1/batches/${encodeURIComponent(d.id)}/jobs${query({ pageSize: CHILDREN_PER_PAGE, pageToken: d.tokens[d.page] })}`)]);
    // The summed estimate is one aggregation on the server: asked again only when the batch changed.
    if (d.estimateAt !== batch.updateTime) {
      d.estimate = await batchEstimate(d.id).catch(() => null);
      d.estimateAt = batch.updateTime;
    }
    if (view.detail === d) renderBatchDetail(batch, children, d.estimate);
  }
}

/**
 * One refresh of everything on the page. Refreshes never overlap (an older answer could
 * land after a newer one); one asked for while another runs follows it, so a changed
 * filter is never answered with the old one's page.
 */
function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    const status = $('refresh-status');
    const parts = await Promise.allSettled([
      api('v1/stats').then(renderCounts),
      api(jobsPath()).then(renderJobs),
      api('v1/budgets').then(renderBudgets),
      api(`v1/batches${query({ pageSize: BATCHES_PER_PAGE, pageToken: view.batches.tokens[view.batches.page] })}`).then(renderBatches),
      api(`v1/schedules${query({ pageSize: SCHEDULES_SHOWN })}`).then(renderSchedules, (e) => (e instanceof ApiError && e.status === 404 ? renderSchedules(null) : Promise.reject(e))),
      refreshDetail(),
    ]);
    const errors = parts.filter((p) => p.status === 'rejected').map((p) => p.reason);
    const jobsError = parts[1].status === 'rejected' ? parts[1].reason : null;
    $('jobs-error').hidden = !jobsError;
    $('jobs-error').textContent = jobsError ? jobsError.message : '';
    const unauthorized = errors.find((e) => e instanceof ApiError && (e.status === 401 || e.status === 403));
    $('key-form').classList.toggle('attention', Boolean(unauthorized));
    if (!errors.length) {
      lastOk = new Date();
      status.textContent = `Updated ${timeFmt.format(lastOk)}${$('auto-refresh').checked ? ` · every ${refreshSeconds} s` : ''}`;
      status.dataset.ok = 'true';
    } else {
      const e = unauthorized ?? errors[0];
      const why = unauthorized ? `${e.message} — enter the API key above` : e.message;
      status.textContent = `Refresh failed${lastOk ? ` (last good ${timeFmt.format(lastOk)})` : ''}: ${why}`;
      status.dataset.ok = 'false';
    }
    status.dataset.refreshedAt = String(Date.now());
  })().finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      void refresh();
    }
  });
  return refreshing;
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

function openDetail(target) {
  view.detail = target.kind === 'batch' ? { ...target, tokens: [null], page: 0 } : target;
  const dialog = $('detail');
  $('detail-title').replaceChildren('Loading…');
  $('detail-body').replaceChildren();
  if (!dialog.open) dialog.showModal();
  refreshDetail().catch((err) => $('detail-body').replaceChildren(h('p', { class: 'error' }, err.message)));
}

/** Rows and cards open their detail by click or by Enter. */
function onActivate(container, selector, open) {
  const go = (ev) => {
    if (ev.target.closest('a, button')) return;
    const el = ev.target.closest(selector);
    if (el) open(el);
  };
  container.addEventListener('click', go);
  container.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') go(ev);
  });
}

function resetJobPaging() {
  Object.assign(view.jobs, { tokens: [null], page: 0, next: null });
}

function init() {
  const select = $('filter-state');
  for (const s of JOB_STATES) select.append(h('option', { value: s }, s.toLowerCase()));
  $('api-key').value = sessionStorage.getItem(KEY_STORAGE) ?? '';

  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    view.jobs.state = select.value;
    view.jobs.label = $('filter-label').value.trim();
    resetJobPaging();
    void refresh();
  });
  $('filter-clear').addEventListener('click', () => {
    select.value = '';
    $('filter-label').value = '';
    view.jobs.state = '';
    view.jobs.label = '';
    resetJobPaging();
    void refresh();
  });
  // A count is a shortcut for its state filter (clicking the active one clears it).
  $('counts').addEventListener('click', (ev) => {
    const chip = ev.target.closest('button.count');
    if (!chip) return;
    const s = chip.dataset.state === view.jobs.state ? '' : chip.dataset.state;
    select.value = s;
    view.jobs.state = s;
    resetJobPaging();
    void refresh();
  });
  $('jobs-page-size').addEventListener('change', (ev) => {
    view.jobs.pageSize = Number(ev.target.value);
    resetJobPaging();
    void refresh();
  });
  $('jobs-next').addEventListener('click', () => {
    if (!view.jobs.next) return;
    view.jobs.tokens[view.jobs.page + 1] = view.jobs.next;
    view.jobs.page++;
    void refresh();
  });
  $('jobs-prev').addEventListener('click', () => {
    if (view.jobs.page === 0) return;
    view.jobs.page--;
    void refresh();
  });
  $('batches-next').addEventListener('click', () => {
    if (!view.batches.next) return;
    view.batches.tokens[view.batches.page + 1] = view.batches.next;
    view.batches.page++;
    void refresh();
  });
  $('batches-prev').addEventListener('click', () => {
    if (view.batches.page === 0) return;
    view.batches.page--;
    void refresh();
  });

  onActivate($('jobs'), 'tr[data-job-id]', (tr) => openDetail({ kind: 'job', id: tr.dataset.jobId }));
  onActivate($('batches'), '.batch[data-batch-id]', (el) => openDetail({ kind: 'batch', id: el.dataset.batchId }));
  onActivate($('schedules'), '.schedule[data-schedule-id]', (el) => openDetail({ kind: 'schedule', id: el.dataset.scheduleId }));
  onActivate($('detail-body'), 'tr[data-job-id]', (tr) => openDetail({ kind: 'job', id: tr.dataset.jobId }));
  $('detail-close').addEventListener('click', () => $('detail').close());
  $('detail').addEventListener('close', () => {
    view.detail = null;
  });
  // A click on the backdrop (outside the panel) closes it too.
  $('detail').addEventListener('click', (ev) => {
    if (ev.target === $('detail')) $('detail').close();
  });

  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('api-key').value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    void refresh();
  });
  $('key-forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $('api-key').value = '';
    void refresh();
  });
  $('refresh-now').addEventListener('click', () => void refresh());

  let timer = null;
  const schedule = () => {
    clearInterval(timer);
    timer = $('auto-refresh').checked ? setInterval(() => document.hidden || void refresh(), refreshSeconds * 1000) : null;
  };
  $('auto-refresh').addEventListener('change', () => {
    schedule();
    void refresh();
  });
  // Catch up at once when the tab comes back, rather than at the next tick.
  document.addEventListener('visibilitychange', () => document.hidden || void refresh());
  schedule();
  void refresh();
}

init();

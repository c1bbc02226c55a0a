/**
 * A budget's month as a burn-down chart, in inline SVG (no chart library, nothing from
 * another origin): the cumulative use day by day (finished tasks, with today's point
 * including the running tasks' partial use), the projected line from now to the month's
 * end, a line per threshold and the limit. Built with createElementNS and textContent
 * only, like the rest of the dashboard. Figures come from GET /v1/budgets (BudgetView).
 */

const SVG = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 120;
const PAD = { left: 4, right: 36, top: 8, bottom: 14 };

/** Days in a yyyy-mm month. */
export const daysIn = (month) => new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)), 0)).getUTCDate();

/**
 * The chart's figures: `used` as [day, cumulative EECU-s] points (day 0 is the month's
 * start; the last point is now, running use included), the projection's two ends, the
 * threshold levels and the limit, and the y axis' top.
 */
export function burnDownSeries(b, nowIso) {
  const days = daysIn(b.month);
  const start = Date.parse(`${b.month}-01T00:00:00Z`);
  const nowDay = Math.min(days, Math.max(0, (Date.parse(nowIso) - start) / 86_400_000));
  const used = [[0, 0]];
  let sum = 0;
  for (let d = 1; d <= Math.floor(nowDay); d++) {
    sum += b.dailyEecuSeconds?.[String(d).padStart(2, '0')] ?? 0;
    used.push([d, sum]);
  }
  used.push([nowDay, b.usedEecuSeconds]);
  const thresholds = (b.thresholds ?? []).map((percent) => ({ percent, level: (percent / 100) * b.limitEecuSeconds }));
  const top = Math.max(b.limitEecuSeconds, b.projectedEecuSeconds, b.usedEecuSeconds, ...thresholds.map((t) => t.level)) * 1.05 || 1;
  return { days, used, projected: [[nowDay, b.usedEecuSeconds], [days, b.projectedEecuSeconds]], thresholds, limit: b.limitEecuSeconds, top };
}

function el(doc, tag, attrs, text) {
  const e = doc.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The SVG element for one budget view. */
export function burnDownChart(doc, b, nowIso) {
  const s = burnDownSeries(b, nowIso);
  const x = (day) => PAD.left + (day / s.days) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - v / s.top) * (H - PAD.top - PAD.bottom);
  const pts = (list) => list.map(([d, v]) => `${x(d).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const svg = el(doc, 'svg', { class: 'burn-down', viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-budget-id': b.id });
  svg.append(
    el(doc, 'title', {}, `${b.id}: ${fmt.format(b.usedEecuSeconds)} of ${fmt.format(b.limitEecuSeconds)} EECU-s used in ${b.month}; projected ${fmt.format(b.projectedEecuSeconds)} by its end (${b.projectionBasis ?? ''})`),
    el(doc, 'line', { class: 'axis', x1: x(0), y1: y(0), x2: x(s.days), y2: y(0) }),
  );
  for (const t of s.thresholds) {
    svg.append(
      el(doc, 'line', { class: 'threshold', 'data-percent': t.percent, 'data-crossed': String((b.thresholdsCrossed ?? []).includes(t.percent)), x1: x(0), y1: y(t.level), x2: x(s.days), y2: y(t.level) }),
      el(doc, 'text', { class: 'threshold-label', x: x(s.days) + 3, y: y(t.level) + 3 }, `${t.percent}%`),
    );
  }
  svg.append(
    el(doc, 'line', { class: 'limit', 'data-limit': s.limit, x1: x(0), y1: y(s.limit), x2: x(s.days), y2: y(s.limit) }),
    el(doc, 'polyline', { class: 'projected', points: pts(s.projected), 'data-projected': Math.round(b.projectedEecuSeconds) }),
    el(doc, 'polyline', { class: 'used', points: pts(s.used), 'data-used': Math.round(b.usedEecuSeconds) }),
    el(doc, 'text', { class: 'day-label', x: x(0), y: H - 2 }, '1'),
    el(doc, 'text', { class: 'day-label', x: x(s.days) - 8, y: H - 2 }, String(s.days)),
  );
  return svg;
}

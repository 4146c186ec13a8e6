// @ts-check
// Where the time goes, in the page: the live totals beside the grid (from
// the world copy's incremental totals, redrawn on every event without a
// request) and the reports view (GET …/api/reports/hours: a stacked bar
// chart per day or week drawn as SVG, a table with totals, and the same
// numbers to download as CSV and XLSX).

import { ZERO_ID } from './codec.js';
import { weekStart, ymd, dateOf, dayLabel, monthLabel } from './model.js';
import { serviceColour } from './grid.js';

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};
const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

/** Minutes as hours, exact to the minute: 90 → "1:30". */
export const hhmm = (m) => `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}`;
const iso = (d) => new Date(d * 86400000).toISOString().slice(0, 10);
const parseISO = (s) => Date.parse(`${s}T00:00:00Z`) / 86400000;

/** The days [from, to) of the view: the day, the week or the month shown. */
export function viewRange(state, firstDay) {
  if (state.view === 'month') {
    const { y, m } = ymd(state.date);
    return { from: dateOf(y, m, 1), to: dateOf(y, m + 1, 1), label: monthLabel(state.date) };
  }
  if (state.collapsed) return { from: state.date, to: state.date + 1, label: dayLabel(state.date) };
  const w = weekStart(state.date, firstDay);
  return { from: w, to: w + 7, label: `week of ${dayLabel(w)}` };
}

/**
 * The totals panel: hours per service and per assignee in the range in
 * view, by status. render() costs the cells of the range's days, never a
 * scan of the tasks, so it runs on every event.
 */
export class TotalsPanel {
  /** @param {any} app the page: world, state, settings @param {HTMLElement} root */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    // Open or folded as the user left it.
    const box = root.closest('details');
    if (box) {
      box.open = localStorage.getItem('txxt.totals') === 'open';
      box.addEventListener('toggle', () => localStorage.setItem('txxt.totals', box.open ? 'open' : 'closed'));
    }
  }

  render() {
    const { world, state, settings } = this.app;
    const r = viewRange(state, settings.first_day_of_week);
    const byService = world.totals.sum(r.from, r.to, (s) => s);
    const byUser = world.totals.sum(r.from, r.to, (_s, a) => a);
    const table = (title, rows, name, colour) => {
      const sorted = [...rows].map(([k, v]) => ({ k, v, n: name(k) })).sort((a, b) => (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
      const sum = [0, 0, 0];
      for (const { v } of sorted) for (let i = 0; i < 3; i++) sum[i] += v[i];
      const line = (label, v, cls = '', sw = '') => el('tr', { className: cls },
        el('th', { scope: 'row' }, ...(sw ? [el('span', { className: 'swatch', style: `background:${sw}` })] : []), label),
        ...v.map((m) => el('td', { textContent: hhmm(m) })), el('td', { textContent: hhmm(v[0] + v[1] + v[2]) }));
      return el('table', { className: 'totals-table' },
        el('caption', { textContent: title }),
        el('thead', {}, el('tr', {}, el('th', { textContent: '' }), el('th', { textContent: 'Plan', title: 'Planned: scheduled' }), el('th', { textContent: 'Busy', title: 'In progress: active' }), el('th', { textContent: 'Done', title: 'Done: completed' }), el('th', { textContent: 'All' }))),
        el('tbody', {}, ...sorted.map(({ k, v, n }) => line(n, v, '', colour ? colour(k) : '')), line('Total', sum, 'total')));
    };
    this.root.replaceChildren(
      el('h2', { textContent: `Hours, ${r.label}` }),
      byService.size === 0 ? el('p', { className: 'muted', textContent: 'Nothing scheduled in view.' })
        : el('div', {}, table('By service', byService, (id) => world.serviceName(id) || 'unknown service', (id) => serviceColour(id, world.services.get(id))),
          table('By assignee', byUser, (id) => (id === ZERO_ID ? 'Unassigned' : world.users.get(id) || 'someone'))),
    );
  }
}

const STATUS = [['planned_minutes', 'Planned'], ['in_progress_minutes', 'In progress'], ['done_minutes', 'Done']];
const PALETTE = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

/** The reports view: a range, a grouping, a chart, a table and downloads. */
export class ReportsView {
  /** @param {any} app the page: base, world, state, settings, today() */
  constructor(app) {
    this.app = app;
    this.range = 'month';
    this.group = 'service';
    this.root = el('section', { id: 'reports', className: 'reports', hidden: true, 'aria-label': 'Reports' });
    document.body.append(this.root);
  }

  open() {
    this.root.hidden = false;
    const today = this.app.today().date;
    this.from = this.from ?? today;
    this.render();
  }

  close() { this.root.hidden = true; }

  /** The range's first and last day (both inclusive). */
  bounds() {
    const d = this.from, first = this.app.settings.first_day_of_week;
    const { y, m } = ymd(d);
    switch (this.range) {
      case 'week': { const w = weekStart(d, first); return [w, w + 6]; }
      case 'quarter': { const q = Math.floor(m / 3) * 3; return [dateOf(y, q, 1), dateOf(y, q + 3, 1) - 1]; }
      case 'custom': return [this.customFrom ?? d, this.customTo ?? d];
    }
    return [dateOf(y, m, 1), dateOf(y, m + 1, 1) - 1];
  }

  query(format) {
    const [a, b] = this.bounds();
    return `${this.app.base}/api/reports/hours?from=${iso(a)}&to=${iso(b)}&group=${encodeURIComponent(this.group)}&format=${format}`;
  }

  async render() {
    const seq = this.seq = (this.seq ?? 0) + 1; // only the newest render draws
    const [a, b] = this.bounds();
    const select = (id, value, options, fn) => el('select', { id, on: { change: (e) => fn(e.target.value) } },
      ...options.map(([v, t]) => new Option(t, v, false, v === value)));
    const date = (id, value, fn) => el('input', { id, type: 'date', value: iso(value), on: { change: (e) => { if (e.target.value) fn(parseISO(e.target.value)); } } });
    const controls = el('div', { className: 'report-controls' },
      el('label', {}, 'Range ', select('report-range', this.range, [['week', 'Week'], ['month', 'Month'], ['quarter', 'Quarter'], ['custom', 'Custom']], (v) => { this.range = v; if (v === 'custom') { this.customFrom = a; this.customTo = b; } this.render(); })),
      ...(this.range === 'custom'
        ? [el('label', {}, 'From ', date('report-from', a, (d) => { this.customFrom = d; this.render(); })), el('label', {}, 'To ', date('report-to', b, (d) => { this.customTo = d; this.render(); }))]
        : [el('button', { type: 'button', textContent: '‹', 'aria-label': 'Previous', on: { click: () => { this.from = a - 1; this.render(); } } }),
          el('span', { className: 'report-range', textContent: `${dayLabel(a)} – ${dayLabel(b)}` }),
          el('button', { type: 'button', textContent: '›', 'aria-label': 'Next', on: { click: () => { this.from = b + 1; this.render(); } } })]),
      el('label', {}, 'Group by ', select('report-group', this.group, [['service', 'Service'], ['assignee', 'Assignee'], ['status', 'Status'], ['service,assignee', 'Service × assignee']], (v) => { this.group = v; this.render(); })),
      el('a', { id: 'report-csv', href: this.query('csv'), download: '', textContent: 'CSV' }),
      el('a', { id: 'report-xlsx', href: this.query('xlsx'), download: '', textContent: 'XLSX' }),
      el('span', { className: 'spacer' }),
      el('button', { id: 'reports-close', type: 'button', textContent: 'Back to the calendar', on: { click: () => this.close() } }));
    const status = el('p', { className: 'muted', role: 'status', textContent: 'Loading…' });
    this.root.replaceChildren(el('h1', { textContent: 'Reports: hours' }), controls, status);
    let rep;
    try {
      const r = await fetch(this.query('json'), { credentials: 'same-origin' });
      rep = await r.json();
      if (!r.ok) throw new Error(rep?.message || `the report failed (${r.status})`);
    } catch (err) {
      if (seq !== this.seq) return;
      status.textContent = err.message;
      status.className = 'error';
      return;
    }
    if (seq !== this.seq) return;
    status.remove();
    this.report = rep;
    this.root.append(this.chart(rep), this.table(rep));
  }

  /** The name of a row's group: "Ops", "Ops · ann". */
  static label(row, group) { return group.map((g) => row[g]?.name ?? '').join(' · '); }

  colour(row, i) {
    if (this.group === 'service' && row.service) return serviceColour(row.service.id, this.app.world.services.get(row.service.id));
    if (this.group === 'status') return ['#60a5fa', '#f59e0b', '#22c55e'][i % 3];
    return PALETTE[i % PALETTE.length];
  }

  /**
   * A stacked bar per day (per week past 31 days): one segment per row,
   * the capacity as a line over the bars.
   */
  chart(rep) {
    const days = rep.dates.length, weekly = days > 31;
    const buckets = [];
    for (let i = 0; i < days; i++) {
      const k = weekly ? Math.floor(i / 7) : i;
      buckets[k] ??= { label: weekly ? `wk ${rep.dates[i].slice(5)}` : rep.dates[i].slice(8), rows: rep.rows.map(() => 0), capacity: 0 };
      rep.rows.forEach((r, j) => { buckets[k].rows[j] += r.by_day[i]; });
      buckets[k].capacity += rep.capacity.by_day[i];
    }
    const W = 760, H = 220, pad = 30, bw = (W - pad) / buckets.length;
    const top = Math.max(60, ...buckets.map((b) => Math.max(b.capacity, b.rows.reduce((x, y) => x + y, 0))));
    const y = (m) => H - pad - (m / top) * (H - 2 * pad);
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'report-chart', role: 'img', 'aria-label': `Hours ${weekly ? 'per week' : 'per day'}, stacked by ${this.group}` });
    g.append(svg('line', { x1: pad, x2: W, y1: y(0), y2: y(0), stroke: '#9ca3af' }));
    buckets.forEach((b, i) => {
      let base = 0;
      b.rows.forEach((m, j) => {
        if (!m) return;
        const rect = svg('rect', { x: pad + i * bw + 2, width: Math.max(1, bw - 4), y: y(base + m), height: y(base) - y(base + m), fill: this.colour(rep.rows[j], j), 'data-row': j });
        const t = svg('title');
        t.textContent = `${ReportsView.label(rep.rows[j], rep.group)}: ${hhmm(m)}`;
        rect.append(t);
        g.append(rect);
        base += m;
      });
      if (b.capacity) g.append(svg('line', { class: 'capacity', x1: pad + i * bw, x2: pad + (i + 1) * bw, y1: y(b.capacity), y2: y(b.capacity), stroke: '#111827', 'stroke-dasharray': '4 3' }));
      const label = svg('text', { x: pad + i * bw + bw / 2, y: H - 10, 'text-anchor': 'middle', 'font-size': 10 });
      label.textContent = b.label;
      g.append(label);
    });
    const axis = svg('text', { x: 2, y: y(top) + 4, 'font-size': 10 });
    axis.textContent = `${Math.round(top / 60)} h`;
    g.append(axis);
    return el('figure', { className: 'report-figure' }, g, el('figcaption', { className: 'muted', textContent: 'Bars: booked hours, stacked by group. Dashed line: capacity (working hours less holidays and time off).' }));
  }

  table(rep) {
    const cells = (m) => STATUS.map(([k]) => el('td', { textContent: hhmm(m[k]) })).concat(el('td', { textContent: hhmm(m.total_minutes) }));
    return el('table', { className: 'report-table' },
      el('thead', {}, el('tr', {}, el('th', { textContent: rep.group.map((g) => g[0].toUpperCase() + g.slice(1)).join(' × ') }), ...STATUS.map(([, t]) => el('th', { textContent: t })), el('th', { textContent: 'All' }))),
      el('tbody', {}, ...rep.rows.map((r, i) => el('tr', {}, el('th', { scope: 'row' }, el('span', { className: 'swatch', style: `background:${this.colour(r, i)}` }), ReportsView.label(r, rep.group)), ...cells(r)))),
      el('tfoot', {},
        el('tr', { className: 'total' }, el('th', { scope: 'row', textContent: 'Total' }), ...cells(rep.totals)),
        el('tr', {}, el('th', { scope: 'row', textContent: 'Capacity' }), el('td', { colSpan: 3 }), el('td', { id: 'report-capacity', textContent: hhmm(rep.capacity.total_minutes) }))));
  }
}

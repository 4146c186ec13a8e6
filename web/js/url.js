// @ts-check
// Your place in the URL: the view state's view, date, layout, one-day
// view, filter and selected task as the query string of the team's page
// (its path, /t/{team}/ or /, is kept). Pure: the app writes what
// `queryOf` gives with history.pushState (a navigation: Back returns to
// it) or replaceState (a small change), as `isNavigation` says, and sets
// the view state from `stateOf` at load and on popstate.
//
//   ?view=month|week  date=YYYY-MM-DD  layout=person  day=1
//    task=UUID  services=ID,ID  people=ID,ID
//
// Fields at their defaults (week, time layout, seven days, no filter, no
// selection) are left out, so a plain link stays plain.

import { ymd, dateOf, weekStart } from './model.js';

/** @typedef {import('./model.js').Filter} Filter */

/**
 * The part of the view state the URL holds.
 * @typedef {{view: import('./model.js').ViewName, date: number, layout: import('./model.js').LayoutName,
 *   collapsed: boolean, filter: Filter|null, selection: string|null}} Place
 */

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "2026-12-01" for a date (days since 1970-01-01). @param {number} date */
export function isoDate(date) {
  const { y, m, d } = ymd(date);
  return `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** The date of "2026-12-01", or null when it is not a real one. @param {string|null} s */
export function parseDate(s) {
  const m = s && /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const date = dateOf(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return isoDate(date) === s ? date : null;
}

/**
 * The query string (without "?") for a place. `dayless` leaves out the
 * one-day flag (a phone shows one day whatever the link says).
 * @param {Place} p @param {{dayless?: boolean}} [o]
 */
export function queryOf(p, o = {}) {
  const q = new URLSearchParams();
  if (p.view === 'month') q.set('view', 'month');
  q.set('date', isoDate(p.date));
  if (p.layout === 'person') q.set('layout', 'person');
  if (p.collapsed && !o.dayless) q.set('day', '1');
  if (p.selection) q.set('task', p.selection);
  if (p.filter?.services) q.set('services', [...p.filter.services].sort().join(','));
  if (p.filter?.assignees) q.set('people', [...p.filter.assignees].sort().join(','));
  return q.toString().replaceAll('%2C', ',');
}

/**
 * What a query string says, as a patch for the view state. A query with a
 * date is a whole place (what `queryOf` writes): a field it leaves out is
 * at its default. Without one, only the fields it names are set. A bad
 * date or id is ignored, never an error: a link typed by hand opens what
 * it can. `any` says whether it named a place at all (then it wins over
 * the user's saved profile).
 * @param {string} search  location.search, with or without "?"
 * @returns {{patch: Partial<Place>, any: boolean}}
 */
export function stateOf(search) {
  const q = new URLSearchParams(search);
  const whole = parseDate(q.get('date')) !== null;
  /** @type {Partial<Place>} */
  const patch = whole ? { view: 'week', layout: 'time', collapsed: false, selection: null, filter: null } : {};
  const date = parseDate(q.get('date'));
  if (date !== null) patch.date = date;
  const view = q.get('view');
  if (view === 'month' || view === 'week') patch.view = view;
  const layout = q.get('layout');
  if (layout === 'person' || layout === 'time') patch.layout = layout;
  if (q.has('day')) patch.collapsed = q.get('day') === '1';
  const task = q.get('task');
  if (task && ID.test(task)) patch.selection = task.toLowerCase();
  const ids = (/** @type {string} */ k) => {
    const xs = (q.get(k) || '').split(',').filter((x) => ID.test(x)).map((x) => x.toLowerCase());
    return xs.length ? new Set(xs) : null;
  };
  const services = ids('services'), assignees = ids('people');
  if (services || assignees) patch.filter = { services, assignees };
  return { patch, any: Object.keys(patch).length > 0 };
}

/**
 * Whether going from place a to place b is a navigation (a new history
 * entry, which Back returns from) or a small change (the entry is
 * replaced): another week, day (one-day view) or month, another view,
 * layout or one-day switch, another selected task are navigations; a date
 * inside the same week, or a filter, is not.
 * @param {Place} a @param {Place} b @param {number} firstDay
 */
export function isNavigation(a, b, firstDay) {
  if (a.view !== b.view || a.layout !== b.layout || a.collapsed !== b.collapsed || a.selection !== b.selection) return true;
  if (b.view === 'month') return ymd(a.date).m !== ymd(b.date).m || ymd(a.date).y !== ymd(b.date).y;
  if (b.collapsed) return a.date !== b.date;
  return weekStart(a.date, firstDay) !== weekStart(b.date, firstDay);
}

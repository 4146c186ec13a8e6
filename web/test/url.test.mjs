// The place in the URL: what url.js writes and reads back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryOf, stateOf, isNavigation, isoDate, parseDate } from '../js/url.js';
import { dateOf } from '../js/model.js';

const ID = (n) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const dec1 = dateOf(2026, 11, 1); // a Tuesday
const place = (over = {}) => ({ view: 'week', date: dec1, layout: 'time', collapsed: false, filter: null, selection: null, ...over });

test('dates are written and read as YYYY-MM-DD; impossible ones are refused', () => {
  assert.equal(isoDate(dec1), '2026-12-01');
  assert.equal(parseDate('2026-12-01'), dec1);
  for (const bad of ['2026-02-30', '2026-13-01', '26-12-01', '', null, '2026-12-01x']) assert.equal(parseDate(bad), null, String(bad));
});

test('a place at its defaults is only its date', () => {
  assert.equal(queryOf(place()), 'date=2026-12-01');
});

test('every field goes through the URL and back', () => {
  const p = place({ view: 'month', layout: 'person', collapsed: true, selection: ID(7), filter: { services: new Set([ID(2), ID(1)]), assignees: new Set([ID(3)]) } });
  const q = queryOf(p);
  assert.equal(q, `view=month&date=2026-12-01&layout=person&day=1&task=${ID(7)}&services=${ID(1)},${ID(2)}&people=${ID(3)}`);
  assert.deepEqual(stateOf(`?${q}`), { patch: p, any: true });
  assert.equal(queryOf(p, { dayless: true }).includes('day='), false, 'a phone\'s one day is not written');
});

test('a whole place sets what it leaves out to the default; a partial link sets only what it names', () => {
  assert.deepEqual(stateOf('?date=2026-12-01').patch, place());
  assert.deepEqual(stateOf(`?task=${ID(5).toUpperCase()}`).patch, { selection: ID(5) });
  assert.deepEqual(stateOf('?guide=1'), { patch: {}, any: false });
  assert.deepEqual(stateOf('?date=2026-02-31&layout=person&task=nope&services=x,y').patch, { layout: 'person' }, 'bad values are ignored');
});

test('another week, view, layout, day view or selection is a navigation; a day in the week or a filter is not', () => {
  const fd = 0; // weeks start on Monday
  assert.equal(isNavigation(place(), place({ date: dec1 + 7 }), fd), true);
  assert.equal(isNavigation(place(), place({ date: dec1 + 1 }), fd), false);
  assert.equal(isNavigation(place(), place({ date: dec1 - 1 }), fd), false, 'Monday 30 Nov is in the same week');
  assert.equal(isNavigation(place(), place({ date: dec1 - 2 }), fd), true);
  assert.equal(isNavigation(place({ collapsed: true }), place({ collapsed: true, date: dec1 + 1 }), fd), true);
  assert.equal(isNavigation(place({ view: 'month' }), place({ view: 'month', date: dec1 + 20 }), fd), false);
  assert.equal(isNavigation(place({ view: 'month' }), place({ view: 'month', date: dec1 + 31 }), fd), true);
  assert.equal(isNavigation(place(), place({ layout: 'person' }), fd), true);
  assert.equal(isNavigation(place(), place({ selection: ID(1) }), fd), true);
  assert.equal(isNavigation(place(), place({ filter: { services: new Set([ID(1)]), assignees: null } }), fd), false);
});

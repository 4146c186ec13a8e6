// @ts-check
// The days off pane of the admin panel: the team's holidays (an admin adds
// and removes them) and time off (each member their own, an admin
// anyone's). Every change is a game command whose event every open page
// applies; the world says no in its own words (an overlap, a bad range).

import { ZERO_ID } from './codec.js';

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};
const iso = (d) => new Date(d * 86400000).toISOString().slice(0, 10);
const day = (s) => Date.parse(`${s}T00:00:00Z`) / 86400000;

/**
 * Draws the pane into body.
 * @param {any} panel the AdminPanel: app (world, conn, readOnly, conn.welcome), admin, act(fn)
 * @param {HTMLElement} body
 */
export function daysOffPane(panel, body) {
  const { world, conn, readOnly } = panel.app;
  const me = conn.welcome?.user ?? ZERO_ID;
  const holidays = [...world.holidays].sort((a, b) => a[0] - b[0]).map(([date, name]) => el('tr', {},
    el('td', { textContent: iso(date) }), el('td', { textContent: name }),
    el('td', {}, panel.admin ? el('button', { type: 'button', textContent: 'Remove', on: { click: () => panel.act(() => conn.send({ type: 'RemoveHoliday', date })) } }) : '')));
  const hDate = el('input', { type: 'date', name: 'holiday-date', required: true });
  const hName = el('input', { name: 'holiday-name', placeholder: 'Name (New Year)', maxLength: 64, required: true });
  const addHoliday = el('form', { className: 'row', on: { submit: (e) => { e.preventDefault(); panel.act(() => conn.send({ type: 'AddHoliday', date: day(hDate.value), name: hName.value.trim() })); } } },
    hDate, hName, el('button', { type: 'submit', textContent: 'Add holiday' }));

  const people = [...world.users].sort((a, b) => a[1].localeCompare(b[1]));
  const offs = [...world.timeOff.values()].sort((a, b) => a.from - b.from).map((o) => el('tr', {},
    el('td', { textContent: world.users.get(o.user) || 'someone' }), el('td', { textContent: o.from === o.to ? iso(o.from) : `${iso(o.from)} – ${iso(o.to)}` }),
    el('td', { textContent: o.note }),
    el('td', {}, !readOnly && (panel.admin || o.user === me) ? el('button', { type: 'button', textContent: 'Remove', on: { click: () => panel.act(() => conn.send({ type: 'RemoveTimeOff', id: o.id, user: o.user })) } }) : '')));
  const who = el('select', { name: 'time-off-user' }, ...(panel.admin ? people : people.filter(([id]) => id === me)).map(([id, name]) => new Option(name, id, false, id === me)));
  const from = el('input', { type: 'date', name: 'time-off-from', required: true });
  const to = el('input', { type: 'date', name: 'time-off-to', required: true });
  const note = el('input', { name: 'time-off-note', placeholder: 'Note (optional)', maxLength: 64 });
  const addOff = el('form', { className: 'row', on: { submit: (e) => { e.preventDefault(); panel.act(() => conn.send({ type: 'AddTimeOff', user: who.value, from: day(from.value), to: day(to.value || from.value), note: note.value.trim() })); } } },
    who, from, '–', to, note, el('button', { type: 'submit', textContent: 'Add time off' }));

  body.append(
    el('h3', { textContent: 'Holidays' }),
    el('p', { className: 'muted', textContent: 'The whole team\'s non-working days: left out of everyone\'s capacity in reports.' }),
    ...(panel.admin ? [addHoliday] : []),
    holidays.length ? el('table', {}, ...holidays) : el('p', { className: 'muted', textContent: 'No holiday yet.' }),
    el('h3', { textContent: 'Time off' }),
    ...(readOnly ? [] : [addOff]),
    offs.length ? el('table', {}, ...offs) : el('p', { className: 'muted', textContent: 'No time off yet.' }));
}

// @ts-check
// Saved views and the filter. A saved view is one of the user's profiles
// on the team's JSON API (GET/PUT/DELETE /api/profiles/{name}, POST
// …/activate): week or month, the date, the services and people shown,
// one day or seven, and the layout. Applying one sets the ViewState; the
// active one comes back in the Welcome. A filter, however it was set, is
// always on screen as chips that remove it; the grid, the month and the
// staging list all show only what it lets through (model.matches).

import { api } from './team.js';
import { ymd } from './model.js';
import { ZERO_ID } from './codec.js';

/** @typedef {import('./model.js').ViewState} ViewState @typedef {import('./model.js').Filter} Filter */
/**
 * A profile as the JSON API holds it.
 * @typedef {{name?: string, view: 'week'|'month', date: string, services: string[], assignees: string[], collapsed: boolean, layout: 'time'|'person', active?: boolean}} Profile
 */

const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');

/**
 * The profile that saves what the state shows. `phoneDay`: the one day is
 * the phone's doing, not the user's, so it is not saved.
 * @param {ViewState} st @param {boolean} [phoneDay]
 * @returns {Profile}
 */
export function profileOf(st, phoneDay = false) {
  const { y, m, d } = ymd(st.date);
  return {
    view: st.view,
    date: `${y}-${pad(m + 1)}-${pad(d)}`,
    services: st.filter?.services ? [...st.filter.services].sort() : [],
    assignees: st.filter?.assignees ? [...st.filter.assignees].sort() : [],
    collapsed: st.collapsed && !phoneDay,
    layout: st.layout,
  };
}

/**
 * The ViewState patch a profile asks for; a field it lacks or gets wrong
 * leaves that part of the view alone (an empty date: today stays).
 * @param {any} p
 * @returns {Partial<Pick<ViewState, 'view'|'date'|'layout'|'collapsed'|'filter'>>}
 */
export function patchOf(p) {
  /** @type {Partial<Pick<ViewState, 'view'|'date'|'layout'|'collapsed'|'filter'>>} */
  const patch = {};
  if (!p || typeof p !== 'object') return patch;
  if (typeof p.date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(p.date)) {
    const date = Date.parse(`${p.date}T00:00:00Z`) / 86400000;
    if (Number.isFinite(date)) patch.date = date;
  }
  patch.view = p.view === 'month' ? 'month' : 'week';
  patch.layout = p.layout === 'person' ? 'person' : 'time';
  patch.collapsed = !!p.collapsed;
  const set = (/** @type {unknown} */ xs) => (Array.isArray(xs) && xs.length ? new Set(xs.map(String)) : null);
  const services = set(p.services), assignees = set(p.assignees);
  patch.filter = services || assignees ? { services, assignees } : null;
  return patch;
}

/**
 * The filter without one service or person (null when nothing is left).
 * @param {Filter|null} f @param {'services'|'assignees'} kind @param {string} id
 * @returns {Filter|null}
 */
export function without(f, kind, id) {
  if (!f) return null;
  const left = f[kind] ? new Set(f[kind]) : null;
  left?.delete(id);
  const next = { ...f, [kind]: left && left.size ? left : null };
  return next.services || next.assignees ? next : null;
}

/**
 * The filter with a service or person shown or not. Nothing chosen in a
 * kind means every one of it is shown.
 * @param {Filter|null} f @param {'services'|'assignees'} kind @param {string} id @param {boolean} on
 * @returns {Filter|null}
 */
export function toggled(f, kind, id, on) {
  if (!on) return without(f, kind, id);
  const cur = f?.[kind] ? new Set(f[kind]) : new Set();
  cur.add(id);
  return { services: f?.services ?? null, assignees: f?.assignees ?? null, [kind]: cur };
}

const el = (/** @type {string} */ tag, /** @type {Record<string, any>} */ props = {}, /** @type {(Node|string)[]} */ ...kids) => {
  const e = /** @type {any} */ (document.createElement(tag));
  for (const [k, v] of Object.entries(props)) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return /** @type {HTMLElement} */ (e);
};

/**
 * The Views popover (saved views, save as, the filter) behind the
 * header's Views button, and the chips of the active filter.
 *
 * It needs of the page: `state` (the ViewState), `world`, `base`, `grid`
 * (setCollapsed), `phone` (a MediaQueryList), `phoneDay`, and `showView()`
 * and `renderStaging()` to redraw after it changed the state.
 */
export class ViewsPanel {
  /** @param {any} app @param {{button: HTMLElement, chips: HTMLElement}} where */
  constructor(app, { button, chips }) {
    this.app = app;
    this.button = button;
    this.chips = chips;
    /** @type {string} the active saved view's name ('' for none) */
    this.active = '';
    this.pop = el('div', { id: 'views', className: 'views-pop', role: 'dialog', 'aria-label': 'Saved views and filter', hidden: true });
    document.body.append(this.pop);
    button.setAttribute('aria-controls', 'views');
    button.setAttribute('aria-expanded', 'false');
    button.onclick = () => (this.pop.hidden ? this.open() : this.close());
    document.addEventListener('pointerdown', (e) => {
      const t = /** @type {HTMLElement} */ (e.target);
      if (!this.pop.hidden && !t.closest('#views') && t !== button) this.close();
    });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !this.pop.hidden) { this.close(); button.focus(); } });
  }

  t(/** @type {string} */ path) { return this.app.base + path; }

  /**
   * Applies a profile (an object, or the Welcome's JSON: unreadable is
   * ignored) to the view.
   * @param {any} p
   */
  apply(p) {
    if (typeof p === 'string') { try { p = p ? JSON.parse(p) : null; } catch { p = null; } }
    if (!p) return;
    const app = this.app, patch = patchOf(p);
    if (typeof p.name === 'string') this.active = p.name;
    // A phone shows one day whatever the view says.
    if (app.phone.matches && !patch.collapsed) { patch.collapsed = true; app.phoneDay = true; }
    app.state.set(patch);
    app.grid.setCollapsed(app.state.collapsed);
    this.redraw();
  }

  /** The filter changed here: every view of the tasks follows. @param {Filter|null} f */
  setFilter(f) {
    this.app.state.set({ filter: f });
    this.redraw();
  }

  redraw() {
    this.app.showView();
    this.app.renderStaging();
    this.renderChips();
    if (!this.pop.hidden) this.renderFilter();
  }

  /** The world changed (a service renamed, a person joined): names follow. */
  changed() {
    this.renderChips();
    if (!this.pop.hidden) this.renderFilter();
  }

  /** The active filter as chips, each with a × that removes it. */
  renderChips() {
    const f = this.app.state.filter, w = this.app.world;
    this.button.classList.toggle('filtered', !!f);
    this.button.textContent = this.active ? `View: ${this.active}` : 'Views';
    if (!f) { this.chips.hidden = true; this.chips.replaceChildren(); return; }
    /** @type {HTMLElement[]} */
    const chips = [];
    const chip = (/** @type {'services'|'assignees'} */ kind, /** @type {string} */ id, /** @type {string} */ name, /** @type {string} */ what) => {
      const x = el('button', { type: 'button', className: 'x', textContent: '×', title: `Show every ${what} again: remove ${name} from the filter`, 'aria-label': `Remove ${name} from the filter` });
      x.onclick = () => this.setFilter(without(this.app.state.filter, kind, id));
      const c = el('span', { className: `chip chip-${kind}` }, el('span', { className: 'what', textContent: what === 'service' ? 'Service' : 'Person' }), ` ${name} `, x);
      c.dataset.id = id;
      chips.push(c);
    };
    for (const id of f.services ?? []) chip('services', id, w.serviceName(id) || 'a removed service', 'service');
    for (const id of f.assignees ?? []) chip('assignees', id, id === ZERO_ID ? 'Unassigned' : w.users.get(id) || 'someone', 'person');
    const clear = el('button', { type: 'button', className: 'clear', textContent: 'Show everything', on: { click: () => this.setFilter(null) } });
    this.chips.replaceChildren(el('span', { className: 'muted', textContent: 'Showing only:' }), ...chips, clear);
    this.chips.hidden = false;
  }

  async open() {
    this.pop.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    const r = this.button.getBoundingClientRect();
    this.pop.style.top = `${r.bottom + 4}px`;
    this.pop.style.left = `${Math.max(4, Math.min(r.left, innerWidth - this.pop.offsetWidth - 4))}px`;
    this.error = el('p', { className: 'error', role: 'alert' });
    this.saved = el('ul', { className: 'saved' });
    this.filterBox = el('div', { className: 'filter' });
    const name = /** @type {HTMLInputElement} */ (el('input', { name: 'view-name', placeholder: 'Name this view', maxLength: 64, required: true, value: this.active }));
    const save = el('form', { className: 'row', on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); this.save(name.value.trim()); } } },
      name, el('button', { type: 'submit', textContent: 'Save view' }));
    this.pop.replaceChildren(
      el('h3', { textContent: 'Saved views' }), this.saved, save, this.error,
      el('h3', { textContent: 'Show only' }), this.filterBox);
    this.renderFilter();
    await this.list();
    this.pop.style.left = `${Math.max(4, Math.min(r.left, innerWidth - this.pop.offsetWidth - 4))}px`;
  }

  close() { this.pop.hidden = true; this.button.setAttribute('aria-expanded', 'false'); }

  /** @param {unknown} err */
  fail(err) { if (this.error) this.error.textContent = err instanceof Error ? err.message : String(err); }

  async list() {
    let list;
    try { list = /** @type {Profile[]} */ (await api('GET', this.t('/api/profiles'))); } catch (err) { return this.fail(err); }
    list.sort((a, b) => (a.name || '').localeCompare(b.name || ''));
    const act = list.find((p) => p.active);
    this.active = act?.name || '';
    this.renderChips();
    this.saved.replaceChildren(...(list.length ? list.map((p) => {
      const name = p.name || '';
      const go = el('button', { type: 'button', className: `go${p.active ? ' on' : ''}`, textContent: name, title: `Show the view ${name}`, on: { click: () => this.switchTo(p) } });
      const del = el('button', { type: 'button', className: 'danger', textContent: 'Delete', 'aria-label': `Delete the view ${name}`, on: { click: () => this.remove(name) } });
      const li = el('li', {}, go, del);
      li.dataset.name = name;
      return li;
    }) : [el('li', { className: 'muted', textContent: 'None yet: set the view as you like it, name it, save it.' })]));
  }

  /** @param {string} name */
  async save(name) {
    if (!name) return;
    this.fail('');
    try {
      await api('PUT', this.t(`/api/profiles/${encodeURIComponent(name)}`), profileOf(this.app.state, this.app.phoneDay));
      await api('POST', this.t(`/api/profiles/${encodeURIComponent(name)}/activate`));
      this.active = name;
    } catch (err) { return this.fail(err); }
    await this.list();
  }

  /** @param {Profile} p */
  async switchTo(p) {
    this.fail('');
    this.apply(p);
    try { await api('POST', this.t(`/api/profiles/${encodeURIComponent(p.name || '')}/activate`)); } catch (err) { return this.fail(err); }
    await this.list();
  }

  /** @param {string} name */
  async remove(name) {
    this.fail('');
    try { await api('DELETE', this.t(`/api/profiles/${encodeURIComponent(name)}`)); } catch (err) { return this.fail(err); }
    if (this.active === name) this.active = '';
    await this.list();
  }

  /** The filter's choices: every service and person, ticked when shown by choice. */
  renderFilter() {
    const f = this.app.state.filter, w = this.app.world;
    /** @param {'services'|'assignees'} kind @param {[string, string][]} entries @param {string} title */
    const group = (kind, entries, title) => el('fieldset', { className: `pick pick-${kind}` }, el('legend', { textContent: title }),
      ...entries.map(([id, name]) => {
        const box = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', checked: !!f?.[kind]?.has(id), value: id }));
        box.onchange = () => this.setFilter(toggled(this.app.state.filter, kind, id, box.checked));
        return el('label', {}, box, ` ${name}`);
      }),
      el('small', { className: 'muted', textContent: f?.[kind] ? '' : `None ticked: every ${kind === 'services' ? 'service' : 'person'} is shown.` }));
    const services = [...w.services.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => /** @type {[string, string]} */ ([s.id, s.archived ? `${s.name} (archived)` : s.name]));
    const people = [.../** @type {Map<string, string>} */ (w.users)].sort((a, b) => a[1].localeCompare(b[1]));
    this.filterBox.replaceChildren(group('services', services, 'Services'), group('assignees', [...people, [ZERO_ID, 'Unassigned']], 'People'));
  }
}

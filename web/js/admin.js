// The team's administration and the user's own account, in one panel:
// members, services and settings for a team's admins; password and
// sessions for everyone. Every refusal is shown in the server's words.

import { api } from './team.js';
import { daysOffPane } from './daysoff.js';

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return e;
};
const hex = (c) => `#${(c >>> 0).toString(16).padStart(6, '0')}`;
const hm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const minutes = (s) => { const [h, m] = s.split(':').map(Number); return h * 60 + m; };
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const ROLES = ['admin', 'member', 'viewer'];

export class AdminPanel {
  /**
   * @param {object} app  the page: base, world, conn, serviceColour(id)
   * @param {boolean} admin  whether the user is this team's admin
   */
  constructor(app, admin) {
    this.app = app;
    this.admin = admin;
    this.tab = admin ? 'members' : 'account';
    this.dialog = el('dialog', { id: 'admin', className: 'admin' });
    document.body.append(this.dialog);
  }

  open(tab) {
    if (tab) this.tab = tab;
    if (!this.dialog.open) this.dialog.showModal();
    this.render();
  }

  /** The world changed: the services tab draws from it. */
  changed() {
    if (!this.dialog.open) return;
    if (this.tab === 'services') this.render();
    // The days off pane has forms: redraw it only when its lists change.
    const w = this.app.world, seen = `${w.daysOffChanges}/${w.users.size}`;
    if (this.tab === 'daysoff' && seen !== this.daysOffSeen) { this.daysOffSeen = seen; this.render(); }
  }

  async render() {
    const tabs = this.admin ? [['members', 'Members'], ['services', 'Services'], ['daysoff', 'Days off'], ['settings', 'Settings'], ['account', 'My account']] : [['daysoff', 'Days off'], ['account', 'My account']];
    const head = el('nav', { className: 'tabs' }, ...tabs.map(([id, name]) => el('button', { type: 'button', className: id === this.tab ? 'on' : '', textContent: name, on: { click: () => { this.tab = id; this.render(); } } })),
      el('span', { className: 'spacer' }), el('button', { type: 'button', textContent: 'Close', on: { click: () => this.dialog.close() } }));
    this.error = el('p', { className: 'error', role: 'alert' });
    const body = el('section', { className: `pane pane-${this.tab}` });
    this.dialog.replaceChildren(head, this.error, body);
    try {
      await this[this.tab](body);
    } catch (err) { this.fail(err); }
  }

  fail(err) { this.error.textContent = err.message; }

  /** Runs fn, shows its refusal, redraws the tab when it succeeds. */
  async act(fn) {
    this.error.textContent = '';
    try { await fn(); await this.render(); } catch (err) { this.fail(err); }
  }

  t(path) { return this.app.base + path; }

  async members(body) {
    const list = await api('GET', this.t('/api/members'));
    const link = el('p', { className: 'invite-link' });
    const roleSel = (value) => el('select', { 'aria-label': 'Role' }, ...ROLES.map((r) => new Option(r, r, false, r === value)));
    const inviteRole = roleSel('member');
    const invite = el('form', { className: 'row', on: { submit: async (e) => {
      e.preventDefault();
      this.error.textContent = '';
      try {
        const res = await api('POST', this.t('/api/invites'), { role: inviteRole.value });
        const input = el('input', { readOnly: true, value: res.url, className: 'link', name: 'invite-url' });
        link.replaceChildren('Send this link to the person (it works once, until ', new Date(res.expires).toLocaleString(), '): ', input,
          el('button', { type: 'button', textContent: 'Copy', on: { click: () => { input.select(); navigator.clipboard?.writeText(res.url).catch(() => {}); } } }));
      } catch (err) { this.fail(err); }
    } } }, el('b', { textContent: 'Invite' }), ' as ', inviteRole, el('button', { type: 'submit', textContent: 'Make a one-time link' }));
    const name = el('input', { name: 'new-name', placeholder: 'user name', required: true });
    const pass = el('input', { name: 'new-password', type: 'password', placeholder: 'password (new account)', autocomplete: 'new-password' });
    const createRole = roleSel('member');
    const create = el('form', { className: 'row', on: { submit: (e) => { e.preventDefault(); this.act(() => api('POST', this.t('/api/members'), { name: name.value.trim(), password: pass.value, role: createRole.value })); } } },
      el('b', { textContent: 'Add' }), name, pass, createRole, el('button', { type: 'submit', textContent: 'Add member' }));
    const rows = list.map((m) => {
      const role = roleSel(m.role);
      role.onchange = () => this.act(() => api('PUT', this.t(`/api/members/${encodeURIComponent(m.name)}`), { role: role.value }));
      const sessions = el('div', { className: 'sessions' });
      return el('tr', {},
        el('td', { textContent: m.name }), el('td', {}, role),
        el('td', {},
          el('button', { type: 'button', textContent: 'Reset password', on: { click: () => {
            const p = prompt(`A new password for ${m.name}:`);
            if (p) this.act(() => api('POST', this.t(`/api/members/${encodeURIComponent(m.name)}/password`), { password: p }));
          } } }),
          el('button', { type: 'button', textContent: 'Sessions', on: { click: async () => {
            try {
              const ss = await api('GET', this.t(`/api/members/${encodeURIComponent(m.name)}/sessions`));
              sessions.replaceChildren(`${ss.length} session${ss.length === 1 ? '' : 's'}`, ...ss.map((s) => el('div', { className: 'muted', textContent: `since ${new Date(s.created).toLocaleString()}${s.current ? ' (this one)' : ''}` })),
                ss.length ? el('button', { type: 'button', textContent: 'End all', on: { click: () => this.act(() => api('DELETE', this.t(`/api/members/${encodeURIComponent(m.name)}/sessions`))) } }) : '');
            } catch (err) { this.fail(err); }
          } } }),
          el('button', { type: 'button', className: 'danger', textContent: 'Remove', on: { click: () => {
            if (confirm(`Remove ${m.name} from the team?`)) this.act(() => api('DELETE', this.t(`/api/members/${encodeURIComponent(m.name)}`)));
          } } }),
          sessions));
    });
    body.append(el('h3', { textContent: 'Members' }), el('table', { className: 'members' }, ...rows), invite, link, create);
  }

  async services(body) {
    const w = this.app.world;
    const name = el('input', { name: 'service-name', placeholder: 'New service', required: true });
    const create = el('form', { className: 'row', on: { submit: (e) => { e.preventDefault(); this.act(() => api('POST', this.t('/api/services'), { name: name.value.trim() })); } } },
      name, el('button', { type: 'submit', textContent: 'Create service' }));
    const rows = [...w.services.values()].sort((a, b) => a.name.localeCompare(b.name)).map((s) => {
      const n = el('input', { value: s.name, className: 'service-name' });
      n.onchange = () => this.act(() => api('PUT', this.t(`/api/services/${s.id}`), { name: n.value.trim() }));
      const colour = el('input', { type: 'color', value: hex(this.app.colourOf(s.id)) });
      colour.onchange = () => this.act(() => this.app.conn.send({ type: 'RecolorService', service: s.id, color: parseInt(colour.value.slice(1), 16) }));
      const arch = el('button', { type: 'button', textContent: s.archived ? 'Restore' : 'Archive', on: { click: () => this.act(() => this.app.conn.send({ type: 'ArchiveService', service: s.id, archived: !s.archived })) } });
      return el('tr', { className: s.archived ? 'archived' : '' }, el('td', {}, n), el('td', {}, colour), el('td', {}, arch, s.archived ? el('span', { className: 'muted', textContent: ' archived: takes no new tasks' }) : ''));
    });
    body.append(el('h3', { textContent: 'Services' }), create,
      rows.length ? el('table', {}, ...rows) : el('p', { className: 'muted', textContent: 'No service yet: every task is filed under one. Create the first one above.' }));
  }

  async daysoff(body) { daysOffPane(this, body); }

  async settings(body) {
    const s = await api('GET', this.t('/api/settings'));
    const grid = el('input', { type: 'number', name: 'grid', min: 1, max: 60, value: s.grid });
    const start = el('input', { type: 'time', name: 'workday_start', value: hm(s.workday_start) });
    const end = el('input', { type: 'time', name: 'workday_end', value: hm(s.workday_end) });
    const first = el('select', { name: 'first_day_of_week' }, ...DAYS.map((d, i) => new Option(d, String(i), false, i === s.first_day_of_week)));
    const zone = el('input', { name: 'time_zone', value: s.time_zone, placeholder: 'Europe/Berlin' });
    // Working days: a bit a weekday, bit 0 Monday … bit 6 Sunday.
    const mask = s.working_days ?? 0x1f;
    const days = DAYS.map((d, i) => el('input', { type: 'checkbox', name: `working_day_${i}`, checked: ((mask >> i) & 1) === 1, ariaLabel: d }));
    const saved = el('span', { className: 'muted' });
    const form = el('form', { className: 'settings', on: { submit: (e) => {
      e.preventDefault();
      this.act(async () => {
        const working = days.reduce((m, box, i) => (/** @type {HTMLInputElement} */ (box).checked ? m | (1 << i) : m), 0);
        await api('PUT', this.t('/api/settings'), { grid: Number(grid.value), workday_start: minutes(start.value), workday_end: minutes(end.value), first_day_of_week: Number(first.value), time_zone: zone.value.trim(), working_days: working });
      });
    } } },
    el('label', {}, 'Grid (minutes a drag snaps to) ', grid),
    el('label', {}, 'Working hours from ', start, ' to ', end),
    el('label', {}, 'First day of the week ', first),
    el('fieldset', { className: 'working-days' }, el('legend', { textContent: 'Working days (the others are shaded and count no capacity)' }),
      ...days.map((box, i) => el('label', {}, box, ` ${DAYS[i].slice(0, 3)}`))),
    el('label', {}, 'Time zone ', zone),
    el('div', {}, el('button', { type: 'submit', textContent: 'Save settings' }), ' ', saved),
    el('p', { className: 'muted', textContent: 'A change shows on every open page of the team at once.' }));
    body.append(el('h3', { textContent: 'The team\'s settings' }), form);
  }

  async account(body) {
    const ss = await api('GET', '/api/me/sessions');
    const old = el('input', { type: 'password', name: 'old_password', placeholder: 'current password', autocomplete: 'current-password', required: true });
    const neu = el('input', { type: 'password', name: 'new_password', placeholder: 'new password', autocomplete: 'new-password', required: true });
    const done = el('span', { className: 'muted' });
    const pw = el('form', { className: 'row', on: { submit: async (e) => {
      e.preventDefault();
      this.error.textContent = '';
      try { await api('PUT', '/api/me/password', { old_password: old.value, new_password: neu.value }); old.value = neu.value = ''; done.textContent = 'Password changed.'; } catch (err) { this.fail(err); }
    } } }, old, neu, el('button', { type: 'submit', textContent: 'Change password' }), done);
    const rows = ss.map((s) => el('tr', {}, el('td', { textContent: `since ${new Date(s.created).toLocaleString()}` }), el('td', { textContent: `until ${new Date(s.expires).toLocaleString()}` }),
      el('td', {}, s.current ? el('b', { textContent: 'this page' }) : el('button', { type: 'button', textContent: 'End', on: { click: () => this.act(() => api('DELETE', `/api/me/sessions/${s.id}`)) } }))));
    body.append(el('h3', { textContent: 'My password' }), pw, el('h3', { textContent: 'My sessions' }), el('table', { className: 'sessions' }, ...rows));
  }
}

// @ts-check
// The deployment admin's screen ("Server"): the server's teams (create,
// rename, archive) and its accounts (create, make or unmake a server
// admin, reset a password, delete), over the deployment's JSON API
// (/api/teams, /api/accounts: no team base). Only a user whose /api/me
// says admin sees the button; the server refuses everyone else anyway.
// Every refusal is shown in the server's words.

import { api } from './team.js';

const el = (/** @type {string} */ tag, /** @type {Record<string, any>} */ props = {}, /** @type {(Node|string)[]} */ ...kids) => {
  const e = /** @type {any} */ (document.createElement(tag));
  for (const [k, v] of Object.entries(props)) {
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...kids);
  return /** @type {HTMLElement} */ (e);
};
const input = (/** @type {Record<string, any>} */ props) => /** @type {HTMLInputElement} */ (el('input', props));

/**
 * @typedef {{slug: string, name: string, archived?: boolean, created?: string}} Team
 * @typedef {{id: string, name: string, admin: boolean, created: string, teams: Record<string, string>}} Account
 */

export class ServerPanel {
  /** @param {{name: string}} me the user, from /api/me */
  constructor(me) {
    this.me = me;
    this.dialog = /** @type {HTMLDialogElement} */ (el('dialog', { id: 'server', className: 'admin server', 'aria-label': 'The server: teams and accounts' }));
    document.body.append(this.dialog);
  }

  /**
   * Shows the Server button (one the page has, or a new one after
   * `after`) for a deployment admin only.
   * @param {any} me @param {HTMLElement|null} button
   */
  static mount(me, button) {
    if (!button) return null;
    button.hidden = !me?.admin;
    if (!me?.admin) return null;
    const panel = new ServerPanel(me);
    button.onclick = () => panel.open();
    return panel;
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
    return this.render();
  }

  async render() {
    this.error = el('p', { className: 'error', role: 'alert' });
    const head = el('nav', { className: 'tabs' }, el('b', { textContent: 'The server' }),
      el('span', { className: 'muted', textContent: ' every team and account of this deployment' }),
      el('span', { className: 'spacer' }), el('button', { type: 'button', textContent: 'Close', on: { click: () => this.dialog.close() } }));
    const teams = el('section', { className: 'pane pane-teams' }), accounts = el('section', { className: 'pane pane-accounts' });
    this.dialog.replaceChildren(head, this.error, teams, accounts);
    try {
      const [t, a] = await Promise.all([api('GET', '/api/teams'), api('GET', '/api/accounts')]);
      this.teams(teams, t);
      this.accounts(accounts, a, t);
    } catch (err) { this.fail(err); }
  }

  /** @param {unknown} err */
  fail(err) { if (this.error) this.error.textContent = err instanceof Error ? err.message : String(err); }

  /** Runs fn, shows its refusal, draws the screen again when it succeeds. @param {() => Promise<unknown>} fn */
  async act(fn) {
    if (this.error) this.error.textContent = '';
    try { await fn(); } catch (err) { return this.fail(err); }
    await this.render();
  }

  /** @param {HTMLElement} body @param {Team[]} list */
  teams(body, list) {
    const name = input({ name: 'team-name', placeholder: 'Team name', required: true, maxLength: 64 });
    const slug = input({ name: 'team-slug', placeholder: 'address (optional)', pattern: '[a-z0-9][a-z0-9-]*', title: 'Lower-case letters, digits and dashes: the team\'s page is at /t/ADDRESS/' });
    const create = el('form', { className: 'row', on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      this.act(() => api('POST', '/api/teams', slug.value.trim() ? { name: name.value.trim(), slug: slug.value.trim() } : { name: name.value.trim() }));
    } } }, el('b', { textContent: 'New team' }), name, slug, el('button', { type: 'submit', textContent: 'Create team' }));
    const rows = list.slice().sort((a, b) => a.name.localeCompare(b.name)).map((t) => {
      const n = input({ value: t.name, className: 'team-name', 'aria-label': `The name of ${t.slug}` });
      n.onchange = () => this.act(() => api('PUT', `/api/teams/${encodeURIComponent(t.slug)}`, { name: n.value.trim() }));
      const arch = el('button', { type: 'button', textContent: t.archived ? 'Restore' : 'Archive',
        on: { click: () => this.act(() => api('PUT', `/api/teams/${encodeURIComponent(t.slug)}`, { archived: !t.archived })) } });
      const tr = el('tr', { className: t.archived ? 'archived' : '' },
        el('td', {}, n), el('td', {}, el('a', { href: `/t/${t.slug}/`, textContent: `/t/${t.slug}/` })),
        el('td', {}, arch, t.archived ? el('span', { className: 'muted', textContent: ' archived' }) : ''));
      tr.dataset.slug = t.slug;
      return tr;
    });
    body.append(el('h3', { textContent: `Teams (${list.length})` }),
      rows.length ? el('table', { className: 'teams' }, ...rows) : el('p', { className: 'muted', textContent: 'No team yet.' }), create);
  }

  /** @param {HTMLElement} body @param {Account[]} list @param {Team[]} teams */
  accounts(body, list, teams) {
    const teamName = new Map(teams.map((t) => [t.slug, t.name]));
    const name = input({ name: 'account-name', placeholder: 'user name', required: true, autocomplete: 'off' });
    const pass = input({ name: 'account-password', type: 'password', placeholder: 'password', required: true, autocomplete: 'new-password' });
    const admin = input({ type: 'checkbox', name: 'account-admin' });
    const create = el('form', { className: 'row', on: { submit: (/** @type {Event} */ e) => {
      e.preventDefault();
      this.act(() => api('POST', '/api/accounts', { name: name.value.trim(), password: pass.value, admin: admin.checked }));
    } } }, el('b', { textContent: 'New account' }), name, pass, el('label', {}, admin, ' server admin'), el('button', { type: 'submit', textContent: 'Create account' }));
    const rows = list.slice().sort((a, b) => a.name.localeCompare(b.name)).map((a) => {
      const path = `/api/accounts/${encodeURIComponent(a.name)}`;
      const roles = Object.entries(a.teams || {}).map(([slug, role]) => `${teamName.get(slug) || slug} (${role})`).join(', ');
      const isAdmin = input({ type: 'checkbox', checked: a.admin, 'aria-label': `${a.name} is a server admin` });
      isAdmin.onchange = () => this.act(() => api('PUT', path, { admin: isAdmin.checked }));
      const reset = el('span', { className: 'reset' });
      const resetBtn = el('button', { type: 'button', textContent: 'Reset password', on: { click: () => {
        const p = input({ type: 'password', name: 'reset-password', placeholder: `a new password for ${a.name}`, autocomplete: 'new-password', required: true });
        const f = el('form', { className: 'row', on: { submit: (/** @type {Event} */ e) => { e.preventDefault(); this.act(() => api('PUT', path, { password: p.value })); } } },
          p, el('button', { type: 'submit', textContent: 'Set' }));
        reset.replaceChildren(f);
        p.focus();
      } } });
      // Deleting takes a second click on the same button: no dialog box.
      const del = el('button', { type: 'button', className: 'danger', textContent: 'Delete' });
      del.onclick = () => {
        if (del.dataset.sure) return this.act(() => api('DELETE', path));
        del.dataset.sure = '1';
        del.textContent = `Really delete ${a.name}?`;
      };
      const tr = el('tr', {},
        el('td', {}, el('b', { textContent: a.name }), a.name === this.me.name ? el('span', { className: 'muted', textContent: ' (you)' }) : ''),
        el('td', { className: 'muted', textContent: roles || 'in no team' }),
        el('td', {}, el('label', {}, isAdmin, ' server admin')),
        el('td', {}, resetBtn, del, reset));
      tr.dataset.name = a.name;
      return tr;
    });
    body.append(el('h3', { textContent: `Accounts (${list.length})` }), el('table', { className: 'accounts' }, ...rows), create,
      el('p', { className: 'muted', textContent: 'A new account is in no team: a team\'s admin adds it (Admin → Members, by its name), or invites it.' }));
  }
}

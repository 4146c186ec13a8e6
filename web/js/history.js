// @ts-check
// The history of the plan, read from the server's log: the selected
// task's changes in the side panel (GET /api/tasks/{id}/history), the
// team's activity, by person and service (GET /api/activity), the
// user's calendar feeds (/api/feeds: make, list, revoke), and the
// plan as it stood at a past moment (GET /api/past: a Snapshot frame, the
// encoding the page loads on connect), drawn read-only in the grid and
// compared with now. The page's own world is never touched: the past is
// a second World the grid draws while the live one goes on following the
// server's events.

import { api } from './team.js';
import { decodeServer, ZERO_ID, NO_DATE } from './codec.js';
import { World } from './model.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const el = (/** @type {string} */ tag, /** @type {string} */ cls = '', /** @type {string} */ text = '') => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
};

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');

/** "10:41" today (unless full), else "Tue 1 Dec, 10:41". @param {string|Date} t */
export function whenWords(t, full = false, now = new Date()) {
  const d = new Date(t);
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (!full && d.toDateString() === now.toDateString()) return clock;
  return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]}, ${clock}`;
}

/** "12 Nov" (with the year when it is not this one). @param {string} t */
function dayWords(t, now = new Date()) {
  const d = new Date(t);
  return `${d.getDate()} ${MONTHS[d.getMonth()]}${d.getFullYear() === now.getFullYear() ? '' : ` ${d.getFullYear()}`}`;
}

/** Where the kept history ends, in words. @param {any} kept */
export function keptWords(kept) {
  if (!kept || kept.complete) return 'That is the whole history.';
  return kept.time ? `History kept from ${dayWords(kept.time)}.` : `History kept from revision ${kept.from}.`;
}

/**
 * One change as a list item: "moved from … to … by ann, 10:41".
 * @param {any} c @param {boolean} withTitle @param {((rev: number) => void)|null} open
 */
function changeItem(c, withTitle, open) {
  const li = el('li', 'change');
  li.dataset.revision = String(c.revision);
  const what = el('span', 'what', withTitle && c.title ? `“${c.title}”: ${c.text}` : c.text);
  const who = el('span', 'who muted', ` by ${c.actor_name}, ${whenWords(c.time)}`);
  li.append(what, who);
  if (open) {
    const b = /** @type {HTMLButtonElement} */ (el('button', 'link then', 'see then'));
    b.title = 'Open the plan as it stood right after this change';
    b.onclick = () => open(c.revision);
    li.append(' ', b);
  }
  return li;
}

/**
 * The history of the plan for one page. app is the page (app.js): its
 * base, world, grid and state are read; the page calls taskSelected()
 * when the selection changes and changed() when the world does, and
 * refuses commands while past is set.
 */
export class History {
  /** @param {any} app */
  constructor(app) {
    this.app = app;
    /** @type {World|null} the past being shown, or null for now */
    this.past = null;
    this.pastRevision = 0;
    this.taskId = /** @type {string|null} */ (null);
    this.taskNext = 0;
    this.activityNext = 0;
    $('history-section').addEventListener('toggle', () => this.taskSelected(true));
    $('history-more').onclick = () => this.loadTask(false);
    $('activity-open').onclick = () => this.toggleActivity();
    $('activity-close').onclick = () => this.toggleActivity(false);
    $('activity-more').onclick = () => this.loadActivity(false);
    $('activity-user').onchange = () => this.loadActivity(true);
    $('activity-service').onchange = () => this.loadActivity(true);
    $('past-form').onsubmit = (e) => {
      e.preventDefault();
      const v = /** @type {HTMLInputElement} */ ($('past-at')).value;
      if (v) this.openPast({ at: new Date(v).toISOString() });
    };
    $('past-back').onclick = () => this.backToNow();
    $('feeds').addEventListener('toggle', () => this.showFeeds());
    $('feed-form').onsubmit = (e) => { e.preventDefault(); this.makeFeed(); };
  }

  // ---- calendar feeds ----

  /** The feed choices and the user's feeds. */
  async showFeeds() {
    if (!/** @type {HTMLDetailsElement} */ ($('feeds')).open) return;
    const scope = /** @type {HTMLSelectElement} */ ($('feed-scope'));
    scope.replaceChildren(new Option('My tasks', 'me'), new Option('The whole team', 'team'),
      ...[...this.app.world.services.values()].map((x) => new Option(`Service: ${x.name}`, `service:${x.id}`)));
    const list = $('feed-list');
    try {
      const feeds = await api('GET', `${this.app.base}/api/feeds`);
      list.replaceChildren(...feeds.map((/** @type {any} */ f) => {
        const li = el('li', 'change');
        const what = f.scope === 'me' ? 'My tasks' : f.scope === 'team' ? 'The whole team' : `Service: ${this.app.world.services.get(f.service)?.name || 'a service'}`;
        li.append(el('span', 'what', what), el('span', 'who muted', `, made ${whenWords(f.created, true)} `));
        const b = /** @type {HTMLButtonElement} */ (el('button', 'link revoke', 'revoke'));
        b.onclick = async () => {
          try { await api('DELETE', `${this.app.base}/api/feeds/${f.id}`); } catch (e) { $('feed-note').textContent = /** @type {Error} */ (e).message; }
          this.showFeeds();
        };
        li.append(b);
        return li;
      }));
    } catch (e) {
      $('feed-note').textContent = /** @type {Error} */ (e).message;
    }
  }

  async makeFeed() {
    const v = /** @type {HTMLSelectElement} */ ($('feed-scope')).value;
    const body = v.startsWith('service:') ? { scope: 'service', service: v.slice(8) } : { scope: v };
    try {
      const f = await api('POST', `${this.app.base}/api/feeds`, body);
      const url = /** @type {HTMLInputElement} */ ($('feed-url'));
      url.value = f.url;
      url.hidden = false;
      url.select();
      $('feed-note').textContent = 'Copy this address into your calendar app now: it is shown only once.';
      this.showFeeds();
    } catch (e) {
      $('feed-note').textContent = /** @type {Error} */ (e).message;
    }
  }

  // ---- the selected task ----

  /** The selection changed (or the section opened): load its history if shown. */
  taskSelected(force = false) {
    const id = this.app.state.selection;
    const open = /** @type {HTMLDetailsElement} */ ($('history-section')).open;
    if (!open || !id) return;
    if (id === this.taskId && !force) return;
    this.taskId = id;
    this.loadTask(true);
  }

  /** Loads the task's first page (fresh) or the next older one. */
  async loadTask(fresh) {
    const id = this.taskId;
    if (!id) return;
    const list = $('history-list'), note = $('history-note');
    if (fresh) { list.replaceChildren(); this.taskNext = 0; note.textContent = 'Loading…'; }
    const q = new URLSearchParams({ limit: '20' });
    if (this.taskNext) q.set('before', String(this.taskNext));
    try {
      const page = await api('GET', `${this.app.base}/api/tasks/${id}/history?${q}`);
      if (id !== this.taskId) return; // another task was selected meanwhile
      for (const c of page.changes) list.append(changeItem(c, false, (rev) => this.openPast({ rev })));
      this.taskNext = page.next;
      $('history-more').hidden = !page.next;
      note.textContent = page.next ? '' : (list.childElementCount ? keptWords(page.kept) : `No change to it is kept. ${keptWords(page.kept)}`);
    } catch (e) {
      note.textContent = /** @type {Error} */ (e).message;
    }
  }

  // ---- the team's activity ----

  /** @param {boolean} [open] */
  toggleActivity(open) {
    const panel = $('activity');
    const show = open ?? panel.hidden;
    panel.hidden = !show;
    $('activity-open').setAttribute('aria-pressed', String(show));
    if (show) { this.fillFilters(); this.loadActivity(true); }
  }

  fillFilters() {
    const w = this.app.world;
    const fill = (/** @type {string} */ sel, /** @type {string} */ all, /** @type {[string, string][]} */ entries) => {
      const s = /** @type {HTMLSelectElement} */ ($(sel)), v = s.value;
      s.replaceChildren(new Option(all, ''), ...entries.map(([id, name]) => new Option(name, id)));
      s.value = entries.some(([id]) => id === v) ? v : '';
    };
    fill('activity-user', 'Everyone', [...w.users].filter(([id]) => id !== ZERO_ID));
    fill('activity-service', 'Every service', [...w.services.values()].map((x) => /** @type {[string, string]} */ ([x.id, x.name])));
  }

  async loadActivity(fresh) {
    const list = $('activity-list'), note = $('activity-note');
    if (fresh) { list.replaceChildren(); this.activityNext = 0; note.textContent = 'Loading…'; }
    const q = new URLSearchParams({ limit: '50' });
    if (this.activityNext) q.set('before', String(this.activityNext));
    const user = /** @type {HTMLSelectElement} */ ($('activity-user')).value, service = /** @type {HTMLSelectElement} */ ($('activity-service')).value;
    if (user) q.set('user', user);
    if (service) q.set('service', service);
    try {
      const page = await api('GET', `${this.app.base}/api/activity?${q}`);
      for (const c of page.changes) list.append(changeItem(c, true, (rev) => this.openPast({ rev })));
      this.activityNext = page.next;
      $('activity-more').hidden = !page.next;
      note.textContent = page.next ? (page.changes.length ? '' : 'Nothing in this stretch: look further back.') : keptWords(page.kept);
    } catch (e) {
      note.textContent = /** @type {Error} */ (e).message;
    }
  }

  // ---- the plan as it stood ----

  /**
   * Opens the plan as it stood at a revision or a moment: read-only, the
   * banner says when, blocks that moved or went since are outlined.
   * @param {{rev?: number, at?: string}} when
   */
  async openPast(when) {
    const q = when.rev !== undefined ? `rev=${when.rev}` : `at=${encodeURIComponent(when.at || '')}`;
    const note = $('past-note');
    note.textContent = 'Opening…';
    let r;
    try {
      r = await fetch(`${this.app.base}/api/past?${q}`, { credentials: 'same-origin' });
    } catch {
      note.textContent = 'The server cannot be reached.';
      return;
    }
    if (!r.ok) {
      const data = await r.json().catch(() => null);
      note.textContent = data?.message || `The past could not be opened (${r.status}).`;
      return;
    }
    const snap = decodeServer(new Uint8Array(await r.arrayBuffer()), true);
    const past = new World();
    past.load(snap);
    note.textContent = '';
    /** The ids the past holds; every other task drawn in it is a ghost of one added since. */
    this.pastIds = new Set(past.tasks.keys());
    /** @type {Set<string>} */
    this.ghosts = new Set();
    this.past = past; // app.send refuses every command while it is set
    this.pastRevision = Number(r.headers.get('X-Txxt-Revision'));
    const at = r.headers.get('X-Txxt-Time');
    this.app.grid.world = past;
    this.app.grid.mark = (/** @type {any} */ t) => this.markOf(t);
    document.body.classList.add('past');
    $('past-when').textContent = at ? `You are looking at ${whenWords(at, true)} (revision ${this.pastRevision})` : `You are looking at revision ${this.pastRevision}`;
    $('past-bar').hidden = false;
    this.compare();
    this.app.grid.redraw();
  }

  /** How a task of the past stands now. @param {any} t @returns {'moved'|'removed'|'added'|null} */
  markOf(t) {
    if (this.ghosts?.has(t.id)) return 'added';
    const now = this.app.world.tasks.get(t.id);
    if (!now) return 'removed';
    if (now.date !== t.date || now.start !== t.start || now.duration !== t.duration) return 'moved';
    return null;
  }

  /**
   * Then and now, in the bar: moved, added, removed since. The tasks added
   * since that have a slot are drawn into the past as ghosts (pale,
   * outlined green and dotted, `markOf` 'added'), where they are now; they
   * follow the live world. Those still staged are only counted.
   */
  compare() {
    const past = this.past;
    if (!past || !this.pastIds || !this.ghosts) return;
    const now = this.app.world.tasks;
    for (const id of this.ghosts) past.tasks.delete(id);
    this.ghosts.clear();
    let moved = 0, removed = 0, added = 0, staged = 0;
    for (const t of now.values()) {
      if (this.pastIds.has(t.id)) continue;
      added++;
      if (t.date === NO_DATE) { staged++; continue; }
      past.tasks.set(t.id, { ...t });
      this.ghosts.add(t.id);
    }
    for (const id of this.pastIds) {
      const m = this.markOf(past.tasks.get(id));
      if (m === 'moved') moved++;
      else if (m === 'removed') removed++;
    }
    past.changes++;
    const ghosts = added - staged;
    const addedWords = added === 0 ? '0 added' : `${added} added (${ghosts} drawn pale, outlined green${staged ? `; ${staged} still staged` : ''})`;
    $('past-diff').textContent = `Since then: ${moved} moved (amber), ${removed} removed (red, dashed), ${addedWords}.`;
  }

  /** The live world changed: the comparison follows it. */
  changed() {
    if (this.past) this.compare();
  }

  backToNow() {
    if (!this.past) return;
    this.past = null;
    this.pastIds = null;
    this.ghosts = null;
    this.app.grid.world = this.app.world;
    this.app.grid.mark = null;
    document.body.classList.remove('past');
    $('past-bar').hidden = true;
    this.app.grid.redraw();
  }
}

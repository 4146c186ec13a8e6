// The txxt browser client: log in, then draw the world the server sends
// and turn gestures into commands. Nothing here changes the world copy:
// a gesture sends a command, shows it pending, and the server's event (or
// its Error) decides what is drawn.

import { NO_DATE, ZERO_ID, T } from './codec.js';
import { Connection } from './conn.js';
import { World, Status, STATUS_NAMES, PRIORITY_NAMES, weekStart, nowIn, dayLabel, monthLabel, clock, initials, ymd, dateOf } from './model.js';
import { WeekGrid, serviceColour } from './grid.js';
import { teamBase, api } from './team.js';
import { setupPage, invitePage, pickTeam } from './setup.js';
import { AdminPanel } from './admin.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const TOTAL = 0; // telemetry stage: frame received → ack written

class App {
  constructor(settings, base = '', me = null) {
    this.settings = settings;
    this.base = base;
    this.me = me;
    this.readOnly = false;
    this.settingsVersion = 0;
    this.world = new World();
    this.selected = null;
    /** task id (or 'new:N') → {slot, title}: commands in flight */
    this.pending = new Map();
    this.pendingVersion = 0;
    this.view = 'week';
    this.focus = this.today().date; // a date in the week or month shown
    this.collapsed = false;
    this.presence = new Map(); // session → user
    this.serverP95 = null;
    this.filter = null;
    this.seq = 0;
    this.grid = new WeekGrid($('grid'), this);
    this.conn = new Connection({
      world: this.world,
      base,
      on: {
        state: (s, why) => this.connState(s, why),
        welcome: (w) => this.welcomed(w),
        snapshot: (t) => this.snapshotDrawn(t),
        changed: () => this.changed(),
        presence: (f) => this.presenceFrame(f),
        telemetry: (f) => { const s = f.stages.find((x) => x.stage === TOTAL); if (s) { this.serverP95 = s.p95 / 1000; this.showLatency(); } },
        server: (f) => this.serverState(f),
        loggedOut: (why) => logout(why),
        stale: (why) => banner(`${why}: reload the page to get the new client.`, true, 'Reload', () => location.reload()),
      },
    });
    this.wire();
    this.showView();
    this.grid.scrollToMinute(Math.max(0, settings.workday_start - 30));
    this.conn.start();
    this.fpsMeter();
    window.txxt = this; // for the end-to-end tests and the speed script
  }

  today() { return nowIn(this.settings.time_zone); }
  week() { return weekStart(this.focus, this.settings.first_day_of_week); }

  // ---- what the server says ----

  welcomed(w) {
    $('me').textContent = `${w.userName}${w.role === 1 ? ' (admin)' : ''}`;
    this.teamUI(w.role);
    if (this.profileApplied) return;
    this.profileApplied = true;
    let p = null;
    try { p = w.profile ? JSON.parse(w.profile) : null; } catch { /* an unreadable profile is ignored */ }
    if (!p) return;
    if (p.date && /^\d{4}-\d{2}-\d{2}$/.test(p.date)) this.focus = Date.parse(`${p.date}T00:00:00Z`) / 86400000;
    if (p.view === 'month') this.view = 'month';
    if (p.collapsed) { this.collapsed = true; this.grid.setCollapsed(true); }
    const set = (xs) => (xs && xs.length ? new Set(xs) : null);
    const services = set(p.services), assignees = set(p.assignees);
    if (services || assignees) this.filter = { services, assignees };
    this.showView();
  }

  // A Snapshot is drawn at once, and how long it took is kept for the
  // speed script: frame received → decoded → drawn.
  snapshotDrawn(t) {
    this.grid.draw();
    const drawn = performance.now();
    this.lastSnapshot = { tasks: t.tasks, bytes: t.bytes, decodeMs: t.decoded - t.t0, drawMs: drawn - t.decoded, totalMs: drawn - t.t0 };
  }

  changed() {
    if (this.changeQueued) return;
    this.changeQueued = true;
    requestAnimationFrame(() => {
      this.changeQueued = false;
      $('rev').textContent = `rev ${this.world.revision}`;
      this.followSchedule();
      this.admin?.changed();
      if (this.selected && !this.world.tasks.has(this.selected)) this.selected = null;
      this.grid.redraw();
      this.renderStaging();
      this.renderSide();
      if (this.view === 'month') this.renderMonth();
    });
  }

  connState(s, why) {
    const el = $('conn');
    el.textContent = s;
    el.className = `pill ${s}`;
    el.title = why || 'Connection';
    if (s !== 'live') { this.presence.clear(); this.renderPresence(); }
  }

  presenceFrame(f) {
    if (f.op === 0) this.presence.clear();
    for (const e of f.entries) {
      if (f.op === 2) this.presence.delete(e.session);
      else this.presence.set(e.session, e.user);
    }
    this.renderPresence();
  }

  renderPresence() {
    const count = new Map();
    for (const u of this.presence.values()) count.set(u, (count.get(u) || 0) + 1);
    const el = $('presence');
    el.replaceChildren(...[...count].map(([u, n]) => {
      const s = document.createElement('span');
      const name = this.world.users.get(u) || 'someone';
      s.textContent = initials(name) + (n > 1 ? `×${n}` : '');
      s.title = `${name}${n > 1 ? ` (${n} windows)` : ''}`;
      s.dataset.name = name;
      return s;
    }));
    el.title = `${count.size} online`;
  }

  serverState(f) {
    if (f.state === 0) banner('');
    else if (f.state === 1) banner(`The server cannot save right now (${f.reason}): changes are refused until it recovers.`, true);
    else banner('The server is restarting: reconnecting…');
  }

  showLatency() {
    const r = this.conn.rtt();
    const parts = [];
    if (this.conn.rtts.length) parts.push(`rtt ${r.p50.toFixed(1)}/${r.p95.toFixed(1)} ms`);
    if (this.serverP95 !== null) parts.push(`server p95 ${this.serverP95.toFixed(2)} ms`);
    $('latency').textContent = parts.join(' · ');
  }

  // ---- the team ----

  /** The Welcome's role: 0 member, 1 admin, 2 viewer. */
  teamUI(role) {
    this.readOnly = role === 2;
    $('view-only').hidden = !this.readOnly;
    document.body.classList.toggle('view-only', this.readOnly);
    if (!this.admin || this.admin.admin !== (role === 1)) {
      this.admin?.dialog.remove();
      this.admin = new AdminPanel(this, role === 1);
    }
    $('admin-open').hidden = role !== 1;
    $('admin-open').onclick = () => this.admin.open('members');
    $('account-open').onclick = () => this.admin.open('account');
    const teams = this.me?.teams || [];
    const sw = /** @type {HTMLSelectElement} */ ($('team-switch'));
    sw.hidden = teams.length < 2;
    const here = this.base.slice(3) || teams[0]?.slug;
    sw.replaceChildren(...teams.map((t) => new Option(t.name, t.slug, false, t.slug === here)));
    sw.onchange = () => { location.href = `/t/${sw.value}/`; };
    if (new URLSearchParams(location.search).has('guide')) {
      history.replaceState(null, '', location.pathname);
      $('guide').hidden = false;
    }
    $('guide-close').onclick = () => { $('guide').hidden = true; };
    $('guide-services').onclick = () => { $('guide').hidden = true; this.admin.open('services'); };
    $('guide-invite').onclick = () => { $('guide').hidden = true; this.admin.open('members'); };
  }

  colourOf(id) { return serviceColour(id, this.world.services.get(id)); }

  /**
   * The team's working hours, first day and time zone are world state: a
   * ScheduleChanged event (or a Snapshot) moves them, and the grid and
   * headers follow without a reload.
   */
  followSchedule() {
    const w = this.world.schedule, s = this.settings;
    if (!this.world.loaded || !w) return;
    if (w.workdayStart === s.workday_start && w.workdayEnd === s.workday_end && w.firstDay === s.first_day_of_week && w.timeZone === s.time_zone && this.world.grid === s.grid) return;
    this.settings = { ...s, grid: this.world.grid, workday_start: w.workdayStart, workday_end: w.workdayEnd, first_day_of_week: w.firstDay, time_zone: w.timeZone };
    this.settingsVersion++;
    this.showView();
  }

  // ---- commands ----

  /**
   * Sends a command for a task and shows it pending until the answer. A
   * refusal shows the server's message; the block was never moved, so it
   * "snaps back" by itself.
   */
  send(cmd, key, show = {}) {
    if (this.readOnly) {
      toast('View only: a viewer of this team sees the calendar and changes nothing.', 'error');
      return Promise.reject(new Error('view only'));
    }
    if (key) { this.pending.set(key, show); this.pendingVersion++; }
    this.grid.redraw(); this.renderStaging();
    const done = () => {
      if (key) { this.pending.delete(key); this.pendingVersion++; }
      this.grid.redraw(); this.renderStaging(); this.renderSide(); this.showLatency();
    };
    return this.conn.send(cmd).then(
      (ack) => { done(); return ack; },
      (err) => { done(); toast(`${cmd.type} refused: ${err.message}`, 'error'); throw err; },
    );
  }

  move(t, slot) { this.send({ type: 'MoveTask', task: t.id, ...slot }, t.id, { slot }).catch(() => {}); }
  schedule(t, slot) { this.send({ type: 'ScheduleTask', task: t.id, ...slot }, t.id, { slot, title: t.title }).catch(() => {}); }
  clone(t, slot) { this.send({ type: 'CloneTask', source: t.id, ...slot }, `new:${++this.seq}`, { slot, title: t.title }).catch(() => {}); }
  unschedule(t) { this.send({ type: 'UnscheduleTask', task: t.id }, t.id).catch(() => {}); }
  simple(type, t) { this.send({ type, task: t.id }, t.id).catch(() => {}); }

  defaultService() {
    const t = this.selected && this.world.tasks.get(this.selected);
    // An archived service takes no new tasks: never offer one.
    const open = (id) => id && this.world.services.get(id)?.archived === false;
    if (t && open(t.service)) return t.service;
    if (open(this.lastService)) return this.lastService;
    return this.world.openServices()[0]?.id;
  }

  /** Double-click on an empty slot: type a title in place, Enter creates. */
  create(slot) {
    const service = this.defaultService();
    if (!service) return toast('There is no service to file the task under yet.', 'error');
    const r = this.grid.clientSlot(slot);
    if (!r) return;
    editor(r, '', (title) => {
      this.lastService = service;
      this.send({ type: 'CreateTask', priority: 1, service, assignee: ZERO_ID, ...slot, text: title }, `new:${++this.seq}`, { slot, title })
        .then((ack) => { const id = this.world.createdAt(ack.revision); if (id) this.select(id); }, () => {});
    });
  }

  createStaged(title) {
    const service = this.defaultService();
    if (!service) return toast('There is no service to file the task under yet.', 'error');
    this.send({ type: 'CreateTask', priority: 1, service, assignee: ZERO_ID, date: NO_DATE, start: 0, duration: 0, text: title }, `new:${++this.seq}`).catch(() => {});
  }

  /** Rename in place: over the block, or over the staged item. */
  rename(t) {
    if (!t) return;
    const r = this.grid.rectOf(t.id) || $('side-title').getBoundingClientRect();
    editor({ x: r.x, y: r.y, w: Math.max(r.w ?? r.width, 160), h: 24 }, t.title, (title) => {
      if (title !== t.title) this.send({ type: 'RenameTask', task: t.id, text: title }, t.id).catch(() => {});
    });
  }

  /** Delete, with an undo that creates the task again (a second command). */
  remove(t) {
    if (!t) return;
    const copy = { ...t };
    this.send({ type: 'DeleteTask', task: t.id }, t.id).then(() => {
      toast(`Deleted “${copy.title}”`, '', 'Undo', () => this.restore(copy));
    }, () => {});
  }

  restore(t) {
    const slot = t.status === Status.Staged ? { date: NO_DATE, start: 0, duration: 0 } : { date: t.date, start: t.start, duration: t.duration };
    this.send({ type: 'CreateTask', priority: t.priority, service: t.service, assignee: t.assignee, ...slot, text: t.title }, `new:${++this.seq}`, { slot: slot.date === NO_DATE ? null : slot, title: t.title })
      .then((ack) => {
        const id = this.world.createdAt(ack.revision);
        if (!id) return;
        this.select(id);
        if (t.status === Status.Completed) this.simple('CompleteTask', { id });
        if (t.status === Status.Active) this.simple('StartTask', { id });
      }, () => {});
  }

  // ---- selection and views ----

  select(id) {
    if (this.selected === id) return;
    this.selected = id;
    this.grid.redraw();
    this.renderStaging();
    this.renderSide();
  }

  /** Arrow keys: up/down within the day, left/right to the nearest task of the neighbouring day. */
  step(key) {
    const days = this.world.days(this.week(), this.week() + 7).map((d) => d.sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : 1)));
    const cur = this.selected && this.world.tasks.get(this.selected);
    if (!cur || cur.status === Status.Staged || cur.date < this.week() || cur.date >= this.week() + 7) {
      const first = days[Math.max(0, this.today().date - this.week())]?.[0] || days.flat()[0];
      if (first) this.select(first.id);
      return;
    }
    const i = cur.date - this.week(), j = days[i].findIndex((t) => t.id === cur.id);
    let next = null;
    if (key === 'ArrowUp') next = days[i][j - 1];
    else if (key === 'ArrowDown') next = days[i][j + 1];
    else {
      const dir = key === 'ArrowLeft' ? -1 : 1;
      for (let k = i + dir; k >= 0 && k < 7 && !next; k += dir) {
        let best = null;
        for (const t of days[k]) if (!best || Math.abs(t.start - cur.start) < Math.abs(best.start - cur.start)) best = t;
        next = best;
      }
    }
    if (next) this.select(next.id);
  }

  navigate(dir) {
    if (dir === 0) this.focus = this.today().date;
    else if (this.view === 'month') { const { y, m } = ymd(this.focus); this.focus = dateOf(y, m + dir, 1); }
    else this.focus += 7 * dir;
    this.showView();
  }

  showView() {
    const month = this.view === 'month';
    $('grid').hidden = month;
    $('month').hidden = !month;
    $('view-month').classList.toggle('on', month);
    $('view-collapse').classList.toggle('on', this.collapsed);
    if (this.collapsed) this.focus = this.today().date;
    this.grid.show(this.week());
    const w = this.week();
    $('range').textContent = month ? monthLabel(this.focus) : this.collapsed ? dayLabel(this.today().date) : `${dayLabel(w)} – ${dayLabel(w + 6)}`;
    if (month) this.renderMonth();
    else this.grid.redraw();
  }

  toggleMonth() { this.view = this.view === 'month' ? 'week' : 'month'; this.showView(); }
  toggleCollapse() {
    this.collapsed = !this.collapsed;
    if (this.view === 'month') this.view = 'week';
    this.grid.setCollapsed(this.collapsed);
    this.showView();
  }

  visible(t) {
    const f = this.filter;
    return !f || ((!f.services || f.services.has(t.service)) && (!f.assignees || f.assignees.has(t.assignee)));
  }

  // ---- panels ----

  renderStaging() {
    const list = this.world.staged();
    $('staged-count').textContent = `(${list.length})`;
    const shown = list.slice(0, 300);
    const ol = $('staged');
    ol.replaceChildren(...shown.map((t) => {
      const li = document.createElement('li');
      li.dataset.id = t.id;
      li.style.borderLeftColor = serviceColour(t.service, this.world.services.get(t.service));
      li.className = `${t.id === this.selected ? 'sel' : ''} ${this.pending.has(t.id) ? 'pending' : ''}`;
      li.textContent = t.title || '(untitled)';
      const small = document.createElement('small');
      small.textContent = `${PRIORITY_NAMES[t.priority]} · ${this.world.serviceName(t.service)}`;
      li.append(small);
      return li;
    }));
    if (list.length > shown.length) {
      const li = document.createElement('li');
      li.textContent = `… and ${list.length - shown.length} more`;
      ol.append(li);
    }
  }

  overStaging(x, y) {
    const r = $('staging').getBoundingClientRect();
    return x >= r.left && x < r.right && y >= r.top && y < r.bottom;
  }

  highlightStaging(on) { $('staging').classList.toggle('drop', !!on); }

  renderSide() {
    const t = this.selected && this.world.tasks.get(this.selected);
    $('side-empty').hidden = !!t;
    $('side-task').hidden = !t;
    if (!t) return;
    $('side-title').textContent = t.title || '(untitled)';
    $('side-when').textContent = t.status === Status.Staged ? 'Not scheduled' : `${dayLabel(t.date)}, ${clock(t.start)}–${clock(t.start + t.duration)}`;
    $('side-status').textContent = STATUS_NAMES[t.status] + (this.pending.has(t.id) ? ' · saving…' : '');
    const options = (sel, entries, value) => {
      const el = /** @type {HTMLSelectElement} */ ($(sel));
      el.replaceChildren(...entries.map(([id, name]) => new Option(name, id, false, id === value)));
      el.value = value;
    };
    // A task may move to any open service; its own stays listed even when archived.
    const current = this.world.services.get(t.service);
    const choices = this.world.openServices().map((x) => [x.id, x.name]);
    if (current?.archived) choices.unshift([current.id, `${current.name} (archived)`]);
    options('side-service', choices, t.service);
    // Only a protocol with SetService can change a task's service.
    /** @type {HTMLSelectElement} */ ($('side-service')).disabled = T.SetService === undefined;
    options('side-assignee', [[ZERO_ID, '(nobody)'], ...this.world.users], t.assignee);
    /** @type {HTMLSelectElement} */ ($('side-priority')).value = String(t.priority);
    /** @type {HTMLButtonElement} */ ($('act-start')).disabled = t.status !== Status.Scheduled;
    /** @type {HTMLButtonElement} */ ($('act-complete')).disabled = t.status !== Status.Scheduled && t.status !== Status.Active;
    /** @type {HTMLButtonElement} */ ($('act-reopen')).disabled = t.status !== Status.Completed;
    /** @type {HTMLButtonElement} */ ($('act-unschedule')).disabled = t.status !== Status.Scheduled && t.status !== Status.Active;
  }

  renderMonth() {
    const { y, m } = ymd(this.focus);
    const first = dateOf(y, m, 1), start = weekStart(first, this.settings.first_day_of_week);
    const days = this.world.days(start, start + 42);
    const today = this.today().date;
    const cells = [];
    for (let i = 0; i < 7; i++) {
      const d = document.createElement('div');
      d.className = 'dow';
      d.textContent = dayLabel(start + i).split(' ')[0];
      cells.push(d);
    }
    for (let i = 0; i < 42; i++) {
      const date = start + i, c = document.createElement('div');
      c.className = `cell${ymd(date).m !== m ? ' other' : ''}${date === today ? ' today' : ''}`;
      c.dataset.date = String(date);
      const b = document.createElement('b');
      b.textContent = String(ymd(date).d);
      c.append(b);
      const tasks = days[i].filter((t) => this.visible(t)).sort((a, b2) => a.start - b2.start);
      for (const t of tasks.slice(0, 4)) {
        const line = document.createElement('div');
        line.textContent = `${clock(t.start)} ${t.title}`;
        if (t.status === Status.Completed) line.className = 'done';
        line.style.borderLeft = `3px solid ${serviceColour(t.service, this.world.services.get(t.service))}`;
        line.style.paddingLeft = '3px';
        c.append(line);
      }
      if (tasks.length > 4) { const more = document.createElement('div'); more.className = 'muted'; more.textContent = `+${tasks.length - 4} more`; c.append(more); }
      cells.push(c);
    }
    $('month').replaceChildren(...cells);
  }

  // ---- input ----

  wire() {
    $('prev').onclick = () => this.navigate(-1);
    $('next').onclick = () => this.navigate(1);
    $('today').onclick = () => this.navigate(0);
    $('view-month').onclick = () => this.toggleMonth();
    $('view-collapse').onclick = () => this.toggleCollapse();
    $('logout').onclick = () => logout('');
    $('month').onclick = (e) => {
      const cell = /** @type {HTMLElement} */ (e.target).closest('.cell');
      if (!cell) return;
      this.focus = Number(cell.dataset.date);
      this.view = 'week';
      this.showView();
    };
    $('stage-new').onsubmit = (e) => {
      e.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($('stage-new').querySelector('input'));
      if (input.value.trim()) this.createStaged(input.value.trim());
      input.value = '';
    };
    $('staged').addEventListener('pointerdown', (e) => {
      const li = /** @type {HTMLElement} */ (e.target).closest('li[data-id]');
      const t = li && this.world.tasks.get(li.dataset.id);
      if (!t || e.button !== 0) return;
      e.preventDefault();
      this.select(t.id);
      this.grid.begin(e, { task: t, zone: 'schedule', grab: 0 });
    });
    $('staged').addEventListener('dblclick', (e) => {
      const li = /** @type {HTMLElement} */ (e.target).closest('li[data-id]');
      if (li) this.rename(this.world.tasks.get(li.dataset.id));
    });
    const task = () => this.selected && this.world.tasks.get(this.selected);
    $('side-priority').onchange = (e) => { const t = task(); if (t) this.send({ type: 'SetPriority', task: t.id, priority: Number(/** @type {HTMLSelectElement} */ (e.target).value) }, t.id).catch(() => this.renderSide()); };
    $('side-assignee').onchange = (e) => { const t = task(); if (t) this.send({ type: 'AssignTask', task: t.id, assignee: /** @type {HTMLSelectElement} */ (e.target).value }, t.id).catch(() => this.renderSide()); };
    $('side-service').onchange = (e) => { const t = task(); if (t) this.send({ type: 'SetService', task: t.id, service: /** @type {HTMLSelectElement} */ (e.target).value }, t.id).catch(() => this.renderSide()); };
    $('act-start').onclick = () => this.simple('StartTask', task());
    $('act-complete').onclick = () => this.simple('CompleteTask', task());
    $('act-reopen').onclick = () => this.simple('ReopenTask', task());
    $('act-unschedule').onclick = () => this.simple('UnscheduleTask', task());
    $('act-rename').onclick = () => this.rename(task());
    $('act-delete').onclick = () => this.remove(task());
    document.addEventListener('keydown', (e) => this.key(e));
  }

  key(e) {
    const typing = /** @type {HTMLElement} */ (e.target).closest?.('input, select, textarea');
    if (e.key === 'Escape' && this.grid.cancel()) return e.preventDefault();
    if (typing) return;
    if (e.altKey && e.code === 'KeyM') { e.preventDefault(); return this.toggleMonth(); }
    if (e.altKey && e.code === 'KeyC') { e.preventDefault(); return this.toggleCollapse(); }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const t = this.selected && this.world.tasks.get(this.selected);
    const act = {
      ArrowUp: () => this.step(e.key), ArrowDown: () => this.step(e.key), ArrowLeft: () => this.step(e.key), ArrowRight: () => this.step(e.key),
      Enter: () => this.rename(t), F2: () => this.rename(t),
      Delete: () => this.remove(t), Backspace: () => this.remove(t),
      Escape: () => this.select(null),
      PageUp: () => this.navigate(-1), PageDown: () => this.navigate(1),
      t: () => this.navigate(0),
      s: () => t && t.status === Status.Scheduled && this.simple('StartTask', t),
      c: () => t && (t.status === Status.Scheduled || t.status === Status.Active) && this.simple('CompleteTask', t),
      r: () => t && t.status === Status.Completed && this.simple('ReopenTask', t),
      u: () => t && (t.status === Status.Scheduled || t.status === Status.Active) && this.simple('UnscheduleTask', t),
    }[e.key];
    if (act) { e.preventDefault(); act(); }
  }

  // Frames per second over the last second, reported in ClientStats.
  fpsMeter() {
    let n = 0, t0 = performance.now();
    const tick = (now) => {
      n++;
      if (now - t0 >= 1000) { this.conn.fps = (n * 1000) / (now - t0); n = 0; t0 = now; this.showLatency(); }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
}

// ---- small UI pieces ----

/** An input over rect; Enter or leaving it calls done(text) if not empty, Esc cancels. */
function editor(rect, value, done) {
  document.querySelector('.editor')?.remove();
  const input = document.createElement('input');
  input.className = 'editor';
  input.maxLength = 128;
  input.value = value;
  input.style.left = `${rect.x}px`; input.style.top = `${rect.y}px`;
  input.style.width = `${Math.max(140, rect.w)}px`;
  document.body.append(input);
  input.focus(); input.select();
  let closed = false;
  const close = (ok) => {
    if (closed) return;
    closed = true;
    const text = input.value.trim();
    input.remove();
    $('grid').focus({ preventScroll: true });
    if (ok && text) done(text);
  };
  input.onkeydown = (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') close(true);
    if (e.key === 'Escape') close(false);
  };
  input.onblur = () => close(true);
}

/** A message in the dock at the bottom; with an action button if given. */
function toast(text, kind = '', action = '', fn = null) {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const span = document.createElement('span');
  span.textContent = text;
  el.append(span);
  if (action) {
    const b = document.createElement('button');
    b.textContent = action;
    b.onclick = () => { el.remove(); fn(); };
    el.append(b);
  }
  const x = document.createElement('button');
  x.textContent = '×'; x.title = 'Dismiss'; x.onclick = () => el.remove();
  el.append(x);
  $('dock').append(el);
  setTimeout(() => el.remove(), action ? 10000 : 6000);
}

function banner(text, bad = false, action = '', fn = null) {
  const el = $('banner');
  el.hidden = !text;
  el.className = bad ? 'bad' : '';
  el.textContent = text;
  if (action) {
    const b = document.createElement('button');
    b.textContent = action; b.onclick = fn;
    el.append(' ', b);
  }
}

// ---- login ----

let app = null;

async function logout(why) {
  if (app) { app.conn.stop(); app = null; }
  if (!why) await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => {});
  location.hash = why ? `#${encodeURIComponent(why)}` : '';
  location.reload();
}

async function boot() {
  if (location.pathname === '/setup') return setupPage();
  if (location.pathname === '/invite') return invitePage();
  const base = teamBase();
  const r = await fetch(`${base}/api/settings`, { credentials: 'same-origin' }).catch(() => null);
  if (r && r.ok) {
    const settings = await r.json();
    const me = await api('GET', '/api/me').catch(() => null);
    $('app').hidden = false;
    app = new App(settings, base, me);
    return;
  }
  if (r && r.status === 404 && !base) {
    // Not one team at /: several (pick one), or none yet (set it up).
    const me = await api('GET', '/api/me').catch(() => null);
    if (me) return pickTeam(me);
    const st = await api('GET', '/api/setup').catch(() => null);
    if (st?.needed) location.hash = encodeURIComponent('This server has no team yet: open the setup link it printed when it started.');
  }
  const form = /** @type {HTMLFormElement} */ ($('login'));
  form.hidden = false;
  if (!r) $('login-error').textContent = 'The server cannot be reached.';
  else if (r.status !== 401 && r.status !== 404) $('login-error').textContent = (await r.json().catch(() => ({}))).message || '';
  else if (location.hash.length > 1) $('login-error').textContent = decodeURIComponent(location.hash.slice(1));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await api('POST', '/api/auth/login', { username: data.get('username'), password: data.get('password') });
    } catch (err) {
      $('login-error').textContent = err.message;
      return;
    }
    location.hash = ''; form.hidden = true;
    return boot();
  };
}

boot();

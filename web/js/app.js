// @ts-check
// The txxt browser client: log in, then draw the world the server sends
// and turn gestures into commands. Nothing here changes the world copy:
// a gesture sends a command, shows it pending, and the server's event (or
// its Error) decides what is drawn. What the user looks at (view, date,
// layout, filter, selection, commands in flight) is one ViewState; the
// grid reads it and reports gestures as intents, which land here.

import { NO_DATE, ZERO_ID, T } from './codec.js';
import { Connection } from './conn.js';
import { World, ViewState, Status, STATUS_NAMES, PRIORITY_NAMES, weekStart, nowIn, dayLabel, monthLabel, clock, initials, ymd, dateOf, matches, clocksDiffer } from './model.js';
import { WeekGrid, serviceColour } from './grid.js';
import { teamBase, api } from './team.js';
import { setupPage, invitePage, pickTeam } from './setup.js';
import { AdminPanel } from './admin.js';
import { ViewsPanel } from './views.js';
import { ServerPanel } from './deploy-admin.js';
import { titleEditor, titleCounter, refusal } from './title.js';
import { History } from './history.js';
import { TotalsPanel, ReportsView } from './reports.js';
import { queryOf, stateOf, isNavigation } from './url.js';
import { actionOf, keySlot, cursorStep, laneStep, helpDialog } from './keys.js';
import { UndoStack, changeOf, patchOf, createdChange } from './undo.js';
import { TaskList } from './a11y.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const TOTAL = 0; // telemetry stage: frame received → ack written
/** Narrower than this, the week is one day at a time (a phone). */
const PHONE = '(max-width: 640px)';

/** @typedef {import('./grid.js').Task} Task @typedef {import('./model.js').Slot} Slot */

class App {
  /**
   * @param {{workday_start: number, workday_end: number, first_day_of_week: number, time_zone: string, grid: number, working_days?: number}} settings
   * @param {string} [base] the team's path prefix ('' in a one-team deployment at /)
   * @param {any} [me] the user, from /api/me
   */
  constructor(settings, base = '', me = null) {
    this.settings = settings;
    this.base = base;
    this.me = me;
    this.readOnly = false;
    this.settingsVersion = 0;
    this.world = new World();
    this.state = new ViewState({ date: this.today().date });
    // The URL's place (a refresh, a link from a colleague) wins over the
    // saved profile; from here on the URL follows the view state.
    const fromUrl = stateOf(location.search);
    this.guide = new URLSearchParams(location.search).has('guide'); // the first page after setup: show the guide once
    this.urlPlace = fromUrl.any;
    this.state.set(fromUrl.patch);
    /** @type {import('./url.js').Place} */
    this.place = this.placeNow();
    this.restoring = false; // popstate is setting the view state: write no new entry
    this.quiet = false; // a change the user did not ask for (a task deleted under the selection): replace the entry
    this.urlQueued = false;
    this.undo = new UndoStack();
    /** @type {string|null} the task Ctrl+C copied */
    this.clipboard = null;
    this.presence = new Map(); // session → user
    /** @type {number|null} */
    this.serverP95 = null;
    this.seq = 0;
    /** @type {string|undefined} */
    this.lastService = undefined;
    this.profileApplied = false;
    this.changeQueued = false;
    /** @type {any} */
    this.lastSnapshot = null;
    this.phone = window.matchMedia(PHONE);
    this.phoneDay = false; // the one-day view was the phone's doing, not the user's
    this.zoneKey = ''; // the zones and days zoneDiffers was found for
    this.zoneDiffers = false;
    this.grid = new WeekGrid($('grid'), {
      world: this.world, state: this.state, settings, today: () => this.today(), dropZone: $('staging'),
      on: {
        select: (id) => this.select(id),
        move: (t, slot) => this.move(t, slot),
        resize: (t, slot) => this.move(t, slot),
        schedule: (t, slot) => this.schedule(t, slot),
        clone: (t, slot) => this.clone(t, slot),
        unschedule: (t) => this.unschedule(t),
        assign: (t, who) => this.assign(t, who),
        create: (slot, who) => this.create(slot, who),
        rename: (t) => this.rename(t),
        hover: (t, r) => this.card(t, r),
        overflow: (tasks, r) => this.overflow(tasks, r),
        navigate: (dir) => this.navigate(dir),
      },
    });
    this.a11y = new TaskList($('grid'), { focus: (id) => { this.select(id); this.cardFor(id); } });
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
    this.views = new ViewsPanel(this, { button: $('views-open'), chips: $('chips') });
    this.server = ServerPanel.mount(me, $('server-open'));
    this.history = new History(this);
    this.totals = new TotalsPanel(this, $('totals'));
    this.reports = new ReportsView(this);
    $('reports-open').onclick = () => this.reports.open();
    if (this.state.collapsed) this.grid.setCollapsed(true, true);
    this.state.onchange = () => this.queueUrl();
    history.replaceState(history.state, '', this.urlOf(this.place));
    window.addEventListener('popstate', () => this.restorePlace());
    this.wire();
    this.fitScreen();
    this.phone.addEventListener('change', () => this.fitScreen());
    window.addEventListener('resize', () => this.showView());
    this.showView();
    this.grid.scrollToMinute(Math.max(0, settings.workday_start - 30));
    this.conn.start();
    this.fpsMeter();
    /** @type {any} */ (window).txxt = this; // for the end-to-end tests and the speed script
  }

  today() { return nowIn(this.settings.time_zone); }

  // ---- the URL ----

  /** @returns {import('./url.js').Place} */
  placeNow() {
    const s = this.state;
    return { view: s.view, date: s.date, layout: s.layout, collapsed: s.collapsed, filter: s.filter, selection: s.selection };
  }

  /** The page's path (kept: /t/{team}/ or /) with the place as its query. @param {import('./url.js').Place} p */
  urlOf(p) {
    const q = queryOf(p, { dayless: this.phoneDay });
    return `${location.pathname}${q ? `?${q}` : ''}`;
  }

  /** The URL follows the view state, once per task of changes. */
  queueUrl() {
    if (this.urlQueued) return;
    this.urlQueued = true;
    queueMicrotask(() => {
      this.urlQueued = false;
      const next = this.placeNow(), url = this.urlOf(next);
      const push = !this.restoring && !this.quiet && isNavigation(this.place, next, this.settings.first_day_of_week);
      this.place = next;
      this.quiet = false;
      if (url === location.pathname + location.search) return;
      if (push) history.pushState(null, '', url);
      else history.replaceState(history.state, '', url);
    });
  }

  /** Back or Forward: the view state becomes what the entry's URL says. */
  restorePlace() {
    const { patch } = stateOf(location.search);
    if (this.phone.matches) patch.collapsed = true;
    this.restoring = true;
    this.state.set(patch);
    this.place = this.placeNow();
    this.restoring = false;
    this.grid.setCollapsed(this.state.collapsed, true);
    this.closeOverflow();
    this.card(null, null);
    this.showView();
    this.renderStaging();
    this.renderSide();
  }
  week() { return weekStart(this.state.date, this.settings.first_day_of_week); }
  /** The selected task's id (for the tests). */
  get selected() { return this.state.selection; }
  /** Commands in flight (for the tests). */
  get pending() { return this.state.pending; }

  /**
   * A phone shows one day at a time, the side panel as a sheet; a screen
   * that grows past a phone's (a turned tablet, a wider window) gets its
   * week back, unless the user chose the one day there.
   */
  fitScreen() {
    const phone = this.phone.matches;
    document.body.classList.toggle('phone', phone);
    if (phone && !this.state.collapsed) {
      this.state.set({ collapsed: true, view: 'week' });
      this.grid.setCollapsed(true, true);
      this.phoneDay = true;
      this.showView();
    } else if (!phone && this.phoneDay) {
      this.phoneDay = false;
      if (this.state.collapsed) { this.state.set({ collapsed: false }); this.grid.setCollapsed(false, true); this.showView(); }
    }
  }

  // ---- what the server says ----

  welcomed(w) {
    $('me').textContent = `${w.userName}${w.role === 1 ? ' (admin)' : ''}`;
    this.teamUI(w.role);
    if (this.profileApplied) return;
    this.profileApplied = true;
    if (this.urlPlace) return; // the link's place, not the saved one
    this.views.apply(w.profile);
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
      this.views.changed();
      this.history.changed();
      if (this.world.loaded && this.state.selection && !this.world.tasks.has(this.state.selection)) { this.quiet = true; this.state.set({ selection: null }); }
      this.grid.redraw();
      this.renderStaging();
      this.renderSide();
      this.refreshCard();
      this.totals.render();
      this.syncA11y();
      if (this.state.view === 'month') this.renderMonth();
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
    // One span a figure: under 1600 px they stack in a box of fixed size,
    // so the bar never grows (and moves the grid) when they arrive.
    const el = $('latency'), text = parts.join(' · ');
    if (el.title === text) return;
    el.title = text;
    el.replaceChildren(...parts.map((p) => { const s = document.createElement('span'); s.textContent = p; return s; }));
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
    if (this.guide) {
      this.guide = false;
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
    if (w.workdayStart === s.workday_start && w.workdayEnd === s.workday_end && w.firstDay === s.first_day_of_week && w.timeZone === s.time_zone && w.workingDays === s.working_days && this.world.grid === s.grid) return;
    this.settings = { ...s, grid: this.world.grid, workday_start: w.workdayStart, workday_end: w.workdayEnd, first_day_of_week: w.firstDay, time_zone: w.timeZone, working_days: w.workingDays };
    this.settingsVersion++;
    this.grid.settings = this.settings; // its layout key holds the working day and the first day
    this.showView();
  }

  // ---- commands ----

  /**
   * Sends a command for a task and shows it pending until the answer. A
   * refusal shows the server's message; the block was never moved, so it
   * "snaps back" by itself.
   */
  send(cmd, key, show = {}, o = {}) {
    if (this.history.past) {
      toast('You are looking at the plan as it stood: go back to now to change it.', 'error');
      return Promise.reject(new Error('the past'));
    }
    if (this.readOnly) {
      toast('View only: a viewer of this team sees the calendar and changes nothing.', 'error');
      return Promise.reject(new Error('view only'));
    }
    const about = cmd.task || cmd.source, title = about ? this.world.titleOf(about) : undefined;
    // The user's own change can be undone: what undoes it is taken from
    // the task as it is now (with the user's commands still in flight),
    // before the server's event changes it.
    const before = o.replay ? null : cmd.task && this.world.tasks.get(cmd.task);
    // On the stack at once (an undo right after the gesture follows it on
    // the same socket, so the server applies them in order); off it again
    // if the server refuses the change.
    /** @type {import('./undo.js').Change|null} */
    let change = before ? changeOf(cmd, this.ahead(before)) : null;
    // A create or a copy is undone by deleting what it made, whose id the
    // answer says: its place on the stack is kept now, its commands
    // filled in then (an undo pressed before that waits for it).
    /** @type {(() => void)|null} */
    let named = null;
    if (!o.replay && (cmd.type === 'CreateTask' || cmd.type === 'CloneTask')) {
      const c = /** @type {import('./undo.js').Change} */ ({ label: cmd.type === 'CloneTask' ? 'copy' : 'create', undo: [], redo: [] });
      const ready = new Promise((resolve) => { named = () => { if (c.ready === ready) delete c.ready; resolve(undefined); }; });
      c.ready = ready;
      change = c;
    }
    if (change) this.undo.push(change);
    // What the command will set, for a next one made before its event (ahead).
    const entry = { ...show, patch: cmd.task ? patchOf(cmd) : undefined };
    if (key) this.state.addPending(key, entry);
    this.grid.redraw(); this.renderStaging();
    const done = () => {
      // a later command for the same task, still in flight, stays shown
      if (key && this.state.pending.get(key) === entry) this.state.donePending(key);
      this.grid.redraw(); this.renderStaging(); this.renderSide(); this.showLatency();
    };
    return this.conn.send(cmd).then(
      (ack) => {
        done();
        if (named && change) {
          const id = this.world.createdAt(ack.revision), t = id && this.world.tasks.get(id);
          if (t) Object.assign(change, createdChange(cmd, t)); else this.undo.drop(change);
          named();
        }
        return ack;
      },
      (err) => {
        done();
        if (change) this.undo.drop(change);
        named?.();
        err.message = refusal(err, about, title);
        toast(o.what ? `${o.what} refused: ${err.message}` : err.message, 'error');
        throw err;
      },
    );
  }

  /**
   * The task as the user's command in flight will leave it: a second key
   * pressed before the first one's event arrives builds on the first.
   * @param {Task} t
   */
  ahead(t) {
    const p = this.state.pending.get(t.id);
    return { ...t, ...p?.patch };
  }

  /**
   * Undo (dir -1) or redo (1) the newest change: its commands, one after
   * the other, each validated by the server; a refusal says why and the
   * change is dropped (what it would undo is no longer there to undo).
   * @param {-1|1} dir @param {import('./undo.js').Change|null} [only] that change (the delete toast's Undo)
   */
  async undoRedo(dir, only = null) {
    const u = this.undo;
    if (only) { const i = u.done.indexOf(only); if (i < 0) return; u.done.splice(i, 1); }
    const c = only || (dir < 0 ? u.takeUndo() : u.takeRedo());
    if (!c) return toast(dir < 0 ? 'Nothing to undo.' : 'Nothing to redo.');
    // Where it goes once through, at once: a gesture made before the
    // answers come must land after it on the stack.
    if (dir < 0) u.undoneOk(c); else u.redoneOk(c);
    // A step of c still on its way (a create not answered yet, or a redo
    // whose re-created task's id is not known yet) is waited for; and this
    // one is waited for by the next.
    const before = c.ready;
    /** @type {() => void} */
    let finish = () => {};
    const mine = new Promise((resolve) => { finish = () => resolve(undefined); });
    c.ready = mine;
    try {
      if (before) await before;
      await this.stepChange(c, dir);
    } finally {
      if (c.ready === mine) delete c.ready;
      finish();
    }
  }

  /** Sends c's undo (dir -1) or redo (1) commands. @param {import('./undo.js').Change} c @param {-1|1} dir */
  async stepChange(c, dir) {
    const u = this.undo;
    if (!c.undo.length) { const l = dir < 0 ? u.undone : u.done, i = l.indexOf(c); if (i >= 0) l.splice(i, 1); return; } // it was refused
    const what = `${dir < 0 ? 'Undo' : 'Redo'} of ${c.label}`;
    /** @type {string|undefined} */
    let created, id;
    try {
      for (const raw of dir < 0 ? c.undo : c.redo) {
        const { replaces, ...cmd } = u.bind(raw, created);
        const was = cmd.type === 'DeleteTask' && cmd.task ? this.world.tasks.get(cmd.task) : undefined, gone = was && this.ahead(was);
        const ack = await this.send(cmd, cmd.task || `new:${++this.seq}`, {}, { replay: true, what });
        if (gone) u.deleted(c, dir, gone); // the way back creates it as it was
        if (cmd.type === 'CreateTask') {
          created = this.world.createdAt(ack.revision);
          if (created && replaces) u.recreated(replaces, created);
        }
        id = created || cmd.task;
      }
    } catch {
      // send said why; what it would take back is no longer there
      const list = dir < 0 ? u.undone : u.done, i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
      return;
    }
    if (id && this.world.tasks.has(id)) this.select(id);
    toast(`${dir < 0 ? 'Undone' : 'Redone'}: ${c.label}`);
  }

  /** @param {Task} t @param {Slot} slot */
  move(t, slot) { this.send({ type: 'MoveTask', task: t.id, ...slot }, t.id, { slot }).catch(() => {}); }
  schedule(t, slot) { this.send({ type: 'ScheduleTask', task: t.id, ...slot }, t.id, { slot, title: t.title }).catch(() => {}); }
  clone(t, slot) { this.send({ type: 'CloneTask', source: t.id, ...slot }, `new:${++this.seq}`, { slot, title: t.title }).catch(() => {}); }
  unschedule(t) { this.send({ type: 'UnscheduleTask', task: t.id }, t.id).catch(() => {}); }
  simple(type, t) { this.send({ type, task: t.id }, t.id).catch(() => {}); }
  /** @param {Task} t @param {string} assignee */
  assign(t, assignee) { this.send({ type: 'AssignTask', task: t.id, assignee }, t.id).catch(() => {}); }

  defaultService() {
    const t = this.state.selection && this.world.tasks.get(this.state.selection);
    // An archived service takes no new tasks: never offer one.
    const open = (id) => id && this.world.services.get(id)?.archived === false;
    if (t && open(t.service)) return t.service;
    if (open(this.lastService)) return this.lastService;
    return this.world.openServices()[0]?.id;
  }

  /**
   * Double-click on an empty slot: type a title in place, Enter creates
   * (assigned to the lane's person in the person layout).
   * @param {Slot} slot @param {string} [assignee]
   */
  create(slot, assignee = ZERO_ID) {
    const service = this.defaultService();
    if (!service) return toast('There is no service to file the task under yet.', 'error');
    const r = this.grid.clientSlot(slot);
    if (!r) return;
    editor(r, '', (title) => {
      this.lastService = service;
      return this.send({ type: 'CreateTask', priority: 1, service, assignee, ...slot, text: title }, `new:${++this.seq}`, { slot, title })
        .then((ack) => { const id = this.world.createdAt(ack.revision); if (id) this.select(id); });
    });
  }

  /** @param {string} title @returns {Promise<unknown>} */
  createStaged(title) {
    const service = this.defaultService();
    if (!service) return Promise.reject(new Error('There is no service to file the task under yet.'));
    return this.send({ type: 'CreateTask', priority: 1, service, assignee: ZERO_ID, date: NO_DATE, start: 0, duration: 0, text: title }, `new:${++this.seq}`);
  }

  /** Rename in place: over the block, or over the staged item. */
  rename(t) {
    if (!t) return;
    const li = document.querySelector(`#staged li[data-id="${t.id}"]`);
    const r = this.grid.rectOf(t.id) || (li || $('side-title')).getBoundingClientRect();
    const w = 'w' in r ? r.w : r.width;
    editor({ x: r.x, y: r.y, w: Math.max(w, 160), h: 24 }, t.title, (title) => {
      if (title !== t.title) return this.send({ type: 'RenameTask', task: t.id, text: title }, t.id);
    });
  }

  /** Delete, with an undo that creates the task again (a second command). */
  remove(t) {
    if (!t) return;
    const copy = { ...t };
    this.send({ type: 'DeleteTask', task: t.id }, t.id).then(() => {
      const change = this.undo.done[this.undo.done.length - 1];
      toast(`Deleted “${copy.title}”`, '', 'Undo', () => (change?.redo[0]?.type === 'DeleteTask' ? this.undoRedo(-1, change) : this.restore(copy)));
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

  /** @param {string|null} id */
  select(id) {
    this.closeOverflow();
    const t = id && this.world.tasks.get(id);
    if (t && t.status !== Status.Staged) this.state.set({ cursor: cursorStep(t, 'y', 0, this.world.grid) });
    if (!this.state.set({ selection: id })) return;
    this.syncA11y();
    this.grid.redraw();
    this.renderStaging();
    this.renderSide();
    this.history.taskSelected();
  }

  /**
   * Arrow keys. With a task of the days shown selected: up and down to
   * the task before or after in its day, left and right to the nearest
   * task of the day before or after (the view turns past the first or last
   * day shown). With none (or a staged one): the cursor moves a step or a
   * day, and the view turns with it.
   * @param {string} key
   */
  step(key) {
    const [from, to] = this.shownDays();
    const dir = key === 'ArrowUp' || key === 'ArrowLeft' ? -1 : 1, axis = key === 'ArrowUp' || key === 'ArrowDown' ? 'y' : 'x';
    const cur = this.state.selection && this.world.tasks.get(this.state.selection);
    if (!cur || cur.status === Status.Staged || cur.date < from || cur.date >= to || this.state.view === 'month') {
      const c = cursorStep(this.cursorSlot(), axis, dir, this.world.grid);
      this.state.set({ cursor: c });
      if (c.date < from || c.date >= to) { this.state.set({ date: c.date }); this.showView(); }
      this.grid.scrollToShow(c.start, c.start + c.duration);
      this.grid.redraw();
      return;
    }
    const byDay = (/** @type {number} */ date) => this.world.days(date, date + 1)[0].filter((t) => matches(this.state.filter, t)).sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : 1));
    let next = null;
    if (axis === 'y') {
      const day = byDay(cur.date), j = day.findIndex((t) => t.id === cur.id);
      next = day[j + dir];
    } else {
      // the nearest task by start on the next day that has one, within two weeks
      for (let d = cur.date + dir, n = 0; !next && n < 14; d += dir, n++) {
        let best = null;
        for (const t of byDay(d)) if (!best || Math.abs(t.start - cur.start) < Math.abs(best.start - cur.start)) best = t;
        next = best;
      }
      if (next && (next.date < from || next.date >= to)) { this.state.set({ date: next.date }); this.showView(); }
    }
    if (next) { this.select(next.id); this.cardFor(next.id); }
  }

  /** Previous (-1), today (0) or next (1): a month, a day in the one-day view, else a week. @param {number} dir */
  navigate(dir) {
    const st = this.state;
    let date = st.date;
    if (dir === 0) date = this.today().date;
    else if (st.view === 'month') { const { y, m } = ymd(date); date = dateOf(y, m + dir, 1); }
    else date += (st.collapsed ? 1 : 7) * dir;
    st.set({ date });
    this.card(null, null);
    this.showView();
  }

  showView() {
    const st = this.state, month = st.view === 'month';
    $('grid').hidden = month;
    $('month').hidden = !month;
    $('view-month').classList.toggle('on', month);
    $('view-collapse').classList.toggle('on', st.collapsed);
    $('view-person').classList.toggle('on', st.layout === 'person');
    $('view-person').setAttribute('aria-pressed', String(st.layout === 'person'));
    const w = this.week(), phone = this.phone.matches || window.innerWidth <= 1000;
    const short = (/** @type {number} */ d) => dayLabel(d).split(' ').slice(0, 2).join(' ');
    $('range').textContent = month ? monthLabel(st.date) : st.collapsed ? dayLabel(st.date)
      : phone ? `${short(w)} – ${short(w + 6)}` : `${dayLabel(w)} – ${dayLabel(w + 6)}`;
    this.zoneNote();
    const unit = month ? 'month' : st.collapsed ? 'day' : 'week';
    $('prev').title = `Previous ${unit} (PageUp)`; $('next').title = `Next ${unit} (PageDown)`;
    $('prev').setAttribute('aria-label', `Previous ${unit}`); $('next').setAttribute('aria-label', `Next ${unit}`);
    if (month) this.renderMonth();
    else this.grid.redraw();
    this.totals?.render();
    this.syncA11y();
  }

  /** The accessible list follows what the grid shows (nothing in the month view, whose cells are text). */
  syncA11y() {
    this.a11y.schedule(() => {
      const month = this.state.view === 'month';
      if (!month) this.grid.layout();
      // Every block drawn and every task behind a "+N" chip; the list
      // holds a page of them (a11y.js) and describes only that page.
      const drawn = month ? [] : this.grid.items.map((it) => it.task);
      const hidden = month ? [] : this.grid.chips.flatMap((c) => c.tasks);
      const tasks = [...drawn, ...hidden]
        .filter((t) => t.status !== Status.Staged && this.world.tasks.get(t.id) === t)
        .sort((a, b) => a.date - b.date || a.start - b.start || (a.id < b.id ? -1 : 1));
      return { tasks, describe: (t) => this.grid.describe(t), selection: this.state.selection };
    });
  }

  /**
   * Times are the team's (its schedule's time zone: tasks, today, the
   * now line); when this browser is in another zone, the page says so
   * beside the week's label.
   */
  zoneNote() {
    let el = document.getElementById('zone-note');
    if (!el) {
      el = document.createElement('span');
      el.id = 'zone-note';
      el.className = 'zone-note muted';
      $('range').after(el);
    }
    const team = this.settings.time_zone || 'UTC';
    let mine = 'UTC';
    try { mine = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { /* no Intl zone: UTC */ }
    // Said only when this browser's clock reads differently at a time
    // shown (Paris and Berlin read the same; a week with a change of
    // summer time only one of them makes does not).
    let [from, to] = this.shownDays();
    if (this.state.view === 'month') { const { y, m } = ymd(this.state.date); from = weekStart(dateOf(y, m, 1), this.settings.first_day_of_week); to = from + 42; }
    const key = `${team}|${mine}|${from}|${to}`;
    if (key !== this.zoneKey) { this.zoneKey = key; this.zoneDiffers = clocksDiffer(team, mine, from, to); }
    el.hidden = !this.zoneDiffers;
    el.textContent = `times in ${team}`;
    el.title = `Every time on this page is in the team's time zone, ${team}; yours is ${mine}.`;
  }

  toggleMonth() { this.state.set({ view: this.state.view === 'month' ? 'week' : 'month' }); this.card(null, null); this.showView(); }
  toggleCollapse() {
    const st = this.state, on = !st.collapsed || this.phone.matches;
    const today = this.today().date, w = this.week();
    // collapsing shows today when it is in the week shown, else the day in focus
    st.set({ collapsed: on, view: 'week', date: on && today >= w && today < w + 7 ? today : st.date });
    this.grid.setCollapsed(on);
    this.showView();
  }
  togglePerson() {
    this.state.set({ layout: this.state.layout === 'person' ? 'time' : 'person', view: 'week' });
    this.card(null, null);
    this.showView();
    if (this.state.layout === 'time') this.grid.scrollToMinute(Math.max(0, this.settings.workday_start - 30));
    else $('grid').scrollTop = 0;
  }

  /** @param {Task} t */
  visible(t) { return matches(this.state.filter, t); }

  // ---- the hover card and the overflow list ----

  /**
   * Shows the card of task t beside rect r (client coordinates), or hides
   * it (t null). Its text says title, time, service, assignee, priority
   * and status.
   * @param {Task|null} t @param {{x: number, y: number, w: number, h: number}|null} r
   */
  card(t, r) {
    const el = $('card');
    this.cardTask = t && r ? t.id : null;
    if (!t || !r) { el.hidden = true; return; }
    const d = this.grid.describe(t);
    const rows = /** @type {[string, string][]} */ ([['When', d.when], ['Service', d.service], ['Assignee', d.assignee], ['Priority', d.priority], ['Status', d.status]]);
    const h = document.createElement('b');
    h.textContent = d.title;
    const dl = document.createElement('dl');
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'), dd = document.createElement('dd');
      dt.textContent = k; dd.textContent = v;
      dl.append(dt, dd);
    }
    el.replaceChildren(h, dl);
    el.hidden = false;
    place(el, r);
  }

  /** The card for a task chosen from the keyboard, beside its block. @param {string} id */
  cardFor(id) {
    const t = this.world.tasks.get(id), r = this.grid.placeOf(id);
    this.card(t && r ? t : null, r);
  }

  refreshCard() { if (this.cardTask) this.cardFor(this.cardTask); }

  /**
   * The tasks behind a "+N" chip, as a list beside it: each one a button
   * that selects it.
   * @param {Task[]} tasks @param {{x: number, y: number, w: number, h: number}} r
   */
  overflow(tasks, r) {
    this.card(null, null);
    const el = $('overflow');
    const head = document.createElement('b');
    head.textContent = `${tasks.length} more`;
    const list = document.createElement('ul');
    const sorted = tasks.slice().sort((a, b) => a.date - b.date || a.start - b.start || a.title.localeCompare(b.title, undefined, { numeric: true }));
    for (const t of sorted) {
      const li = document.createElement('li'), b = document.createElement('button');
      b.dataset.id = t.id;
      b.style.borderLeftColor = serviceColour(t.service, this.world.services.get(t.service));
      const time = document.createElement('span');
      time.textContent = `${clock(t.start)}–${clock(t.start + t.duration)}`;
      b.append(time, ` ${t.title || '(untitled)'}`);
      b.title = `${t.title} · ${STATUS_NAMES[t.status]}`;
      b.onclick = () => { this.select(t.id); };
      li.append(b);
      list.append(li);
    }
    el.replaceChildren(head, list);
    el.hidden = false;
    place(el, r);
    /** @type {HTMLElement|null} */ (list.querySelector('button'))?.focus();
  }

  closeOverflow() { $('overflow').hidden = true; }

  // ---- panels ----

  renderStaging() {
    const all = this.world.staged(), list = this.state.filter ? all.filter((t) => this.visible(t)) : all;
    $('staged-count').textContent = list.length === all.length ? `(${list.length})` : `(${list.length} of ${all.length})`;
    const shown = list.slice(0, 300);
    const ol = $('staged');
    // The list is drawn again at every change (a colleague's, an answer
    // to one's own command), which takes the focus from a staged task the
    // keyboard is on: it is given back, so Enter or P then still acts on it.
    const focused = /** @type {HTMLElement|null} */ (document.activeElement?.closest('#staged li[data-id]') || null);
    const had = focused?.dataset.id;
    ol.replaceChildren(...shown.map((t) => {
      const li = document.createElement('li');
      li.dataset.id = t.id;
      li.tabIndex = 0; // Tab to it, Enter selects it, P puts it at the cursor
      li.style.borderLeftColor = serviceColour(t.service, this.world.services.get(t.service));
      li.className = `${t.id === this.state.selection ? 'sel' : ''} ${this.state.pending.has(t.id) ? 'pending' : ''}`;
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
    if (had) /** @type {HTMLElement|null} */ (ol.querySelector(`li[data-id="${had}"]`))?.focus({ preventScroll: true });
  }

  renderSide() {
    const t = this.state.selection && this.world.tasks.get(this.state.selection);
    $('side-empty').hidden = !!t;
    $('side-task').hidden = !t;
    $('side').classList.toggle('open', !!t);
    if (!t) return;
    // Floating (a narrower screen): on the other half from the task's block.
    const r = this.grid.placeOf(t.id), g = $('grid').getBoundingClientRect();
    $('side').classList.toggle('left', !!r && r.x + r.w / 2 > g.left + g.width / 2);
    $('side-title').textContent = t.title || '(untitled)';
    $('side-when').textContent = t.status === Status.Staged ? 'Not scheduled' : `${dayLabel(t.date)}, ${clock(t.start)}–${clock(t.start + t.duration)}`;
    $('side-status').textContent = STATUS_NAMES[t.status] + (this.state.pending.has(t.id) ? ' · saving…' : '');
    const options = (/** @type {string} */ sel, /** @type {[string, string][]} */ entries, /** @type {string} */ value) => {
      const el = /** @type {HTMLSelectElement} */ ($(sel));
      el.replaceChildren(...entries.map(([id, name]) => new Option(name, id, false, id === value)));
      el.value = value;
    };
    // A task may move to any open service; its own stays listed even when archived.
    const current = this.world.services.get(t.service);
    const choices = this.world.openServices().map((x) => /** @type {[string, string]} */ ([x.id, x.name]));
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
    const { y, m } = ymd(this.state.date);
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
    $('view-person').onclick = () => this.togglePerson();
    $('toggle-staging').onclick = () => document.body.classList.toggle('show-staging');
    $('side-close').onclick = () => this.select(null);
    $('keys-toggle').onclick = () => this.help();
    $('more-toggle').onclick = () => this.menu(!document.body.classList.contains('more-open'));
    $('more').addEventListener('click', (e) => { if (/** @type {HTMLElement} */ (e.target).closest('button')) this.menu(false); });
    document.addEventListener('pointerdown', (e) => {
      const el = /** @type {HTMLElement} */ (e.target);
      if (!el.closest('#overflow, #grid')) this.closeOverflow(); // the grid closes it by selecting
      if (!el.closest('#more, #more-toggle')) this.menu(false);
      if (document.body.classList.contains('show-staging') && !el.closest('#staging, #toggle-staging')) document.body.classList.remove('show-staging');
    });
    $('logout').onclick = () => logout('');
    $('month').onclick = (e) => {
      const cell = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('.cell'));
      if (!cell) return;
      this.state.set({ date: Number(cell.dataset.date), view: 'week' });
      this.showView();
    };
    // The new staged task's title: counted as the server counts it; one
    // past the limit, or refused by the server, stays in the input.
    const stageInput = /** @type {HTMLInputElement} */ ($('stage-new').querySelector('input'));
    const stageCheck = titleCounter(stageInput, $('stage-count'));
    stageInput.addEventListener('input', () => { if (!stageCheck().over) $('stage-error').textContent = ''; });
    $('stage-new').onsubmit = (e) => {
      e.preventDefault();
      const text = stageInput.value.trim(), c = stageCheck();
      if (c.over) { $('stage-error').textContent = c.reason; return; }
      if (!text) return;
      $('stage-error').textContent = '';
      stageInput.value = ''; stageCheck();
      this.createStaged(text).catch((/** @type {any} */ err) => {
        if (stageInput.value === '') { stageInput.value = text; stageCheck(); }
        $('stage-error').textContent = err.message;
      });
    };
    $('staged').addEventListener('pointerdown', (e) => {
      const li = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('li[data-id]'));
      const t = li && this.world.tasks.get(li.dataset.id || '');
      if (!t || e.button !== 0) return;
      e.preventDefault();
      this.select(t.id);
      // Where the staging list is a drawer over the grid, it steps aside
      // while the task is dragged out of it, and closes after the drop.
      document.body.classList.add('from-staging');
      window.addEventListener('pointerup', () => document.body.classList.remove('from-staging', 'show-staging'), { once: true });
      this.grid.begin(e, { task: t, zone: 'schedule', grab: 0 });
    });
    $('staged').addEventListener('keydown', (e) => {
      const li = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('li[data-id]'));
      if (!li || (e.key !== 'Enter' && e.key !== ' ')) return;
      e.preventDefault();
      this.select(li.dataset.id || null);
    });
    $('staged').addEventListener('dblclick', (e) => {
      const li = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (e.target).closest('li[data-id]'));
      if (li) this.rename(this.world.tasks.get(li.dataset.id || ''));
    });
    const task = () => this.state.selection && this.world.tasks.get(this.state.selection);
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

  /** Every key the page answers to is in keys.js's SHORTCUTS, which the help overlay lists. @param {KeyboardEvent} e */
  key(e) {
    const typing = /** @type {HTMLElement} */ (e.target).closest?.('input, select, textarea, dialog');
    if (e.key === 'Escape' && this.grid.cancel()) return e.preventDefault();
    if (e.key === 'Escape' && document.body.classList.contains('more-open')) { this.menu(false); $('more-toggle').focus(); return e.preventDefault(); }
    if (e.key === 'Escape' && (!$('overflow').hidden || !$('card').hidden)) { this.closeOverflow(); this.card(null, null); return e.preventDefault(); }
    if (typing) return;
    const action = actionOf(e);
    if (!action) return;
    // A button or list item keeps its own Enter and Space; the overflow list its arrows.
    const el = /** @type {HTMLElement} */ (e.target);
    if (e.key === 'Enter' && el.closest?.('button, a, [role=row], li[data-id]')) return;
    if (el.closest?.('#overflow') && !e.altKey && !e.ctrlKey) return;
    e.preventDefault();
    const t = this.state.selection ? this.world.tasks.get(this.state.selection) : undefined;
    const dir = e.key === 'ArrowUp' || e.key === 'ArrowLeft' || e.key === 'PageUp' ? -1 : 1;
    const live = (/** @type {any} */ x) => x && (x.status === Status.Scheduled || x.status === Status.Active);
    switch (action) {
      case 'stepY': case 'stepX': return this.step(e.key);
      case 'page': return this.navigate(dir);
      case 'today': return this.navigate(0);
      case 'escape': return this.select(null);
      case 'create': return this.createAtCursor();
      case 'moveY': case 'moveX': case 'resize':
        if (!live(t)) return;
        if (action === 'moveY' && this.state.layout === 'person' && this.state.view !== 'month') return this.keyLane(t, dir);
        return this.keyMove(t, action === 'moveX' ? 'x' : action === 'moveY' ? 'y' : 'size', dir);
      case 'place':
        if (t && t.status === Status.Staged) this.schedule(t, this.cursorSlot());
        return;
      case 'copy':
        if (e.code === 'KeyC') { if (t) { this.clipboard = t.id; toast(`Copied “${t.title}”: Ctrl+V puts a copy at the cursor.`); } return; }
        return this.paste();
      case 'rename': return t ? this.rename(t) : this.createAtCursor();
      case 'status': {
        const k = e.code.slice(3).toLowerCase();
        if (!t) return;
        if (k === 's' && t.status === Status.Scheduled) this.simple('StartTask', t);
        if (k === 'c' && live(t)) this.simple('CompleteTask', t);
        if (k === 'r' && t.status === Status.Completed) this.simple('ReopenTask', t);
        if (k === 'u' && live(t)) this.simple('UnscheduleTask', t);
        return;
      }
      case 'remove': return this.remove(t);
      case 'undo': return this.undoRedo(-1);
      case 'redo': return this.undoRedo(1);
      case 'month': return this.toggleMonth();
      case 'collapse': return this.toggleCollapse();
      case 'person': return this.togglePerson();
      case 'help': return this.help();
    }
  }

  /** Opens or closes the bar's ☰ menu (up to 1000 px wide). @param {boolean} open */
  menu(open) {
    if (document.body.classList.contains('more-open') === open) return;
    document.body.classList.toggle('more-open', open);
    $('more-toggle').setAttribute('aria-expanded', String(open));
    if (open) /** @type {HTMLElement|null} */ ($('more').querySelector('button:not([hidden])'))?.focus();
  }

  /** The help overlay: every shortcut, from keys.js's table. */
  help() {
    let d = /** @type {HTMLDialogElement|null} */ (document.getElementById('help'));
    if (!d) { d = helpDialog(); document.body.append(d); }
    d.showModal();
  }

  /**
   * A keyboard move or resize of the selected task; a move past the days
   * shown turns the view with it.
   * @param {Task} t @param {'x'|'y'|'size'} axis @param {number} dir
   */
  keyMove(t, axis, dir) {
    const slot = keySlot(this.ahead(t), axis, dir, this.world.grid);
    this.move(t, slot);
    const [from, to] = this.shownDays();
    if (slot.date < from || slot.date >= to) { this.state.set({ date: slot.date }); this.showView(); }
    this.state.set({ cursor: { date: slot.date, start: slot.start, duration: this.cursorSlot().duration } });
  }

  /**
   * People layout, Alt+↑/↓: the selected task to the lane above or below,
   * an AssignTask as a drop on that lane is (the day and time stay).
   * @param {Task} t @param {number} dir
   */
  keyLane(t, dir) {
    this.grid.layout();
    const who = laneStep(this.grid.rows.map((r) => r.id), this.ahead(t).assignee, dir);
    if (who === null) return toast(dir < 0 ? 'This is the first lane.' : 'This is the last lane.');
    this.assign(t, who);
  }

  /** The first day shown and the day after the last. */
  shownDays() {
    return this.state.collapsed ? [this.state.date, this.state.date + 1] : [this.week(), this.week() + 7];
  }

  /** The keyboard cursor: where it is, else the working day's start on the day in focus. @returns {Slot} */
  cursorSlot() {
    const c = this.state.cursor, [from, to] = this.shownDays();
    if (c && c.date >= from && c.date < to) return c;
    const today = this.today().date;
    const date = this.state.collapsed ? this.state.date : today >= from && today < to ? today : from;
    return cursorStep({ date, start: this.settings.workday_start }, 'y', 0, this.world.grid);
  }

  /** n, or Enter with nothing selected: a new task at the cursor (the person layout: unassigned, at the day's first free step). */
  createAtCursor() {
    if (this.state.view === 'month') return;
    this.create(this.cursorSlot());
  }

  /** Ctrl+V: a copy of the copied task at the cursor, as long as the original. */
  paste() {
    const t = this.clipboard && this.world.tasks.get(this.clipboard);
    if (!t) return toast('Nothing copied: select a task and press Ctrl+C first.');
    const c = this.cursorSlot();
    const dur = t.duration || c.duration;
    this.clone(t, { date: c.date, start: Math.min(1440 - dur, c.start), duration: dur });
  }

  // Frames per second over the last second, reported in ClientStats.
  fpsMeter() {
    let n = 0, t0 = performance.now();
    const tick = (/** @type {number} */ now) => {
      n++;
      if (now - t0 >= 1000) { this.conn.fps = (n * 1000) / (now - t0); n = 0; t0 = now; this.showLatency(); }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
}

// ---- small UI pieces ----

/**
 * Puts a floating element beside a client rectangle: to its right, else
 * to its left, else below; always inside the window.
 * @param {HTMLElement} el @param {{x: number, y: number, w: number, h: number}} r
 */
function place(el, r) {
  el.style.left = '0px'; el.style.top = '0px';
  const b = el.getBoundingClientRect(), W = window.innerWidth, H = window.innerHeight, gap = 6;
  let x = r.x + r.w + gap, y = r.y;
  if (x + b.width > W - 4) x = r.x - b.width - gap;
  if (x < 4) { x = Math.min(Math.max(4, r.x), W - b.width - 4); y = r.y + r.h + gap; if (y + b.height > H - 4) y = r.y - b.height - gap; }
  el.style.left = `${Math.max(4, Math.min(x, W - b.width - 4))}px`;
  el.style.top = `${Math.max(4, Math.min(y, H - b.height - 4))}px`;
}

/**
 * The title editor over rect (title.js): it counts bytes as the server
 * does, and keeps the text when the server refuses it.
 * @param {{x: number, y: number, w: number, h?: number}} rect @param {string} value @param {(text: string) => (Promise<unknown>|void)} done
 */
const editor = (rect, value, done) => titleEditor(rect, value, done, { onClose: () => $('grid').focus({ preventScroll: true }) });

/**
 * A message in the dock at the bottom; with an action button if given.
 * @param {string} text @param {string} [kind] @param {string} [action] @param {(() => void)|null} [fn]
 */
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
    b.onclick = () => { el.remove(); fn?.(); };
    el.append(b);
  }
  const x = document.createElement('button');
  x.textContent = '×'; x.title = 'Dismiss'; x.onclick = () => el.remove();
  el.append(x);
  const dock = $('dock');
  dock.append(el);
  // The newest few: a run of keys (undo, undo, redo…) must not stack a
  // wall of notices over the grid.
  while (dock.childElementCount > 4) dock.firstElementChild?.remove();
  setTimeout(() => el.remove(), action ? 10000 : 6000);
}

/** @param {string} text @param {boolean} [bad] @param {string} [action] @param {(() => void)|null} [fn] */
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

/** @type {App|null} */
let app = null;

/** @param {string} why */
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
  if (r && r.status === 404) {
    // Not a team of this user here: several at / (pick one), none of the
    // user's (say so), or none on the server yet (set it up).
    const me = await api('GET', '/api/me').catch(() => null);
    if (me) return pickTeam(me, base);
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

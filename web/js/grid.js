// @ts-check
// The week grid, drawn on one canvas, in two layouts of the same week:
// "time" (seven day columns by the hours of the day, overlapping tasks in
// a cascade) and "person" (one lane per assignee and one for the
// unassigned, each day a cell listing its tasks, with a load bar).
//
// It is a view: it reads the world copy and the view state it is given,
// and reports what the user asks for (select, move, resize, create…)
// through the `on` callbacks; it never changes either. The arithmetic of
// drags, of the time axis and of the lanes is in model.js, with tests.
//
// Speed comes from drawing little per frame: the grid and every block are
// drawn into an offscreen "base" layer only when something they show
// changes; a frame while dragging is one copy of that layer plus the block
// being dragged. The layout is computed once per change of the world or
// of the view state (its version), not per frame.

import {
  Status, PRIORITY_NAMES, STATUS_NAMES, DAY_MINUTES, CASCADE, TimeAxis, cascadeDay, dragSlot, createSlot, personRows,
  dayLabel, clock, initials, hours, matches, weekStart, stepFor, MOVE_STEP,
} from './model.js';
import { serviceColour, blockColours, CHROME as K } from './colour.js';

const ZERO = '00000000-0000-0000-0000-000000000000';
const HEAD = 44; // header: day names
const GUT = 56; // gutter: hours (time layout)
const GUT_NARROW = 44; // the same under NARROW px wide: the hours still fit, the days get the room
const NARROW = 900;
const BADGE_ROOM = 80; // px of title a block keeps beside the assignee's initials (less: no initials; the card says who)
const EDGE = 6; // px: a press this close to a block's top or bottom resizes
const OFF_PX = 14; // px per hour outside the working day
const MIN_HOUR = 40, MAX_HOUR = 96; // px per working hour
const ROW = 20; // person layout: one task line
const CELL_HEAD = 22; // person layout: a cell's load line and bar
const MAX_LINES = 6; // person layout: task lines in a cell before "+N"
const FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const BOLD = `600 ${FONT}`;
const SMALL = '600 10px system-ui, -apple-system, "Segoe UI", sans-serif';
const LONG_PRESS = 450; // ms: a touch held this long on a block picks it up

/**
 * @typedef {import('./model.js').Slot} Slot
 * @typedef {{id: string, status: number, priority: number, date: number, start: number, duration: number,
 *   service: string, assignee: string, title: string}} Task
 * @typedef {{x: number, y: number, w: number, h: number}} Rect
 * @typedef {{task: Task, x: number, y: number, w: number, h: number, lines: number[], warn?: boolean}} Item
 * @typedef {{x: number, y: number, w: number, h: number, tasks: Task[]}} Chip
 * @typedef {{x: number, w: number, date: number, count?: number}} Column
 * @typedef {{select(id: string|null): void, move(t: Task, slot: Slot): void, resize(t: Task, slot: Slot): void,
 *   schedule(t: Task, slot: Slot): void, clone(t: Task, slot: Slot): void, unschedule(t: Task): void,
 *   assign(t: Task, assignee: string): void, create(slot: Slot, assignee: string): void, rename(t: Task): void,
 *   hover(t: Task|null, r: Rect|null): void, overflow(tasks: Task[], r: Rect): void, navigate(dir: number): void}} Intents
 */

/** A service's colour (re-exported for the panels). */
export { serviceColour };

// Measured text widths, per font: a title is measured once, not per frame.
const widths = new Map();
/** @param {CanvasRenderingContext2D} ctx @param {string} s */
function measure(ctx, s) {
  const key = ctx.font + '\u0000' + s;
  let w = widths.get(key);
  if (w === undefined) {
    if (widths.size > 20000) widths.clear();
    w = ctx.measureText(s).width;
    widths.set(key, w);
  }
  return w;
}

/** The longest start of s (with "…") that fits in max px, or '' if not even one letter does. */
function fit(ctx, s, max) {
  if (measure(ctx, s) <= max) return s;
  let lo = 0, hi = s.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (measure(ctx, s.slice(0, mid) + '…') <= max) lo = mid; else hi = mid - 1;
  }
  return lo === 0 ? '' : s.slice(0, lo).trimEnd() + '…';
}

export class WeekGrid {
  /**
   * @param {HTMLElement} root  the scrolling element
   * @param {{world: import('./model.js').World, state: import('./model.js').ViewState,
   *   settings: {workday_start: number, workday_end: number, first_day_of_week: number},
   *   today: () => {date: number, minute: number}, dropZone?: HTMLElement|null, on: Intents}} o
   */
  constructor(root, o) {
    this.root = root;
    this.world = o.world;
    /**
     * Marks a block, or not: the past view's comparison with now
     * (history.js) says which tasks moved or went since, and which it
     * drew in as ghosts of tasks added since.
     * @type {((t: any) => 'moved'|'removed'|'added'|null)|null}
     */
    this.mark = null;
    this.state = o.state;
    this.settings = o.settings;
    this.today = o.today;
    this.dropZone = o.dropZone || null;
    this.on = o.on;
    this.collapse = 0; // 0: seven columns … 1: the focused day alone
    this.collapseTo = 0;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'grid-canvas';
    this.spacer = document.createElement('div');
    root.append(this.canvas, this.spacer);
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    this.base = document.createElement('canvas');
    this.bctx = /** @type {CanvasRenderingContext2D} */ (this.base.getContext('2d'));
    this.W = 0; this.H = 0; this.dpr = 1;
    this.baseKey = '';
    this.layoutKey = '';
    this.axis = new TimeAxis(480, 1080, 48, OFF_PX);
    /** @type {Column[]} */
    this.cols = [];
    /** @type {Item[]} blocks (time) or task lines (person), in drawing order, content coordinates */
    this.items = [];
    /** @type {Chip[]} "+N" chips, content coordinates */
    this.chips = [];
    /** @type {Map<string, Item>} */
    this.byId = new Map();
    /** @type {any[]} person layout: the rows, with their y and height */
    this.rows = [];
    this.contentH = 0;
    /** @type {{id: string, kind: string, text: string, x: number, y: number, w: number, h: number, box: Rect}[]} every text drawn in the last base draw, with the box it must stay in (canvas coordinates) */
    this.texts = [];
    /** @type {any} */
    this.drag = null;
    this.hovered = '';
    this.frames = 0; // frames drawn, for the speed figures
    this.times = new Float64Array(600); // ms each of the last 600 took
    this.queued = false;
    new ResizeObserver(() => this.resize()).observe(root);
    root.addEventListener('scroll', () => { this.redraw(); this.unhover(); }, { passive: true });
    this.canvas.addEventListener('pointerdown', (e) => this.down(e));
    this.canvas.addEventListener('pointermove', (e) => this.hover(e));
    this.canvas.addEventListener('pointerleave', () => this.unhover());
    this.canvas.addEventListener('dblclick', (e) => this.dblclick(e));
    this.canvas.addEventListener('contextmenu', (e) => { if (this.drag) e.preventDefault(); });
    this.resize();
  }

  get person() { return this.state.layout === 'person'; }
  get week() { return weekStart(this.state.date, this.settings.first_day_of_week); }
  get gutter() { return this.person ? Math.round(Math.min(150, Math.max(84, this.W * 0.16))) : this.W < NARROW ? GUT_NARROW : GUT; }

  resize() {
    const W = this.root.clientWidth, H = this.root.clientHeight;
    if (!W || !H) return;
    const dpr = window.devicePixelRatio || 1;
    this.W = W; this.H = H; this.dpr = dpr;
    for (const c of [this.canvas, this.base]) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    this.canvas.style.width = `${W}px`; this.canvas.style.height = `${H}px`;
    this.baseKey = this.layoutKey = '';
    this.layout();
    this.redraw();
  }

  /** Scrolls so that minute min is near the top (time layout). @param {number} min */
  scrollToMinute(min) { this.layout(); this.root.scrollTop = Math.max(0, this.axis.y(min) - 8); }

  /** Scrolls as little as it takes to show minutes [from, to) (time layout). @param {number} from @param {number} to */
  scrollToShow(from, to) {
    if (this.person) return;
    this.layout();
    const top = this.axis.y(from), bottom = HEAD + this.axis.y(to), r = this.root;
    if (top < r.scrollTop) r.scrollTop = Math.max(0, top - 8);
    else if (bottom > r.scrollTop + r.clientHeight) r.scrollTop = bottom - r.clientHeight + 8;
  }

  /** Animates to one column, the focused day's (on), or back to seven (off). @param {boolean} on @param {boolean} [now] */
  setCollapsed(on, now = false) {
    this.collapseTo = on ? 1 : 0;
    if (now) { this.collapse = this.collapseTo; this.layoutKey = ''; return this.redraw(); }
    const from = this.collapse, t0 = performance.now();
    const step = (/** @type {number} */ t) => {
      const k = Math.min(1, (t - t0) / 250);
      this.collapse = from + (this.collapseTo - from) * k * (2 - k);
      this.layoutKey = '';
      this.draw();
      if (k < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  /** Column geometry: x and width of each day, with the collapse applied. */
  columns() {
    const g = this.gutter, full = this.W - g, w0 = full / 7, t = this.collapse;
    const f = this.state.date - this.week, fi = f >= 0 && f < 7 ? f : 0;
    const cols = [];
    let x = g;
    for (let i = 0; i < 7; i++) {
      const w = w0 * (1 - t) + (i === fi ? full * t : 0);
      cols.push({ x, w, date: this.week + i });
      x += w;
    }
    return cols;
  }

  /** Schedules a draw on the next frame. */
  redraw() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.draw(); });
  }

  /** The working day's minutes, never empty. */
  workday() {
    const s = this.settings;
    const ws = Math.max(0, Math.min(DAY_MINUTES - 60, s.workday_start || 0));
    return { ws, we: Math.max(ws + 60, Math.min(DAY_MINUTES, s.workday_end || DAY_MINUTES)) };
  }

  layout() {
    const w = this.world, st = this.state, { ws, we } = this.workday();
    const key = `${w.changes}|${st.version}|${this.W}|${this.H}|${this.collapse}|${ws}|${we}|${this.settings.first_day_of_week}`;
    if (key === this.layoutKey || !this.W) return;
    this.layoutKey = key;
    this.cols = this.columns();
    // The working day fills the screen below the header, the rest of the
    // day at OFF_PX an hour; past MIN_HOUR the grid scrolls instead.
    const off = (DAY_MINUTES - (we - ws)) / 60 * OFF_PX;
    const hourPx = Math.max(MIN_HOUR, Math.min(MAX_HOUR, (this.H - HEAD - off) / ((we - ws) / 60)));
    this.axis = new TimeAxis(ws, we, hourPx, OFF_PX);
    const days = w.days(this.week, this.week + 7).map((list) => list.filter((t) => matches(st.filter, t)));
    this.cols.forEach((c, i) => { c.count = days[i].length; });
    if (this.person) this.layoutPeople(days, we - ws);
    else this.layoutTime(days);
    this.byId = new Map(this.items.map((it) => [it.task.id, it]));
    this.spacer.style.height = `${Math.max(0, this.contentH - this.H)}px`;
  }

  /** @param {Task[][]} days */
  layoutTime(days) {
    const items = [], chips = [], axis = this.axis, y = (/** @type {number} */ m) => HEAD + axis.y(m);
    days.forEach((tasks, i) => {
      const c = this.cols[i];
      if (c.w < 8) return;
      const inner = c.w - 3, x0 = c.x + 1;
      const { blocks, chips: cs } = cascadeDay(tasks, inner, y);
      for (const b of blocks) items.push({ ...b, x: x0 + b.x });
      for (const ch of cs) chips.push({ ...ch, x: x0 + ch.x });
    });
    this.items = items;
    this.chips = chips;
    this.rows = [];
    this.contentH = HEAD + axis.height;
  }

  /** @param {Task[][]} days @param {number} workMinutes */
  layoutPeople(days, workMinutes) {
    const rows = personRows(days, this.world.users, ZERO, workMinutes).map((r) => ({ ...r, y: 0, h: 0 }));
    const items = [], chips = [];
    let y = HEAD;
    for (const r of rows) {
      const lines = Math.max(1, Math.min(MAX_LINES, Math.max(...r.days.map((d, i) => (this.cols[i].w >= 8 ? d.tasks.length : 0)))));
      r.y = y; r.h = CELL_HEAD + lines * ROW + 6;
      r.days.forEach((cell, i) => {
        const c = this.cols[i];
        if (c.w < 8) return;
        const n = cell.tasks.length, fits = n <= lines ? n : lines - 1;
        for (let k = 0; k < fits; k++) {
          const t = cell.tasks[k];
          items.push({ task: t, x: c.x + 3, y: y + CELL_HEAD + k * ROW, w: c.w - 6, h: ROW - 2, lines: [c.w - 6, 0], warn: cell.overlapping.has(t.id) });
        }
        if (fits < n) chips.push({ x: c.x + 3, y: y + CELL_HEAD + fits * ROW, w: c.w - 6, h: ROW - 2, tasks: cell.tasks.slice(fits) });
      });
      y += r.h;
    }
    this.rows = rows;
    this.items = items;
    this.chips = chips;
    this.contentH = y;
  }

  draw() {
    if (!this.W) return;
    const t0 = performance.now();
    this.layout();
    const now = this.today();
    const scroll = this.root.scrollTop;
    const key = `${this.layoutKey}|${scroll}|${now.date}|${now.minute}|${this.drag?.hide || ''}`;
    if (key !== this.baseKey) {
      this.baseKey = key;
      this.texts.length = 0;
      if (this.person) this.drawPeople(this.bctx, scroll, now);
      else this.drawTime(this.bctx, scroll, now);
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawOverlay(ctx, scroll);
    this.frames++;
    this.times[this.frames % this.times.length] = performance.now() - t0;
  }

  /**
   * Draws text s at (x, y) (top) within max px, and records it with the
   * box it must stay inside. Returns its width.
   */
  text(ctx, id, kind, s, x, y, max, box) {
    if (!s || max <= 0) return 0;
    ctx.fillText(s, x, y);
    const w = measure(ctx, s);
    this.texts.push({ id, kind, text: s, x, y, w, h: 13, box });
    return w;
  }

  /** @param {CanvasRenderingContext2D} ctx @param {number} scroll @param {{date: number, minute: number}} now */
  drawTime(ctx, scroll, now) {
    const { W, H, cols, axis } = this, GUT = this.gutter;
    const { ws, we } = this.workday();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = K.page;
    ctx.fillRect(0, 0, W, H);
    const y = (/** @type {number} */ m) => HEAD + axis.y(m) - scroll;
    for (const c of cols) {
      if (c.w < 1) continue;
      // A holiday or a day the team does not work has no working hours: it stays shaded.
      if (this.world.holidays?.has(c.date) || this.world.worksOn?.(c.date) === false) continue;
      ctx.fillStyle = c.date === now.date ? K.todayWork : K.work;
      ctx.fillRect(c.x, y(ws), c.w, y(we) - y(ws));
    }
    ctx.fillStyle = K.line;
    for (let h = 0; h <= 24; h++) {
      const yy = y(h * 60);
      if (yy < HEAD - 1 || yy > H) continue;
      ctx.fillRect(GUT, Math.round(yy), W - GUT, 1);
    }
    ctx.fillStyle = K.halfLine;
    for (let m = ws + 30; m < we; m += 60) {
      const yy = y(m);
      if (yy < HEAD || yy > H || m % 60 !== 30) continue;
      ctx.fillRect(GUT, Math.round(yy), W - GUT, 1);
    }
    ctx.fillStyle = K.rule;
    for (const c of cols) if (c.w >= 1) ctx.fillRect(Math.round(c.x), HEAD, 1, H - HEAD);
    // blocks, then the selected one over them, then the chips
    const hide = this.drag?.hide, sel = this.state.selection, pending = this.state.pending;
    const top = scroll + HEAD, bottom = scroll + H;
    let selIt = null;
    for (const it of this.items) {
      if (it.y + it.h < top || it.y > bottom) continue;
      if (it.task.id === hide) continue;
      if (it.task.id === sel) { selIt = it; continue; }
      this.block(ctx, it, scroll, pending.has(it.task.id) ? 'pending' : '');
    }
    if (selIt) this.block(ctx, selIt, scroll, pending.has(selIt.task.id) ? 'pending selected' : 'selected');
    for (const ch of this.chips) {
      if (ch.y + ch.h < top || ch.y > bottom) continue;
      this.chip(ctx, ch, scroll);
    }
    // now
    const ni = now.date - this.week;
    if (ni >= 0 && ni < 7 && cols[ni].w > 1) {
      const yy = y(now.minute);
      ctx.fillStyle = K.now;
      ctx.fillRect(cols[ni].x, yy - 1, cols[ni].w, 2);
      ctx.beginPath(); ctx.arc(cols[ni].x + 2, yy, 4, 0, 7); ctx.fill();
    }
    this.drawHeader(ctx, now, GUT);
    ctx.fillStyle = K.head;
    ctx.fillRect(0, HEAD, GUT, H - HEAD);
    ctx.fillStyle = K.rule;
    ctx.fillRect(GUT - 1, HEAD, 1, H - HEAD);
    ctx.fillStyle = K.hourText;
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    // every hour of the working day; outside it, those with room
    const hoursShown = [];
    for (let h = Math.ceil(ws / 60); h * 60 <= we; h++) hoursShown.push(h);
    for (let h = 1; h < 24; h++) {
      if (hoursShown.includes(h)) continue;
      const near = hoursShown.some((k) => Math.abs(y(k * 60) - y(h * 60)) < 15);
      if (!near) hoursShown.push(h);
    }
    const hx = GUT < 56 ? 5 : 8;
    for (const h of hoursShown) {
      const yy = y(h * 60);
      if (h <= 0 || h >= 24 || yy < HEAD + 6 || yy > H - 6) continue;
      const s = clock(h * 60);
      ctx.fillText(s, hx, yy);
      this.texts.push({ id: '', kind: 'hour', text: s, x: hx, y: yy - 6, w: measure(ctx, s), h: 12, box: { x: 0, y: HEAD, w: GUT - 1, h: H - HEAD } });
    }
    ctx.textBaseline = 'top';
  }

  /** The day names and counts, over everything. */
  drawHeader(ctx, now, gut) {
    const { W, cols } = this;
    ctx.fillStyle = K.head;
    ctx.fillRect(0, 0, W, HEAD);
    ctx.fillStyle = K.rule;
    ctx.fillRect(0, HEAD - 1, W, 1);
    ctx.textBaseline = 'top';
    for (const c of cols) {
      if (c.w < 24) continue;
      const today = c.date === now.date, box = { x: c.x, y: 0, w: c.w, h: HEAD };
      if (today) { ctx.fillStyle = K.todayHead; ctx.fillRect(c.x + 1, 0, c.w - 1, HEAD - 1); }
      ctx.fillStyle = today ? K.todayText : K.headText;
      ctx.font = today ? BOLD : FONT;
      const max = c.w - 10, long = dayLabel(c.date), short = long.split(' ').slice(0, 2).join(' ');
      const label = [long, short, short.split(' ')[1]].find((s) => measure(ctx, s) <= max) || '';
      this.text(ctx, '', 'day', label, c.x + 6, 8, max, box);
      ctx.fillStyle = today ? K.todaySub : K.headSub; ctx.font = FONT;
      const n = c.count || 0, words = `${n} task${n === 1 ? '' : 's'}`, holiday = this.world.holidays?.get(c.date);
      const count = (holiday ? [`${holiday} · ${words}`, holiday, String(n)] : [words, String(n)]).find((s) => measure(ctx, s) <= max) || '';
      this.text(ctx, '', 'count', count, c.x + 6, 25, max, box);
    }
    ctx.fillStyle = K.head;
    ctx.fillRect(0, 0, gut, HEAD - 1);
  }

  /**
   * Draws one time-layout block (content coordinates, drawn scroll px up):
   * the title on the first line, clipped to the part no later block
   * covers; the time on the second line, or after the title on a short
   * block, only where it fits whole; the assignee's initials only where
   * they leave the title its room.
   * @param {CanvasRenderingContext2D} ctx @param {Item} it @param {number} scroll @param {string} mode
   */
  block(ctx, it, scroll, mode) {
    const t = it.task, x = it.x, y = it.y - scroll, w = it.w, h = it.h;
    const col = blockColours(serviceColour(t.service, this.world.services.get(t.service)), t.status);
    const done = t.status === Status.Completed;
    ctx.fillStyle = col.bg;
    ctx.fillRect(x, y, w, h);
    ctx.strokeStyle = '#ffffff'; ctx.lineWidth = 1;
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    ctx.fillStyle = t.priority === 3 && !done ? K.urgent : col.edge;
    ctx.fillRect(x, y, Math.min(t.priority === 3 ? 4 : 3, w), h);
    if (mode.includes('selected')) {
      ctx.strokeStyle = K.selected; ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
    }
    if (mode.includes('pending')) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = K.pending; ctx.lineWidth = 1;
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); ctx.setLineDash([]);
    }
    const mark = this.mark?.(t);
    if (mark) {
      if (mark === 'added') { ctx.fillStyle = 'rgba(255,255,255,0.6)'; ctx.fillRect(x, y, w, h); } // a ghost: not there then
      ctx.setLineDash(mark === 'removed' ? [3, 2] : mark === 'added' ? [1, 2] : []);
      ctx.strokeStyle = mark === 'removed' ? '#c0392b' : mark === 'added' ? '#1e8449' : '#d68910'; ctx.lineWidth = 3;
      ctx.strokeRect(x + 1.5, y + 1.5, w - 3, h - 3); ctx.setLineDash([]);
    }
    if (h < 13) return;
    const pad = 6, box = { x, y, w: Math.min(w, it.lines[0]), h: Math.min(h, CASCADE.TITLE) };
    let room = it.lines[0] - pad - 3;
    ctx.textBaseline = 'top';
    const who = this.world.users.get(t.assignee);
    ctx.font = BOLD;
    // The initials only beside a title that keeps its room (or fits whole).
    const badge = who && h >= 16 && room - 20 >= Math.max(CASCADE.MIN_TEXT, Math.min(BADGE_ROOM, measure(ctx, t.title || '(untitled)')));
    if (badge) {
      room -= 20;
      ctx.fillStyle = done ? K.doneBadge : K.badge;
      const bx = x + it.lines[0] - 12;
      ctx.beginPath(); ctx.arc(bx, y + 8, 7.5, 0, 7); ctx.fill();
      ctx.fillStyle = K.badgeText; ctx.font = SMALL; ctx.textAlign = 'center';
      const s = initials(who);
      ctx.fillText(s, bx, y + 3);
      this.texts.push({ id: t.id, kind: 'initials', text: s, x: bx - 7.5, y: y + 0.5, w: 15, h: 15, box });
      ctx.textAlign = 'left';
    }
    ctx.font = BOLD; ctx.fillStyle = col.fg;
    const title = fit(ctx, t.title || '(untitled)', room);
    const tw = this.text(ctx, t.id, 'title', title, x + pad, y + 2, room, box);
    if (done && tw) ctx.fillRect(x + pad, y + 8, tw, 1);
    ctx.font = FONT; ctx.fillStyle = col.sub;
    const time = `${clock(t.start)}–${clock(t.start + t.duration)}`;
    if (it.lines[1] > 0) {
      const room2 = it.lines[1] - pad - 3, box2 = { x, y: y + CASCADE.TITLE, w: Math.min(w, it.lines[1]), h: CASCADE.LINE2 };
      if (measure(ctx, time) <= room2) {
        const extra = [t.priority >= 2 ? PRIORITY_NAMES[t.priority] : '', t.status === Status.Active ? 'started' : done ? 'done' : ''].filter(Boolean).map((s) => ` · ${s}`).join('');
        const line = measure(ctx, time + extra) <= room2 ? time + extra : time;
        this.text(ctx, t.id, 'time', line, x + pad, y + CASCADE.TITLE + 1, room2, box2);
      }
    } else if (title === (t.title || '(untitled)')) {
      const s = clock(t.start), left = room - tw - 6;
      if (measure(ctx, s) <= left) this.text(ctx, t.id, 'time', s, x + pad + tw + 6, y + 2, left, box);
    }
  }

  /** A "+N" chip. @param {CanvasRenderingContext2D} ctx @param {Chip} ch @param {number} scroll */
  chip(ctx, ch, scroll) {
    const x = ch.x, y = ch.y - scroll;
    ctx.fillStyle = K.chip; // a thin bar: how far down the hidden tasks go
    ctx.fillRect(x + ch.w / 2 - 1, y, 2, ch.h);
    ctx.fillStyle = K.chip;
    ctx.beginPath(); ctx.roundRect(x + 1, y, ch.w - 2, CASCADE.CHIP_H, 4); ctx.fill();
    ctx.fillStyle = K.chipText; ctx.font = SMALL; ctx.textBaseline = 'top';
    const s = fit(ctx, `+${ch.tasks.length}`, ch.w - 6);
    this.text(ctx, '', 'chip', s, x + (ch.w - measure(ctx, s)) / 2, y + 4, ch.w - 6, { x, y, w: ch.w, h: CASCADE.CHIP_H });
  }

  /** @param {CanvasRenderingContext2D} ctx @param {number} scroll @param {{date: number, minute: number}} now */
  drawPeople(ctx, scroll, now) {
    const { W, H, cols } = this, gut = this.gutter;
    const { ws, we } = this.workday(), work = we - ws;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = K.page;
    ctx.fillRect(0, 0, W, H);
    ctx.textBaseline = 'top';
    const sel = this.state.selection, pending = this.state.pending, hide = this.drag?.hide;
    for (const r of this.rows) {
      const y = r.y - scroll;
      if (y > H || y + r.h < HEAD) continue;
      r.days.forEach((cell, i) => {
        const c = cols[i];
        if (c.w < 8) return;
        const today = c.date === now.date;
        // A holiday, or the person's time off: shaded, no capacity.
        const off = r.unassigned ? '' : this.world.offOn?.(r.id, c.date) ?? '';
        ctx.fillStyle = off ? K.page : today ? K.todayWork : K.work;
        ctx.fillRect(c.x, y, c.w, r.h);
        if (c.w < 30) return;
        const box = { x: c.x, y, w: c.w, h: CELL_HEAD };
        ctx.font = SMALL;
        if (off) {
          ctx.fillStyle = cell.booked ? K.warnText : K.loadText;
          const label = cell.booked ? `⚠ ${hours(cell.booked)} off: ${off}` : `off: ${off}`;
          this.text(ctx, '', cell.booked ? 'warning' : 'load', fit(ctx, label, c.w - 10), c.x + 5, y + 3, c.w - 10, box);
        } else if (r.unassigned) {
          ctx.fillStyle = K.loadText;
          const n = cell.tasks.length;
          if (n) this.text(ctx, '', 'load', fit(ctx, `${n} task${n === 1 ? '' : 's'}`, c.w - 10), c.x + 5, y + 3, c.w - 10, box);
        } else {
          const warn = cell.over ? '⚠ over' : cell.overlapping.size ? '⚠ overlap' : '';
          const warnShort = warn ? '⚠' : '';
          ctx.fillStyle = K.warnText;
          const wtext = measure(ctx, warn) <= (c.w - 10) / 2 ? warn : warnShort;
          const ww = wtext ? measure(ctx, wtext) : 0;
          if (wtext) this.text(ctx, '', 'warning', wtext, c.x + c.w - 5 - ww, y + 3, ww, box);
          if (cell.booked) {
            ctx.fillStyle = K.loadText;
            const room = c.w - 10 - (ww ? ww + 4 : 0);
            const load = [`${hours(cell.booked)} / ${hours(work)}`, hours(cell.booked)].find((s) => measure(ctx, s) <= room) || '';
            this.text(ctx, '', 'load', load, c.x + 5, y + 3, room, box);
          }
          // the load bar: booked against the working day
          const bw = c.w - 10, k = Math.min(1, cell.booked / work);
          ctx.fillStyle = K.loadBar; ctx.fillRect(c.x + 5, y + 15, bw, 4);
          ctx.fillStyle = cell.over ? K.loadOver : k >= 0.9 ? K.loadFull : K.loadOk;
          ctx.fillRect(c.x + 5, y + 15, bw * k, 4);
        }
      });
      ctx.fillStyle = K.line;
      ctx.fillRect(gut, Math.round(y + r.h) - 1, W - gut, 1);
    }
    ctx.fillStyle = K.rule;
    for (const c of cols) if (c.w >= 1) ctx.fillRect(Math.round(c.x), HEAD, 1, H - HEAD);
    for (const it of this.items) {
      if (it.y - scroll > H || it.y + it.h - scroll < HEAD || it.task.id === hide) continue;
      const mode = `${it.task.id === sel ? 'selected' : ''} ${pending.has(it.task.id) ? 'pending' : ''}`;
      this.line(ctx, it, scroll, mode);
    }
    for (const ch of this.chips) {
      const y = ch.y - scroll;
      if (y > H || y + ch.h < HEAD) continue;
      ctx.fillStyle = K.chip;
      ctx.beginPath(); ctx.roundRect(ch.x, y, ch.w, ch.h, 4); ctx.fill();
      ctx.fillStyle = K.chipText; ctx.font = SMALL;
      const s = fit(ctx, `+${ch.tasks.length} more`, ch.w - 10) || fit(ctx, `+${ch.tasks.length}`, ch.w - 6);
      this.text(ctx, '', 'chip', s, ch.x + 5, y + 4, ch.w - 8, { x: ch.x, y, w: ch.w, h: ch.h });
    }
    this.drawHeader(ctx, now, gut);
    // the gutter: each person, the week's hours
    ctx.fillStyle = K.head;
    ctx.fillRect(0, HEAD, gut, H - HEAD);
    for (const r of this.rows) {
      const y = r.y - scroll;
      if (y > H || y + r.h < HEAD) continue;
      const box = { x: 0, y, w: gut - 1, h: r.h };
      ctx.fillStyle = K.headText; ctx.font = BOLD;
      this.text(ctx, '', 'person', fit(ctx, r.name, gut - 14), 8, y + 4, gut - 14, box);
      ctx.font = FONT; ctx.fillStyle = K.headSub;
      const days = r.days.filter((d) => d.tasks.length).length;
      const sum = r.unassigned ? `${r.days.reduce((n, d) => n + d.tasks.length, 0)} tasks` : `${hours(r.booked)} in ${days} day${days === 1 ? '' : 's'}`;
      this.text(ctx, '', 'person', fit(ctx, sum, gut - 14), 8, y + 20, gut - 14, box);
      ctx.fillStyle = K.line;
      ctx.fillRect(0, Math.round(y + r.h) - 1, gut, 1);
    }
    ctx.fillStyle = K.rule;
    ctx.fillRect(gut - 1, HEAD, 1, H - HEAD);
  }

  /**
   * One task line of the person layout: its start, then its title; the
   * time is dropped (never cut) when both do not fit.
   */
  line(ctx, it, scroll, mode) {
    const t = it.task, x = it.x, y = it.y - scroll, w = it.w, h = it.h;
    const col = blockColours(serviceColour(t.service, this.world.services.get(t.service)), t.status);
    ctx.fillStyle = col.bg;
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = t.priority === 3 && t.status !== Status.Completed ? K.urgent : col.edge;
    ctx.fillRect(x, y, 3, h);
    if (it.warn) { ctx.strokeStyle = K.loadOver; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y + 1, w - 2, h - 2); }
    if (mode.includes('selected')) { ctx.strokeStyle = K.selected; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y + 1, w - 2, h - 2); }
    if (mode.includes('pending')) { ctx.setLineDash([4, 3]); ctx.strokeStyle = K.pending; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); ctx.setLineDash([]); }
    if (w < 20) return;
    const box = { x, y, w, h }, room = w - 10;
    ctx.textBaseline = 'top';
    ctx.font = FONT; ctx.fillStyle = col.sub;
    const time = clock(t.start);
    let left = x + 6, rest = room;
    if (measure(ctx, time) + 5 + 70 <= room) { // the title first: the time only beside a title of some length
      const tw = this.text(ctx, t.id, 'time', time, left, y + 3, room, box);
      left += tw + 5; rest -= tw + 5;
    }
    ctx.font = BOLD; ctx.fillStyle = col.fg;
    const title = fit(ctx, t.title || '(untitled)', rest);
    const tw = this.text(ctx, t.id, 'title', title, left, y + 3, rest, box);
    if (t.status === Status.Completed && tw) ctx.fillRect(left, y + 9, tw, 1);
  }

  drawOverlay(ctx, scroll) {
    // the keyboard's cursor, where n creates and p or Ctrl+V puts a task
    const cur = this.state.cursor;
    if (cur && !this.person && !this.drag?.active && (!this.state.selection || this.world.tasks.get(this.state.selection)?.status === Status.Staged)) {
      const r = this.slotRect(cur);
      if (r) { ctx.strokeStyle = K.selected; ctx.lineWidth = 2; ctx.setLineDash([2, 2]); ctx.strokeRect(r.x + 1, r.y - scroll + 1, r.w - 2, r.h - 2); ctx.setLineDash([]); }
    }
    // commands in flight: a dashed ghost where the block is going
    if (!this.person) {
      for (const p of this.state.pending.values()) {
        if (!p.slot) continue;
        const r = this.slotRect(p.slot);
        if (!r) continue;
        ctx.setLineDash([5, 3]); ctx.strokeStyle = K.ghost; ctx.lineWidth = 2;
        ctx.strokeRect(r.x + 1, r.y - scroll + 1, r.w - 2, r.h - 2); ctx.setLineDash([]);
        if (p.title && r.h >= 14) {
          ctx.fillStyle = K.ghostText; ctx.font = BOLD; ctx.textBaseline = 'top';
          ctx.fillText(fit(ctx, p.title, r.w - 10), r.x + 6, r.y - scroll + 3);
        }
      }
    }
    const d = this.drag;
    if (!d?.active) return;
    if (this.person && d.cell) {
      const c = this.cols[d.cell.col], r = this.rows[d.cell.row];
      ctx.strokeStyle = K.ghost; ctx.lineWidth = 2; ctx.setLineDash([5, 3]);
      ctx.strokeRect(c.x + 1, r.y - scroll + 1, c.w - 2, r.h - 2); ctx.setLineDash([]);
      const t = { ...d.task, status: d.task.status || Status.Scheduled }, n = this.texts.length;
      ctx.shadowColor = 'rgba(0,0,0,0.25)'; ctx.shadowBlur = 8;
      this.line(ctx, { task: t, x: d.px - 20, y: d.py + scroll - 9, w: Math.min(200, c.w - 6), h: ROW - 2, lines: [0, 0] }, scroll, 'selected');
      ctx.shadowBlur = 0;
      this.texts.length = n; // the ghost's texts are not the layout's
      return;
    }
    if (!d.slot) return;
    const r = this.slotRect(d.slot);
    if (!r) return;
    const t = { ...d.task, ...d.slot, status: d.task.status || Status.Scheduled };
    const n = this.texts.length;
    ctx.shadowColor = 'rgba(0,0,0,0.25)'; ctx.shadowBlur = 8;
    this.block(ctx, { task: t, x: r.x, y: r.y, w: r.w, h: r.h, lines: [r.w, r.h >= 30 ? r.w : 0] }, scroll, 'selected');
    ctx.shadowBlur = 0;
    this.texts.length = n;
    ctx.fillStyle = K.selected; ctx.font = BOLD; ctx.textBaseline = 'bottom';
    ctx.fillText(`${d.clone ? 'copy to ' : ''}${clock(d.slot.start)}–${clock(d.slot.start + d.slot.duration)}`, r.x + 4, Math.max(HEAD + 14, r.y - scroll - 2));
  }

  /** The full-column rectangle of a slot in this week (content coordinates), or null. @param {Slot} slot */
  slotRect(slot) {
    const i = slot.date - this.week;
    if (!this.cols.length || i < 0 || i >= 7 || this.cols[i].w < 8) return null;
    const c = this.cols[i], y0 = HEAD + this.axis.y(slot.start);
    return { x: c.x + 1, y: y0, w: c.w - 3, h: Math.max(2, HEAD + this.axis.y(slot.start + slot.duration) - y0 - 1) };
  }

  // Pointer position → canvas coordinates, the day under it, and the minute.
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const inside = x >= this.gutter && x < r.width && y >= HEAD && y < r.height;
    const cy = y + this.root.scrollTop;
    const minute = this.axis.minute(cy - HEAD);
    const col = this.cols.findIndex((c) => x >= c.x && x < c.x + c.w && c.w >= 8);
    const row = this.person ? this.rows.findIndex((rw) => cy >= rw.y && cy < rw.y + rw.h) : -1;
    return { x, y, inside: inside && col >= 0, minute, col, row, date: col >= 0 ? this.week + col : -1 };
  }

  /** The chip or task under a canvas point. @param {number} x @param {number} y */
  hit(x, y) {
    if (y < HEAD || x < this.gutter) return null;
    const cy = y + this.root.scrollTop;
    for (const ch of this.chips) {
      if (x >= ch.x && x < ch.x + ch.w && cy >= ch.y && cy < ch.y + Math.max(CASCADE.CHIP_H, this.person ? ch.h : 0)) return { chip: ch };
    }
    const sel = this.state.selection && this.byId.get(this.state.selection);
    if (sel && x >= sel.x && x < sel.x + sel.w && cy >= sel.y && cy < sel.y + sel.h) return { item: sel };
    for (let i = this.items.length - 1; i >= 0; i--) {
      const it = this.items[i];
      if (x >= it.x && x < it.x + it.w && cy >= it.y && cy < it.y + it.h) return { item: it };
    }
    return null;
  }

  zone(it, y) {
    if (this.person) return 'move';
    const cy = y + this.root.scrollTop;
    if (it.h >= 3 * EDGE && it.task.status !== Status.Completed) {
      if (cy - it.y < EDGE) return 'top';
      if (it.y + it.h - cy < EDGE) return 'bottom';
    }
    return 'move';
  }

  hover(e) {
    if (this.drag || e.pointerType === 'touch') return;
    const p = this.at(e), h = this.hit(p.x, p.y), it = h?.item;
    const z = it && this.zone(it, p.y);
    this.canvas.style.cursor = h?.chip ? 'pointer' : !it ? 'default' : z === 'move' ? 'grab' : 'ns-resize';
    const id = it ? it.task.id : '';
    if (id === this.hovered) return;
    this.hovered = id;
    this.on.hover(it ? it.task : null, it ? this.clientRect(it) : null);
  }

  unhover() {
    if (!this.hovered) return;
    this.hovered = '';
    this.on.hover(null, null);
  }

  /** @param {PointerEvent} e */
  down(e) {
    if (e.button !== 0) return;
    this.root.focus({ preventScroll: true });
    this.unhover();
    if (e.pointerType === 'touch') return this.touch(e);
    const p = this.at(e), h = this.hit(p.x, p.y);
    if (h?.chip) { e.preventDefault(); return this.on.overflow(h.chip.tasks, this.clientRect(h.chip)); }
    const it = h?.item;
    if (!it) { this.on.select(null); return; }
    this.on.select(it.task.id);
    this.grab(e, it, p, e.altKey);
    e.preventDefault();
  }

  /** Starts dragging a block (or a person-layout line) from pointer p. */
  grab(e, it, p, clone) {
    if (it.task.status === Status.Completed && !clone) return; // a completed task stays put
    const z = this.zone(it, p.y), t = it.task;
    // grab: how far the pointer is from the edge that follows it
    this.begin(e, { task: t, zone: z, clone: clone && z === 'move', grab: p.minute - (z === 'bottom' ? t.start + t.duration : t.start) });
  }

  /**
   * A touch: a tap selects, a swipe scrolls (up and down) or turns the
   * day (sideways), a press held LONG_PRESS picks the block up to drag.
   * @param {PointerEvent} e
   */
  touch(e) {
    const p = this.at(e), h = this.hit(p.x, p.y), it = h?.item;
    const x0 = e.clientX, y0 = e.clientY, s0 = this.root.scrollTop, t0 = performance.now();
    let mode = 'wait';
    const timer = it ? setTimeout(() => {
      if (mode !== 'wait') return;
      mode = 'drag';
      cleanup();
      this.on.select(it.task.id);
      this.grab(e, it, p, false);
      if (this.drag) { this.drag.x0 = -1e9; navigator.vibrate?.(20); }
    }, LONG_PRESS) : 0;
    const move = (/** @type {PointerEvent} */ ev) => {
      const dx = ev.clientX - x0, dy = ev.clientY - y0;
      if (mode === 'wait' && Math.hypot(dx, dy) > 8) mode = Math.abs(dx) > Math.abs(dy) ? 'swipe' : 'scroll';
      if (mode === 'scroll') this.root.scrollTop = s0 - dy;
    };
    const up = (/** @type {PointerEvent} */ ev) => {
      cleanup();
      const dx = ev.clientX - x0;
      if (mode === 'swipe' && Math.abs(dx) > 50) this.on.navigate(dx < 0 ? 1 : -1);
      else if (mode === 'wait' && performance.now() - t0 < LONG_PRESS) {
        if (h?.chip) this.on.overflow(h.chip.tasks, this.clientRect(h.chip));
        else this.on.select(it ? it.task.id : null);
      }
      mode = 'done';
    };
    const cleanup = () => {
      clearTimeout(timer);
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
    e.preventDefault();
  }

  /**
   * Starts a drag: of a block (zone move, top or bottom) or of a staged task
   * from the staging panel (zone schedule). It becomes active past a few
   * pixels, so a click only selects.
   * @param {PointerEvent} e
   * @param {{task: Task, zone: string, grab: number, clone?: boolean}} d
   */
  begin(e, d) {
    this.drag = { ...d, x0: e.clientX, y0: e.clientY, active: false, slot: null, cell: null, hide: '' };
    const move = (/** @type {PointerEvent} */ ev) => this.move(ev);
    const up = () => { cleanup(); this.drop(); };
    const cancel = () => { cleanup(); this.cancel(); };
    const cleanup = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', cancel);
    };
    this.drag.cleanup = cleanup;
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', cancel);
  }

  /** @param {PointerEvent} e */
  move(e) {
    const d = this.drag;
    if (!d) return;
    if (!d.active) {
      if (Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < 4) return;
      d.active = true;
      if (d.zone !== 'schedule' && !d.clone) d.hide = d.task.id; // the clone's ghost stays at the original
      document.body.classList.add('dragging');
      this.unhover();
    }
    const p = this.at(e), t = d.task;
    d.overZone = d.zone !== 'schedule' && !d.clone && this.overDropZone(e.clientX, e.clientY);
    this.dropZone?.classList.toggle('drop', !!d.overZone);
    d.slot = null; d.cell = null;
    if (p.inside && !d.overZone) {
      if (this.person) {
        if (p.row >= 0) d.cell = { row: p.row, col: p.col };
        d.px = p.x; d.py = p.y;
      } else {
        d.slot = dragSlot({ zone: d.zone, task: t, grab: d.grab || 0, minute: p.minute, date: p.date, grid: this.world.grid, snapToGrid: e.shiftKey });
      }
    }
    this.redraw();
  }

  overDropZone(x, y) {
    if (!this.dropZone || this.dropZone.offsetParent === null) return false;
    const r = this.dropZone.getBoundingClientRect();
    return x >= r.left && x < r.right && y >= r.top && y < r.bottom;
  }

  drop() {
    const d = this.drag;
    this.drag = null;
    document.body.classList.remove('dragging');
    this.dropZone?.classList.remove('drop');
    if (d?.active) {
      const t = d.task;
      if (d.overZone) this.on.unschedule(t);
      else if (this.person && d.cell) this.dropOnCell(d, t);
      else if (d.slot && d.zone === 'schedule') this.on.schedule(t, d.slot);
      else if (d.slot && d.clone) this.on.clone(t, d.slot);
      else if (d.slot && (d.slot.date !== t.date || d.slot.start !== t.start || d.slot.duration !== t.duration)) {
        if (d.zone === 'move') this.on.move(t, d.slot); else this.on.resize(t, d.slot);
      }
    }
    this.baseKey = '';
    this.redraw();
  }

  /** Person layout: a drop on a cell reassigns to its person and moves to its day (same time). */
  dropOnCell(d, t) {
    const row = this.rows[d.cell.row], date = this.cols[d.cell.col].date;
    if (d.zone === 'schedule') {
      this.on.schedule(t, this.freeSlot(row.days[d.cell.col].tasks, date));
    } else if (date !== t.date) {
      this.on.move(t, { date, start: t.start, duration: t.duration });
    }
    if (row.id !== t.assignee) this.on.assign(t, row.id);
  }

  /** The first free step of a person's day from the start of the working day. */
  freeSlot(tasks, date) {
    const step = stepFor(MOVE_STEP, this.world.grid || 1);
    let start = Math.ceil(this.workday().ws / step) * step;
    for (const t of tasks) if (t.start < start + step && t.start + t.duration > start) start = Math.ceil((t.start + t.duration) / step) * step;
    start = Math.min(DAY_MINUTES - step, start);
    return { date, start, duration: step };
  }

  /** Esc: the drag ends where it began; nothing is sent. */
  cancel() {
    if (!this.drag) return false;
    this.drag.cleanup();
    this.drag = null;
    document.body.classList.remove('dragging');
    this.dropZone?.classList.remove('drop');
    this.redraw();
    return true;
  }

  /** @param {MouseEvent} e */
  dblclick(e) {
    const p = this.at(e), h = this.hit(p.x, p.y);
    if (h?.item) return this.on.rename(h.item.task);
    if (h || !p.inside) return;
    if (this.person) {
      if (p.row < 0) return;
      const row = this.rows[p.row];
      return this.on.create(this.freeSlot(row.days[p.col].tasks, p.date), row.id);
    }
    this.on.create(createSlot(p.date, p.minute, this.world.grid), ZERO);
  }

  /** A content rectangle in client (page viewport) coordinates. @param {Rect} it */
  clientRect(it) {
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + it.x, y: r.top + it.y - this.root.scrollTop, w: it.w, h: it.h };
  }

  /** A block's rectangle in client coordinates, or null. @param {string} id */
  rectOf(id) {
    this.layout();
    const it = this.byId.get(id);
    return it ? this.clientRect(it) : null;
  }

  /** Where a task is on screen: its block, or the chip it is behind (client coordinates), or null. @param {string} id */
  placeOf(id) {
    const r = this.rectOf(id);
    if (r) return r;
    const ch = this.chips.find((c) => c.tasks.some((t) => t.id === id));
    return ch ? this.clientRect(ch) : null;
  }

  /** A client point on a block that no other block covers (its title line), or null. @param {string} id */
  grabPoint(id) {
    this.layout();
    const it = this.byId.get(id);
    if (!it) return null;
    const r = this.clientRect(it);
    const w = Math.min(it.w, it.lines[0] || it.w);
    return { x: r.x + Math.min(w / 2, 30), y: r.y + Math.min(it.h / 2, 9) };
  }

  /** A slot's rectangle in client coordinates (for the in-place editor). @param {Slot} slot */
  clientSlot(slot) {
    this.layout();
    if (this.person) {
      const i = slot.date - this.week, c = this.cols[i];
      if (!c) return null;
      const r = this.canvas.getBoundingClientRect();
      return { x: r.left + c.x, y: r.top + HEAD, w: c.w, h: 24 };
    }
    const s = this.slotRect(slot);
    return s ? this.clientRect(s) : null;
  }

  /** The client point at the middle of a slot (for tests and the speed script). */
  pointAt(date, minute) {
    this.layout();
    const i = date - this.week, c = this.cols[i], r = this.canvas.getBoundingClientRect();
    return { x: r.left + c.x + c.w / 2, y: r.top + HEAD + this.axis.y(minute) - this.root.scrollTop };
  }

  /** The client point in the middle of a person-layout cell. @param {string} person @param {number} date */
  cellPoint(person, date) {
    this.layout();
    const row = this.rows.find((r) => r.id === person), c = this.cols[date - this.week];
    if (!row || !c) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + c.x + c.w / 2, y: r.top + row.y + row.h / 2 - this.root.scrollTop };
  }

  /** What a hover card says about a task. @param {Task} t */
  describe(t) {
    return {
      title: t.title || '(untitled)',
      when: t.status === Status.Staged ? 'Not scheduled' : `${dayLabel(t.date)}, ${clock(t.start)}–${clock(t.start + t.duration)}`,
      service: this.world.services.get(t.service)?.name || '',
      assignee: this.world.users.get(t.assignee) || 'Unassigned',
      priority: PRIORITY_NAMES[t.priority] || '',
      status: STATUS_NAMES[t.status] || '',
    };
  }
}

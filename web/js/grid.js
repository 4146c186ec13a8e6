// The week grid: seven day columns by 24 hours, drawn on one canvas.
//
// Speed comes from drawing little per frame: the grid and every block are
// drawn into an offscreen "base" layer only when something they show
// changes (the world, the week, the scroll, the selection); a frame while
// dragging is one copy of that layer plus the block being dragged. Blocks
// outside the visible hours are not drawn, text is skipped on blocks too
// small to hold it, and the lane layout is computed once per change.

import { Status, PRIORITY_NAMES, DAY_MINUTES, layoutDay, dayLabel, clock, initials, snap, stepFor } from './model.js';

const HEAD = 44; // header: day names
const GUT = 56; // gutter: hours
const EDGE = 6; // px: a press this close to a block's top or bottom resizes
const PALETTE = ['#3b82f6', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#ec4899', '#14b8a6', '#f97316', '#6366f1', '#84cc16'];
const FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const BOLD = `600 ${FONT}`;

/**
 * A service's colour: the one an admin chose (service.color, 0xRRGGBB),
 * else one from the palette, stable for its id.
 * @param {string} id
 * @param {{color?: number}} [service]  the world's record of it
 */
export function serviceColour(id, service) {
  if (service?.color) return `#${service.color.toString(16).padStart(6, '0')}`;
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) | 0;
  return PALETTE[Math.abs(h) % PALETTE.length];
}

function tint(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  const mix = (c) => Math.round(c + (255 - c) * (1 - a));
  return `rgb(${mix(n >> 16)},${mix((n >> 8) & 255)},${mix(n & 255)})`;
}

export class WeekGrid {
  /**
   * @param {HTMLElement} root  the scrolling element
   * @param {object} app  world, settings, pending, selected, today(), and
   *   the gesture callbacks: select, move, schedule, unschedule, create, rename
   */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.hourPx = 48;
    this.week = 0; // date of the first column
    this.collapse = 0; // 0: seven columns … 1: today alone
    this.collapseTo = 0;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'grid-canvas';
    this.spacer = document.createElement('div');
    root.append(this.canvas, this.spacer);
    this.ctx = this.canvas.getContext('2d');
    this.base = document.createElement('canvas');
    this.bctx = this.base.getContext('2d');
    this.baseKey = '';
    this.layoutKey = '';
    this.items = []; // [{task, x, y, w, h}] in content coordinates (y without scroll)
    this.drag = null;
    this.frames = 0; // frames drawn, for the speed figures
    this.times = new Float64Array(600); // ms each of the last 600 took
    this.queued = false;
    new ResizeObserver(() => this.resize()).observe(root);
    root.addEventListener('scroll', () => this.redraw(), { passive: true });
    this.canvas.addEventListener('pointerdown', (e) => this.down(e));
    this.canvas.addEventListener('pointermove', (e) => this.hover(e));
    this.canvas.addEventListener('dblclick', (e) => this.dblclick(e));
    this.resize();
  }

  get mpx() { return this.hourPx / 60; }

  resize() {
    const W = this.root.clientWidth, H = this.root.clientHeight;
    if (!W || !H) return;
    const dpr = window.devicePixelRatio || 1;
    this.W = W; this.H = H; this.dpr = dpr;
    for (const c of [this.canvas, this.base]) {
      c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    }
    this.canvas.style.width = `${W}px`; this.canvas.style.height = `${H}px`;
    this.spacer.style.height = `${Math.max(0, HEAD + 24 * this.hourPx - H)}px`;
    this.baseKey = this.layoutKey = '';
    this.redraw();
  }

  /** Shows the week starting on date. */
  show(week) {
    if (week === this.week) return;
    this.week = week;
    this.redraw();
  }

  scrollToMinute(min) { this.root.scrollTop = Math.max(0, min * this.mpx - 8); }

  /** Animates to a single column of today (on) or back to seven (off). */
  setCollapsed(on) {
    this.collapseTo = on ? 1 : 0;
    const from = this.collapse, t0 = performance.now();
    const step = (now) => {
      const k = Math.min(1, (now - t0) / 250);
      this.collapse = from + (this.collapseTo - from) * k * (2 - k);
      this.layoutKey = '';
      this.draw();
      if (k < 1) requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  // Column geometry: x and width of column i, with the collapse applied.
  columns() {
    const full = this.W - GUT, w0 = full / 7, t = this.collapse;
    const today = this.app.today().date - this.week;
    const ti = today >= 0 && today < 7 ? today : 0;
    const cols = [];
    let x = GUT;
    for (let i = 0; i < 7; i++) {
      const w = w0 * (1 - t) + (i === ti ? full * t : 0);
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

  layout() {
    const w = this.app.world;
    const key = `${w.changes}|${this.week}|${this.W}|${this.collapse}|${this.hourPx}`;
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    this.cols = this.columns();
    const days = w.days(this.week, this.week + 7);
    const items = [];
    const mpx = this.mpx;
    days.forEach((all, i) => {
      const c = this.cols[i];
      const tasks = all.filter((t) => this.app.visible(t));
      c.count = tasks.length;
      if (c.w < 2) return;
      const inner = c.w - 4;
      for (const { task, lane, lanes } of layoutDay(tasks)) {
        const lw = inner / lanes;
        items.push({ task, x: c.x + 2 + lane * lw, y: HEAD + task.start * mpx, w: Math.max(1, lw - 1), h: Math.max(2, task.duration * mpx - 1) });
      }
    });
    this.items = items;
    this.byId = new Map(items.map((it) => [it.task.id, it]));
  }

  draw() {
    if (!this.W) return;
    const t0 = performance.now();
    this.layout();
    const a = this.app, now = a.today();
    const scroll = this.root.scrollTop;
    const key = `${this.layoutKey}|${scroll}|${this.H}|${a.selected}|${a.pendingVersion}|${now.date}|${now.minute}|${this.drag?.hide || ''}|${a.settingsVersion}`;
    if (key !== this.baseKey) {
      this.baseKey = key;
      this.drawBase(this.bctx, scroll, now);
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawOverlay(ctx, scroll);
    this.frames++;
    this.times[this.frames % this.times.length] = performance.now() - t0;
  }

  drawBase(ctx, scroll, now) {
    const { W, H, mpx, cols } = this;
    const s = this.app.settings;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#f3f4f6';
    ctx.fillRect(0, 0, W, H);
    const top = scroll, bottom = scroll + H;
    const y = (min) => HEAD + min * mpx - scroll;
    // working hours are white, the rest grey; today is tinted
    for (const c of cols) {
      if (c.w < 1) continue;
      ctx.fillStyle = c.date === now.date ? '#eff6ff' : '#ffffff';
      ctx.fillRect(c.x, y(s.workday_start), c.w, (s.workday_end - s.workday_start) * mpx);
    }
    // hour lines
    ctx.fillStyle = '#e5e7eb';
    for (let h = 0; h <= 24; h++) {
      const yy = y(h * 60);
      if (yy < HEAD - 1 || yy > H) continue;
      ctx.fillRect(GUT, Math.round(yy), W - GUT, 1);
    }
    ctx.fillStyle = '#f1f2f4';
    for (let h = 0; h < 24; h++) {
      const yy = y(h * 60 + 30);
      if (yy < HEAD || yy > H) continue;
      ctx.fillRect(GUT, Math.round(yy), W - GUT, 1);
    }
    ctx.fillStyle = '#d1d5db';
    for (const c of cols) if (c.w >= 1) ctx.fillRect(Math.round(c.x), HEAD, 1, H - HEAD);
    // blocks
    const hide = this.drag?.hide, sel = this.app.selected, pending = this.app.pending;
    let selIt = null;
    for (const it of this.items) {
      if (it.y + it.h < top + HEAD || it.y > bottom) continue;
      if (it.task.id === hide) continue;
      if (it.task.id === sel) { selIt = it; continue; }
      this.block(ctx, it.task, it.x, it.y - scroll, it.w, it.h, pending.has(it.task.id) ? 'pending' : '');
    }
    if (selIt) this.block(ctx, selIt.task, selIt.x, selIt.y - scroll, selIt.w, selIt.h, pending.has(sel) ? 'pending selected' : 'selected');
    // now
    const ni = now.date - this.week;
    if (ni >= 0 && ni < 7 && cols[ni].w > 1) {
      const yy = y(now.minute);
      ctx.fillStyle = '#dc2626';
      ctx.fillRect(cols[ni].x, yy - 1, cols[ni].w, 2);
      ctx.beginPath(); ctx.arc(cols[ni].x + 2, yy, 4, 0, 7); ctx.fill();
    }
    // header and gutter, over everything
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, W, HEAD);
    ctx.fillRect(0, HEAD, GUT, H - HEAD);
    ctx.fillStyle = '#d1d5db';
    ctx.fillRect(0, HEAD - 1, W, 1);
    ctx.fillRect(GUT - 1, HEAD, 1, H - HEAD);
    ctx.textBaseline = 'middle';
    for (const c of cols) {
      if (c.w < 30) continue;
      const today = c.date === now.date;
      if (today) { ctx.fillStyle = '#dbeafe'; ctx.fillRect(c.x + 1, 0, c.w - 1, HEAD - 1); }
      ctx.fillStyle = today ? '#1d4ed8' : '#374151';
      ctx.font = today ? BOLD : FONT;
      const n = c.count;
      ctx.fillText(dayLabel(c.date), c.x + 8, 15);
      ctx.fillStyle = '#6b7280'; ctx.font = FONT;
      ctx.fillText(`${n} task${n === 1 ? '' : 's'}`, c.x + 8, 31);
    }
    ctx.fillStyle = '#6b7280';
    ctx.font = FONT;
    for (let h = 1; h < 24; h++) {
      const yy = y(h * 60);
      if (yy < HEAD + 6 || yy > H) continue;
      ctx.fillText(clock(h * 60), 10, yy);
    }
  }

  /** Draws one task block at (x, y) in canvas pixels. */
  block(ctx, t, x, y, w, h, mode) {
    const colour = serviceColour(t.service, this.app.world.services.get(t.service));
    const done = t.status === Status.Completed, active = t.status === Status.Active;
    ctx.globalAlpha = mode.includes('pending') ? 0.55 : 1;
    ctx.fillStyle = done ? '#e5e7eb' : active ? colour : tint(colour, 0.25);
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = done ? '#9ca3af' : colour;
    ctx.fillRect(x, y, Math.min(3, w), h);
    if (mode.includes('selected')) {
      ctx.strokeStyle = '#111827'; ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
    }
    if (mode.includes('pending')) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = '#111827'; ctx.lineWidth = 1;
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); ctx.setLineDash([]);
    }
    if (h >= 14 && w >= 28) {
      const fg = done ? '#6b7280' : active ? '#ffffff' : '#111827';
      const chars = Math.floor((w - 10) / 6.6);
      ctx.font = BOLD; ctx.fillStyle = fg; ctx.textBaseline = 'top';
      let title = t.title || '(untitled)';
      if (title.length > chars) title = title.slice(0, Math.max(1, chars - 1)) + '…';
      ctx.fillText(title, x + 6, y + 2);
      if (done) ctx.fillRect(x + 6, y + 9, Math.min(w - 10, title.length * 6.6), 1);
      if (h >= 30) {
        ctx.font = FONT;
        const pr = t.priority >= 2 ? ` · ${PRIORITY_NAMES[t.priority]}` : '';
        const st = active ? ' · started' : done ? ' · done' : '';
        let line = `${clock(t.start)}–${clock(t.start + t.duration)}${pr}${st}`;
        if (line.length > chars) line = line.slice(0, Math.max(1, chars));
        ctx.fillText(line, x + 6, y + 17);
      }
      const who = this.app.world.users.get(t.assignee);
      if (who && w >= 60 && h >= 20) {
        ctx.fillStyle = done ? '#9ca3af' : '#1f2937';
        ctx.beginPath(); ctx.arc(x + w - 11, y + 10, 8, 0, 7); ctx.fill();
        ctx.fillStyle = '#ffffff'; ctx.font = '600 9px system-ui, sans-serif'; ctx.textAlign = 'center';
        ctx.fillText(initials(who), x + w - 11, y + 5.5);
        ctx.textAlign = 'left';
      }
      if (t.priority === 3 && !done) {
        ctx.fillStyle = '#dc2626';
        ctx.fillRect(x + w - 4, y, 4, h);
      }
    }
    ctx.globalAlpha = 1;
  }

  drawOverlay(ctx, scroll) {
    const a = this.app;
    // commands in flight: a dashed ghost where the block is going
    for (const p of a.pending.values()) {
      if (!p.slot) continue;
      const r = this.slotRect(p.slot);
      if (!r) continue;
      ctx.globalAlpha = 0.8;
      ctx.setLineDash([5, 3]); ctx.strokeStyle = '#2563eb'; ctx.lineWidth = 2;
      ctx.strokeRect(r.x + 1, r.y - scroll + 1, r.w - 2, r.h - 2); ctx.setLineDash([]);
      if (p.title) { ctx.fillStyle = '#1e3a8a'; ctx.font = BOLD; ctx.textBaseline = 'top'; ctx.fillText(p.title.slice(0, Math.floor(r.w / 7)), r.x + 6, r.y - scroll + 3); }
      ctx.globalAlpha = 1;
    }
    const d = this.drag;
    if (d?.active && d.slot) {
      const r = this.slotRect(d.slot);
      if (r) {
        const t = { ...d.task, ...d.slot, status: d.task.status || Status.Scheduled };
        ctx.shadowColor = 'rgba(0,0,0,0.25)'; ctx.shadowBlur = 8;
        this.block(ctx, t, r.x, r.y - scroll, r.w, r.h, 'selected');
        ctx.shadowBlur = 0;
        ctx.fillStyle = '#111827'; ctx.font = BOLD; ctx.textBaseline = 'bottom';
        ctx.fillText(`${d.clone ? 'copy to ' : ''}${clock(d.slot.start)}–${clock(d.slot.start + d.slot.duration)}`, r.x + 4, r.y - scroll - 2);
      }
    }
  }

  /** The full-column rectangle of a slot in this week (content coordinates), or null. */
  slotRect(slot) {
    const i = slot.date - this.week;
    if (!this.cols || i < 0 || i >= 7 || this.cols[i].w < 2) return null;
    const c = this.cols[i];
    return { x: c.x + 2, y: HEAD + slot.start * this.mpx, w: c.w - 4, h: slot.duration * this.mpx - 1 };
  }

  // Pointer position → canvas coordinates, the day under it, and the minute.
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const inside = x >= GUT && x < r.width && y >= HEAD && y < r.height;
    const minute = (y - HEAD + this.root.scrollTop) / this.mpx;
    const col = (this.cols || []).findIndex((c) => x >= c.x && x < c.x + c.w && c.w >= 2);
    return { x, y, inside: inside && col >= 0, minute, date: col >= 0 ? this.week + col : -1 };
  }

  hit(x, y) {
    const cy = y + this.root.scrollTop;
    if (y < HEAD) return null;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const it = this.items[i];
      if (x >= it.x && x < it.x + it.w && cy >= it.y && cy < it.y + it.h) return it;
    }
    return null;
  }

  zone(it, y) {
    const cy = y + this.root.scrollTop;
    if (it.h >= 3 * EDGE && it.task.status !== Status.Completed) {
      if (cy - it.y < EDGE) return 'top';
      if (it.y + it.h - cy < EDGE) return 'bottom';
    }
    return 'move';
  }

  hover(e) {
    if (this.drag) return;
    const p = this.at(e), it = this.hit(p.x, p.y);
    const z = it && this.zone(it, p.y);
    this.canvas.style.cursor = !it ? 'default' : z === 'move' ? 'grab' : 'ns-resize';
  }

  down(e) {
    if (e.button !== 0) return;
    this.root.focus({ preventScroll: true });
    const p = this.at(e), it = this.hit(p.x, p.y);
    if (!it) { this.app.select(null); return; }
    this.app.select(it.task.id);
    if (it.task.status === Status.Completed && !e.altKey) return; // a completed task stays put
    const z = this.zone(it, p.y), t = it.task;
    // grab: how far the pointer is from the edge that follows it
    this.begin(e, { task: t, zone: z, clone: e.altKey && z === 'move', grab: p.minute - (z === 'bottom' ? t.start + t.duration : t.start) });
    e.preventDefault();
  }

  /**
   * Starts a drag: of a block (zone move, top or bottom) or of a staged task
   * from the staging panel (zone schedule). It becomes active past a few
   * pixels, so a click only selects.
   */
  begin(e, d) {
    this.drag = { ...d, x0: e.clientX, y0: e.clientY, active: false, slot: null, hide: '' };
    const move = (ev) => this.move(ev);
    const up = (ev) => { cleanup(); this.drop(ev); };
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

  move(e) {
    const d = this.drag;
    if (!d) return;
    if (!d.active) {
      if (Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < 4) return;
      d.active = true;
      if (d.zone !== 'schedule' && !d.clone) d.hide = d.task.id; // the clone's ghost stays at the original
      document.body.classList.add('dragging');
    }
    const p = this.at(e), t = d.task, g = this.app.world.grid;
    d.overStaging = d.zone !== 'schedule' && !d.clone && this.app.overStaging(e.clientX, e.clientY);
    this.app.highlightStaging(d.overStaging);
    d.slot = null;
    if (p.inside && !d.overStaging) {
      if (d.zone === 'move' || d.zone === 'schedule') {
        const step = stepFor(30, g), dur = d.zone === 'schedule' ? stepFor(30, g) : t.duration;
        const start = Math.min(DAY_MINUTES - dur, Math.max(0, snap(p.minute - (d.grab || 0), step)));
        d.slot = { date: p.date, start, duration: dur };
      } else {
        const step = stepFor(5, g), end = t.start + t.duration;
        const m = snap(p.minute - d.grab, step);
        d.slot = d.zone === 'top'
          ? { date: t.date, start: Math.max(0, Math.min(m, end - step)), duration: 0 }
          : { date: t.date, start: t.start, duration: Math.min(DAY_MINUTES, Math.max(m, t.start + step)) - t.start };
        if (d.zone === 'top') d.slot.duration = end - d.slot.start;
      }
    }
    this.redraw();
  }

  drop() {
    const d = this.drag;
    this.drag = null;
    document.body.classList.remove('dragging');
    this.app.highlightStaging(false);
    if (d?.active) {
      const t = d.task;
      if (d.overStaging) this.app.unschedule(t);
      else if (d.slot && d.zone === 'schedule') this.app.schedule(t, d.slot);
      else if (d.slot && d.clone) this.app.clone(t, d.slot);
      else if (d.slot && (d.slot.date !== t.date || d.slot.start !== t.start || d.slot.duration !== t.duration)) this.app.move(t, d.slot);
    }
    this.baseKey = '';
    this.redraw();
  }

  /** Esc: the drag ends where it began; nothing is sent. */
  cancel() {
    if (!this.drag) return false;
    this.drag.cleanup();
    this.drag = null;
    document.body.classList.remove('dragging');
    this.app.highlightStaging(false);
    this.redraw();
    return true;
  }

  dblclick(e) {
    const p = this.at(e), it = this.hit(p.x, p.y);
    if (it) return this.app.rename(it.task);
    if (!p.inside) return;
    const step = stepFor(30, this.app.world.grid);
    const start = Math.min(DAY_MINUTES - step, Math.floor(p.minute / step) * step);
    this.app.create({ date: p.date, start, duration: step });
  }

  /** A block's rectangle in client (page viewport) coordinates, or null. */
  rectOf(id) {
    this.layout();
    const it = this.byId?.get(id);
    if (!it) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + it.x, y: r.top + it.y - this.root.scrollTop, w: it.w, h: it.h };
  }

  /** A slot's rectangle in client coordinates (for the in-place editor). */
  clientSlot(slot) {
    this.layout();
    const s = this.slotRect(slot);
    if (!s) return null;
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + s.x, y: r.top + s.y - this.root.scrollTop, w: s.w, h: s.h };
  }

  /** The client point at the middle of a slot (for tests and the speed script). */
  pointAt(date, minute) {
    this.layout();
    const i = date - this.week, c = this.cols[i], r = this.canvas.getBoundingClientRect();
    return { x: r.left + c.x + c.w / 2, y: r.top + HEAD + minute * this.mpx - this.root.scrollTop };
  }
}

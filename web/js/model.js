// @ts-check
// The client's copy of the world: what the server's Snapshot and events
// say, nothing more. The client never changes it on its own; it only sends
// commands and waits for the events.

import { NO_DATE, DEFAULT_GRID, DEFAULT_SCHEDULE } from './codec.js';
import { Totals } from './totals.js';

export const Status = Object.freeze({ Staged: 0, Scheduled: 1, Active: 2, Completed: 3 });
export const STATUS_NAMES = ['Staged', 'Scheduled', 'Active', 'Completed'];
export const PRIORITY_NAMES = ['Low', 'Medium', 'High', 'Urgent'];
export const DAY_MINUTES = 1440;

/**
 * An event the copy cannot take: the copy must resync. A missing revision
 * (resumable: the missed events can be asked for) or a divergence (full:
 * only a fresh Snapshot helps).
 */
export class Gap extends Error {
  constructor(msg, full = false) { super(msg); this.full = full; }
}

/** How many created tasks the world remembers by revision (see createdAt). */
const REMEMBER = 1024;

export class World {
  constructor() {
    this.totals = new Totals();
    /** Counts changes of holidays and time off (a Snapshot is one), so their pane redraws only then. */
    this.daysOffChanges = 0;
    this.clear();
  }

  clear() {
    /** @type {Map<string, any>} */
    this.tasks = new Map();
    /**
     * id → {id, name, color, archived}: color is 0xRRGGBB, 0 when none was
     * chosen (the client picks one); an archived service takes no new tasks.
     * @type {Map<string, {id: string, name: string, color: number, archived: boolean}>}
     */
    this.services = new Map();
    /** @type {Map<string, string>} id → name */
    this.users = new Map();
    this.revision = 0;
    this.grid = DEFAULT_GRID;
    /**
     * The team's working week: workdayStart and workdayEnd in minutes from
     * midnight, firstDay 0 (Monday) … 6, timeZone an IANA name.
     */
    this.schedule = { ...DEFAULT_SCHEDULE };
    this.loaded = false;
    /** Counts every change, so views redraw only when it moves. */
    this.changes = 0;
    this.created = new Map(); // revision → id of the task created at it
    /** @type {Map<string, string>} id → title of a task deleted lately (a refusal about it names it) */
    this.deleted = new Map();
    /** @type {Map<number, string>} date → the team's holiday on it */
    this.holidays = new Map();
    /** @type {Map<string, {id: string, user: string, from: number, to: number, note: string}>} id → time off */
    this.timeOff = new Map();
    this.totals.clear();
  }

  /** Replaces everything with a Snapshot. */
  load(s) {
    this.clear();
    for (const t of s.tasks) { this.tasks.set(t.id, t); this.totals.count(t, 1); }
    for (const h of s.holidays ?? []) this.holidays.set(h.date, h.name);
    for (const o of s.timeOff ?? []) this.timeOff.set(o.id, { ...o });
    this.daysOffChanges++;
    for (const x of s.services) this.services.set(x.id, { id: x.id, name: x.name, color: x.color ?? 0, archived: !!x.archived });
    for (const x of s.users) this.users.set(x.id, x.name);
    this.revision = s.revision;
    this.grid = s.grid;
    this.schedule = { ...(s.schedule ?? DEFAULT_SCHEDULE) };
    this.loaded = true;
    this.changes++;
  }

  /**
   * Applies one event. Throws Gap when it is not the next revision (the
   * caller resyncs); an event the copy cannot place (an unknown task) is a
   * divergence too, reported the same way.
   */
  apply(ev) {
    if (ev.revision !== this.revision + 1) throw new Gap(`event ${ev.revision} after revision ${this.revision}`, ev.revision <= this.revision);
    const task = () => {
      const t = this.tasks.get(ev.id);
      if (!t) throw new Gap(`event ${ev.revision} names an unknown task ${ev.id}`, true);
      return t;
    };
    const service = () => {
      const s = this.services.get(ev.id);
      if (!s) throw new Gap(`event ${ev.revision} names an unknown service ${ev.id}`, true);
      return s;
    };
    // Live totals: the task's old minutes out before the change, its new
    // ones in after it (a title or a priority changes none).
    const counted = ev.id !== undefined && ev.type.startsWith('Task') && ev.type !== 'TaskRenamed' && ev.type !== 'TaskPrioritized';
    if (counted) this.totals.count(this.tasks.get(ev.id), -1);
    switch (ev.type) {
      case 'TaskCreated':
        this.tasks.set(ev.task.id, ev.task);
        this.created.set(ev.revision, ev.task.id);
        this.created.delete(ev.revision - REMEMBER);
        break;
      case 'TaskScheduled': case 'TaskMoved': {
        const t = task();
        if (ev.type === 'TaskScheduled') t.status = Status.Scheduled;
        t.date = ev.date; t.start = ev.start; t.duration = ev.duration;
        break;
      }
      case 'TaskUnscheduled': {
        const t = task();
        t.status = Status.Staged; t.date = NO_DATE; t.start = 0; t.duration = 0;
        break;
      }
      case 'TaskCompleted': task().status = Status.Completed; break;
      case 'TaskStarted': task().status = Status.Active; break;
      case 'TaskReopened': task().status = Status.Scheduled; break;
      case 'TaskDeleted': {
        this.deleted.set(ev.id, task().title);
        if (this.deleted.size > REMEMBER) this.deleted.delete(this.deleted.keys().next().value);
        this.tasks.delete(ev.id);
        break;
      }
      case 'TaskRenamed': task().title = ev.title; break;
      case 'TaskPrioritized': task().priority = ev.priority; break;
      case 'TaskAssigned': task().assignee = ev.assignee; break;
      case 'TaskServiceChanged': task().service = ev.service; break;
      case 'ServiceCreated': this.services.set(ev.service.id, { id: ev.service.id, name: ev.service.name, color: 0, archived: false }); break;
      case 'ServiceRenamed': {
        const s = this.services.get(ev.service.id);
        if (!s) throw new Gap(`event ${ev.revision} renames an unknown service ${ev.service.id}`, true);
        s.name = ev.service.name;
        break;
      }
      case 'ServiceRecolored': service().color = ev.color; break;
      case 'ServiceArchived': service().archived = ev.archived; break;
      case 'ScheduleChanged': this.schedule = { ...ev.schedule }; break;
      case 'UserCreated': case 'UserRenamed': this.users.set(ev.user.id, ev.user.name); break;
      case 'GridChanged': this.grid = ev.grid; break;
      case 'HolidayAdded': this.holidays.set(ev.date, ev.name); this.daysOffChanges++; break;
      case 'HolidayRemoved': this.holidays.delete(ev.date); this.daysOffChanges++; break;
      case 'TimeOffAdded': this.timeOff.set(ev.timeOff.id, { ...ev.timeOff }); this.daysOffChanges++; break;
      case 'TimeOffRemoved': this.timeOff.delete(ev.id); this.daysOffChanges++; break;
      default: throw new Gap(`event ${ev.revision} of an unknown type ${ev.type}`, true);
    }
    if (counted) this.totals.count(this.tasks.get(ev.id), 1);
    else if (ev.type === 'TaskCreated') this.totals.count(ev.task, 1);
    this.revision = ev.revision;
    this.changes++;
  }

  /** A task's title, also when it was deleted lately (undefined if unknown). @param {string} id */
  titleOf(id) { return this.tasks.get(id)?.title ?? this.deleted.get(id); }
  /**
   * Whether user is off on date: a holiday (its name), their time off (its
   * note or 'time off'), or a day that is not one of the team's working
   * days ('not a working day'); '' when not.
   */
  offOn(user, date) {
    const h = this.holidays.get(date);
    if (h !== undefined) return h;
    for (const o of this.timeOff.values()) if (o.user === user && o.from <= date && date <= o.to) return o.note || 'time off';
    return this.worksOn(date) ? '' : 'not a working day';
  }

  /** Whether date (days since 1970-01-01) is one of the team's working days (bit 0 Monday … bit 6 Sunday). */
  worksOn(date) { return (((this.schedule.workingDays ?? 0x1f) >> ((date + 3) % 7)) & 1) === 1; }

  /** A service's name ('' for an unknown one). */
  serviceName(id) { return this.services.get(id)?.name ?? ''; }

  /** The services that take new tasks, by name. */
  openServices() {
    return [...this.services.values()].filter((s) => !s.archived).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The id of the task created at revision rev, if it was recent. */
  createdAt(rev) { return this.created.get(rev); }

  /** The staging queue: Staged tasks, Urgent first, then oldest first. */
  staged() {
    const out = [];
    for (const t of this.tasks.values()) if (t.status === Status.Staged) out.push(t);
    return out.sort((a, b) => b.priority - a.priority || a.created - b.created || (a.id < b.id ? -1 : 1));
  }

  /** Scheduled tasks whose date is in [from, to), bucketed by date - from. */
  days(from, to) {
    const out = Array.from({ length: to - from }, () => []);
    for (const t of this.tasks.values()) {
      if (t.status !== Status.Staged && t.date >= from && t.date < to) out[t.date - from].push(t);
    }
    return out;
  }
}

/** Day of week of a date (days since 1970-01-01): 0 Monday … 6 Sunday. */
export const dayOfWeek = (date) => (date + 3) % 7;

/** The first day of date's week, the week starting on firstDay (0 Monday). */
export const weekStart = (date, firstDay) => date - ((dayOfWeek(date) - firstDay + 7) % 7);

/**
 * A zone's date-and-time formatter, made once: making one costs about a
 * millisecond, and the grid asks for today at every frame.
 * @type {Map<string, Intl.DateTimeFormat>}
 */
const zoneFmts = new Map();
/** @param {string} zone @returns {Intl.DateTimeFormat|null} null for a zone Intl does not know */
function zoneFmt(zone) {
  let f = zoneFmts.get(zone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
  } catch {
    return null;
  }
  if (zoneFmts.size > 64) zoneFmts.clear();
  zoneFmts.set(zone, f);
  return f;
}

/** Today's date and the minute of the day in a time zone (UTC's for one Intl does not know). */
export function nowIn(timeZone, ms = Date.now()) {
  const f = zoneFmt(timeZone) || /** @type {Intl.DateTimeFormat} */ (zoneFmt('UTC'));
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  return { date: Date.UTC(p.year, p.month - 1, p.day) / 86400000, minute: p.hour * 60 + p.minute };
}

/**
 * A time zone's offset from UTC at instant ms, in minutes (Berlin in
 * winter: 60); an unknown zone is UTC's.
 * @param {string} zone @param {number} ms
 */
export function zoneOffset(zone, ms) {
  const f = zoneFmt(zone);
  if (!f) return 0;
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  return Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(ms / 60000) * 60000) / 60000);
}

/**
 * Whether a clock in zone `mine` reads differently from one in the team's
 * zone at some hour of the days [from, to) (team dates, each hour of
 * each day): the names may differ and the clocks agree (Paris and
 * Berlin), or agree on a name's week and differ across a change of
 * summer time that only one of them makes.
 * @param {string} team @param {string} mine @param {number} from @param {number} to
 */
export function clocksDiffer(team, mine, from, to) {
  if (team === mine) return false;
  /** The two clocks' offsets at hour h of team day d. @param {number} d @param {number} h */
  const both = (d, h) => {
    const local = (d * 1440 + h * 60) * 60000; // that hour on the team's clock, read as if it were UTC
    const at = local - zoneOffset(team, local) * 60000;
    return [zoneOffset(team, at), zoneOffset(mine, at)];
  };
  let start = both(from, 0);
  for (let d = from; d < to; d++) {
    const end = both(d + 1, 0);
    if (start[0] !== start[1] || end[0] !== end[1]) return true;
    // a zone changed its clock within the day: every hour of it
    if (start[0] !== end[0] || start[1] !== end[1]) {
      for (let h = 1; h < 24; h++) { const [a, b] = both(d, h); if (a !== b) return true; }
    }
    start = end;
  }
  return false;
}

const dayFmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' });
const monthFmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', month: 'long', year: 'numeric' });
/** "Mon 23 Nov" */
export const dayLabel = (date) => dayFmt.format(date * 86400000);
/** "November 2026" */
export const monthLabel = (date) => monthFmt.format(date * 86400000);
/** The day of the month, year and month (0-based) of a date. */
export function ymd(date) {
  const d = new Date(date * 86400000);
  return { y: d.getUTCFullYear(), m: d.getUTCMonth(), d: d.getUTCDate() };
}
export const dateOf = (y, m, d) => Date.UTC(y, m, d) / 86400000;

/** "09:05" */
export const clock = (min) => `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;

/** "AL" for "Ada Lovelace", "DE" for "demo". */
export function initials(name) {
  const w = (name || '').trim().split(/\s+/).filter(Boolean);
  if (w.length === 0) return '';
  if (w.length === 1) return w[0].slice(0, 2).toUpperCase();
  return (w[0][0] + w[w.length - 1][0]).toUpperCase();
}

/** Rounds m to the nearest multiple of step. */
export const snap = (m, step) => Math.round(m / step) * step;
const gcd = (a, b) => (b ? gcd(b, a % b) : a);
/** The smallest step that is a multiple of both want and the world's grid. */
export const stepFor = (want, grid) => (want * grid) / gcd(want, grid);

/** The p-th percentile (0–100) of a list of numbers. */
export function percentile(xs, p) {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

// ---- the view's state and the grid's arithmetic ----
//
// Everything below is pure (no DOM): the grid (grid.js) only turns these
// numbers into pixels and pointer events into intents, so the rules of a
// drag, of the time axis and of the lanes are tested here, in node.

/**
 * @typedef {{date: number, start: number, duration: number}} Slot
 * @typedef {{services: Set<string>|null, assignees: Set<string>|null}} Filter
 * @typedef {'week'|'month'} ViewName
 * @typedef {'time'|'person'} LayoutName
 */

/**
 * What the user is looking at: one object, one version. Every change
 * through set() or the pending methods raises `version`, and the grid's
 * layout cache keys on it (with the world's `changes`), so nothing drawn
 * can go stale when a field changes.
 */
export class ViewState {
  /** @param {{date: number}} o */
  constructor({ date }) {
    /** @type {ViewName} */
    this.view = 'week';
    /** a date (days since 1970-01-01) in the week, day or month shown */
    this.date = date;
    /** @type {LayoutName} */
    this.layout = 'time';
    /** one day (the collapsed view) instead of seven columns */
    this.collapsed = false;
    /** @type {Filter|null} */
    this.filter = null;
    /** @type {string|null} the selected task's id */
    this.selection = null;
    /** @type {Slot|null} the keyboard's cursor: where a new task goes, drawn when nothing is selected */
    this.cursor = null;
    /** @type {Map<string, {slot?: Slot|null, title?: string, patch?: object}>} task id (or 'new:N') → a command in flight (patch: the fields it sets) */
    this.pending = new Map();
    this.version = 0;
    /** @type {(() => void)|null} called after set() changed a field (the page writes its URL from it) */
    this.onchange = null;
  }

  /**
   * Changes fields; the version moves only if one really changed.
   * @param {Partial<Pick<ViewState, 'view'|'date'|'layout'|'collapsed'|'filter'|'selection'|'cursor'>>} patch
   * @returns {boolean} whether anything changed
   */
  set(patch) {
    let changed = false;
    for (const [k, v] of Object.entries(patch)) {
      if (this[k] !== v) { this[k] = v; changed = true; }
    }
    if (changed) { this.version++; this.onchange?.(); }
    return changed;
  }

  /** @param {string} key @param {{slot?: Slot|null, title?: string, patch?: object}} show */
  addPending(key, show) { this.pending.set(key, show); this.version++; }
  /** @param {string} key */
  donePending(key) { if (this.pending.delete(key)) this.version++; }
}

/**
 * Whether a task passes a filter (null: everything passes).
 * @param {Filter|null} f
 * @param {{service: string, assignee: string}} t
 */
export const matches = (f, t) => !f || ((!f.services || f.services.has(t.service)) && (!f.assignees || f.assignees.has(t.assignee)));

/** Moves snap their distance to this many minutes (and to the world's grid). */
export const MOVE_STEP = 30;
/** Resizes snap the moved edge to this many minutes. */
export const RESIZE_STEP = 5;

/**
 * Where a drag puts a task: the slot for the pointer at `minute` of `date`.
 *
 * - move: the task keeps its offset from the grid: it moves by a whole
 *   number of steps (30 minutes, or the world's grid if coarser), so a
 *   task at 08:40 dragged an hour lands at 09:40. With `snapToGrid` (the
 *   user holds Shift) its start snaps to the grid itself (09:30).
 * - schedule: a staged task (no slot yet) starts on the grid, one step long.
 * - top / bottom: that edge follows the pointer, snapped to 5 minutes (or
 *   the world's grid), never past the other edge.
 *
 * `grab` is how far the pointer was from the edge that follows it when
 * the drag began (minutes), so the block does not jump under the pointer.
 * The slot never leaves the day: 0 ≤ start, start + duration ≤ 1440.
 *
 * @param {{zone: 'move'|'schedule'|'top'|'bottom', task: {date: number, start: number, duration: number}, grab: number,
 *   minute: number, date: number, grid: number, snapToGrid?: boolean}} d
 * @returns {Slot}
 */
export function dragSlot({ zone, task: t, grab, minute, date, grid, snapToGrid = false }) {
  const g = grid || 1;
  if (zone === 'move' || zone === 'schedule') {
    const step = stepFor(MOVE_STEP, g);
    const dur = zone === 'schedule' ? step : t.duration;
    const raw = minute - grab;
    let start = zone === 'schedule' || snapToGrid ? snap(raw, step) : t.start + snap(raw - t.start, step);
    if (start % g) start = snap(start, g); // a task from before a grid change
    start = Math.min(DAY_MINUTES - dur, Math.max(0, start));
    return { date, start, duration: dur };
  }
  const step = stepFor(RESIZE_STEP, g), end = t.start + t.duration;
  const m = snap(minute - grab, step);
  if (zone === 'top') {
    const start = Math.max(0, Math.min(m, end - step));
    return { date: t.date, start, duration: end - start };
  }
  return { date: t.date, start: t.start, duration: Math.min(DAY_MINUTES, Math.max(m, t.start + step)) - t.start };
}

/** The slot a double-click at `minute` creates: the step it falls in. */
export function createSlot(date, minute, grid) {
  const step = stepFor(MOVE_STEP, grid || 1);
  const start = Math.max(0, Math.min(DAY_MINUTES - step, Math.floor(minute / step) * step));
  return { date, start, duration: step };
}

/**
 * The vertical time axis: the working day at `hourPx` pixels an hour, the
 * hours before and after it at `offPx` (less), so the working day fits
 * the screen and the night is still there to drop a task on.
 */
export class TimeAxis {
  /** @param {number} workStart @param {number} workEnd minutes @param {number} hourPx @param {number} offPx */
  constructor(workStart, workEnd, hourPx, offPx) {
    this.ws = Math.max(0, Math.min(DAY_MINUTES, workStart));
    this.we = Math.max(this.ws, Math.min(DAY_MINUTES, workEnd));
    this.on = hourPx / 60; this.off = offPx / 60; // pixels per minute
    this.y0 = this.ws * this.off; // where the working day begins
    this.y1 = this.y0 + (this.we - this.ws) * this.on;
    this.height = this.y1 + (DAY_MINUTES - this.we) * this.off;
  }

  /** Pixels from midnight's top to minute m. @param {number} m */
  y(m) {
    if (m <= this.ws) return m * this.off;
    if (m <= this.we) return this.y0 + (m - this.ws) * this.on;
    return this.y1 + (m - this.we) * this.off;
  }

  /** The minute at y pixels (fractional). @param {number} y */
  minute(y) {
    if (y <= this.y0) return y / this.off;
    if (y <= this.y1) return this.ws + (y - this.y0) / this.on;
    return this.we + (y - this.y1) / this.off;
  }

  /** Pixels per minute at minute m (how finely a drag there moves). @param {number} m */
  scale(m) { return m >= this.ws && m < this.we ? this.on : this.off; }
}

/**
 * The pixel sizes the cascade works with. TITLE: the title line's height
 * (the band a later block must not cover); LINE2: the second line's;
 * MIN_TEXT: the narrowest title shown (a few letters); MIN_W: the narrowest
 * block; INDENT: how far a block starting inside another is pushed right,
 * so the one below keeps a visible edge; CHIP_W: the "+N" column.
 */
export const CASCADE = Object.freeze({ TITLE: 16, LINE2: 14, MIN_TEXT: 40, MIN_W: 48, INDENT: 12, CHIP_W: 30, CHIP_H: 18 });

/**
 * Lays out one day's tasks as a cascade, as calendars people know do:
 * later blocks are drawn on top of the ones still running, each at the
 * leftmost place that leaves every running block its left edge (INDENT)
 * and, when it starts on that block's title line, its share of the title
 * (at least MIN_TEXT pixels); a block runs to the column's right edge, or
 * stops where a running block to its right begins. A task that finds no
 * place MIN_W wide goes to the overflow, gathered in "+N" chips in a
 * column reserved at the right.
 *
 * y(m) maps a minute to pixels. Returns, in drawing order,
 *   blocks: [{task, x, y, w, h, lines: [titleWidth, line2Width]}] where
 *     x is from the column's left and lines say how wide each text line
 *     can be before it meets a block drawn over it or the block's edge
 *     (0: that line is covered or does not fit in h);
 *   chips: [{x, y, w, h, tasks}], every task not in blocks in exactly one.
 *
 * @template {{id: string, start: number, duration: number}} T
 * @param {T[]} tasks
 * @param {number} width  the column's width in pixels
 * @param {(m: number) => number} y
 * @returns {{blocks: {task: T, x: number, y: number, w: number, h: number, lines: number[]}[], chips: {x: number, y: number, w: number, h: number, tasks: T[]}[]}}
 */
export function cascadeDay(tasks, width, y) {
  const C = CASCADE;
  const sorted = tasks.slice().sort((a, b) => a.start - b.start || b.duration - a.duration || (a.id < b.id ? -1 : 1));
  const blocks = [], chips = [];
  let i = 0;
  while (i < sorted.length) {
    // one cluster: tasks linked by overlapping in time
    let j = i + 1, end = sorted[i].start + sorted[i].duration;
    while (j < sorted.length && sorted[j].start < end) { end = Math.max(end, sorted[j].start + sorted[j].duration); j++; }
    const cluster = sorted.slice(i, j);
    // At full width, unless a task has to hide: then with room for the chips.
    const placed = placeCluster(cluster, width, y, true) || /** @type {Placed<T>} */ (placeCluster(cluster, width - C.CHIP_W, y, false));
    blocks.push(...placed.shown);
    chips.push(...overflowChips(placed.hidden, width, y));
    i = j;
  }
  return { blocks, chips };
}

/**
 * @template T
 * @typedef {{shown: {task: T, x: number, y: number, w: number, h: number, lines: number[]}[], hidden: T[]}} Placed
 */

/**
 * Places one cluster in width pixels; null if a task must hide and
 * `orNull` (the caller then tries again with room for the chips).
 * @template {{id: string, start: number, duration: number}} T
 * @param {T[]} cluster @param {number} width @param {(m: number) => number} y @param {boolean} orNull
 * @returns {Placed<T>|null}
 */
function placeCluster(cluster, width, y, orNull) {
  const C = CASCADE;
  const shown = [], hidden = [];
  const tops = cluster.map((t) => y(t.start));
  const heights = cluster.map((t, k) => Math.max(2, y(t.start + t.duration) - tops[k] - 1));
  const running = []; // shown blocks not yet over (tops only grow, so the list stays short)
  const need = [], cand = [];
  for (let k = 0; k < cluster.length; k++) {
    const t = cluster[k], top = tops[k], h = heights[k];
    let n = 0;
    for (const e of running) if (e.y + e.h > top) running[n++] = e;
    running.length = n;
    // The leftmost place where this block, drawn over the running ones,
    // leaves each of them its left edge (INDENT) and, if it starts on
    // that one's title line, its share of the title; or, left of one, it
    // stops where that one begins. (Tight loops: this runs for every task
    // of a crowded week.)
    let nc = 1;
    cand[0] = 0;
    for (let i = 0; i < n; i++) {
      const e = running[i];
      const v = e.x + (top < e.y + Math.min(e.h, C.TITLE) ? Math.max(C.INDENT, C.MIN_TEXT, e.w / (1 + e.rest)) : C.INDENT);
      need[i] = v;
      let j = nc++; // insertion sort: a handful of values
      while (j > 0 && cand[j - 1] > v) { cand[j] = cand[j - 1]; j--; }
      cand[j] = v;
    }
    let x = -1, right = width;
    for (let c = 0; c < nc && x < 0; c++) {
      const cx = cand[c];
      let ok = true, r = width;
      for (let i = 0; i < n; i++) {
        const ex = running[i].x;
        if (ex >= cx + C.MIN_W) { if (ex < r) r = ex; } // wholly to the left of it
        else if (cx < need[i]) { ok = false; break; }
      }
      if (ok && r - cx >= C.MIN_W) { x = cx; right = r; }
    }
    if (x < 0) {
      if (orNull) return null;
      hidden.push(t);
      continue;
    }
    let rest = 0;
    for (let m = k + 1; m < cluster.length && tops[m] < top + Math.min(h, C.TITLE); m++) rest++;
    const b = { task: t, x, y: top, w: right - x, h, lines: [0, 0], rest };
    shown.push(b); running.push(b);
  }
  // How wide each text line may be: up to the first later block over it.
  for (let k = 0; k < shown.length; k++) {
    const b = shown[k];
    const bands = [[b.y, b.y + C.TITLE], [b.y + C.TITLE, b.y + C.TITLE + C.LINE2]];
    b.lines = bands.map(([y0, y1]) => {
      if (b.h < y1 - b.y - 1) return 0; // the block is too short for this line
      let w = b.w;
      for (let m = k + 1; m < shown.length; m++) {
        const o = shown[m];
        if (o.y >= y1) break; // drawn later and lower: every next one is lower still
        if (o.y + o.h <= y0 || o.x + o.w <= b.x || o.x >= b.x + w) continue; // not over this line
        w = Math.min(w, Math.max(0, o.x - b.x));
      }
      return w;
    });
  }
  for (const b of shown) delete b.rest;
  return { shown, hidden };
}

/** The hidden tasks in chips: one per run of them overlapping in pixels. */
function overflowChips(hidden, width, y) {
  const C = CASCADE, chips = [];
  let cur = null;
  for (const t of hidden) {
    const top = y(t.start), bottom = Math.max(top + C.CHIP_H, y(t.start + t.duration) - 1);
    if (cur && top < cur.y + cur.h) {
      cur.tasks.push(t);
      cur.h = Math.max(cur.h, bottom - cur.y);
    } else {
      cur = { x: width - C.CHIP_W, y: top, w: C.CHIP_W, h: bottom - top, tasks: [t] };
      chips.push(cur);
    }
  }
  return chips;
}

/**
 * Minutes booked and the tasks booked twice at once, for one person's day.
 * @param {{id: string, start: number, duration: number}[]} tasks  one person, one day
 * @returns {{booked: number, overlapping: Set<string>}}
 */
export function dayLoad(tasks) {
  const s = tasks.slice().sort((a, b) => a.start - b.start || b.duration - a.duration);
  const overlapping = new Set();
  let booked = 0, coveredTo = -1, last = null;
  for (const t of s) {
    const end = t.start + t.duration;
    booked += t.duration;
    if (last && t.start < coveredTo) { overlapping.add(t.id); overlapping.add(last.id); }
    if (end > coveredTo) { coveredTo = end; last = t; }
  }
  return { booked, overlapping };
}

/**
 * The person layout's rows: one per person (sorted by name), then one for
 * the unassigned, each with its tasks per day (by start) and each day's
 * load: minutes booked, whether that is past the working day, and which
 * tasks are booked twice at once. Unassigned has no load to warn about.
 *
 * @template {{id: string, assignee: string, date: number, start: number, duration: number}} T
 * @param {T[][]} days  tasks per day (as World.days gives them)
 * @param {Map<string, string>} people  id → name
 * @param {string} none  the id of "unassigned"
 * @param {number} workMinutes  the working day's length
 */
export function personRows(days, people, none, workMinutes) {
  const order = [...people].sort((a, b) => a[1].localeCompare(b[1]) || (a[0] < b[0] ? -1 : 1));
  /** @type {Map<string, number>} */
  const index = new Map(order.map(([id], i) => [id, i]));
  index.set(none, order.length);
  const rows = [...order.map(([id, name]) => ({ id, name, unassigned: false })), { id: none, name: 'Unassigned', unassigned: true }]
    .map((r) => ({ ...r, booked: 0, days: days.map(() => ({ tasks: /** @type {T[]} */ ([]), booked: 0, over: false, overlapping: new Set() })) }));
  days.forEach((list, d) => {
    for (const t of list) {
      const r = index.get(t.assignee) ?? order.length; // someone not (yet) known: with the unassigned
      rows[r].days[d].tasks.push(t);
    }
  });
  for (const r of rows) {
    for (const c of r.days) {
      c.tasks.sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : 1));
      const l = dayLoad(c.tasks);
      c.booked = l.booked;
      if (!r.unassigned) { c.over = l.booked > workMinutes; c.overlapping = l.overlapping; }
      r.booked += l.booked;
    }
  }
  return rows;
}

/** "6.5 h", "45 min". @param {number} min */
export const hours = (min) => (min < 60 ? `${min} min` : `${Math.round(min / 6) / 10} h`);

// The client's copy of the world: what the server's Snapshot and events
// say, nothing more. The client never changes it on its own; it only sends
// commands and waits for the events.

import { NO_DATE, DEFAULT_GRID, DEFAULT_SCHEDULE } from './codec.js';

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
  constructor() { this.clear(); }

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
  }

  /** Replaces everything with a Snapshot. */
  load(s) {
    this.clear();
    for (const t of s.tasks) this.tasks.set(t.id, t);
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
      case 'TaskDeleted': task(); this.tasks.delete(ev.id); break;
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
      default: throw new Gap(`event ${ev.revision} of an unknown type ${ev.type}`, true);
    }
    this.revision = ev.revision;
    this.changes++;
  }

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

/** Today's date and the minute of the day in a time zone. */
export function nowIn(timeZone, ms = Date.now()) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', hourCycle: 'h23',
    }).formatToParts(ms);
  } catch {
    return nowIn('UTC', ms);
  }
  const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
  return { date: Date.UTC(p.year, p.month - 1, p.day) / 86400000, minute: p.hour * 60 + p.minute };
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

/**
 * Lays out one day's tasks side by side where they overlap, as calendars
 * do: each task gets a lane, and every task of a cluster of overlapping
 * tasks shares the cluster's lane count. Returns [{task, lane, lanes}] in
 * start order.
 */
export function layoutDay(tasks) {
  const sorted = tasks.slice().sort((a, b) => a.start - b.start || b.duration - a.duration || (a.id < b.id ? -1 : 1));
  const out = [];
  let cluster = [], ends = [], clusterEnd = -1;
  const close = () => {
    for (const x of cluster) x.lanes = ends.length;
    cluster = []; ends = [];
  };
  for (const t of sorted) {
    if (t.start >= clusterEnd) { close(); clusterEnd = -1; }
    let lane = ends.findIndex((e) => e <= t.start);
    if (lane < 0) { lane = ends.length; ends.push(0); }
    ends[lane] = t.start + t.duration;
    clusterEnd = Math.max(clusterEnd, t.start + t.duration);
    const x = { task: t, lane, lanes: 1 };
    cluster.push(x); out.push(x);
  }
  close();
  return out;
}

/** The p-th percentile (0–100) of a list of numbers. */
export function percentile(xs, p) {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
